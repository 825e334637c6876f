"""Independent audit of a release against the respondent-level data.

Written separately from :mod:`culture.anonymity` and sharing no code with it
(not even helpers): it re-derives the respondent set of every shown cell from
the raw membership and the org tree, with plain Python sets, and looks for any
group of 1..k-1 people that a reader could obtain:

``too_small``      a shown cell with 1..k-1 people
``n_mismatch``     a shown n that is not the number of people in the cell
``nested_pair``    two shown cells A within B with 1..k-1 people in B but not A
``remainder``      a shown cell minus the union of the shown cells of the same scope
                   below it (people attached directly, hidden teams, unmapped)
``children``       a shown cell minus the union of its shown direct children
``cut_complement`` a shown unit minus its shown bands
``linear``         any union of people obtainable as a linear combination of shown
                   cells (exact check by linear algebra; run when the problem is
                   small enough, see ``exact``)

Every family of statistics is audited with its own threshold: means and counts
(``scores``; ``sensitive`` for sensitive items), SD/CI (``distributions``) and
comments (``comments``). Messages name cells (unit, scope, measure), never people.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from culture.errors import ConfidentialityError
from culture.results import Result

_BREACH_COLUMNS = ("check", "family", "measure", "unit_id", "demographic", "band", "other_unit",
                   "size", "k", "detail")
_WHOLE = "all"
_COMBINATION_BUDGET = 200_000


@dataclass(frozen=True)
class AuditResult(Result):
    """Outcome of :func:`audit_release`: ``passed`` and one row per breach."""

    passed: bool
    breaches: pd.DataFrame
    cells_checked: int
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def table(self) -> pd.DataFrame:
        return self.breaches.copy()

    def summary(self) -> str:
        if self.passed:
            return f"audit passed: {self.cells_checked} shown cells, no derivable group below k"
        kinds = self.breaches["check"].value_counts()
        return (f"audit FAILED: {len(self.breaches)} breach(es) in {self.cells_checked} shown cells ("
                + ", ".join(f"{k}: {v}" for k, v in kinds.items()) + ")")

    def require_pass(self) -> None:
        """Raise :class:`ConfidentialityError` listing the breaches (cells only) unless passed."""
        if self.passed:
            return
        lines = [f"{r.check}: {r.family} {r.measure} unit {r.unit_id} {r.demographic}={r.band} "
                 f"({r.detail})" for r in self.breaches.head(50).itertuples()]
        raise ConfidentialityError(self.summary() + "\n  - " + "\n  - ".join(lines))

    @property
    def provenance(self) -> dict[str, str]:
        return {"method": 'independent re-derivation of every shown cell from respondent-level membership; structural subtraction checks and an exact linear check over atoms',
                "reference": 'culture independent audit (shares no code with suppression)'}



def _ancestors(org: pd.DataFrame) -> tuple[dict[str, list[str]], str]:
    """Each unit's chain from itself up to the root, by walking parent links."""
    parent = {str(u): (None if pd.isna(p) else str(p)) for u, p in zip(org["unit_id"], org["parent_id"],
                                                                       strict=True)}
    roots = [u for u, p in parent.items() if p is None]
    if len(roots) != 1:
        raise ConfidentialityError(f"audit needs an org tree with one root, found {len(roots)}")
    chains: dict[str, list[str]] = {}
    for unit in parent:
        chain, cur = [], unit
        while cur is not None:
            if cur in chain or cur not in parent:
                raise ConfidentialityError(f"audit: org tree is broken above unit {unit}")
            chain.append(cur)
            cur = parent[cur]
        chains[unit] = chain
    return chains, roots[0]


def _shown_cells(release) -> dict[str, pd.DataFrame]:
    """Shown cells by family with the threshold each must meet."""
    th = release.thresholds
    frames = []
    rates = release.response_rates
    frames.append(rates.assign(measure="respondents", demographic=_WHOLE, band=_WHOLE, sensitive=False))
    frames.append(release.scores.assign(demographic=_WHOLE, band=_WHOLE, sensitive=False))
    frames.append(release.items.assign(demographic=_WHOLE, band=_WHOLE))
    frames.append(release.cuts)
    cells = pd.concat([f[["unit_id", "measure", "demographic", "band", "sensitive", "n", "status",
                          *(["sd"] if "sd" in f.columns else [])]] for f in frames], ignore_index=True)
    cells["sensitive"] = cells["sensitive"].fillna(False).astype(bool)
    shown = cells[cells["status"] == "released"].copy()
    k_main = np.where(shown["sensitive"], th.sensitive, th.scores)
    shown["k"] = k_main
    shown["k_sub"] = np.where(shown["sensitive"], np.maximum(th.sensitive, th.complements), th.complements)
    spread = shown[shown["sd"].notna()].copy() if "sd" in shown.columns else shown.iloc[:0].copy()
    spread["k"] = np.maximum(th.distributions, spread["k"])
    spread["k_sub"] = np.maximum(spread["k"], spread["k_sub"])
    comments = release.comments[["unit_id", "question"]].drop_duplicates().rename(columns={"question": "measure"})
    comments = comments.assign(demographic=_WHOLE, band=_WHOLE, n=pd.NA, k=th.comments,
                               k_sub=max(th.comments, th.complements))
    return {"scores": shown, "distributions": spread, "comments": comments}


