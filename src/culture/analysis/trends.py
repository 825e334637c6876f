"""Change over time on real waves, inside the confidentiality boundary.

:mod:`culture.trends` holds the statistics on plain arrays; this module wires them
to waves: respondent-level scores for the exact statistics, the waves'
:class:`~culture.release.Release` for *what may be shown*. A unit x measure
appears in an output only when its cell is released; a test statistic (t, p,
CI, Hedges' g) that would reveal a standard deviation is only given where the
release shows that SD (the ``distributions`` threshold of DESIGN.md), otherwise
the row carries the released means and verdict ``"not tested"``.

Functions
---------
match_units            how each unit of one wave is compared with the previous wave
overlap_change         t test of two waves in which some people answered both (Derrick et al.)
wave_changes           change vs the previous wave per unit x measure, BH across the wave
control_charts         Shewhart individuals charts of released means across waves
multiwave_trend        mixed-model trend per quarter over released unit means
perception_gaps        leader minus staff per unit x construct (and per item, whole org)
instrument_invariance  metric invariance of the culture constructs across waves
analyse_trends         all of the above for the latest wave -> :class:`TrendReport`

Re-organisations. A unit is identified by its *subtree* (the set of unit ids under
it). If a unit's subtree is the same in both waves it is compared with itself
(rule ``"same unit"``, or ``"renamed: history kept"`` when only its name changed);
if it changed (a team moved in or out, a unit added or removed) the unit is
compared at its nearest ancestor whose subtree did not change (rule
``"re-organised: compared at <name>"``, column ``compared_unit_id``). The root is
the whole organisation and is always compared with itself.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from culture.boundary.aggregate import (
    ALL,
    aggregate_measures,
    closure_table,
    codebooks_of,
    construct_favourable,
)
from culture.boundary.release import RELEASED, Release, Thresholds
from culture.errors import (
    ConfigError,
    InsufficientDataError,
    Problem,
    ProblemsError,
    PsychometricsInputError,
    TrendAnalysisError,
)
from culture.frames import PARENT, RESPONDENT, UNIT, WAVE, wave_index
from culture.measure.cfa import metric_invariance
from culture.measure.instrument import Instrument
from culture.measure.scoring import FLAG_COLUMNS, score
from culture.stats import (
    benjamini_hochberg,
    classify_change,
    individuals_chart,
    mixed_trend,
    newcombe_diff,
    overlap_change,
    paired_change,
    perception_gap,
    welch_change,
)

__all__ = [
    "CHANGE_COLUMNS",
    "RULE_RENAMED",
    "RULE_SAME",
    "TrendAnalysisError",
    "TrendReport",
    "TrendTable",
    "analyse_trends",
    "control_charts",
    "instrument_invariance",
    "match_units",
    "multiwave_trend",
    "overlap_change",
    "perception_gaps",
    "wave_changes",
]

RULE_SAME = "same unit"
RULE_RENAMED = "renamed: history kept"
RULE_REORG = "re-organised: compared at {}"

CHANGE_COLUMNS = (
    "wave", "previous_wave", "unit_id", "unit", "compared_unit_id", "rule", "measure",
    "n_before", "n_now", "mean_before", "mean_now", "diff", "ci_low", "ci_high", "t", "df", "p",
    "q", "hedges_g", "g_ci_low", "g_ci_high", "fav_before", "fav_now", "fav_diff", "fav_ci_low",
    "fav_ci_high", "paired_n", "paired_diff", "paired_p", "verdict",
)
CHART_COLUMNS = ("unit_id", "unit", "measure", "wave", "value", "baseline", "centre", "lcl", "ucl",
                 "signals")
GAP_COLUMNS = ("unit_id", "unit", "kind", "measure", "leader_n", "staff_n", "leader_mean",
               "staff_mean", "diff", "ci_low", "ci_high", "t", "df", "p", "q", "hedges_g",
               "g_ci_low", "g_ci_high", "verdict")
TREND_COLUMNS = ("measure", "level", "slope", "se", "ci_low", "ci_high", "p", "n_units", "n_obs",
                 "converged")
INVARIANCE_COLUMNS = ("construct", "waves", "n_obs", "n_items", "cfi_configural",
                      "rmsea_configural", "cfi_metric", "delta_cfi", "chisq_diff", "df_diff",
                      "p_value", "accepted", "verdict")
_GROUP = "_gap_group"  # derived leader/staff column for perception gaps



# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class TrendTable:
    """One tidy result table with its caveats.

    Attributes
    ----------
    title : what the table is (shown by :meth:`summary`).
    table : the tidy DataFrame (a copy is returned on every access).
    notes : caveats: left-out cells, skipped series, methods.
    details : fitted models behind the table (e.g. the :class:`~culture.trends.MixedTrend`).
    """

    title: str
    _table: pd.DataFrame = field(repr=False)
    notes: tuple[str, ...] = ()
    details: Mapping[str, Any] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_table", self._table.reset_index(drop=True).copy())
        object.__setattr__(self, "details", MappingProxyType(dict(self.details)))

    @property
    def table(self) -> pd.DataFrame:
        return self._table.copy()

    def summary(self) -> str:
        lines = [f"{self.title}: {len(self._table)} row(s)"]
        if "verdict" in self._table.columns and len(self._table):
            counts = self._table["verdict"].value_counts()
            lines.append("; ".join(f"{k}: {v}" for k, v in counts.items()))
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return f"<p>{html.escape(self.summary()).replace(chr(10), '<br>')}</p>"


@dataclass(frozen=True)
class TrendReport:
    """Everything :func:`analyse_trends` computes for the latest wave.

    ``changes`` (vs the previous wave), ``control_charts`` and ``trend`` (all waves),
    ``gaps`` (leader vs staff, latest wave), ``invariance`` (last two waves).
    """

    wave: str
    previous_wave: str | None
    changes: TrendTable
    control_charts: TrendTable
    trend: TrendTable
    gaps: TrendTable
    invariance: TrendTable
    notes: tuple[str, ...] = ()

    @property
    def tables(self) -> dict[str, pd.DataFrame]:
        return {"changes": self.changes.table, "control_charts": self.control_charts.table,
                "trend": self.trend.table, "gaps": self.gaps.table,
                "invariance": self.invariance.table}

    def summary(self) -> str:
        parts = [f"Trends for wave {self.wave}"
                 + (f" (changes vs {self.previous_wave})" if self.previous_wave else "")]
        for part in (self.changes, self.control_charts, self.trend, self.gaps, self.invariance):
            parts.append(part.summary())
        parts += [f"note: {n}" for n in self.notes]
        return "\n".join(parts)

    def _repr_html_(self) -> str:
        return f"<p>{html.escape(self.summary()).replace(chr(10), '<br>')}</p>"


# --------------------------------------------------------------------------- org trees


def _org_of(org: pd.DataFrame, wave: str) -> pd.DataFrame:
    """The org chart of one wave (rows of other waves dropped when there is a wave column)."""
    if WAVE in org.columns:
        org = org[org[WAVE].astype("string") == wave]
    return org.reset_index(drop=True)


@dataclass(frozen=True)
class _Tree:
    closure: pd.DataFrame   # ancestor, descendant, depth (unit ids)
    signature: pd.Series    # unit_id -> "|"-joined sorted subtree ids
    depth: pd.Series        # unit_id -> depth below the root (root 0)
    names: pd.Series        # unit_id -> name
    root: str


def _tree(org: pd.DataFrame) -> _Tree:
    cl = closure_table(org)
    sig = cl.sort_values(["ancestor", "descendant"]).groupby("ancestor")["descendant"].agg("|".join)
    depth = cl.groupby("descendant")["depth"].max()
    ids = org[UNIT].astype("string")
    names = (org["name"].astype("string") if "name" in org.columns else ids)
    names = pd.Series(names.to_numpy(dtype=object), index=ids.to_numpy(dtype=object))
    root = str(depth.idxmin())
    return _Tree(cl, sig, depth, names, root)


def match_units(org_now: pd.DataFrame, org_before: pd.DataFrame) -> pd.DataFrame:
    """How each unit of the later wave is compared with the earlier wave.

    Parameters
    ----------
    org_now, org_before : org charts (``unit_id``, ``parent_id``, ``name``) of the two waves.

    Returns
    -------
    DataFrame, one row per unit of ``org_now``: ``unit_id``, ``unit`` (current name),
    ``in_before`` (the id exists in the earlier chart), ``compared_unit_id`` (the unit
    whose subtree is compared; itself unless re-organised; missing when no ancestor
    kept its subtree) and ``rule`` (see the module doc).
    """
    now, before = _tree(org_now), _tree(org_before)
    units = now.signature.index
    same = now.signature.eq(before.signature.reindex(units)).to_numpy(dtype=bool, copy=True)
    same |= units == now.root  # the whole organisation is always itself
    in_before = units.isin(before.signature.index)
    renamed = same & in_before & (now.names.reindex(units).to_numpy()
                                  != before.names.reindex(units).to_numpy())
    # nearest proper ancestor whose subtree is unchanged: smallest closure depth
    cl = now.closure[now.closure["depth"] > 0]
    cl = cl[cl["ancestor"].isin(units[same])]
    nearest = cl.sort_values("depth").drop_duplicates("descendant").set_index("descendant")["ancestor"]
    compared = pd.Series(np.where(same, units, nearest.reindex(units).to_numpy()), index=units)
    rule = np.where(renamed, RULE_RENAMED, RULE_SAME).astype(object)
    moved = ~same & compared.notna().to_numpy()
    rule[moved] = [RULE_REORG.format(n) for n in now.names.reindex(compared[moved]).to_numpy()]
    rule[~same & ~moved] = "re-organised: no comparable unit"
    return pd.DataFrame({"unit_id": units.to_numpy(dtype=object),
                         "unit": now.names.reindex(units).to_numpy(dtype=object),
                         "in_before": in_before, "compared_unit_id": compared.to_numpy(dtype=object),
                         "rule": rule})


# --------------------------------------------------------------------------- inputs


def _check_wave_tuple(value: Any, name: str, releases: Any, orgs: Any,
                      problems: list[Problem]) -> None:
    if not (isinstance(value, tuple | list) and len(value) == 3):
        problems.append(Problem(name, "must be a tuple (wave, responses, scored)"))
        return
    wave, responses, scored = value
    if not isinstance(wave, str):
        problems.append(Problem(f"{name}[0]", "the wave must be a string like '2026Q3'"))
        return
    try:
        wave_index(wave)
    except ValueError:
        problems.append(Problem(f"{name}[0]", "the wave must look like YYYYQn, e.g. 2026Q3"))
    if not isinstance(responses, pd.DataFrame) or UNIT not in responses.columns:
        problems.append(Problem(f"{name}[1]", "responses must be a DataFrame with a 'unit_id' column"))
    elif not hasattr(scored, "scores") or len(scored.scores) != len(responses):
        problems.append(Problem(f"{name}[2]", "must be the ScoredWave of these responses "
                                              "(culture.scoring.score), aligned row for row"))
    if isinstance(releases, Mapping) and wave not in releases:
        problems.append(Problem("releases", f"no release for wave {wave}"))
    elif isinstance(releases, Mapping) and getattr(releases[wave], "wave", None) != wave:
        problems.append(Problem(f"releases[{wave!r}]", f"must be the Release of wave {wave}"))
    if isinstance(orgs, Mapping) and wave not in orgs:
        problems.append(Problem("orgs", f"no org chart for wave {wave}"))


def _check_options(problems: list[Problem], *, min_change: Any = 0.0, alpha: Any = 0.05) -> None:
    if isinstance(min_change, bool) or not isinstance(min_change, int | float) or min_change < 0:
        problems.append(Problem("min_change", "must be a number >= 0 (scale points)"))
    if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not 0 < alpha < 1:
        problems.append(Problem("alpha", "must be a number strictly between 0 and 1"))


def _measure_stats(responses: pd.DataFrame, values: pd.DataFrame, org: pd.DataFrame, *,
                   favourable: pd.DataFrame | None = None, kind: Any = "construct",
                   by: Sequence[str] = (), codebooks: Mapping | None = None) -> pd.DataFrame:
    """Subtree statistics exactly as the release was built (same function, same people)."""
    cols = [c for c in (RESPONDENT, UNIT, *by) if c in responses.columns]
    return aggregate_measures(responses[cols], values, org, kind=kind, favourable=favourable,
                              by=by, codebooks=codebooks or {})


def _construct_stats(responses, scored, org, instrument: Instrument) -> pd.DataFrame:
    measures = list(instrument.construct_ids)
    kinds = {c.id: ("outcome" if c.kind == "outcome" else "construct") for c in instrument.constructs}
    fav = construct_favourable(scored.favourable, scored.scores, instrument)
    out = _measure_stats(responses, scored.scores[measures], org, favourable=fav, kind=kinds)
    out = out[out["demographic"] == ALL]
    return out.set_index(["unit_id", "measure"])[["kind", "n", "mean", "sd", "pct_favourable"]]


def _check_release(stats: pd.DataFrame, shown: pd.DataFrame, wave: str, table: str) -> list[Problem]:
    """Released n and mean must be the ones these responses give (else wrong inputs)."""
    both = shown[shown["status"] == RELEASED].join(stats[["n", "mean"]].add_suffix("_data"), how="left")
    bad = ~(both["n"].astype(np.float64).to_numpy() == both["n_data"].to_numpy(np.float64))
    bad |= ~np.isclose(both["mean"].to_numpy(np.float64), both["mean_data"].to_numpy(np.float64),
                       rtol=0, atol=1e-9)
    if not bad.any():
        return []
    cells = both.index[bad][:5]
    where = ", ".join("/".join(map(str, c)) for c in cells)
    return [Problem(f"releases[{wave!r}].{table}",
                    f"{int(bad.sum())} released cell(s) do not match the responses given for this "
                    f"wave (e.g. {where}); pass the responses the release was built from")]


def _score_cells(release: Release) -> pd.DataFrame:
    s = release.table("scores")
    return s.set_index(["unit_id", "measure"])[["status", "n", "mean", "sd", "pct_favourable"]]


# --------------------------------------------------------------------------- overlapping waves


# --------------------------------------------------------------------------- wave changes


def _person_scores(responses: pd.DataFrame, scored, measures: list[str],
                   tree: _Tree) -> pd.DataFrame | None:
    """One row per pseudonym: unit (unknown units -> root) and mean score per measure."""
    if RESPONDENT not in responses.columns or responses[RESPONDENT].isna().all():
        return None
    frame = scored.scores[measures].copy()
    frame[RESPONDENT] = responses[RESPONDENT].to_numpy()
    frame[UNIT] = responses[UNIT].astype("string").to_numpy(dtype=object)
    frame = frame.dropna(subset=[RESPONDENT])
    # a repeated submission counts once (mean of the person's rows), as in aggregation
    people = frame.groupby(RESPONDENT, sort=False).agg({UNIT: "first", **dict.fromkeys(measures, "mean")})
    people[UNIT] = people[UNIT].where(people[UNIT].isin(tree.depth.index), tree.root)
    return people


def _pearson(x: pd.Series, y: pd.Series, group: np.ndarray) -> pd.Series:
    """Pearson r of x and y within each group (complete pairs), from grouped sums."""
    ok = (x.notna() & y.notna()).to_numpy()
    xv, yv = x.to_numpy()[ok], y.to_numpy()[ok]
    sums = pd.DataFrame({"n": 1.0, "x": xv, "y": yv, "xx": xv * xv, "yy": yv * yv, "xy": xv * yv}
                        ).groupby(group[ok]).sum()
    n = sums["n"]
    sxy = sums["xy"] - sums["x"] * sums["y"] / n
    sxx, syy = sums["xx"] - sums["x"] ** 2 / n, sums["yy"] - sums["y"] ** 2 / n
    # no variation on one side: no correlation to use (as Partover.test, r = 0)
    varied = (sxx > 1e-12) & (syy > 1e-12)
    return (sxy / np.sqrt((sxx * syy).where(varied, 1.0))).where(varied, 0.0)


def _paired(now: tuple, before: tuple, trees: tuple[_Tree, _Tree], measures: list[str],
            units: pd.Index, min_paired: int) -> tuple[pd.DataFrame, list[str]]:
    """Paired t on people linked by pseudonym who are in a compared unit's subtree in both waves."""
    empty = pd.DataFrame(columns=["unit_id", "measure", "paired_n", "paired_diff", "paired_p",
                                  "paired_r"])
    t1, t0 = trees
    p1 = _person_scores(now[1], now[2], measures, t1)
    p0 = _person_scores(before[1], before[2], measures, t0)
    if p1 is None or p0 is None:
        return empty, ["no pseudonymous ids: paired comparisons not made"]
    linked = p1.index.intersection(p0.index)
    pairs = pd.DataFrame({RESPONDENT: linked, "u1": p1.loc[linked, UNIT].to_numpy(),
                          "u0": p0.loc[linked, UNIT].to_numpy()})
    c1 = t1.closure.rename(columns={"descendant": "u1"})[["ancestor", "u1"]]
    c0 = t0.closure.rename(columns={"descendant": "u0"})[["ancestor", "u0"]]
    x = pairs.merge(c1, on="u1").merge(c0, on=["ancestor", "u0"])  # in the subtree in both waves
    x = x[x["ancestor"].isin(units)]
    x["level"] = t1.depth.reindex(x["ancestor"]).to_numpy()
    parts = []
    # One person has one ancestor per tree level, so within a level (person, measure) is a
    # unique key and one paired_change call covers every unit and measure of that level.
    for _, grp in x.groupby("level", sort=True):
        keys = pd.MultiIndex.from_product([grp[RESPONDENT].to_numpy(), measures])
        first = pd.Series(p1.loc[grp[RESPONDENT], measures].to_numpy().ravel(), index=keys)
        second = pd.Series(p0.loc[grp[RESPONDENT], measures].to_numpy().ravel(), index=keys)
        cells = pd.MultiIndex.from_product([grp["ancestor"].to_numpy(), measures])
        code, labels = pd.factorize(cells)
        res = paired_change(first, second, by=pd.Series(code, index=keys))
        unit_measure = labels[res.index.to_numpy()]
        parts.append(pd.DataFrame({"unit_id": unit_measure.get_level_values(0),
                                   "measure": unit_measure.get_level_values(1),
                                   "paired_n": res["n_pairs"].to_numpy(np.float64),
                                   "paired_diff": res["diff"].to_numpy(),
                                   "paired_p": res["p"].to_numpy(),
                                   "paired_r": _pearson(first, second, code).reindex(res.index)
                                   .to_numpy()}))
    if not parts:
        return empty, []
    out = pd.concat(parts, ignore_index=True)
    out = out[out["paired_n"] >= min_paired]
    return out, []


