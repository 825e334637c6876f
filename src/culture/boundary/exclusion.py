"""Reporting a unit "excluding groups too small to report".

The people attached *directly* to a unit U (not to one of its descendants) are a
group of their own: rule 4 of :mod:`culture.boundary.suppression` must keep every
shown unit's remainder (its people not inside its shown descendants) at 0 or at
least ``complements``. Three executives attached to the organisation root make
"organisation minus all sites" a group of 3, and rule 4 then withholds a whole site
in every wave. Instead the few can be *lifted*: when they number 1..k-1 (in the
respondents measure, k = ``complements``), U has children with people and U is big
enough to be shown (``scores``), they are attached to U's parent, and U is reported
"excluding groups too small to report". At the root they are left out of the wave
(every cell, and the analyses of the wave's data: an unpublished mean over everyone
beside a published mean over the rest would reveal the few). Lifting runs bottom-up,
so people lifted into a parent that is itself too small a group move on with it.

Lifting is used only when it hides fewer people than not lifting: the cost of a
choice is the sum of the respondent counts of the withheld unit cells (respondents
measure, whole unit) plus every lifted person once per unit they are removed from.
That respondents pattern depends on the respondents cells alone (rules 1-6 never
withhold a respondents cell because of another measure), so both choices are costed
with :func:`~culture.boundary.suppression.suppress` on that one measure, exactly as
:func:`~culture.boundary.suppression.build_release` would withhold them.

Everything here is a function of counts, the tree and the set of lifted units, so a
stored release is rebuilt by applying its ``excluding`` units again
(:func:`lift_units_of`, :func:`lift_headcount`). How many people were lifted is never
published.
"""

from __future__ import annotations

from collections.abc import Collection

import numpy as np
import pandas as pd

from culture.boundary.aggregate import RESPONDENTS, OrgIndex, org_index
from culture.boundary.release import Thresholds
from culture.boundary.suppression import suppress
from culture.frames import RESPONDENT, UNIT, WAVE


def _levels(depth: np.ndarray) -> list[np.ndarray]:
    return [np.flatnonzero(depth == d) for d in range(int(depth.max(initial=0)) + 1)]


def subtree_counts(direct: np.ndarray, parent: np.ndarray, depth: np.ndarray) -> np.ndarray:
    """Per unit, the people of its subtree from the people attached to each unit."""
    out = np.asarray(direct, dtype=np.int64).copy()
    for units in reversed(_levels(depth)[1:]):
        np.add.at(out, parent[units], out[units])
    return out


def candidates(direct: np.ndarray, parent: np.ndarray, depth: np.ndarray, *, k: int,
               k_unit: int) -> np.ndarray:
    """Units whose direct people are lifted (bool per unit), deepest units first.

    A unit is lifted when the people directly in it (its own plus those lifted into it
    from below) number 1..k-1, it has a child with people and its subtree has at least
    ``k_unit`` people (a unit too small to be shown gains nothing from it).
    """
    direct = np.asarray(direct, dtype=np.int64)
    subtree = subtree_counts(direct, parent, depth)
    has_children = np.zeros(len(direct), dtype=bool)
    inner = parent >= 0
    has_children[parent[inner & (subtree > 0)]] = True
    here = direct.copy()
    lifted = np.zeros(len(direct), dtype=bool)
    for units in reversed(_levels(depth)):
        go = units[(here[units] >= 1) & (here[units] < k) & has_children[units]
                   & (subtree[units] >= k_unit)]
        lifted[go] = True
        up = go[parent[go] >= 0]
        np.add.at(here, parent[up], here[up])
        here[go] = 0
    return lifted


def destination(parent: np.ndarray, depth: np.ndarray, lifted: np.ndarray) -> np.ndarray:
    """Where the people attached to each unit are reported: the nearest unit, itself or
    above, that is not lifted; -1 when every unit up to the root is (left out)."""
    dest = np.full(len(parent), -1, dtype=np.int64)
    for units in _levels(depth):
        above = np.where(parent[units] >= 0, dest[np.maximum(parent[units], 0)], -1)
        dest[units] = np.where(lifted[units], above, units)
    return dest


def lift_cost(direct: np.ndarray, depth: np.ndarray, dest: np.ndarray) -> int:
    """Every lifted person once per unit they are removed from."""
    removed = np.where(dest >= 0, depth - depth[np.maximum(dest, 0)], depth + 1)
    return int((np.asarray(direct, dtype=np.int64) * removed).sum())


def moved(direct: np.ndarray, dest: np.ndarray) -> np.ndarray:
    """The people attached to each unit after lifting."""
    out = np.zeros(len(direct), dtype=np.int64)
    keep = dest >= 0
    np.add.at(out, dest[keep], np.asarray(direct, dtype=np.int64)[keep])
    return out


def withheld_cost(direct: np.ndarray, parent: np.ndarray, depth: np.ndarray, thresholds: Thresholds,
                  pinned: np.ndarray | None = None) -> int:
    """People in the unit cells withheld (respondents measure, whole unit), summed over
    the withheld units: the pattern :func:`~culture.boundary.suppression.build_release`
    gives those cells (``pinned``: cells withheld whatever their size)."""
    counts = subtree_counts(direct, parent, depth)
    if not counts.any():
        return 0
    shown = suppress(counts[:, None, None], parent=parent, depth=depth,
                     k_primary=np.array([thresholds.scores]),
                     k_complement=np.array([thresholds.complements]), base=0,
                     shown=None if pinned is None else ~pinned[:, None, None])[:, 0, 0]
    return int(counts[~shown].sum())