def _member_codes(frames: list[pd.DataFrame]) -> list[tuple[np.ndarray, np.ndarray]]:
    """(member, person) integer codes for the rows of each frame, shared across frames.

    A member is a person with one version of their answers (``response_key``): the same
    answers read twice are one member, a changed answer makes a new member.
    """
    people = pd.concat([f["respondent"].astype(str) for f in frames], ignore_index=True)
    versions = pd.concat([(f["response_key"].astype(str) if "response_key" in f.columns
                           else f["respondent"].astype(str)) for f in frames], ignore_index=True)
    person = pd.factorize(people)[0]
    member = pd.factorize(people + "\x00" + versions)[0]
    out, at = [], 0
    for f in frames:
        out.append((member[at:at + len(f)], person[at:at + len(f)]))
        at += len(f)
    return out


def _cell_sets(respondents: pd.DataFrame, codes: tuple[np.ndarray, np.ndarray], org: pd.DataFrame,
               release, *, by: str = "person") -> dict[tuple[str, str], tuple[pd.DataFrame, dict]]:
    """(family, measure) -> (shown cells, {(unit, demographic, band): set of codes}).

    ``by="person"`` for the checks within one release (a cell counts people), ``"member"``
    (a person with one version of their answers) to compare releases.
    """
    chains, root = _ancestors(org)
    people = respondents.reset_index(drop=True)
    unit = people["unit_id"].astype(str)
    base = pd.DataFrame({"member": codes[0] if by == "member" else codes[1],
                         "unit": unit.where(unit.isin(list(chains)), root)})
    ladder = pd.DataFrame([(u, a) for u, chain in chains.items() for a in chain], columns=["unit", "anc"])
    dem = release.demographic
    out = {}
    for family, cells in _shown_cells(release).items():
        for measure, group in cells.groupby("measure", sort=True):
            has = (people[measure].fillna(False).astype(bool).to_numpy() if measure in people.columns
                   else np.ones(len(people), dtype=bool))
            sub = base[has].assign(band=people.loc[has, dem].astype(str).to_numpy() if dem else None)
            up = sub.merge(ladder, on="unit")
            sets = {(a, _WHOLE, _WHOLE): set(g) for a, g in up.groupby("anc")["member"]}
            if dem:
                sets.update({(a, dem, b): set(g) for (a, b), g in up.groupby(["anc", "band"])["member"]})
            out[(family, str(measure))] = (group, sets)
    return out


def audit_release(respondents: pd.DataFrame, org: pd.DataFrame, release, *,
                  parts: dict[str, tuple[str, ...]] | None = None,
                  exact: bool | None = None, max_atoms: int = 400) -> AuditResult:
    """Re-derive every shown cell of ``release`` and look for derivable small groups.

    Parameters
    ----------
    respondents : one row per respondent: ``respondent``, optionally ``response_key``
        (the version of their answers), ``unit_id`` (direct unit; units not in the tree
        count at the root), the release's demographic column, and one boolean column
        per measure / comment question telling whether the person has a value (answered
        the item, has a construct score, wrote a comment). A measure without a column
        counts everybody.
    org : the org tree (``unit_id``, ``parent_id``).
    release : the :class:`~culture.boundary.release.Release` to audit.
    parts : construct -> its items. A construct mean and its items form a linear system:
        a withheld item whose construct and other items are shown is derivable
        (``derived_item``).
    exact : run the exact linear-algebra check; default: when the number of
        atoms (groups of people indistinguishable by the shown cells) of a
        measure is at most ``max_atoms``.
    """
    chains, _ = _ancestors(org)
    (codes,) = _member_codes([respondents.reset_index(drop=True)])
    breaches: list[dict] = []
    notes: list[str] = []
    checked = 0
    for (family, measure), (group, sets) in _cell_sets(respondents, codes, org, release).items():
        shown = {(str(r.unit_id), str(r.demographic), str(r.band)): r for r in group.itertuples()}
        checked += len(shown)
        found = _check_measure(shown, sets, chains)
        if exact is not False:
            lin, note = _linear(shown, sets, max_atoms, force=bool(exact))
            found += lin
            if note:
                notes.append(f"{family} {measure}: {note}")
        breaches += [dict(b, family=family, measure=measure) for b in found]
    breaches += _derived_items(release, parts or {}, respondents, codes[1], org)
    return _result(breaches, checked, notes)