def wave_changes(now: tuple, before: tuple, *, instrument: Instrument,
                 releases: Mapping[str, Release], orgs: Mapping[str, pd.DataFrame],
                 min_change: float = 0.2, alpha: float = 0.05, min_paired: int = 20) -> TrendTable:
    """Change of every released unit x measure between two waves.

    For each unit x construct (outcome index included) released in both waves:
    subtree ``n``, mean and SD of each wave from the respondent-level scores;
    ``diff = mean_now - mean_before`` with its t test and CI: Welch's
    (:func:`culture.trends.welch_change`; R ``t.test(now, before)``), or, where at least
    ``min_paired`` people answered in the subtree in both waves, the partially overlapping
    samples t test that also uses the correlation of their answers
    (:func:`overlap_change`; R ``Partiallyoverlapping::Partover.test``); Hedges' g of the
    two waves as independent groups (:func:`culture.trends.welch_change`);
    favourability change with Newcombe's hybrid score CI
    (:func:`culture.trends.newcombe_diff`; R ``DescTools::BinomDiffCI(..., method="score")``);
    Benjamini-Hochberg across every Welch comparison of the wave (R
    ``p.adjust(p, "BH")``) gives ``q``; ``verdict = classify_change(diff, q)``.

    Favourability counts. A construct's favourability is each respondent's share of
    favourable items averaged over the cell, so the count fed to Newcombe's interval is
    ``x = round(pct_favourable / 100 * n)`` "respondent equivalents" out of ``n``
    respondents. Treating people, not item answers, as the trials is the conservative
    choice: answers of one person are correlated, so counting item answers would
    overstate the information. ``fav_*`` columns are in percentage points.

    Paired change. Where pseudonyms link at least ``min_paired`` people who are in the
    compared subtree in both waves, the paired t on them is added (``paired_n``,
    ``paired_diff``, ``paired_p``; R ``t.test(now, before, paired = TRUE)``). It describes
    the people who stayed; the verdict is about everyone who answered (``diff``, ``q``).

    Confidentiality. A unit x measure appears only when its cell, and the cell of the
    unit it is compared at, are released in both waves (a unit new in the later wave:
    in that wave). ``t, df, p, q, ci_*, hedges_g, g_*`` reveal the SDs, so they are
    given only where both releases show the SD (the ``distributions`` threshold); other
    rows have the released means and verdict ``"not tested"``.

    Parameters
    ----------
    now, before : ``(wave, responses, scored)`` of the later and the earlier wave:
        canonical responses of the wave and their :class:`~culture.scoring.ScoredWave`.
    instrument : the instrument both waves were scored with.
    releases : wave -> :class:`~culture.release.Release` built from those responses.
    orgs : wave -> org chart (``unit_id``, ``parent_id``, ``name``, ``level``).
    min_change : smallest change (scale points) called meaningful.
    alpha : FDR level.
    min_paired : fewest linked people for a paired comparison; at least the
        ``distributions`` threshold of both releases (the paired p reveals an SD).

    Returns
    -------
    :class:`TrendTable` with :data:`CHANGE_COLUMNS`, one row per unit x measure. A
    re-organised unit's row carries the statistics of ``compared_unit_id``; each
    distinct comparison counts once in the BH adjustment.
    """
    problems: list[Problem] = []
    _check_wave_tuple(now, "now", releases, orgs, problems)
    _check_wave_tuple(before, "before", releases, orgs, problems)
    if not isinstance(instrument, Instrument):
        problems.append(Problem("instrument", "must be an Instrument (culture.instruments)"))
    inputs_ok = not problems
    _check_options(problems, min_change=min_change, alpha=alpha)
    floor = (max(releases[w].thresholds.distributions for w in (now[0], before[0])) if inputs_ok
             else Thresholds().distributions)
    if isinstance(min_paired, bool) or not isinstance(min_paired, int | np.integer) or min_paired < floor:
        problems.append(Problem("min_paired", f"must be a whole number >= {floor} (the "
                                              "releases' distribution threshold)"))
    if inputs_ok:
        if wave_index(now[0]) <= wave_index(before[0]):
            problems.append(Problem("now, before", f"the later wave must come first; got {now[0]} "
                                                   f"and {before[0]}"))
        for w in (now[0], before[0]):
            if releases[w].instrument_id != instrument.id:
                problems.append(Problem(f"releases[{w!r}]", f"was built with instrument "
                                        f"{releases[w].instrument_id!r}, not {instrument.id!r}"))
    if problems:
        raise TrendAnalysisError(problems, source="wave_changes")

    w1, w0 = now[0], before[0]
    org1, org0 = _org_of(orgs[w1], w1), _org_of(orgs[w0], w0)
    trees = (_tree(org1), _tree(org0))
    measures = list(instrument.construct_ids)
    stats1 = _construct_stats(now[1], now[2], org1, instrument)
    stats0 = _construct_stats(before[1], before[2], org0, instrument)
    cells1, cells0 = _score_cells(releases[w1]), _score_cells(releases[w0])
    problems = _check_release(stats1, cells1, w1, "scores") + _check_release(stats0, cells0, w0, "scores")
    if problems:
        raise TrendAnalysisError(problems, source="wave_changes")

    match = match_units(org1, org0)
    rows = match.merge(pd.DataFrame({"measure": measures}), how="cross")
    shown1 = (cells1["status"] == RELEASED).rename("shown")
    shown0 = (cells0["status"] == RELEASED).rename("shown")

    def shown(frame: pd.Series, unit_col: str) -> np.ndarray:
        key = pd.MultiIndex.from_arrays([rows[unit_col], rows["measure"]])
        return frame.reindex(key).fillna(False).to_numpy(dtype=bool)

    keep = (shown(shown1, "unit_id") & (shown(shown0, "unit_id") | ~rows["in_before"].to_numpy())
            & shown(shown1, "compared_unit_id") & shown(shown0, "compared_unit_id"))
    n_hidden = int((~keep).sum())
    rows = rows[keep].reset_index(drop=True)

    comp = rows[["compared_unit_id", "measure"]].drop_duplicates().reset_index(drop=True)
    key = pd.MultiIndex.from_frame(comp)
    s1, s0 = stats1.reindex(key), stats0.reindex(key)
    sd_ok = (cells1["sd"].reindex(key).notna() & cells0["sd"].reindex(key).notna()).to_numpy()
    n1, n0 = s1["n"].to_numpy(np.float64), s0["n"].to_numpy(np.float64)
    paired, notes = _paired(now, before, trees, measures, pd.Index(comp["compared_unit_id"].unique()),
                            int(min_paired))
    comp = comp.merge(paired.rename(columns={"unit_id": "compared_unit_id"}),
                      on=["compared_unit_id", "measure"], how="left")
    sd1, sd0 = np.where(sd_ok, s1["sd"], np.nan), np.where(sd_ok, s0["sd"], np.nan)
    m1, m0 = s1["mean"].to_numpy(), s0["mean"].to_numpy()
    # People answering both waves make the waves correlated: the partially overlapping
    # test uses that (more power, same estimate); without enough linked people it is Welch.
    linked = comp["paired_n"].fillna(0).to_numpy()
    test = overlap_change(m1, sd1, n1, m0, sd0, n0, linked, comp["paired_r"].fillna(0).to_numpy())
    g = welch_change(m1, sd1, n1, m0, sd0, n0)  # Hedges' g treats the waves as two groups
    fav1, fav0 = s1["pct_favourable"].to_numpy(), s0["pct_favourable"].to_numpy()
    fav = newcombe_diff(np.round(fav1 / 100 * n1), n1, np.round(fav0 / 100 * n0), n0)
    diff = m1 - m0
    q = benjamini_hochberg(test["p"].to_numpy())
    comp = comp.assign(
        n_before=n0, n_now=n1, mean_before=m0, mean_now=m1, diff=diff,
        ci_low=test["ci_low"].to_numpy(), ci_high=test["ci_high"].to_numpy(),
        t=test["t"].to_numpy(), df=test["df"].to_numpy(), p=test["p"].to_numpy(), q=q,
        hedges_g=g["hedges_g"].to_numpy(), g_ci_low=g["g_ci_low"].to_numpy(),
        g_ci_high=g["g_ci_high"].to_numpy(), fav_before=fav0, fav_now=fav1,
        fav_diff=100 * fav["diff"].to_numpy(), fav_ci_low=100 * fav["ci_low"].to_numpy(),
        fav_ci_high=100 * fav["ci_high"].to_numpy(),
        verdict=classify_change(diff, q, min_change=min_change, alpha=alpha).to_numpy())
    out = rows.merge(comp, on=["compared_unit_id", "measure"], how="left")
    out.insert(0, "wave", w1)
    out.insert(1, "previous_wave", w0)
    order = pd.Categorical(out["measure"], categories=measures, ordered=True)
    out = out.assign(_m=order).sort_values(["unit_id", "_m"]).drop(columns="_m")
    notes += [f"{n_hidden} unit x measure cell(s) not released in both waves are left out",
              f"{int((~sd_ok).sum())} comparison(s) not tested: the SD is not released in both "
              "waves (distribution threshold)",
              f"{int((linked > 0).sum())} comparison(s) use the partially overlapping t test "
              f"(>= {min_paired} people in both waves), the rest Welch's",
              f"Benjamini-Hochberg over {int(np.isfinite(test['p']).sum())} comparison(s)"]
    title = f"Change {w0} -> {w1}"
    return TrendTable(title, out[list(CHANGE_COLUMNS)], tuple(notes))