def direct_people(unit_ids: pd.Series, idx: OrgIndex) -> np.ndarray:
    """Distinct people attached to each unit (units not in the tree count at the root)."""
    pos = idx.positions(unit_ids)
    pos = np.where(pos < 0, idx.root, pos)
    return np.bincount(pos, minlength=idx.size).astype(np.int64)


def _wave_org(org: pd.DataFrame, responses: pd.DataFrame) -> pd.DataFrame:
    if WAVE in org.columns and WAVE in responses.columns:
        waves = responses[WAVE].dropna().unique()
        if len(waves) == 1:
            return org[org[WAVE].astype("string") == str(waves[0])]
    return org


def _people(responses: pd.DataFrame) -> pd.DataFrame:
    if RESPONDENT in responses.columns:
        return responses.drop_duplicates(RESPONDENT)
    return responses


def choose(responses: pd.DataFrame, org: pd.DataFrame, thresholds: Thresholds, *,
           withhold: pd.DataFrame | None = None) -> frozenset[str]:
    """The units to report excluding groups too small to report (empty: lift nothing).

    Lifting every candidate is compared with lifting none; it is kept only when it
    costs less (see the module doc). A lifted unit that is withheld all the same
    gains nothing, so such units are dropped from the set as long as that lowers the
    cost. ``withhold``: cells withheld whatever their size (as for ``build_release``).
    """
    idx = org_index(_wave_org(org, responses))
    people = _people(responses)
    direct = direct_people(people[UNIT], idx)
    lifted = candidates(direct, idx.parent, idx.depth, k=thresholds.complements,
                        k_unit=thresholds.scores)
    if not lifted.any():
        return frozenset()
    pinned = np.zeros(idx.size, dtype=bool)
    if withhold is not None and len(withhold):
        rows = withhold[(withhold["measure"].astype(str) == RESPONDENTS)
                        & (withhold["demographic"].astype(str) == "all")
                        & ~withhold["spread_only"].astype(bool)]
        at = idx.positions(rows[UNIT])
        pinned[at[at >= 0]] = True
    best, best_cost = frozenset(), withheld_cost(direct, idx.parent, idx.depth, thresholds, pinned)
    while lifted.any() and best_cost > 0:
        dest = destination(idx.parent, idx.depth, lifted)
        cost = lift_cost(direct, idx.depth, dest)
        if cost >= best_cost:
            break
        after = moved(direct, dest)
        counts = subtree_counts(after, idx.parent, idx.depth)
        shown = suppress(counts[:, None, None], parent=idx.parent, depth=idx.depth,
                         k_primary=np.array([thresholds.scores]),
                         k_complement=np.array([thresholds.complements]), base=0,
                         shown=~pinned[:, None, None])[:, 0, 0]
        cost += int(counts[~shown].sum())
        chosen = frozenset(str(u) for u in idx.units[lifted])
        if cost < best_cost:
            best, best_cost = chosen, cost
        fewer = lifted & shown
        if np.array_equal(fewer, lifted):
            break
        lifted = fewer
    return best


def lift_units_of(unit_ids: pd.Series, org: pd.DataFrame,
                  excluding: Collection[str]) -> tuple[np.ndarray, np.ndarray]:
    """Each person's unit after lifting the ``excluding`` units' direct people, and which
    people stay in the wave (False: lifted out of the root)."""
    units = unit_ids.to_numpy(dtype=object).copy()
    keep = np.ones(len(units), dtype=bool)
    if not excluding:
        return units, keep
    idx = org_index(org)
    lifted = pd.Index(idx.units).isin([str(u) for u in excluding])
    dest = destination(idx.parent, idx.depth, lifted)
    pos = idx.positions(unit_ids)
    pos = np.where(pos < 0, idx.root, pos)
    moves = lifted[pos]
    keep = dest[pos] >= 0
    units[moves & keep] = idx.units[dest[pos[moves & keep]]]
    return units, keep


def lift_responses(responses: pd.DataFrame, org: pd.DataFrame,
                   excluding: Collection[str]) -> tuple[pd.DataFrame, np.ndarray]:
    """Responses with the ``excluding`` units' direct people lifted (``unit_id`` changed,
    people lifted out of the root dropped) and the mask of rows kept."""
    if not excluding:
        return responses, np.ones(len(responses), dtype=bool)
    units, keep = lift_units_of(responses[UNIT], _wave_org(org, responses), excluding)
    out = responses.assign(**{UNIT: pd.Series(units, index=responses.index,
                                              dtype=responses[UNIT].dtype)})
    return out[keep], keep


def lift_headcount(headcount: pd.DataFrame, org: pd.DataFrame,
                   excluding: Collection[str]) -> pd.DataFrame:
    """Direct headcount (``unit_id``, ``invited``) of the ``excluding`` units moved with
    their people: to the parent, or dropped at the root."""
    if not excluding or headcount.empty:
        return headcount
    known = headcount[UNIT].astype(str).isin(set(org_index(org).units)).to_numpy(dtype=bool)
    units, keep = lift_units_of(headcount[UNIT], org, excluding)
    units = np.where(known, units, headcount[UNIT].to_numpy(dtype=object))  # ignored rows stay
    keep |= ~known
    out = headcount.assign(**{UNIT: pd.Series(units, index=headcount.index,
                                              dtype=headcount[UNIT].dtype)})
    return out[keep].reset_index(drop=True)


def excluding_units(units: pd.DataFrame) -> frozenset[str]:
    """The units a release's ``units`` table marks ``excluding`` (none in releases stored
    before the column existed)."""
    if "excluding" not in units.columns:
        return frozenset()
    flag = units["excluding"].fillna(False).astype(bool)
    return frozenset(units.loc[flag, UNIT].astype(str))
