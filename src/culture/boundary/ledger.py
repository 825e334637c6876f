"""Confidentiality across releases of one wave: what was published cannot be subtracted.

A wave may be released more than once: late responses, a superseded response, a
corrected org chart, a withdrawn and re-imported file. Readers keep every version,
so a new release is safe only if, together with every earlier one, it reveals no
group of 1..k-1 people. Two releases are compared cell by cell *by the people behind
each cell and the version of each person's answers*: a person whose answers changed
counts as a difference just like a person who joined or left. For every shown cell
of the new release and every shown cell of an earlier release of the same measure
and scope (at any unit: re-organisations move people between cells), the number of
people who differ::

    d = n_old + n_new - shared people - shared (person, version) pairs

must be 0 or at least ``k``. The same holds for the *remainder* of every shown cell
(its people not inside a shown cell below it, which a reader gets by subtraction):
a remainder of the new release that is close to a cell or remainder of an earlier one
withholds the cell it is the remainder of. And what an earlier release *withheld*
stays withheld: a new cell or remainder within k people of a cell an earlier release
withheld (0 included: the very same cell) is withheld too, since the earlier withholding
protected a group that the earlier release's other cells still surround. ``k`` is the
complement threshold for means (the sensitive one for
sensitive items), the comment threshold for comment lists, and the distribution
threshold where both cells show an SD. A new cell that fails is withheld (or only its
SD), complementary suppression runs again around it
(:func:`culture.boundary.suppression.build_release` takes the withheld cells), and the
comparison repeats until nothing changes. The independent audit (:func:`culture.boundary.audit.audit_union`)
checks the outcome with its own code.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from culture.boundary.aggregate import ALL, RESPONDENTS, org_index
from culture.boundary.release import RELEASED, Release
from culture.frames import RESPONDENT, UNIT, VERSION

MAX_ROUNDS = 6  # withholding converges in one or two rounds; more means something is wrong
CELL = ["measure", "unit_id", "demographic", "band"]


@dataclass(frozen=True)
class Published:
    """One release as readers hold it: the release, its org tree and its members.

    ``members`` has ``respondent`` (the person), ``response_key`` (the version of their
    answers), ``unit_id``, the release's demographic column and one boolean column per
    measure and comment question (has a value / wrote a comment).
    """

    release: Release
    org: pd.DataFrame
    members: pd.DataFrame


def shown_cells(release: Release) -> pd.DataFrame:
    """Shown cells of a release: ``measure, unit_id, demographic, band`` and ``spread``
    (its SD is shown); comment cells use the question id as measure."""
    parts = [release.table("response_rates").assign(measure=RESPONDENTS, demographic=ALL, band=ALL,
                                                    sd=np.nan),
             release.table("scores").assign(demographic=ALL, band=ALL),
             release.table("items").assign(demographic=ALL, band=ALL),
             release.table("cuts")]
    shown = [p[p["status"] == RELEASED] for p in parts]
    cells = pd.concat([s.assign(spread=s["sd"].notna().to_numpy())[[*CELL, "spread"]] for s in shown],
                      ignore_index=True)
    comments = release.table("comments")[["unit_id", "question"]].drop_duplicates()
    comments = comments.rename(columns={"question": "measure"}).assign(demographic=ALL, band=ALL,
                                                                       spread=False)
    out = pd.concat([cells, comments[[*CELL, "spread"]]], ignore_index=True)
    return out.astype({c: str for c in CELL}).astype({"spread": bool})


def withheld_cells(release: Release, questions: Sequence[str]) -> pd.DataFrame:
    """Cells a release withheld: ``CELL`` columns and ``spread`` (True: only the SD was)."""
    parts = [release.table("response_rates").assign(measure=RESPONDENTS, demographic=ALL, band=ALL,
                                                    sd=np.nan, n=np.nan),
             release.table("scores").assign(demographic=ALL, band=ALL),
             release.table("items").assign(demographic=ALL, band=ALL),
             release.table("cuts")]
    rows = []
    for p in parts:
        hidden = p["status"] != RELEASED
        sd_only = ~hidden & p["sd"].isna() & (pd.to_numeric(p["n"], errors="coerce") >= 2)
        rows.append(p[hidden | sd_only][CELL].assign(spread=sd_only[hidden | sd_only].to_numpy()))
    units = release.table("units")["unit_id"].astype(str)
    shown = set(map(tuple, release.table("comments")[["unit_id", "question"]].astype(str).values))
    rows.append(pd.DataFrame([(q, u, ALL, ALL, False) for q in questions for u in units
                              if (u, q) not in shown], columns=[*CELL, "spread"]))
    out = pd.concat(rows, ignore_index=True)
    return out.astype({c: str for c in CELL}).astype({"spread": bool})


def cell_members(state: Published, cells: pd.DataFrame) -> pd.DataFrame:
    """One row per (cell, member): ``CELL`` columns, ``person`` and ``version``."""
    idx = org_index(state.org)
    m = state.members.reset_index(drop=True)
    pos = idx.positions(m[UNIT])
    up = pd.DataFrame({"row": np.arange(len(m)), "descendant": np.where(pos < 0, idx.root, pos)})
    up = up.merge(idx.closure[["ancestor", "descendant"]], on="descendant")
    up["unit_id"] = idx.units[up["ancestor"].to_numpy()].astype(str)
    dem = state.release.demographic
    person = m[RESPONDENT].astype(str).to_numpy()
    version = (m[VERSION].astype(str).to_numpy() if VERSION in m.columns else person)
    out = []
    for measure, group in cells.groupby("measure", sort=False):
        has = (m[measure].fillna(False).astype(bool).to_numpy() if measure in m.columns
               else np.ones(len(m), dtype=bool))
        rows = up[has[up["row"].to_numpy()]]
        scopes = [(ALL, np.full(len(rows), ALL, dtype=object))]
        if dem and dem in m.columns:
            scopes.append((dem, m[dem].astype(str).to_numpy()[rows["row"].to_numpy()]))
        for scope, band in scopes:
            frame = pd.DataFrame({"measure": measure, "unit_id": rows["unit_id"].to_numpy(),
                                  "demographic": scope, "band": band,
                                  "person": person[rows["row"].to_numpy()],
                                  "version": version[rows["row"].to_numpy()]})
            wanted = group[group["demographic"] == scope]
            out.append(frame.merge(wanted, on=CELL))
    if not out:
        return pd.DataFrame(columns=[*CELL, "person", "version"])
    return pd.concat(out, ignore_index=True)


def derivable_groups(state: Published, cells: pd.DataFrame) -> pd.DataFrame:
    """Cells and remainders of a release with their members: ``CELL`` columns, ``kind``
    (``cell`` or ``remainder``), ``person``, ``version``. A member is in the remainder of
    the deepest shown cell that holds them (within one measure and scope)."""
    members = cell_members(state, cells)
    if members.empty:
        return members.assign(kind=pd.Series(dtype=str))
    depth = org_index(state.org)
    level = pd.Series(depth.depth, index=depth.units.astype(str))
    members = members.assign(_depth=members["unit_id"].map(level).to_numpy())
    deepest = members.sort_values("_depth").drop_duplicates(
        ["measure", "demographic", "band", "person", "version"], keep="last")
    return pd.concat([members.assign(kind="cell"), deepest.assign(kind="remainder")],
                     ignore_index=True).drop(columns="_depth")


def _people(groups: pd.DataFrame, group: list[str]) -> pd.DataFrame:
    """One row per group and person, with the signature of the person's answer versions."""
    return (groups.groupby([*group, "person"], sort=False)["version"]
            .agg(lambda v: ",".join(sorted(v))).rename("signature").reset_index())