# --------------------------------------------------------------------------- across waves


def _released_means(releases: Mapping[str, Release]) -> pd.DataFrame:
    """Long table of every scores cell of every release, with the unit's subtree signature."""
    parts = []
    for wave, rel in releases.items():
        units = rel.table("units")
        tree = _tree(units[[UNIT, PARENT, "name"]])
        s = rel.table("scores")[["unit_id", "measure", "mean", "se", "status"]]
        s = s.assign(wave=wave, t=wave_index(wave),
                     unit=tree.names.reindex(s["unit_id"]).to_numpy(),
                     depth=tree.depth.reindex(s["unit_id"]).to_numpy(),
                     signature=tree.signature.reindex(s["unit_id"]).to_numpy(),
                     root=s["unit_id"].to_numpy() == tree.root)
        parts.append(s)
    long = pd.concat(parts, ignore_index=True).sort_values(["t", "unit_id", "measure"])
    # A unit is one series while its subtree stays the same; the root is always one series.
    long["segment"] = np.where(long["root"], "",
                               long["signature"].ne(long.groupby("unit_id")["signature"].shift())
                               .groupby(long["unit_id"]).cumsum().astype(str))
    return long.reset_index(drop=True)


def _check_releases(releases: Any, problems: list[Problem]) -> None:
    if not isinstance(releases, Mapping) or not releases:
        problems.append(Problem("releases", "must be a non-empty mapping wave -> Release"))
        return
    for w, r in releases.items():
        if not isinstance(r, Release) or r.wave != w:
            problems.append(Problem(f"releases[{w!r}]", f"must be the Release of wave {w}"))


