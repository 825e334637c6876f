"""Primary and complementary suppression: from raw aggregates to a :class:`Release`.

The rules (``docs/confidentiality.md``) as implemented here:

Cells. A cell is (unit subtree, scope, measure) where scope is ``all`` or one
band of the release's demographic, and measure is ``respondents`` (anyone who
answered), a construct, an item or a comment question. Its n is the number of
distinct respondents with a value for that measure (item cells: the people who
answered the item).

Primary suppression. A cell is withheld when n < k: ``scores`` for means,
favourability and n, ``sensitive`` for sensitive items, ``comments`` for
comment questions. SD and the confidence interval (which reveals the SD) need
``distributions`` (or ``sensitive`` if higher), see the second pass below.

Complementary suppression, repeated until nothing changes (a fixpoint over the
whole wave, because leaders can pool their reports):

1. *Respondent cells lead.* If the ``respondents`` cell of (unit, scope) is
   withheld, every measure of it is.
2. *Cuts need their unit.* A band cell is withheld when the unit's ``all``
   cell is.
3. *A cut is shown whole or not at all.* If any non-empty band of a unit (the
   missing / prefer-not-to-say group included) is withheld, all bands of that
   unit are. Showing some bands would reveal the merged rest, and merged rests
   of different units can be subtracted from each other across the hierarchy
   (a linked-table attack that per-band checks miss), so partial cuts are not
   published.
4. *Hierarchy remainders.* For every shown cell P and scope, take the shown
   cells of the same scope nearest below P (its "top shown descendants"): the
   people of P not covered by them (suppressed children, people attached to P
   directly, unmapped people) must number 0 or at least ``complements``. If
   not, a top shown descendant that still has people of its own is withheld,
   chosen by cost: the people its cell hides (its count), cheapest first, ties by
   unit id. A candidate that is itself short of people is settled first (P waits
   a round); a settled candidate's own remainder is 0 or >= k, so withholding
   one always lifts P's remainder to k in one step (preferring a candidate whose
   remainder is still growing withholds more; withholding one whose remainder is
   too small needs a second). With no candidate, P itself is withheld. Nested
   pairs and sums of disjoint shown cells subtracted from a shown parent then
   always differ by 0 or >= k, because every such difference is a sum of
   remainders.
5. *Unit x band tables.* Under a unit that shows its cut, the remainder groups
   of the shown units without a cut form a table whose row and band totals are
   derivable; empty cells (a team without managers) let "rows touching bands Y
   minus bands Y" be small. Every band subset is checked; a small difference
   hides that unit's cut (see :func:`_cut_table_step`).

The independent audit (:mod:`culture.audit`) checks the outcome, including an
exact linear-algebra search for any derivable group; a hypothesis test runs it
over random trees, sizes, non-response and cuts.

The second pass runs the same fixpoint with the distribution threshold, starting
from the first pass's pattern; SD, SE and CI are shown only where it leaves the
cell shown. Comments get a third pass over the comment questions at the
comment threshold, starting from the units that are shown.

Only counts and the tree enter :func:`suppress`; answers never do, so permuting
answers inside any cell cannot change the pattern.

Groups too small to report (people attached directly to a unit with children, 1..k-1
of them) may be lifted to the parent before aggregation, when that hides fewer people
than the withholding it avoids: :mod:`culture.boundary.exclusion` decides, and
:func:`build_release` marks those units in the ``units`` table (``excluding``).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import numpy as np
import pandas as pd

from culture.boundary.aggregate import ALL, RESPONDENTS, OrgIndex, WaveAggregates, org_index
from culture.boundary.comments import redact, stable_order
from culture.boundary.release import (
    RELEASED,
    SPREAD,
    STATS,
    SUPPRESSED,
    Release,
    Thresholds,
)
from culture.errors import ConfigError
from culture.frames import RESPONDENT, UNIT

# Bump when the rules change: a stored release built by other rules is not reused.
RULES_VERSION = 3  # 3: cost-based rule 4; units excluding groups too small to report

# --------------------------------------------------------------------------- the engine


def suppress(counts: np.ndarray, *, parent: np.ndarray, depth: np.ndarray, k_primary: np.ndarray,
             k_complement: np.ndarray, rank: np.ndarray | None = None, base: int | None = None,
             shown: np.ndarray | None = None,
             links: Sequence[tuple[int, int, bool]] = ()) -> np.ndarray:
    """Which cells may be shown: primary + complementary suppression to a fixpoint.

    Parameters
    ----------
    counts : int array (units, measures, scopes); scope 0 is the whole unit and
        scopes 1.. are the bands of one demographic (they partition scope 0).
        Counts are of subtrees, so a unit's count includes its descendants'.
    parent, depth : per unit, the parent's position (-1 for the root) and depth.
    k_primary, k_complement : per measure, the smallest shown cell and the
        smallest group obtainable by subtraction.
    rank : tie-break order of units (default: position, i.e. sorted unit id).
    base : index of the measure that counts every respondent (rule 1), if any.
    shown : start from this pattern (cells already withheld stay withheld).
    links : ``(whole, part, always)`` measure positions: ``whole`` (a construct) is
        withheld wherever ``part`` (one of its items) is (rule 6: a construct mean and its
        shown items are a linear system; with all but one item shown, the last follows).
        The equation is exact only where everyone in the cell answered every item, which
        needs the item's count to reach the construct's, so the link holds in those cells;
        ``always`` makes it hold everywhere (sensitive items).

    Returns
    -------
    bool array shaped like ``counts``: True = the cell may be shown.
    """
    counts = np.asarray(counts, dtype=np.int64)
    n_units, _, n_scopes = counts.shape
    rank = np.arange(n_units) if rank is None else np.asarray(rank)
    ok = counts >= np.asarray(k_primary)[None, :, None]
    if shown is not None:
        ok &= shown
    kc = np.asarray(k_complement)[None, :, None]
    levels = [np.flatnonzero(depth == d) for d in range(1, int(depth.max(initial=0)) + 1)]
    bound = [(whole, part, always | (counts[:, part, :] >= counts[:, whole, :]))
             for whole, part, always in links]
    while True:
        before = ok.copy()
        if base is not None:
            ok &= ok[:, base:base + 1, :]  # rule 1
        for whole, part, applies in bound:
            ok[:, whole, :] &= ok[:, part, :] | ~applies  # rule 6
        if n_scopes > 1:
            ok[:, :, 1:] &= ok[:, :, :1]  # rule 2
            broken = ((counts[:, :, 1:] > 0) & ~ok[:, :, 1:]).any(axis=2)
            ok[:, :, 1:] &= ~broken[:, :, None]  # rule 3
        _hierarchy_step(ok, counts, parent, levels, kc, rank)  # rule 4
        if n_scopes > 1:
            _cut_table_step(ok, counts, parent, levels, kc)  # rule 5
        if np.array_equal(ok, before):
            return ok


def _nearest(flag: np.ndarray, parent: np.ndarray, levels: list[np.ndarray], *, self_too: bool = False) -> np.ndarray:
    """Position of the nearest (strict, or including self) ancestor where ``flag`` holds, else -1.

    Computed top-down one depth level at a time, vectorised over units and columns.
    """
    own = np.arange(len(parent)).reshape(-1, *([1] * (flag.ndim - 1)))
    nearest = np.where(flag, own, -1) if self_too else np.full(flag.shape, -1, dtype=np.int64)
    if self_too:
        nearest = np.broadcast_to(nearest, flag.shape).copy()
    for units in levels:
        p = parent[units]
        up = np.where(flag[p], p.reshape(-1, *([1] * (flag.ndim - 1))), nearest[p])
        nearest[units] = np.where(flag[units], own[units], up) if self_too else up
    return nearest


def _hierarchy_step(ok: np.ndarray, counts: np.ndarray, parent: np.ndarray, levels: list[np.ndarray],
                    kc: np.ndarray, rank: np.ndarray) -> None:
    nearest = _nearest(ok, parent, levels)
    t, m, s = np.nonzero(ok & (nearest >= 0))
    p = nearest[t, m, s]
    covered = np.zeros(ok.shape, dtype=np.int64)
    np.add.at(covered, (p, m, s), counts[t, m, s])
    residual = counts - covered
    bad = ok & (residual >= 1) & (residual < kc)
    if not bad.any():
        return
    # candidates: top shown descendants of a bad cell that have people of their own
    c = bad[p, m, s] & (residual[t, m, s] > 0)
    ct, cm, cs, cp = t[c], m[c], s[c], p[c]
    # A candidate that is short of people itself is settled first (this round), and its
    # parent waits. A settled candidate's own remainder is >= k, so withholding any one of
    # them lifts the parent's remainder to k in one step: the cheapest is chosen (cost =
    # the people its cell hides). The deepest bad cell never waits, so every round
    # withholds something until none is bad.
    unsettled = bad[ct, cm, cs]
    waiting = np.zeros(ok.shape, dtype=bool)
    waiting[cp[unsettled], cm[unsettled], cs[unsettled]] = True
    c = ~waiting[cp, cm, cs]
    ct, cm, cs, cp = ct[c], cm[c], cs[c], cp[c]
    order = np.lexsort((rank[ct], counts[ct, cm, cs], cs, cm, cp))
    ct, cm, cs, cp = ct[order], cm[order], cs[order], cp[order]
    first = np.ones(len(ct), dtype=bool)
    first[1:] = (cp[1:] != cp[:-1]) | (cm[1:] != cm[:-1]) | (cs[1:] != cs[:-1])
    handled = waiting
    handled[cp[first], cm[first], cs[first]] = True
    ok[ct[first], cm[first], cs[first]] = False  # withhold the cheapest settled descendant
    ok[bad & ~handled] = False  # nothing below can help: withhold the cell itself


def _cut_table_step(ok: np.ndarray, counts: np.ndarray, parent: np.ndarray, levels: list[np.ndarray],
                    kc: np.ndarray) -> None:
    """Rule 5: the unit x band table under every unit that shows its cut.

    Under a unit U that shows its cut, the people not inside a lower unit that
    shows its cut split into *rows*: the remainder group of U and of every shown
    unit between (its people minus its shown descendants). Row totals are
    derivable (rule 4 keeps each 0 or >= k), and so are the band totals over the
    rows (U's bands minus the lower cuts). In a table with known row and column
    totals, the 0/1 combinations of totals are exactly "rows touching a set of
    bands Y minus the bands Y" and "bands Y minus the rows lying wholly in Y".
    Empty cells (no manager in a team, say) make such differences small, so
    every band subset Y is checked; if one gives 1..k-1 people, U's cut is hidden.
    """
    shown = ok[:, :, 0]
    cut = ok[:, :, 1:].any(axis=2) & shown
    if not cut.any():
        return
    bands = counts[:, :, 1:]
    n_units, n_meas, n_bands = bands.shape
    near = _nearest(shown, parent, levels)
    t, m = np.nonzero(shown & (near >= 0))
    covered = np.zeros(bands.shape, dtype=np.int64)
    np.add.at(covered, (near[t, m], m), bands[t, m])
    owner = _nearest(cut, parent, levels, self_too=True)
    r_u, r_m = np.nonzero(shown & (owner >= 0))
    rows = (bands - covered)[r_u, r_m]  # (rows, bands)
    own = owner[r_u, r_m]
    present = rows > 0
    masks = ((np.arange(1, 2 ** n_bands)[:, None] >> np.arange(n_bands)) & 1).astype(bool)
    touching = (present[:, None, :] & masks[None]).any(axis=2)
    inside = ~(present[:, None, :] & ~masks[None]).any(axis=2)
    rho = rows.sum(axis=1)[:, None]
    col = np.zeros(bands.shape, dtype=np.int64)
    np.add.at(col, (own, r_m), rows)
    col_y = col @ masks.T.astype(np.int64)
    touch_y = np.zeros((n_units, n_meas, len(masks)), dtype=np.int64)
    inside_y = np.zeros_like(touch_y)
    np.add.at(touch_y, (own, r_m), touching * rho)
    np.add.at(inside_y, (own, r_m), inside * rho)
    k = kc[:, :, 0][..., None]
    d1, d2 = touch_y - col_y, col_y - inside_y
    bad = (((d1 >= 1) & (d1 < k)) | ((d2 >= 1) & (d2 < k))).any(axis=2) & cut
    ok[:, :, 1:] &= ~bad[:, :, None]



def _comment_table(wave: str, comments: pd.DataFrame, idx: OrgIndex, shown: np.ndarray,
                   questions: list[str]) -> pd.DataFrame:
    pos = idx.positions(comments[UNIT])
    pos = np.where(pos < 0, idx.root, pos)
    rows = pd.DataFrame({"descendant": pos, "question": comments["question"].to_numpy(),
                         "text": redact(comments["text"]).to_numpy()})
    up = rows.merge(idx.closure[["ancestor", "descendant"]], on="descendant")
    q = pd.Index(questions).get_indexer(up["question"])
    up = up[shown[up["ancestor"].to_numpy(), q]]
    cells = pd.DataFrame({"unit_id": idx.units[up["ancestor"].to_numpy()], "question": up["question"].to_numpy(),
                          "text": up["text"].to_numpy()})
    cells = cells.sort_values(["unit_id", "question", "text"], kind="stable").reset_index(drop=True)
    cells["key"] = stable_order(wave, cells).to_numpy()
    cells = cells.sort_values(["unit_id", "question", "key"], kind="stable").drop(columns="key")
    cells["position"] = cells.groupby(["unit_id", "question"]).cumcount() + 1
    return cells[["unit_id", "question", "position", "text"]].reset_index(drop=True)


def _comment_counts(comments: pd.DataFrame, idx: OrgIndex, questions: list[str]) -> np.ndarray:
    pos = idx.positions(comments[UNIT])
    pos = np.where(pos < 0, idx.root, pos)
    frame = pd.DataFrame({"u": pos, "q": pd.Index(questions).get_indexer(comments["question"])})
    if RESPONDENT in comments.columns:  # distinct people, not rows
        frame = frame.assign(r=comments[RESPONDENT].to_numpy()).drop_duplicates(["r", "q"])
    direct = np.zeros((idx.size, len(questions)), dtype=np.float64)
    np.add.at(direct, (frame["u"].to_numpy(), frame["q"].to_numpy()), 1.0)
    return np.rint(np.asarray(idx.matrix() @ direct)).astype(np.int64)[:, :, None]


# --------------------------------------------------------------------------- build


def _cell_arrays(table: pd.DataFrame, idx: OrgIndex) -> tuple[np.ndarray, tuple[np.ndarray, ...], list, list]:
    measures = [RESPONDENTS, *[m for m in pd.unique(table["measure"]) if m != RESPONDENTS]]
    cells = pd.MultiIndex.from_arrays([table["demographic"], table["band"]])
    scopes = [(ALL, ALL), *[s for s in cells.unique() if s != (ALL, ALL)]]  # in order of first use
    u = idx.positions(table["unit_id"])
    m = pd.Index(measures).get_indexer(table["measure"])
    s = pd.MultiIndex.from_tuples(scopes).get_indexer(cells)
    counts = np.zeros((idx.size, len(measures), len(scopes)), dtype=np.int64)
    counts[u, m, s] = table["n"].to_numpy(dtype=np.int64)
    return counts, (u, m, s), measures, scopes


def _pins(withhold: pd.DataFrame | None, idx: OrgIndex, measures: list, scopes: list,
          shape: tuple[int, ...]) -> np.ndarray:
    """Boolean array of the cells ``withhold`` names (those of this table only)."""
    pinned = np.zeros(shape, dtype=bool)
    if withhold is None or withhold.empty:
        return pinned
    u = idx.positions(withhold["unit_id"])
    m = pd.Index(measures).get_indexer(withhold["measure"])
    s = pd.MultiIndex.from_tuples(scopes).get_indexer(
        pd.MultiIndex.from_arrays([withhold["demographic"].astype(str), withhold["band"].astype(str)]))
    ok = (u >= 0) & (m >= 0) & (s >= 0)
    pinned[u[ok], m[ok], s[ok]] = True
    return pinned


def build_release(aggregates: WaveAggregates, *, thresholds: Thresholds,
                  comments: pd.DataFrame | None = None,
                  withhold: pd.DataFrame | None = None,
                  excluding: Collection[str] = ()) -> Release:
    """Suppress the aggregates of one wave and wrap what may be shown in a :class:`Release`.

    Parameters
    ----------
    aggregates : from :func:`culture.aggregate.aggregate_wave` (it carries the
        org tree and at most one demographic cut).
    thresholds : the wave's :class:`Thresholds` (frozen once a wave is released:
        see :mod:`culture.boundary.ledger`).
    comments : long comments (``respondent``, ``unit_id``, ``question``, ``text``),
        e.g. from :func:`comments_long`; omitted = no comments released.
    withhold : cells to withhold whatever their size (``measure``, ``unit_id``,
        ``demographic``, ``band``; a comment question as measure), with ``spread_only``
        True where only the SD and CI must go: what an earlier release of the wave makes
        derivable (:mod:`culture.boundary.ledger`). Complementary suppression then runs
        around them.
    excluding : units whose groups too small to report were lifted out of them before
        aggregation (:mod:`culture.boundary.exclusion`); marked ``excluding`` in the
        ``units`` table (how many people were lifted is never published).

    Raises
    ------
    ConfigError
        If the aggregates are cut by more than one demographic: cross-classified
        cuts would need protection of every cross cell, which is not implemented,
        so a wave is published with one cut.
    """
    if not isinstance(thresholds, Thresholds):
        raise ConfigError(f"thresholds must be a Thresholds object, got {type(thresholds).__name__}")
    if len(aggregates.demographics) > 1:
        raise ConfigError(f"a release carries at most one demographic cut; the aggregates are cut by "
                          f"{', '.join(aggregates.demographics)} (aggregate again with by=(<one id>,))")
    idx = org_index(aggregates.org)
    table = aggregates.table
    counts, (u, m, s), measures, scopes = _cell_arrays(table, idx)
    sensitive = (table.groupby("measure")["sensitive"].any().reindex(measures).fillna(False)
                 .to_numpy(dtype=bool))
    th = thresholds
    k_main = np.where(sensitive, th.sensitive, th.scores)
    k_comp = np.where(sensitive, np.maximum(th.sensitive, th.complements), th.complements)
    position = {m: i for i, m in enumerate(measures)}
    is_sensitive = dict(zip(measures, sensitive, strict=True))
    links = [(position[whole], position[part], bool(is_sensitive[part]))
             for whole, parts in aggregates.parts.items()
             for part in parts if whole in position and part in position]
    whole = withhold[~withhold["spread_only"].astype(bool)] if withhold is not None else None
    sd_only = withhold[withhold["spread_only"].astype(bool)] if withhold is not None else None
    pinned = _pins(whole, idx, measures, scopes, counts.shape)
    common = {"parent": idx.parent, "depth": idx.depth, "base": 0, "links": links}
    main = suppress(counts, k_primary=k_main, k_complement=k_comp, shown=~pinned, **common)
    k_dist = np.maximum(th.distributions, k_main)
    spread = suppress(counts, k_primary=k_dist, k_complement=np.maximum(k_dist, k_comp),
                      shown=main & ~_pins(sd_only, idx, measures, scopes, counts.shape), **common)

    shown, wide = main[u, m, s], spread[u, m, s]
    out = table.copy()
    out["status"] = np.where(shown, RELEASED, SUPPRESSED)
    out["n"] = out["n"].astype("Int64").mask(~shown)
    for col in STATS:
        out[col] = out[col].where(shown & (wide if col in SPREAD else True))
    all_scope = out["demographic"] == ALL
    stat_cols = ["n", *STATS, "status"]
    scores = out.loc[all_scope & out["kind"].isin(["construct", "outcome"]),
                     ["unit_id", "kind", "measure", *stat_cols]]
    items = out.loc[all_scope & (out["kind"] == "item"), ["unit_id", "measure", "sensitive", *stat_cols]]
    cuts = out.loc[~all_scope, ["unit_id", "demographic", "band", "kind", "measure", "sensitive", *stat_cols]]

    unit_shown = main[:, 0, 0]
    rates = aggregates.response_rates.set_index(UNIT).reindex(idx.units).reset_index()
    rates = rates.rename(columns={"index": UNIT})
    rates["status"] = np.where(unit_shown, RELEASED, SUPPRESSED)
    rates["n"] = rates["n"].astype("Int64").mask(~unit_shown)
    for col in ("invited", "response_rate"):
        rates[col] = rates[col].astype(np.float64).where(unit_shown)
    units = aggregates.org.set_index(UNIT).reindex(idx.units).reset_index().rename(columns={"index": UNIT})
    units = units[[UNIT, "name", "parent_id", "level"]].assign(status=np.where(unit_shown, RELEASED, SUPPRESSED))
    units["excluding"] = units[UNIT].astype(str).isin({str(u) for u in excluding}).to_numpy(dtype=bool)

    comment_table = pd.DataFrame({"unit_id": pd.Series(dtype=str), "question": pd.Series(dtype=str),
                                  "position": pd.Series(dtype=np.int64), "text": pd.Series(dtype=str)})
    notes = list(aggregates.notes)
    if comments is not None and len(comments):
        questions = sorted(pd.unique(comments["question"]).tolist())
        c_counts = _comment_counts(comments, idx, questions)
        seed = np.repeat(unit_shown[:, None, None], len(questions), axis=1)
        seed &= ~_pins(whole, idx, questions, [(ALL, ALL)], seed.shape)
        k_c = np.full(len(questions), th.comments)
        c_shown = suppress(c_counts, k_primary=k_c, k_complement=np.maximum(k_c, th.complements),
                           parent=idx.parent, depth=idx.depth, shown=seed)[:, :, 0]
        comment_table = _comment_table(aggregates.wave, comments, idx, c_shown, questions)
    notes.append(f"{int((~unit_shown).sum())} of {idx.size} units are not reported")
    if units["excluding"].any():
        notes.append(f"{int(units['excluding'].sum())} unit(s) are reported excluding groups too "
                     "small to report")
    return Release(wave=aggregates.wave, instrument_id=aggregates.instrument_id,
                   instrument_version=aggregates.instrument_version, thresholds=thresholds,
                   demographic=aggregates.demographics[0] if aggregates.demographics else None,
                   _tables={"units": units, "scores": scores.reset_index(drop=True),
                            "items": items.reset_index(drop=True), "response_rates": rates,
                            "cuts": cuts.reset_index(drop=True), "comments": comment_table},
                   notes=tuple(notes))