def risky_cells(previous: Sequence[Published], candidate: Published, *,
                k_means: dict[str, int], k_spread: int,
                questions: Sequence[str] = ()) -> pd.DataFrame:
    """Shown cells of ``candidate`` that differ from a cell an earlier release showed by
    1..k-1 people: ``CELL`` columns, ``people`` (the smallest such difference) and
    ``spread_only`` (only the SD must go: the means differ by k or more)."""
    cells = shown_cells(candidate.release)
    new = derivable_groups(candidate, cells)
    empty = pd.DataFrame(columns=[*CELL, "people", "spread_only"])
    if new.empty or not previous:
        return empty
    spread_new = cells.set_index(CELL)["spread"]
    group = [*CELL, "kind"]
    new = _people(new, group)
    new_n = new.groupby(group).size().rename("n_new")
    found = []
    for state in previous:
        old_cells = shown_cells(state.release)
        old = derivable_groups(state, old_cells)
        if old.empty:
            continue
        old = _people(old, group)
        spread_old = old_cells.set_index(CELL)["spread"].rename_axis(
            ["measure", "unit_id_old", "demographic", "band_old"])
        old_n = old.groupby(group).size().rename("n_old")
        key = ["measure", "demographic"]
        # pairs of an old and a new group of the same measure and scope that share people;
        # d = people in one only + people in both whose answers changed
        by_person = new.merge(old, on=[*key, "person"], suffixes=("", "_old"))
        pair = [*group, "unit_id_old", "band_old", "kind_old"]
        shared_people = by_person.groupby(pair).size()
        same_version = by_person[by_person["signature"] == by_person["signature_old"]]
        shared_versions = same_version.groupby(pair).size()
        if shared_people.empty:
            found.append(_near_withheld(new, new_n, spread_new, state, questions, k_means, k_spread))
            continue
        pairs = pd.DataFrame({"people": shared_people,
                              "versions": shared_versions.reindex(shared_people.index, fill_value=0)})
        pairs = pairs.reset_index()
        pairs = pairs.join(new_n, on=group)
        old_key = ["measure", "unit_id_old", "demographic", "band_old", "kind_old"]
        pairs = pairs.join(old_n.rename_axis(old_key), on=old_key)
        pairs["d"] = pairs["n_new"] + pairs["n_old"] - pairs["people"] - pairs["versions"]
        k = pairs["measure"].map(k_means).fillna(max(k_means.values(), default=5))
        both_spread = (pairs.set_index(CELL).index.map(spread_new).to_numpy(dtype=bool)
                       & pairs.set_index(["measure", "unit_id_old", "demographic", "band_old"])
                       .index.map(spread_old).to_numpy(dtype=bool))
        small = (pairs["d"] > 0) & (pairs["d"] < k)
        small_spread = (pairs["d"] > 0) & (pairs["d"] < k_spread) & both_spread & ~small
        found.append(pairs.loc[small | small_spread, CELL].assign(
            people=pairs.loc[small | small_spread, "d"], spread_only=small_spread[small | small_spread]))
        found.append(_near_withheld(new, new_n, spread_new, state, questions, k_means, k_spread))
    found = [f for f in found if not f.empty]
    if not found:
        return empty
    out = pd.concat(found, ignore_index=True)
    # a cell withheld whole for one pair needs no SD-only entry for another
    return out.groupby(CELL, as_index=False).agg(people=("people", "min"),
                                                 spread_only=("spread_only", "all"))