def control_charts(releases: Mapping[str, Release], *, baseline_waves: int = 4) -> TrendTable:
    """Individuals (XmR) chart of every released unit x measure mean across waves.

    Each series is the released means of one unit x measure in wave order; waves where
    the cell is suppressed are left out (listed in ``notes``), so runs join the
    neighbouring released waves. Limits come from the first ``baseline_waves`` released
    points: centre = their mean, sigma = mean moving range / 1.128, limits centre +/- 3
    sigma; Western Electric rules 1-4 (:func:`culture.trends.individuals_chart`, as R
    ``qcc(x, type = "xbar.one")``). Series with fewer than ``baseline_waves + 1``
    released points are skipped. A unit whose subtree changes starts a new series; only
    the current series (its latest subtree) is charted.

    Returns
    -------
    :class:`TrendTable` with :data:`CHART_COLUMNS` (``baseline`` marks the limit-setting
    points; ``signals`` lists the broken rules, e.g. ``"1,4"``).
    """
    problems: list[Problem] = []
    _check_releases(releases, problems)
    if isinstance(baseline_waves, bool) or not isinstance(baseline_waves, int | np.integer) \
            or baseline_waves < 2:
        problems.append(Problem("baseline_waves", "must be a whole number >= 2 (a moving range "
                                                  "needs two points)"))
    if problems:
        raise TrendAnalysisError(problems, source="control_charts")
    long = _released_means(releases)
    current = long.groupby("unit_id")["segment"].transform("last")
    long = long[long["segment"] == current]
    shown = long["status"] == RELEASED
    parts, charted, skipped, flat, no_se = [], [], 0, 0, 0
    for (unit, measure), s in long[shown].groupby(["unit_id", "measure"], sort=True):
        if len(s) < baseline_waves + 1:
            skipped += 1
            continue
        series = pd.Series(s["mean"].to_numpy(np.float64), index=s["wave"].to_numpy())
        # Floor sigma at the typical standard error of the released means (where the release
        # shows it): a unit mean moves by about that much from sampling alone.
        se = s["se"].to_numpy(np.float64)
        if not np.isfinite(se).any():
            # No released standard error (fewer than the distribution threshold): four
            # waves of a small team's mean cannot separate a signal from sampling noise.
            no_se += 1
            continue
        floor = float(np.nanmedian(se))
        try:
            chart = individuals_chart(series, baseline=int(baseline_waves), sigma_floor=floor)
        except InsufficientDataError:
            flat += 1
            continue
        charted.append((unit, measure))
        parts.append(chart.reset_index(names="wave").assign(unit_id=unit, unit=s["unit"].iloc[-1],
                                                            measure=measure))
    table = (pd.concat(parts, ignore_index=True)[list(CHART_COLUMNS)] if parts
             else pd.DataFrame(columns=list(CHART_COLUMNS)))
    # one note per unit: the waves left out of any of its charted series
    hidden = long[~shown].set_index(["unit_id", "measure"])
    hidden = hidden[hidden.index.isin(charted)].reset_index()
    left_out = hidden.drop_duplicates(["unit_id", "wave"]).groupby("unit_id", sort=True)["wave"]
    notes = [f"{unit}: suppressed in {', '.join(w)}; left out of its charts"
             for unit, w in left_out.agg(list).items()]
    notes.append(f"{skipped} series with fewer than {baseline_waves + 1} released waves skipped")
    if flat:
        notes.append(f"{flat} series without variation in the baseline skipped (no limits)")
    if no_se:
        notes.append(f"{no_se} series of units too small to show a standard error not charted")
    return TrendTable(f"Control charts ({baseline_waves} baseline waves)", table, tuple(notes))


