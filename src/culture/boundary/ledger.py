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
    """One row per (cell, member): ``CELL`` columns, ``person`` and ``version`` (one merge
    for every measure and scope at once)."""
    idx = org_index(state.org)
    m = state.members.reset_index(drop=True)
    pos = idx.positions(m[UNIT])
    up = pd.DataFrame({"row": np.arange(len(m)), "descendant": np.where(pos < 0, idx.root, pos)})
    up = up.merge(idx.closure[["ancestor", "descendant"]], on="descendant")
    up["unit_id"] = idx.units[up["ancestor"].to_numpy()].astype(str)
    measures = list(pd.unique(cells["measure"]))
    has = pd.DataFrame({c: (m[c].fillna(False).astype(bool) if c in m.columns
                            else pd.Series(True, index=m.index)) for c in measures})
    rows, cols = np.nonzero(has.to_numpy())
    answered = pd.DataFrame({"row": rows, "measure": np.asarray(measures, dtype=object)[cols]})
    long = answered.merge(up[["row", "unit_id"]], on="row")
    dem = state.release.demographic
    scopes = [long.assign(demographic=ALL, band=ALL)]
    if dem and dem in m.columns:
        scopes.append(long.assign(demographic=dem, band=m[dem].astype(str).to_numpy()[long["row"]]))
    out = pd.concat(scopes, ignore_index=True).merge(cells[CELL].drop_duplicates(), on=CELL)
    person = m[RESPONDENT].astype(str).to_numpy()
    version = m[VERSION].astype(str).to_numpy() if VERSION in m.columns else person
    rows = out["row"].to_numpy()
    return out.drop(columns="row").assign(person=person[rows], version=version[rows])


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
    """One row per group and person, with a signature of the person's answer versions (an
    order-free sum of 64-bit hashes: equal version sets give equal signatures)."""
    h = pd.util.hash_pandas_object(groups["version"], index=False).to_numpy().view(np.int64)
    return (groups.assign(signature=h).groupby([*group, "person"], sort=False)["signature"]
            .sum().reset_index())


class Ledger:
    """What earlier releases of a wave published and withheld, ready to check a new release
    against (built once, used for every round of withholding)."""

    def __init__(self, previous: Sequence[Published], questions: Sequence[str] = ()) -> None:
        parts = []
        for state in previous:
            shown = shown_cells(state.release)
            groups = _people(derivable_groups(state, shown), [*CELL, "kind"])
            spread = shown.set_index(CELL)["spread"]
            groups["spread"] = groups.set_index(CELL).index.map(spread).to_numpy(dtype=bool)
            hidden = withheld_cells(state.release, questions)
            withheld = _people(cell_members(state, hidden), CELL).assign(kind="withheld")
            only_sd = hidden.set_index(CELL)["spread"]
            withheld["spread"] = withheld.set_index(CELL).index.map(only_sd).to_numpy(dtype=bool)
            parts += [groups, withheld]
        self.reference = (pd.concat(parts, ignore_index=True) if parts else
                          pd.DataFrame(columns=[*CELL, "kind", "person", "signature", "spread"]))
        keys = [*CELL, "kind"]
        self.n_reference = self.reference.groupby(keys).size().rename("n_old")

    def risky(self, candidate: Published, *, k_means: dict[str, int], k_spread: int) -> pd.DataFrame:
        """Shown cells of ``candidate`` to withhold: ``CELL`` columns, ``people`` (the smallest
        difference found) and ``spread_only`` (only its SD must go)."""
        empty = pd.DataFrame(columns=[*CELL, "people", "spread_only"])
        cells = shown_cells(candidate.release)
        new = _people(derivable_groups(candidate, cells), [*CELL, "kind"])
        if new.empty or self.reference.empty:
            return empty
        new["spread"] = new.set_index(CELL).index.map(cells.set_index(CELL)["spread"]).to_numpy(
            dtype=bool)
        new_n = new.groupby([*CELL, "kind"]).size().rename("n_new")
        # pairs of a new group and an earlier one of the same measure and scope sharing people
        both = new.merge(self.reference, on=["measure", "demographic", "person"],
                         suffixes=("", "_old"))
        if both.empty:
            return empty
        pair = [*CELL, "kind", "unit_id_old", "band_old", "kind_old"]
        both["same"] = both["signature"] == both["signature_old"]
        pairs = both.groupby(pair).agg(people=("person", "size"), versions=("same", "sum"),
                                       spread=("spread", "first"),
                                       spread_old=("spread_old", "first")).reset_index()
        pairs = pairs.join(new_n, on=[*CELL, "kind"])
        old_key = ["measure", "unit_id_old", "demographic", "band_old", "kind_old"]
        pairs = pairs.join(self.n_reference.rename_axis(old_key), on=old_key)
        # people in one group only, plus people in both whose answers changed
        d = pairs["n_new"] + pairs["n_old"] - pairs["people"] - pairs["versions"]
        k = pairs["measure"].map(k_means).fillna(max(k_means.values(), default=5))
        hidden = pairs["kind_old"] == "withheld"
        sd_only_old = hidden & pairs["spread_old"]
        whole = (~hidden & (d > 0) & (d < k)) | (hidden & ~sd_only_old & (d < k))
        spread = ~whole & pairs["spread"] & (d < k_spread) & (
            (~hidden & (d > 0) & pairs["spread_old"]) | sd_only_old)
        bad = whole | spread
        if not bad.any():
            return empty
        out = pairs.loc[bad, CELL].assign(people=d[bad], spread_only=spread[bad])
        # a cell withheld whole for one pair needs no SD-only entry for another
        return out.groupby(CELL, as_index=False).agg(people=("people", "min"),
                                                     spread_only=("spread_only", "all"))


def risky_cells(previous: Sequence[Published], candidate: Published, *, k_means: dict[str, int],
                k_spread: int, questions: Sequence[str] = ()) -> pd.DataFrame:
    """:meth:`Ledger.risky` for one candidate (builds the ledger; reuse a :class:`Ledger`
    across rounds instead)."""
    return Ledger(previous, questions).risky(candidate, k_means=k_means, k_spread=k_spread)