def _near_withheld(new: pd.DataFrame, new_n: pd.Series, spread_new: pd.Series, state: Published,
                   questions: Sequence[str], k_means: dict[str, int], k_spread: int) -> pd.DataFrame:
    """New groups within k people (0 included) of a cell the earlier release withheld."""
    hidden = withheld_cells(state.release, questions)
    old = cell_members(state, hidden)
    if old.empty:
        return pd.DataFrame(columns=[*CELL, "people", "spread_only"])
    old = _people(old, CELL)
    old_n = old.groupby(CELL).size().rename("n_old")
    by_person = new.merge(old, on=["measure", "demographic", "person"], suffixes=("", "_old"))
    pair = [*CELL, "kind", "unit_id_old", "band_old"]
    shared = by_person.groupby(pair).size()
    same = by_person[by_person["signature"] == by_person["signature_old"]].groupby(pair).size()
    if shared.empty:
        return pd.DataFrame(columns=[*CELL, "people", "spread_only"])
    pairs = pd.DataFrame({"people": shared, "versions": same.reindex(shared.index, fill_value=0)})
    pairs = pairs.reset_index().join(new_n, on=[*CELL, "kind"])
    old_key = ["measure", "unit_id_old", "demographic", "band_old"]
    pairs = pairs.join(old_n.rename_axis(old_key), on=old_key)
    pairs["d"] = pairs["n_new"] + pairs["n_old"] - pairs["people"] - pairs["versions"]
    sd_only_old = hidden.set_index(CELL)["spread"].rename_axis(old_key)
    only_sd = pairs.set_index(old_key).index.map(sd_only_old).to_numpy(dtype=bool)
    sd_new = pairs.set_index(CELL).index.map(spread_new).fillna(False).to_numpy(dtype=bool)
    k = pairs["measure"].map(k_means).fillna(max(k_means.values(), default=5))
    whole = ~only_sd & (pairs["d"] < k)
    spread = only_sd & sd_new & (pairs["d"] < k_spread)
    bad = whole | spread
    return pairs.loc[bad, CELL].assign(people=pairs.loc[bad, "d"], spread_only=spread[bad])