def multiwave_trend(releases: Mapping[str, Release], *, measure: str,
                    level: int | None = None) -> TrendTable:
    """Linear trend per quarter over the released unit means of every wave.

    Fits ``mean ~ quarter + (quarter | unit)`` by REML
    (:func:`culture.trends.mixed_trend`, as lme4 ``lmer(mean ~ quarter + (quarter | unit))``)
    on the released means only; ``quarter`` counts quarters (``2026Q1`` -> ``2026Q2`` = 1),
    so the slope is per quarter. A unit whose subtree changed is a new unit from then on.

    Parameters
    ----------
    releases : wave -> Release.
    measure : construct id (or the outcome index).
    level : depth in the org tree (0 = the organisation, 1 = its children, ...); ``None``
        uses every released unit. Nested units share respondents, so a single level
        gives the cleaner estimate.

    Returns
    -------
    :class:`TrendTable` with one row of :data:`TREND_COLUMNS`; ``details["model"]`` is
    the :class:`~culture.trends.MixedTrend`.
    """
    problems: list[Problem] = []
    _check_releases(releases, problems)
    if level is not None and (isinstance(level, bool) or not isinstance(level, int | np.integer)
                              or level < 0):
        problems.append(Problem("level", "must be None or a tree depth >= 0"))
    if problems:
        raise TrendAnalysisError(problems, source="multiwave_trend")
    long = _released_means(releases)
    if measure not in set(long["measure"]):
        raise TrendAnalysisError([Problem("measure", f"{measure!r} is not a measure of the releases; "
                                          f"known: {', '.join(pd.unique(long['measure']))}")],
                                 source="multiwave_trend")
    data = long[(long["measure"] == measure) & (long["status"] == RELEASED)]
    if level is not None:
        data = data[data["depth"] == level]
    data = data.assign(quarter=(data["t"] - long["t"].min()).astype(np.float64),
                       series=data["unit_id"] + "#" + data["segment"])
    fit = mixed_trend(data, value="mean", time="quarter", group="series")
    row = fit.table.set_index("term").loc["time"]
    table = pd.DataFrame([{"measure": measure, "level": "all" if level is None else int(level),
                           "slope": row["estimate"], "se": row["se"], "ci_low": row["ci_low"],
                           "ci_high": row["ci_high"], "p": row["p"], "n_units": fit.n_groups,
                           "n_obs": fit.n_obs, "converged": fit.converged}])
    notes = list(fit.notes)
    if level is None:
        notes.append("all levels pooled: nested units share respondents")
    return TrendTable(f"Trend of {measure} per quarter", table, tuple(notes), {"model": fit})


