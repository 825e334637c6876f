"""Group statistics over the org hierarchy for one survey wave.

Every unit is reported for its *subtree* (the unit plus all its descendants),
so a department's figures include its teams. The work is done once per direct
unit (sufficient statistics: count, sum, sum of squares, favourable count) and
then summed over an ancestor/descendant closure table with one sparse matrix
product, so an org of thousands of units aggregates in well under a second per
measure family. No loop runs over units or respondents.

Tidy output (``WaveAggregates.table``), one row per unit x scope x measure:

``unit_id``         str    the unit whose subtree the row describes
``demographic``     str    ``"all"`` for the whole subtree, else a demographic id
``band``            str    ``"all"`` or a band code (incl. the missing code)
``kind``            str    ``respondents`` | ``construct`` | ``outcome`` | ``item``
``measure``         str    construct id, item id, or ``respondents``
``n``               int64  distinct respondents with a value for the measure
``mean``, ``sd``    float64  mean and sample SD (ddof = 1)
``se``              float64  sd / sqrt(n)
``ci_low``, ``ci_high``  float64  t interval, mean +- t(1 - alpha/2, n - 1) * se
``pct_favourable``  float64  100 x share of favourable answers (see below)
``sensitive``       bool   the item is marked sensitive in the instrument

Nothing here is confidential-safe: these are raw aggregates for
:func:`culture.anonymity.build_release`, which decides what may be shown.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse, stats

from culture.errors import ConfigError, Problem, ValidationError
from culture.frames import PARENT, RESPONDENT, UNIT, WAVE
from culture.measure.instrument import Instrument

ALL = "all"  # demographic/band value of uncut rows
RESPONDENTS = "respondents"  # measure that counts every respondent (response rates)
STAT_COLUMNS = ("n", "mean", "sd", "se", "ci_low", "ci_high", "pct_favourable")


# --------------------------------------------------------------------------- org tree


@dataclass(frozen=True)
class OrgIndex:
    """Integer view of an org tree: positions, parents, depths and the closure.

    ``units`` are sorted unit ids (position = index); ``parent[i]`` is the
    parent's position or -1 for the root; ``closure`` has one row per
    (ancestor, descendant) pair including each unit with itself at depth 0.
    """

    units: np.ndarray
    parent: np.ndarray
    depth: np.ndarray
    root: int
    closure: pd.DataFrame  # ancestor, descendant, depth (positions)
    names: np.ndarray
    levels: np.ndarray

    @property
    def size(self) -> int:
        return len(self.units)

    def positions(self, unit_ids: pd.Series) -> np.ndarray:
        """Position of each unit id; -1 where the id is not in the tree."""
        pos = pd.Index(self.units).get_indexer(unit_ids.astype("string").to_numpy(dtype=object))
        return pos.astype(np.int64)

    def matrix(self) -> sparse.csr_matrix:
        """Sparse (ancestor x descendant) 0/1 matrix: subtree sums are ``M @ direct``."""
        c = self.closure
        data = np.ones(len(c), dtype=np.float64)
        return sparse.csr_matrix((data, (c["ancestor"].to_numpy(), c["descendant"].to_numpy())),
                                 shape=(self.size, self.size))


def org_index(org: pd.DataFrame) -> OrgIndex:
    """Validate an org tree (``unit_id``, ``parent_id``, optional ``name``, ``level``).

    Exactly one root, unique ids, every parent known, no cycles. All problems
    are collected and raised together as one :class:`ValidationError`.
    """
    problems: list[Problem] = []
    for col in (UNIT, PARENT):
        if col not in org.columns:
            problems.append(Problem(f"org column {col!r}", "required column is missing"))
    if problems:
        raise ValidationError(problems, source="org tree")
    ids = org[UNIT].astype("string")
    parents = org[PARENT].astype("string")
    if ids.isna().any():
        problems.append(Problem("org column 'unit_id'", f"{int(ids.isna().sum())} row(s) have no unit id"))
    dup = ids[ids.duplicated()].dropna().unique()
    if len(dup):
        problems.append(Problem("org column 'unit_id'", f"duplicate unit ids: {', '.join(map(str, dup[:10]))}"))
    units = np.array(sorted(ids.dropna().unique()), dtype=object)
    index = pd.Index(units)
    parent = index.get_indexer(parents.to_numpy(dtype=object))
    unknown = parents.notna() & (parent < 0)
    if unknown.any():
        bad = ids[unknown].head(10).tolist()
        problems.append(Problem("org column 'parent_id'",
                                f"{int(unknown.sum())} unit(s) name a parent that is not in the tree, e.g. {bad}"))
    roots = ids[parents.isna()].tolist()
    if len(roots) != 1:
        problems.append(Problem("org tree", f"expected exactly one root (parent_id empty), found {len(roots)}"))
    if problems:
        raise ValidationError(problems, source="org tree")

    order = index.get_indexer(ids.to_numpy(dtype=object))
    par = np.full(len(units), -1, dtype=np.int64)
    par[order] = parent
    names = np.empty(len(units), dtype=object)
    names[order] = (org["name"].astype("string") if "name" in org.columns else ids).to_numpy(dtype=object)
    levels = np.full(len(units), np.nan)
    if "level" in org.columns:
        levels[order] = pd.to_numeric(org["level"], errors="coerce").to_numpy(dtype=np.float64)

    # Closure by walking every unit's ancestor chain one generation per step:
    # the loop runs (tree depth) times, each step vectorised over all units.
    anc, desc, dep = [np.arange(len(units))], [np.arange(len(units))], [np.zeros(len(units), np.int64)]
    frontier, start, d = par.copy(), np.arange(len(units)), 1
    while True:
        live = frontier >= 0
        if not live.any():
            break
        if d > len(units):
            raise ValidationError([Problem("org tree", "parent_id links form a cycle")], source="org tree")
        anc.append(frontier[live])
        desc.append(start[live])
        dep.append(np.full(int(live.sum()), d, np.int64))
        frontier, start, d = par[frontier[live]], start[live], d + 1
    closure = pd.DataFrame({"ancestor": np.concatenate(anc), "descendant": np.concatenate(desc),
                            "depth": np.concatenate(dep)})
    depth = np.zeros(len(units), np.int64)
    np.maximum.at(depth, closure["descendant"].to_numpy(), closure["depth"].to_numpy())
    root = int(np.flatnonzero(par < 0)[0])
    return OrgIndex(units, par, depth, root, closure, names, levels)


def closure_table(org: pd.DataFrame) -> pd.DataFrame:
    """Ancestor/descendant closure of an org tree with unit ids.

    Returns ``ancestor``, ``descendant``, ``depth`` (0 = the unit itself), one
    row per pair; ``descendant`` belongs to the subtree of ``ancestor``.
    """
    idx = org_index(org)
    c = idx.closure
    return pd.DataFrame({"ancestor": idx.units[c["ancestor"].to_numpy()],
                         "descendant": idx.units[c["descendant"].to_numpy()],
                         "depth": c["depth"].to_numpy()})


# --------------------------------------------------------------------------- scopes


def band_codes(membership: pd.DataFrame, demographic: str, codes: Sequence[str],
               missing_code: str | None) -> tuple[np.ndarray, list[Problem]]:
    """Band index (0..len(codes)-1) per row; empty answers count as the missing code.

    Codes outside the codebook are a problem; the message gives how many rows
    and the allowed codes, never the offending value.
    """
    col = membership[demographic].astype("string")
    if missing_code is not None:
        col = col.fillna(missing_code)
    idx = pd.Index(list(codes)).get_indexer(col.to_numpy(dtype=object))
    bad = int((idx < 0).sum())
    problems = []
    if bad:
        problems.append(Problem(f"column {demographic!r}",
                                f"{bad} row(s) hold a code outside the codebook; allowed: {', '.join(codes)}"))
    return idx, problems


@dataclass(frozen=True)
class Scopes:
    """Scope labels and, per cut (``all`` first, then each demographic), the band of each row."""

    labels: tuple[tuple[str, str], ...]  # (demographic, band) for each scope index
    cuts: tuple[tuple[int, int, np.ndarray], ...]  # (first scope index, number of bands, band per row)


def _scopes(membership: pd.DataFrame, by: Sequence[str],
            codebooks: Mapping[str, tuple[Sequence[str], str | None]]) -> Scopes:
    problems: list[Problem] = []
    labels: list[tuple[str, str]] = [(ALL, ALL)]
    cuts: list[tuple[int, int, np.ndarray]] = [(0, 1, np.zeros(len(membership), np.int64))]
    for dem in by:
        if dem == ALL:
            problems.append(Problem("by", f"{ALL!r} is reserved and cannot be a demographic id"))
        elif dem not in codebooks:
            problems.append(Problem("by", f"unknown demographic {dem!r}; known: {', '.join(codebooks) or 'none'}"))
        elif dem not in membership.columns:
            problems.append(Problem(f"column {dem!r}", "demographic column is missing from the responses"))
        else:
            codes, missing = codebooks[dem]
            idx, probs = band_codes(membership, dem, codes, missing)
            problems += probs
            cuts.append((len(labels), len(codes), idx))
            labels += [(dem, c) for c in codes]
    if problems:
        raise ValidationError(problems, source="demographic cuts")
    return Scopes(tuple(labels), tuple(cuts))


def codebooks_of(instrument: Instrument) -> dict[str, tuple[tuple[str, ...], str | None]]:
    """Fixed band codebook of each demographic: codes (missing code last) and the missing code."""
    return {d.id: (d.all_codes, d.missing_code) for d in instrument.demographics}


# --------------------------------------------------------------------------- core


def _one_row_per_respondent(membership: pd.DataFrame, values: pd.DataFrame,
                            favourable: pd.DataFrame | None,
                            keys: Sequence[str]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame | None]:
    """Collapse repeated rows of a respondent (mean of their values).

    n counts people, not rows; a person listed under two units or two bands in
    one wave is a data error (which group would they count in?).
    """
    if RESPONDENT not in membership.columns or not membership[RESPONDENT].duplicated().any():
        return membership, values, favourable
    resp = membership[RESPONDENT]
    conflicting = membership.groupby(resp, sort=False)[list(keys)].nunique(dropna=False).gt(1).any(axis=1)
    if conflicting.any():
        raise ValidationError([Problem(f"columns {', '.join(keys)}",
                                       f"{int(conflicting.sum())} respondent(s) appear in more than one "
                                       "unit or band within the wave; one row per respondent is expected")],
                              source="responses")
    first = ~resp.duplicated()
    m = membership.loc[first].reset_index(drop=True)
    v = values.groupby(resp.to_numpy(), sort=False).mean().reindex(m[RESPONDENT].to_numpy())
    v = v.reset_index(drop=True)
    f = None
    if favourable is not None:
        f = favourable.groupby(resp.to_numpy(), sort=False).mean().reindex(m[RESPONDENT].to_numpy())
        f = f.reset_index(drop=True)
    return m, v, f


def aggregate_measures(membership: pd.DataFrame, values: pd.DataFrame, org: pd.DataFrame | OrgIndex, *,
                       kind: str | Mapping[str, str] = "construct",
                       favourable: pd.DataFrame | None = None,
                       by: Sequence[str] = (),
                       codebooks: Mapping[str, tuple[Sequence[str], str | None]] | None = None,
                       sensitive: Sequence[str] = (),
                       confidence: float = 0.95) -> pd.DataFrame:
    """Subtree x scope x measure statistics (the tidy table described in the module doc).

    Parameters
    ----------
    membership : rows with ``unit_id`` (direct unit), optionally ``respondent`` and
        the demographic columns named in ``by``. Units not in the org tree are
        counted at the root (they belong to the organisation, not to any unit).
    values : float columns, one per measure, aligned row-for-row with ``membership``;
        NaN = no value (not answered / too few items).
    org : the org tree frame or an :class:`OrgIndex`.
    kind : kind label for every measure, or a mapping measure -> kind.
    favourable : same shape as ``values``: per-row share of favourable answers
        (0/1 for an item; for a construct the respondent's share of favourable
        items). ``pct_favourable`` is 100 x its mean over the cell.
    by : demographics to cut by (one band per row, missing answers -> missing code).
    codebooks : demographic -> (codes, missing code); see :func:`codebooks_of`.
    sensitive : measures flagged ``sensitive`` in the output.
    confidence : level of the t interval (R: ``t.test(x, conf.level = confidence)$conf.int``).

    Notes
    -----
    Mean and SD come from per-cell sums of ``x - c`` and ``(x - c)^2`` with ``c``
    the measure's overall mean (shifted sums avoid cancellation):
    ``mean = c + S1/n``, ``var = (S2 - S1^2/n) / (n - 1)``. The interval is the
    one-sample t interval of R ``t.test``; NaN when n < 2.
    """
    if not 0 < confidence < 1:
        raise ConfigError(f"confidence must be in (0, 1), got {confidence!r}")
    if len(values) != len(membership):
        raise ConfigError(f"values has {len(values)} rows but membership has {len(membership)}; "
                          "they must be aligned row for row")
    idx = org if isinstance(org, OrgIndex) else org_index(org)
    membership = membership.reset_index(drop=True)
    values = values.reset_index(drop=True).astype(np.float64)
    if favourable is not None:
        favourable = favourable.reset_index(drop=True).reindex(columns=values.columns).astype(np.float64)
    membership, values, favourable = _one_row_per_respondent(membership, values, favourable, [UNIT, *by])
    scopes = _scopes(membership, by, codebooks or {})

    unit_pos = idx.positions(membership[UNIT])
    unit_pos = np.where(unit_pos < 0, idx.root, unit_pos)
    x = values.to_numpy(dtype=np.float64)
    answered = ~np.isnan(x)
    counts = answered.sum(axis=0)
    shift = np.where(counts > 0, np.where(answered, x, 0.0).sum(axis=0) / np.maximum(counts, 1), 0.0)
    xc = np.where(answered, x - shift, 0.0)
    fav = favourable.to_numpy(dtype=np.float64) if favourable is not None else np.full_like(x, np.nan)
    fav_ok = ~np.isnan(fav)
    # direct sufficient statistics, stacked side by side: n, S1, S2, favourable sum, favourable n
    suff = np.hstack([answered.astype(np.float64), xc, xc * xc, np.where(fav_ok, fav, 0.0),
                      fav_ok.astype(np.float64)])
    closure = idx.matrix()
    blocks = []
    for _first, n_bands, band in scopes.cuts:
        ok = band >= 0
        # direct sums per (unit, band) in one product, then subtree sums for all bands at once
        group = unit_pos[ok] * n_bands + band[ok]
        pick = sparse.csr_matrix((np.ones(int(ok.sum())), (group, np.arange(int(ok.sum())))),
                                 shape=(idx.size * n_bands, int(ok.sum())))
        direct = np.asarray(pick @ suff[ok]).reshape(idx.size, n_bands * suff.shape[1])
        subtree = np.asarray(closure @ direct).reshape(idx.size, n_bands, suff.shape[1])
        blocks += [subtree[:, b, :] for b in range(n_bands)]
    return _tidy(idx, scopes, blocks, list(values.columns), shift, kind, sensitive, confidence)


def _tidy(idx: OrgIndex, scopes: Scopes, blocks: list[np.ndarray], measures: list[str],
          shift: np.ndarray, kind: str | Mapping[str, str], sensitive: Sequence[str],
          confidence: float) -> pd.DataFrame:
    sub = np.stack(blocks)  # scope x unit x (5 * measures)
    n_meas = len(measures)
    n, s1, s2, fs, fn = (sub[:, :, i * n_meas:(i + 1) * n_meas] for i in range(5))
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(n > 0, shift + s1 / n, np.nan)
        var = np.where(n > 1, (s2 - s1 * s1 / np.where(n > 0, n, 1)) / (n - 1), np.nan)
        sd = np.sqrt(np.clip(var, 0.0, None))
        se = sd / np.sqrt(n)
        tcrit = np.where(n > 1, stats.t.ppf(0.5 + confidence / 2, np.maximum(n - 1, 1)), np.nan)
        pct = np.where(fn > 0, 100.0 * fs / fn, np.nan)
    shape = n.shape
    s_i, u_i, m_i = (a.ravel() for a in np.indices(shape))
    dem = np.array([lab[0] for lab in scopes.labels], dtype=object)
    band = np.array([lab[1] for lab in scopes.labels], dtype=object)
    meas = np.array(measures, dtype=object)
    kinds = (np.full(len(meas), kind, dtype=object) if isinstance(kind, str)
             else np.array([kind.get(m, "construct") for m in measures], dtype=object))
    out = pd.DataFrame({
        "unit_id": idx.units[u_i], "demographic": dem[s_i], "band": band[s_i],
        "kind": kinds[m_i], "measure": meas[m_i],
        "n": n.ravel().round().astype(np.int64), "mean": mean.ravel(), "sd": sd.ravel(), "se": se.ravel(),
        "ci_low": (mean - tcrit * se).ravel(), "ci_high": (mean + tcrit * se).ravel(),
        "pct_favourable": pct.ravel(), "sensitive": np.isin(meas, list(sensitive))[m_i],
    })
    return out


# --------------------------------------------------------------------------- a whole wave


@dataclass(frozen=True)
class WaveAggregates:
    """Raw (not yet confidential-safe) aggregates of one wave.

    ``table`` is the tidy table of the module doc (all measures, all scopes);
    ``response_rates`` has ``unit_id``, ``n`` (distinct respondents in the
    subtree), ``invited`` (headcount of the subtree, NaN when unknown) and
    ``response_rate`` = n / invited.
    """

    wave: str
    instrument_id: str
    instrument_version: str
    table: pd.DataFrame
    response_rates: pd.DataFrame
    org: pd.DataFrame
    demographics: tuple[str, ...] = ()
    confidence: float = 0.95
    notes: tuple[str, ...] = field(default_factory=tuple)
    # construct -> its items: a construct cell is shown only where all its items are
    parts: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def summary(self) -> str:
        kinds = self.table.loc[self.table["demographic"] == ALL, "kind"].value_counts()
        parts = ", ".join(f"{k}: {v}" for k, v in kinds.items())
        return (f"Aggregates for wave {self.wave} ({self.instrument_id} {self.instrument_version}): "
                f"{len(self.org)} units; rows by kind {parts}; cuts: {', '.join(self.demographics) or 'none'}")


def construct_favourable(favourable: pd.DataFrame, scores: pd.DataFrame,
                         instrument: Instrument) -> pd.DataFrame:
    """Per respondent and construct: share of the answered items that are favourable.

    NaN where the construct has no score (too few items), so favourability and
    the mean describe the same people.
    """
    out = {}
    for c in instrument.constructs:
        items = [i.id for i in instrument.items_of(c.id) if i.id in favourable.columns]
        share = favourable[items].mean(axis=1) if items else pd.Series(np.nan, index=favourable.index)
        out[c.id] = share.where(scores[c.id].notna()) if c.id in scores.columns else share
    return pd.DataFrame(out, index=favourable.index)


def aggregate_wave(responses: pd.DataFrame, scored: Any, org: pd.DataFrame, *, instrument: Instrument,
                   by: Sequence[str] = (), headcount: pd.DataFrame | None = None,
                   confidence: float = 0.95) -> WaveAggregates:
    """Aggregate one wave: constructs, outcome indices, items and response rates.

    Parameters
    ----------
    responses : canonical responses of one wave (``respondent``, ``wave``,
        ``unit_id`` and the demographic columns).
    scored : the result of :func:`culture.scoring.score` (anything with
        ``.scores``, ``.keyed`` and ``.favourable`` aligned to ``responses``).
        Item statistics use the keyed answers (reverse items turned round), so
        higher is better for every row of the table.
    org : org tree (``unit_id``, ``parent_id``, ``name``, ``level``); rows of other
        waves are ignored when it has a ``wave`` column.
    by : demographics to cut by, from the instrument's codebook.
    headcount : ``unit_id``, ``invited`` (people invited who belong directly to the unit).
    """
    waves = responses[WAVE].dropna().unique() if WAVE in responses.columns else []
    if len(waves) != 1:
        raise ConfigError(f"responses must hold exactly one wave (column 'wave'), found {len(waves)}")
    wave = str(waves[0])
    if WAVE in org.columns:
        org = org[org[WAVE].astype("string") == wave]
    idx = org_index(org)
    books = codebooks_of(instrument)
    membership = responses[[c for c in (RESPONDENT, UNIT, *by) if c in responses.columns]]
    constructs = [c.id for c in instrument.constructs]
    items = list(instrument.item_ids)
    kinds = {c.id: ("outcome" if c.kind == "outcome" else "construct") for c in instrument.constructs}
    common = {"by": tuple(by), "codebooks": books, "confidence": confidence}

    everyone = pd.DataFrame({RESPONDENTS: np.ones(len(responses))})
    parts = [
        aggregate_measures(membership, everyone, idx, kind=RESPONDENTS, **common),
        # a construct holding a sensitive item reveals it (its mean minus the other items'),
        # so it is protected at the sensitive threshold too
        aggregate_measures(membership, scored.scores[constructs], idx, kind=kinds,
                           favourable=construct_favourable(scored.favourable, scored.scores, instrument),
                           sensitive=[c.id for c in instrument.constructs
                                      if any(i.sensitive for i in instrument.items_of(c.id))],
                           **common),
        aggregate_measures(membership, scored.keyed[items], idx, kind="item",
                           favourable=scored.favourable[items],
                           sensitive=[i.id for i in instrument.items if i.sensitive], **common),
    ]
    table = pd.concat(parts, ignore_index=True)
    # the respondents pseudo-measure is a count; a "mean of ones" would only be clutter
    table.loc[table["kind"] == RESPONDENTS, list(STAT_COLUMNS[1:])] = np.nan
    rates, notes = _response_rates(table, idx, headcount)
    tree = pd.DataFrame({UNIT: idx.units, PARENT: [idx.units[p] if p >= 0 else None for p in idx.parent],
                         "name": idx.names, "level": idx.levels})
    return WaveAggregates(wave=wave, instrument_id=instrument.id, instrument_version=instrument.version,
                          table=table, response_rates=rates, org=tree, demographics=tuple(by),
                          confidence=confidence, notes=tuple(notes),
                          parts={c.id: tuple(i.id for i in instrument.items_of(c.id))
                                 for c in instrument.constructs})


def _response_rates(table: pd.DataFrame, idx: OrgIndex,
                    headcount: pd.DataFrame | None) -> tuple[pd.DataFrame, list[str]]:
    base = table[(table["measure"] == RESPONDENTS) & (table["demographic"] == ALL)]
    n = base.set_index("unit_id")["n"].reindex(idx.units).to_numpy(dtype=np.float64)
    invited = np.full(idx.size, np.nan)
    notes = []
    if headcount is not None:
        direct = np.zeros(idx.size)
        pos = idx.positions(headcount[UNIT])
        unknown = int((pos < 0).sum())
        if unknown:
            notes.append(f"{unknown} headcount row(s) name units not in the org tree and were ignored")
        np.add.at(direct, pos[pos >= 0], pd.to_numeric(headcount["invited"]).to_numpy(dtype=np.float64)[pos >= 0])
        invited = np.asarray(idx.matrix() @ direct)
        if (n > invited).any():
            notes.append(f"{int((n > invited).sum())} unit(s) have more respondents than invited people; "
                         "check the headcount file")
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(invited > 0, n / invited, np.nan)
    frame = pd.DataFrame({UNIT: idx.units, "n": n.astype(np.int64), "invited": invited, "response_rate": rate})
    return frame, notes