def _result(breaches: list[dict], checked: int, notes: list[str]) -> AuditResult:
    frame = pd.DataFrame(breaches, columns=list(_BREACH_COLUMNS)).drop_duplicates(ignore_index=True)
    return AuditResult(passed=frame.empty, breaches=frame, cells_checked=checked, notes=tuple(notes))


def _derived_items(release, parts: dict[str, tuple[str, ...]], respondents: pd.DataFrame,
                   persons: np.ndarray, org: pd.DataFrame) -> list[dict]:
    """A withheld item is derivable where its construct and every other item are shown and
    everyone in the construct's cell answered every item (then the construct total is
    exactly the item totals over the number of items); a sensitive item counts as derivable
    whenever its construct and the other items are shown."""
    def shown(table: str) -> set[tuple]:
        t = release.table(table)
        t = t[t["status"] == "released"]
        dem = t["demographic"] if "demographic" in t.columns else _WHOLE
        band = t["band"] if "band" in t.columns else _WHOLE
        return set(zip(t["unit_id"].astype(str), pd.Series(dem, index=t.index).astype(str),
                       pd.Series(band, index=t.index).astype(str), t["measure"].astype(str),
                       strict=True))

    cells = shown("scores") | shown("items") | shown("cuts")
    sensitive = set(release.table("items").query("sensitive")["measure"].astype(str))
    people = respondents.reset_index(drop=True)
    chains, root = _ancestors(org)
    unit_of = people["unit_id"].astype(str).where(people["unit_id"].astype(str).isin(list(chains)),
                                                 root)
    dem_col = release.demographic
    out = []
    for unit, dem, band, measure in sorted(c for c in cells if c[3] in parts):
        items = parts[measure]
        hidden = [i for i in items if (unit, dem, band, i) not in cells]
        if len(hidden) != 1 or len(items) < 2:
            continue
        inside = np.array(unit_of.map(lambda u, a=unit: a in chains[u]).tolist(), dtype=bool)
        if dem != _WHOLE and dem_col:
            inside &= people[dem_col].astype(str).to_numpy() == band
        if measure in people.columns:
            inside &= people[measure].fillna(False).astype(bool).to_numpy()
        answered = [people[i].fillna(False).astype(bool).to_numpy() if i in people.columns
                    else np.ones(len(people), dtype=bool) for i in items]
        exact = bool(np.all([a[inside].all() for a in answered]))
        if exact or hidden[0] in sensitive:
            out.append(dict(_breach("derived_item", (unit, dem, band), 0, 0,
                                    f"{hidden[0]} = {len(items)} x {measure} minus the other "
                                    "items shown"), family="scores", measure=hidden[0]))
    return out