# --------------------------------------------------------------------------- perception gaps


def perception_gaps(responses: pd.DataFrame, scored, release: Release, *, instrument: Instrument,
                    min_gap: float = 0.2, alpha: float = 0.05) -> TrendTable:
    """Leader minus staff score per unit x construct, and per item for the whole organisation.

    Leaders are the ``leader_codes`` of the ``role_level`` demographic (e.g. team leads and
    managers, pooled), staff its other codes (the missing code is neither). A unit x
    measure is compared only when its staff band and at least one leader band are
    released in the release's ``cuts`` table and no band with people in it is withheld,
    so both groups are unions of released cells. Statistics come from the respondent
    data: Welch CI and Hedges' g (:func:`culture.trends.perception_gap`; R
    ``t.test(leader, staff)``); BH over every row gives ``q``; ``verdict`` as
    :func:`culture.trends.classify_change` with ``min_gap``. As for changes, ``t``, ``p``,
    CI and g need the SD of every band involved to be released (else ``"not tested"``).

    Returns
    -------
    :class:`TrendTable` with :data:`GAP_COLUMNS`; ``kind`` is ``construct``, ``outcome``
    or ``item`` (items only for the root unit).
    """
    problems: list[Problem] = []
    _check_options(problems, min_change=min_gap, alpha=alpha)
    if not isinstance(release, Release):
        problems.append(Problem("release", "must be a Release"))
    elif release.demographic != "role_level":
        problems.append(Problem("release", "must be cut by role_level (aggregate_wave(..., "
                                           f"by=('role_level',))); it is cut by {release.demographic}"))
    if not isinstance(responses, pd.DataFrame) or "role_level" not in responses.columns:
        problems.append(Problem("responses", "must be a DataFrame with a 'role_level' column"))
    elif not hasattr(scored, "scores") or len(scored.scores) != len(responses):
        problems.append(Problem("scored", "must be the ScoredWave of these responses"))
    if problems:
        raise TrendAnalysisError(problems, source="perception_gaps")

    role = instrument.demographic("role_level")
    leaders = list(role.leader_codes)
    staff = [c for c in role.codes if c not in leaders]
    org = release.table("units")[[UNIT, PARENT, "name"]]
    tree = _tree(org)
    band = responses["role_level"].astype("string")
    group = np.select([band.isin(leaders).to_numpy(dtype=bool), band.isin(staff).to_numpy(dtype=bool)],
                      ["leader", "staff"], "other")
    data = responses.assign(**{_GROUP: group})
    # Cut by the release's bands (to match its cells) and by the pooled groups, in one pass.
    common = {"by": ("role_level", _GROUP),
              "codebooks": {**codebooks_of(instrument), _GROUP: (("leader", "staff", "other"), None)}}
    constructs = list(instrument.construct_ids)
    kinds = {c.id: ("outcome" if c.kind == "outcome" else "construct") for c in instrument.constructs}
    stats = pd.concat([
        _measure_stats(data, scored.scores[constructs], org, kind=kinds, **common),
        _measure_stats(data, scored.keyed[list(instrument.item_ids)], org, kind="item", **common)],
        ignore_index=True)

    def by_band(frame: pd.DataFrame, value: str) -> pd.DataFrame:
        return frame.pivot_table(index=["unit_id", "kind", "measure"], columns="band", values=value,
                                 aggfunc="first", dropna=False)

    pooled = stats[stats["demographic"] == _GROUP]
    wide = {v: by_band(pooled, v) for v in ("n", "mean", "sd")}
    idx = wide["n"].index
    has = by_band(stats[stats["demographic"] == "role_level"], "n").reindex(idx) > 0
    cuts = release.table("cuts")
    cuts = cuts[(cuts["demographic"] == "role_level") & cuts["kind"].isin(["construct", "outcome", "item"])]
    cells = cuts.set_index(["unit_id", "kind", "measure", "band"])
    data_n = stats[stats["demographic"] == "role_level"].set_index(
        ["unit_id", "kind", "measure", "band"])["n"].reindex(cells.index)
    shown_cells = cells["status"] == RELEASED
    if (shown_cells & (cells["n"].astype(np.float64) != data_n.to_numpy(np.float64))).any():
        raise TrendAnalysisError([Problem(f"release {release.wave}.cuts", "released role_level counts "
                                          "do not match the responses; pass the responses the release "
                                          "was built from")], source="perception_gaps")
    shown = by_band(cuts.assign(v=shown_cells.to_numpy()), "v").reindex(idx).fillna(False).astype(bool)
    sd_shown = by_band(cuts.assign(v=cuts["sd"].notna()), "v").reindex(idx).fillna(False).astype(bool)

    def every(frame: pd.DataFrame, codes: list[str]) -> np.ndarray:
        return np.logical_and.reduce([frame[c].to_numpy(bool) | ~has[c].to_numpy(bool) for c in codes])

    def some(frame: pd.DataFrame, codes: list[str]) -> np.ndarray:
        return np.logical_or.reduce([frame[c].to_numpy(bool) & has[c].to_numpy(bool) for c in codes])

    keep = every(shown, staff) & some(shown, staff) & every(shown, leaders) & some(shown, leaders)
    keep &= (idx.get_level_values("kind") != "item") | (idx.get_level_values("unit_id") == tree.root)
    tested = every(sd_shown, [*staff, *leaders])

    def side(g: str) -> pd.DataFrame:
        return pd.DataFrame({"mean": wide["mean"][g], "sd": wide["sd"][g].where(tested),
                             "n": wide["n"][g].astype(np.float64)}, index=idx)[keep]

    gap = perception_gap(side("leader"), side("staff")).reset_index()
    gap["diff"] = gap["leader_mean"] - gap["staff_mean"]  # means are released even when untested
    gap["q"] = benjamini_hochberg(gap["p"].to_numpy())
    gap["verdict"] = classify_change(gap["diff"], gap["q"], min_change=min_gap, alpha=alpha).to_numpy()
    gap["unit"] = tree.names.reindex(gap["unit_id"]).to_numpy()
    gap = gap.sort_values(["unit_id", "kind", "measure"])
    notes = [f"leaders = role_level {', '.join(leaders)}; staff = {', '.join(staff)}",
             f"{int((keep & ~tested).sum())} gap(s) not tested: an SD is not released "
             "(distribution threshold)"]
    return TrendTable(f"Leader vs staff perception gaps, wave {release.wave}",
                      gap[list(GAP_COLUMNS)], tuple(notes))


# --------------------------------------------------------------------------- invariance


def instrument_invariance(responses_by_wave: Mapping[str, pd.DataFrame], instrument: Instrument, *,
                          constructs: Sequence[str] | None = None,
                          exclude: Sequence[str] = ("straightliner", "speeder", "duplicate"),
                          min_n: int | None = None) -> TrendTable:
    """Metric invariance across waves, one single-factor model per construct.

    The reverse-keyed item answers of each construct are fitted as a one-factor CFA in
    every wave (configural) and with loadings equal across waves (metric), by ML on the
    listwise-complete answers (:func:`culture.psychometrics.metric_invariance`, as
    lavaan ``cfa(model, data, group = "wave", group.equal = "loadings")``); metric
    invariance holds when CFI drops by at most .01 (Cheung & Rensvold 2002). Fitting
    per construct keeps each model small (a few seconds for a whole instrument).

    Parameters
    ----------
    responses_by_wave : wave -> canonical responses of that wave (two or more waves).
    instrument : the instrument (items, reverse keys, constructs).
    constructs : construct ids; default the culture constructs.
    exclude : data-quality flags (:data:`culture.scoring.FLAG_COLUMNS`) whose responses are
        left out of the models; ``()`` keeps everyone.
    min_n : fewest complete answers per wave for a model; default the ``models``
        threshold of :class:`~culture.release.Thresholds` (model outputs need it).

    Returns
    -------
    :class:`TrendTable` with :data:`INVARIANCE_COLUMNS`; ``verdict`` is ``holds``,
    ``not supported`` or ``not estimated`` (too few answers or a failed fit, see notes).
    """
    problems: list[Problem] = []
    min_n = Thresholds().models if min_n is None else min_n
    if not isinstance(responses_by_wave, Mapping) or len(responses_by_wave) < 2:
        problems.append(Problem("responses_by_wave", "must map at least two waves to their responses"))
    else:
        for w, r in responses_by_wave.items():
            missing = [i for i in instrument.item_ids if i not in getattr(r, "columns", ())]
            if missing:
                problems.append(Problem(f"responses_by_wave[{w!r}]",
                                        f"missing item column(s) {', '.join(missing[:5])}"))
    chosen = list(constructs) if constructs is not None else [c.id for c in instrument.culture_constructs]
    unknown = [c for c in chosen if c not in instrument.construct_ids]
    if unknown:
        problems.append(Problem("constructs", f"unknown construct(s) {', '.join(unknown)}; known: "
                                              f"{', '.join(instrument.construct_ids)}"))
    bad_flags = sorted(set(exclude) - set(FLAG_COLUMNS))
    if bad_flags:
        problems.append(Problem("exclude", f"unknown flag(s) {', '.join(bad_flags)}; allowed: "
                                           f"{', '.join(FLAG_COLUMNS)}"))
    if isinstance(min_n, bool) or not isinstance(min_n, int | np.integer) or min_n < Thresholds.FLOORS["models"]:
        problems.append(Problem("min_n", f"must be a whole number >= {Thresholds.FLOORS['models']}"))
    if problems:
        raise TrendAnalysisError(problems, source="instrument_invariance")

    waves = sorted(responses_by_wave, key=wave_index)
    lo, hi = instrument.scale.min, instrument.scale.max
    items = list(instrument.item_ids)
    reverse = np.array([instrument.item(i).reverse for i in items])
    frames, dropped = [], 0
    for w in waves:
        resp = responses_by_wave[w]
        if exclude:
            # careless answering (one code for everything, random clicking) distorts loadings
            flagged = score(resp, instrument).flags[list(exclude)].any(axis=1).to_numpy()
            resp, dropped = resp[~flagged], dropped + int(flagged.sum())
        raw = resp[items].to_numpy(dtype=np.float64, na_value=np.nan)
        frames.append(pd.DataFrame(np.where(reverse, lo + hi - raw, raw), columns=items).assign(wave=w))
    data = pd.concat(frames, ignore_index=True)
    rows, notes = [], ([f"{dropped} response(s) flagged {', '.join(exclude)} left out"] if exclude else [])
    label = " vs ".join(waves)
    for c in chosen:
        cols = [i.id for i in instrument.items_of(c)]
        complete = data[cols].notna().all(axis=1)
        per_wave = complete.groupby(data["wave"]).sum()
        base = {"construct": c, "waves": label, "n_obs": int(complete.sum()), "n_items": len(cols)}
        if per_wave.min() < min_n or len(cols) < 3:
            rows.append({**base, "accepted": pd.NA, "verdict": "not estimated"})
            notes.append(f"{c}: not estimated (needs >= 3 items and >= {min_n} complete answers "
                         "per wave)")
            continue
        try:
            res = metric_invariance(data[[*cols, "wave"]], {c: cols}, group="wave")
        except (PsychometricsInputError, InsufficientDataError, ConfigError) as exc:
            rows.append({**base, "accepted": pd.NA, "verdict": "not estimated"})
            notes.append(f"{c}: not estimated ({type(exc).__name__})")
            continue
        fit = res.table.set_index("model")
        rows.append({**base, "cfi_configural": fit.at["configural", "cfi"],
                     "rmsea_configural": fit.at["configural", "rmsea"],
                     "cfi_metric": fit.at["metric", "cfi"], "delta_cfi": res.delta_cfi,
                     "chisq_diff": res.chisq_diff, "df_diff": res.df_diff, "p_value": res.p_value,
                     "accepted": res.accepted,
                     "verdict": "holds" if res.accepted else "not supported"})
        notes += [f"{c}: {n}" for n in res.notes]
    table = pd.DataFrame(rows).reindex(columns=list(INVARIANCE_COLUMNS))
    return TrendTable(f"Metric invariance across {label}", table, tuple(notes))