def audit_union(states: list[tuple[pd.DataFrame, pd.DataFrame, object]], *,
                parts: dict[str, tuple[str, ...]] | None = None, exact: bool | None = None,
                max_atoms: int = 400) -> AuditResult:
    """Audit every release of a wave together: the last one against all earlier ones.

    ``states`` are ``(respondents, org, release)`` of each release of the wave, oldest
    first (as for :func:`audit_release`, with ``response_key`` telling the version of
    each person's answers). Readers hold every release, so besides the last release's
    own checks: any shown cell of the last release and any shown cell of an earlier
    one (same measure and scope, any unit) must differ by 0 or at least k people, where
    a person whose answers changed counts as a difference (``cross_release``); and the
    exact linear check runs over the cells of all releases together.
    """
    if not states:
        return _result([], 0, [])
    frames = [s[0].reset_index(drop=True) for s in states]
    codes = _member_codes(frames)
    last = len(states) - 1
    result = audit_release(frames[last], states[last][1], states[last][2], parts=parts,
                           exact=exact, max_atoms=max_atoms)
    if len(states) == 1:
        return result
    person_of = {}
    for member, person in codes:
        person_of.update(zip(member.tolist(), person.tolist(), strict=True))
    union: dict[tuple[str, str], tuple[dict, dict]] = {}
    for i, (frame, org, release) in enumerate(states):
        for key, (group, sets) in _cell_sets(frame, codes[i], org, release, by="member").items():
            shown, all_sets = union.setdefault(key, ({}, {}))
            for r in group.itertuples():
                cell = (str(r.unit_id), str(r.demographic), str(r.band))
                shown[(i, *cell)] = r
                all_sets[(i, *cell)] = frozenset(sets.get(cell, ()))
    breaches = list(result.breaches.to_dict("records"))
    notes = list(result.notes)
    checked = result.cells_checked
    for (family, measure), (shown, sets) in union.items():
        found = _cross_release(shown, sets, person_of, last)
        if exact is not False:
            lin, note = _linear({(f"{k[0]}:{k[1]}", k[2], k[3]): v for k, v in shown.items()},
                                {(f"{k[0]}:{k[1]}", k[2], k[3]): v for k, v in sets.items()},
                                max_atoms, force=bool(exact))
            found += lin
            if note:
                notes.append(f"union {family} {measure}: {note}")
        checked += sum(1 for k in shown if k[0] == last)
        breaches += [dict(b, family=family, measure=measure) for b in found]
    return _result(breaches, checked, notes)


def _cross_release(shown: dict, sets: dict, person_of: dict, last: int) -> list[dict]:
    """Cells of the last release against cells of earlier ones that share a person."""
    holders: dict[int, list] = defaultdict(list)
    for key, members in sets.items():
        if key[0] != last:
            for person in {person_of[m] for m in members}:
                holders[person].append(key)
    out = []
    for key, members in sets.items():
        if key[0] != last or not members:
            continue
        persons = {person_of[m] for m in members}
        seen = set()
        for person in persons:
            for other in holders.get(person, ()):
                if other in seen or other[2] != key[2]:  # same scope (demographic) only
                    continue
                seen.add(other)
                old = sets[other]
                old_persons = {person_of[m] for m in old}
                d = len(old_persons) + len(persons) - len(old_persons & persons) - len(old & members)
                k = int(max(shown[key].k_sub, shown[other].k_sub))
                if 0 < d < k:
                    out.append(_breach("cross_release", key[1:], d, k,
                                       f"{d} people differ from release #{other[0] + 1}'s "
                                       f"{other[1]} {other[2]}={other[3]}", other[1]))
    return out


def _breach(check: str, key: tuple, size: int, k: int, detail: str, other: str = "") -> dict:
    return {"check": check, "unit_id": key[0], "demographic": key[1], "band": key[2], "other_unit": other,
            "size": size, "k": k, "detail": detail}


def _check_measure(shown: dict, sets: dict, chains: dict[str, list[str]]) -> list[dict]:
    out = []
    members = {key: frozenset(sets.get(key, ())) for key in shown}
    for key, row in shown.items():
        size, k = len(members[key]), int(row.k)
        if 0 < size < k:
            out.append(_breach("too_small", key, size, k, f"{size} people shown"))
        n = getattr(row, "n", None)
        if n is not None and not pd.isna(n) and int(n) != size:
            out.append(_breach("n_mismatch", key, size, k, f"shown n {int(n)} but {size} people"))
    # nested pairs: a cell can only sit inside cells that contain one of its members
    holders: dict[int, list] = defaultdict(list)
    for key, mem in members.items():
        for person in mem:
            holders[person].append(key)
    for key, mem in members.items():
        if not mem:
            continue
        for other in holders[next(iter(mem))]:
            big = members[other]
            gap = len(big) - len(mem)
            k_sub = int(max(shown[key].k_sub, shown[other].k_sub))
            if other != key and 0 < gap < k_sub and mem <= big:
                out.append(_breach("nested_pair", key, gap, k_sub, f"inside {other[0]} {other[1]}={other[2]}",
                                   other[0]))
    # remainders below each shown cell, and complements of cuts within a unit
    below: dict[tuple, list] = defaultdict(list)
    kids: dict[tuple, list] = defaultdict(list)
    for key in members:
        unit, d, b = key
        for depth, anc in enumerate(chains[unit][1:], start=1):
            if (anc, d, b) in members:
                below[(anc, d, b)].append(key)
                if depth == 1:
                    kids[(anc, d, b)].append(key)
    for key, mem in members.items():
        k_sub = int(shown[key].k_sub)
        for check, parts in (("remainder", below[key]), ("children", kids[key])):
            if parts:
                rest = len(mem - frozenset().union(*(members[p] for p in parts)))
                if 0 < rest < k_sub:
                    out.append(_breach(check, key, rest, k_sub, f"{rest} people not in {len(parts)} shown cell(s)"))
        if key[1] == _WHOLE:
            band_keys = [o for o in members if o[0] == key[0] and o[1] != _WHOLE]
            if band_keys:
                rest = len(mem - frozenset().union(*(members[o] for o in band_keys)))
                if 0 < rest < k_sub:
                    out.append(_breach("cut_complement", key, rest, k_sub, f"{rest} people in hidden bands"))
    return out