# --------------------------------------------------------------------------- everything


def analyse_trends(waves: Sequence[tuple], releases: Mapping[str, Release],
                   orgs: Mapping[str, pd.DataFrame], *, instrument: Instrument,
                   min_change: float = 0.2, alpha: float = 0.05, min_paired: int = 20,
                   baseline_waves: int = 4) -> TrendReport:
    """Change, control charts, trend, perception gaps and invariance for the latest wave.

    Parameters
    ----------
    waves : ``(wave, responses, scored)`` of every wave (any order; the latest is analysed).
    releases, orgs : wave -> Release and wave -> org chart.
    instrument, min_change, alpha, min_paired, baseline_waves : see :func:`wave_changes`
        and :func:`control_charts`.

    Returns
    -------
    :class:`TrendReport`: changes vs the previous wave, control charts and trends over
    all released waves (every measure, all units), gaps of the latest wave, invariance
    of the last two waves. A part that cannot be estimated is empty and says why in
    ``notes``.
    """
    problems: list[Problem] = []
    if not isinstance(waves, Sequence) or not waves:
        problems.append(Problem("waves", "must be a non-empty sequence of (wave, responses, scored)"))
    else:
        for i, w in enumerate(waves):
            _check_wave_tuple(w, f"waves[{i}]", releases, orgs, problems)
    if problems:
        raise TrendAnalysisError(problems, source="analyse_trends")
    ordered = sorted(waves, key=lambda w: wave_index(w[0]))
    latest, previous = ordered[-1], (ordered[-2] if len(ordered) > 1 else None)
    used = {w[0]: releases[w[0]] for w in ordered}
    notes = [f"{len(ordered)} wave(s) analysed, {ordered[0][0]} to {latest[0]}"]
    if previous is not None:
        changes = wave_changes(latest, previous, instrument=instrument, releases=releases, orgs=orgs,
                               min_change=min_change, alpha=alpha, min_paired=min_paired)
    else:
        changes = TrendTable("Change", pd.DataFrame(columns=list(CHANGE_COLUMNS)),
                             ("only one wave: no change to report",))
    charts = control_charts(used, baseline_waves=baseline_waves)
    trend_rows, trend_notes = [], []
    for m in instrument.construct_ids:
        try:
            part = multiwave_trend(used, measure=m)
        except (InsufficientDataError, ProblemsError) as exc:
            trend_notes.append(f"{m}: no trend ({str(exc).splitlines()[0]})")
            continue
        trend_rows.append(part.table)
        trend_notes += [f"{m}: {n}" for n in part.notes]
    trend = TrendTable("Trend per quarter (mixed model, units random)",
                       pd.concat(trend_rows, ignore_index=True) if trend_rows
                       else pd.DataFrame(columns=list(TREND_COLUMNS)), tuple(dict.fromkeys(trend_notes)))
    rel = releases[latest[0]]
    if rel.demographic == "role_level":
        gaps = perception_gaps(latest[1], latest[2], rel, instrument=instrument, alpha=alpha)
    else:
        gaps = TrendTable("Perception gaps", pd.DataFrame(columns=list(GAP_COLUMNS)),
                          ("the release is not cut by role_level: no perception gaps",))
    if previous is not None:
        invariance = instrument_invariance({previous[0]: previous[1], latest[0]: latest[1]}, instrument)
    else:
        invariance = TrendTable("Metric invariance", pd.DataFrame(columns=list(INVARIANCE_COLUMNS)),
                                ("only one wave: invariance not assessed",))
    return TrendReport(wave=latest[0], previous_wave=previous[0] if previous else None,
                       changes=changes, control_charts=charts, trend=trend, gaps=gaps,
                       invariance=invariance, notes=tuple(notes))