def _linear(shown: dict, sets: dict, max_atoms: int, *, force: bool) -> tuple[list[dict], str]:
    """Exact check: is any union of people of size 1..k-1 in the row space of the shown cells?

    People with the same pattern of membership across shown cells form an atom;
    a group is derivable iff it is a union of atoms whose indicator vector is a
    linear combination of the cells' indicator vectors (sums and differences of
    published totals). Small atoms are combined exhaustively.
    """
    keys = [k for k in shown if sets.get(k)]
    if not keys:
        return [], ""
    everyone = sorted(set().union(*(sets[k] for k in keys)))
    pos = {p: i for i, p in enumerate(everyone)}
    member = np.zeros((len(everyone), len(keys)), dtype=bool)
    for j, key in enumerate(keys):
        member[[pos[p] for p in sets[key]], j] = True
    atoms, sizes = np.unique(member, axis=0, return_counts=True)
    if len(atoms) > max_atoms and not force:
        return [], f"exact check skipped ({len(atoms)} atoms > {max_atoms})"
    a = atoms.T.astype(np.float64)  # cells x atoms
    resid = np.eye(len(atoms)) - np.linalg.pinv(a) @ a  # u is derivable iff resid @ u == 0
    k_sub = int(max(int(shown[k].k_sub) for k in keys))
    small = np.flatnonzero(sizes < k_sub)
    out: list[dict] = []
    tried = 0
    for r in range(1, k_sub):
        # Count before building: materialising every combination of many small atoms
        # costs minutes, and the budget would stop the check anyway.
        if tried + math.comb(len(small), r) > _COMBINATION_BUDGET:
            return out, (f"exact check covered unions of up to {r - 1} small atom(s); "
                         f"{math.comb(len(small), r)} unions of {r} exceed the budget")
        combos = np.array(list(itertools.combinations(small, r)), dtype=np.int64).reshape(-1, r)
        combos = combos[sizes[combos].sum(axis=1) < k_sub]
        tried += len(combos)
        for chunk in np.array_split(combos, max(1, len(combos) // 5000)):
            if not len(chunk):
                continue
            hit = np.abs(resid[:, chunk].sum(axis=2)).max(axis=0) < 1e-8
            for combo in chunk[hit]:
                total = int(sizes[combo].sum())
                cell = keys[int(np.flatnonzero(atoms[combo[0]])[0])] if atoms[combo[0]].any() else keys[0]
                out.append(_breach("linear", cell, total, k_sub,
                                   f"{total} people obtainable by adding and subtracting shown cells"))
    return out, ""


def audit_cross_wave(changes: pd.DataFrame, *, k: int) -> AuditResult:
    """Quantities that combine two waves, checked as a reader would combine them.

    A change row with ``n_now``, ``n_before``, ``paired_n`` and ``paired_diff`` gives the
    total of the people who joined minus those who left (``n_now x mean_now - n_before x
    mean_before - paired_n x paired_diff``): that group must be empty or at least k.
    """
    need = {"n_now", "n_before", "paired_n", "unit_id", "measure"}
    if changes.empty or not need <= set(changes.columns):
        return _result([], 0, [])
    rows = changes[changes["paired_n"].notna()]
    movers = (rows["n_now"] - rows["paired_n"]) + (rows["n_before"] - rows["paired_n"])
    bad = rows[(movers > 0) & (movers < k)]
    found = [dict(_breach("cross_wave", (str(r.unit_id), _WHOLE, _WHOLE), int(m), k,
                          "people who joined or left, derivable from the paired change"),
                  family="scores", measure=str(r.measure))
             for r, m in zip(bad.itertuples(), movers[bad.index], strict=True)]
    return _result(found, len(rows), [])
