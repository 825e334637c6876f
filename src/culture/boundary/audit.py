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

import functools
import itertools
import math
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import sparse

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

    Every cell is a union of *atoms*: the people of one direct unit and one band. The
    atoms and which cells hold them are built once; each measure then only counts its
    people per atom, and every check is arithmetic over the hierarchy (sparse products,
    one pass up the tree), so the cost grows with units x depth, not people x cells.
    """
    people = respondents.reset_index(drop=True)
    frame = _Atoms.build(people, org, release)
    breaches: list[dict] = []
    notes: list[str] = []
    checked = 0
    memo: dict[bytes, tuple[list[dict], str]] = {}
    for family, cells in _shown_cells(release).items():
        for measure, group in cells.groupby("measure", sort=True):
            measure = str(measure)
            idx = frame.cells_of(group)
            counts = frame.counts(people, measure)
            k = group["k"].to_numpy(dtype=np.int64)
            k_sub = group["k_sub"].to_numpy(dtype=np.int64)
            n = pd.to_numeric(group["n"], errors="coerce").to_numpy(dtype=np.float64)
            # Measures with the same people per atom and the same shown cells have the same
            # breaches: many items and constructs do.
            key = b"".join(a.tobytes() for a in (counts, idx, k, k_sub, n))
            if key not in memo:
                memo[key] = frame.check(idx, counts, k, k_sub, n, exact=exact, max_atoms=max_atoms)
            found, note = memo[key]
            checked += len(group)
            if note:
                notes.append(f"{family} {measure}: {note}")
            breaches += [dict(b, family=family, measure=measure) for b in found]
    breaches += _derived_items(release, parts or {}, people, frame)
    return _result(breaches, checked, notes)


@dataclass
class _Atoms:
    """People grouped into atoms (direct unit x band) and which cells contain each atom.

    ``incidence`` is cells x atoms (1 where the atom's people belong to the cell);
    ``up`` is each cell's cell one level up the tree in the same scope (-1 at the top);
    ``whole`` is a band cell's whole-unit cell (-1 for whole cells).
    """

    keys: list[tuple[str, str, str]]
    index: dict[tuple[str, str, str], int]
    person_of: np.ndarray        # row -> person (a person read twice counts once)
    atom_of: np.ndarray          # person -> atom
    n_atoms: int
    incidence: sparse.csr_matrix
    up: np.ndarray
    whole: np.ndarray

    @classmethod
    def build(cls, people: pd.DataFrame, org: pd.DataFrame, release) -> _Atoms:
        chains, root = _ancestors(org)
        units = list(chains)
        unit_pos = {u: i for i, u in enumerate(units)}
        unit = people["unit_id"].astype(str)
        unit_idx = unit.map(unit_pos).fillna(unit_pos[root]).to_numpy(dtype=np.int64)
        dem = release.demographic
        band_names = (sorted(set(people[dem].astype(str)) | set(release.cuts["band"].astype(str)))
                      if dem else [])
        band_pos = {b: i for i, b in enumerate(band_names)}
        band_idx = (people[dem].astype(str).map(band_pos).to_numpy(dtype=np.int64) if dem
                    else np.zeros(len(people), dtype=np.int64))
        width = max(1, len(band_names))
        atom_code, row_atom = np.unique(unit_idx * width + band_idx, return_inverse=True)
        person_of = pd.factorize(people["respondent"].astype(str))[0]
        atom_of = np.full(person_of.max() + 1 if len(person_of) else 0, -1, dtype=np.int64)
        atom_of[person_of] = row_atom
        if (atom_of[person_of] != row_atom).any():
            raise ConfidentialityError("audit: a respondent is counted in two units or bands of one "
                                       "release; each person must be in one place")
        a_unit, a_band = atom_code // width, atom_code % width
        # cells: whole units first, then unit x band
        keys = [(u, _WHOLE, _WHOLE) for u in units]
        keys += [(u, str(dem), b) for u in units for b in band_names]
        n_units = len(units)
        parent = np.array([unit_pos[c[1]] if len(c) > 1 else -1 for c in (chains[u] for u in units)],
                          dtype=np.int64)
        up = parent
        if band_names:  # a band cell's cell above: the same band one unit up
            pu, b = np.repeat(parent, width), np.tile(np.arange(width), n_units)
            up = np.concatenate([parent, np.where(pu >= 0, n_units + pu * width + b, -1)])
        whole = np.concatenate([np.full(n_units, -1), np.repeat(np.arange(n_units), width)])[:len(keys)]
        # atom -> its unit and every ancestor (whole scope, and the same band's scope)
        depth_rows, depth_cols = [], []
        for j, u in enumerate(a_unit.tolist()):
            for anc in chains[units[u]]:
                a = unit_pos[anc]
                depth_rows.append(a)
                depth_cols.append(j)
                if band_names:
                    depth_rows.append(n_units + a * width + int(a_band[j]))
                    depth_cols.append(j)
        incidence = sparse.csr_matrix((np.ones(len(depth_rows), dtype=np.float64), (depth_rows, depth_cols)),
                                      shape=(len(keys), len(atom_code)))
        return cls(keys, {k: i for i, k in enumerate(keys)}, person_of, atom_of, len(atom_code),
                   incidence, up, whole)

    def cells_of(self, group: pd.DataFrame) -> np.ndarray:
        """Row positions of the shown cells."""
        columns = (group[c].astype(str).to_numpy(dtype=object).tolist()
                   for c in ("unit_id", "demographic", "band"))
        return np.asarray([self.cell(key) for key in zip(*columns, strict=True)], dtype=np.int64)

    def cell(self, key: tuple[str, str, str]) -> int:
        """A cell's row (a cell naming a unit or band nobody is in is added, empty: its shown
        n is then checked against 0 people)."""
        if key not in self.index:
            self.index[key] = len(self.keys)
            self.keys.append(key)
            self.incidence = sparse.vstack([self.incidence, sparse.csr_matrix((1, self.n_atoms))],
                                           format="csr")
            self.up = np.append(self.up, -1)
            self.whole = np.append(self.whole, -1)
        return self.index[key]

    def counts(self, people: pd.DataFrame, measure: str) -> np.ndarray:
        has = (people[measure].fillna(False).astype(bool).to_numpy() if measure in people.columns
               else np.ones(len(people), dtype=bool))
        return self.per_atom(has)

    def per_atom(self, rows: np.ndarray) -> np.ndarray:
        """People per atom among the rows marked (a person counts once)."""
        persons = self.person_of[rows]
        if len(self.atom_of) < len(self.person_of):  # someone read twice: count them once
            persons = np.unique(persons)
        return np.bincount(self.atom_of[persons], minlength=self.n_atoms).astype(np.float64)

    def check(self, idx: np.ndarray, counts: np.ndarray, k: np.ndarray, k_sub: np.ndarray,
              n: np.ndarray, *, exact: bool | None, max_atoms: int) -> tuple[list[dict], str]:
        """Every structural check of one measure's shown cells, then the exact one."""
        keys = [self.keys[i] for i in idx]
        inc = self.incidence[idx]
        size = inc @ counts
        out = []
        small = np.flatnonzero((size > 0) & (size < k))
        out += [_breach("too_small", keys[i], int(size[i]), int(k[i]), f"{int(size[i])} people shown")
                for i in small]
        wrong = np.flatnonzero(~np.isnan(n) & (n != size))
        out += [_breach("n_mismatch", keys[i], int(size[i]), int(k[i]),
                        f"shown n {int(n[i])} but {int(size[i])} people") for i in wrong]
        out += self._nested(keys, inc, counts, size, k_sub)
        out += self._below(idx, keys, size, k_sub)
        if exact is not False:
            lin, note = self._linear(keys, inc, counts, size, k_sub, max_atoms, force=bool(exact))
            return out + lin, note
        return out, ""

    @staticmethod
    def _nested(keys, inc, counts, size, k_sub) -> list[dict]:
        """Two shown cells A within B with 1..k-1 people in B but not A: A within B iff the
        people they share are all of A's."""
        shared = (inc.multiply(counts[None, :]).tocsr() @ inc.T).tocoo()
        a, b, both = shared.row, shared.col, shared.data
        gap = size[b] - size[a]
        ks = np.maximum(k_sub[a], k_sub[b])
        hit = (a != b) & (size[a] > 0) & (both == size[a]) & (gap > 0) & (gap < ks)
        return [_breach("nested_pair", keys[i], int(g), int(kk),
                        f"inside {keys[j][0]} {keys[j][1]}={keys[j][2]}", keys[j][0])
                for i, j, g, kk in zip(a[hit], b[hit], gap[hit], ks[hit], strict=True)]

    def _below(self, idx, keys, size, k_sub) -> list[dict]:
        """Remainders: a shown cell minus the shown cells of its scope below it (the
        highest ones are disjoint, so their sizes add), minus its shown direct children,
        and a shown unit minus its shown bands."""
        pos = np.full(len(self.keys), -1, dtype=np.int64)
        pos[idx] = np.arange(len(idx))
        shown = pos >= 0
        # nearest shown cell strictly above each shown cell, by pointer jumping up the tree
        above = self.up[idx].copy()
        while True:
            climb = (above >= 0) & ~shown[np.maximum(above, 0)]
            if not climb.any():
                break
            above[climb] = self.up[above[climb]]
        out = []
        parent_shown = (self.up[idx] >= 0) & shown[np.maximum(self.up[idx], 0)]
        for check, holder in (("remainder", above), ("children", np.where(parent_shown, self.up[idx], -1))):
            has = holder >= 0
            target = pos[holder[has]]
            covered = np.bincount(target, weights=size[has], minlength=len(idx))
            parts = np.bincount(target, minlength=len(idx))
            rest = size - covered
            for i in np.flatnonzero((parts > 0) & (rest > 0) & (rest < k_sub)):
                out.append(_breach(check, keys[i], int(rest[i]), int(k_sub[i]),
                                   f"{int(rest[i])} people not in {int(parts[i])} shown cell(s)"))
        whole = self.whole[idx]
        has = (whole >= 0) & shown[np.maximum(whole, 0)]
        target = pos[whole[has]]
        covered = np.bincount(target, weights=size[has], minlength=len(idx))
        bands = np.bincount(target, minlength=len(idx))
        rest = size - covered
        for i in np.flatnonzero((bands > 0) & (rest > 0) & (rest < k_sub)):
            out.append(_breach("cut_complement", keys[i], int(rest[i]), int(k_sub[i]),
                               f"{int(rest[i])} people in hidden bands"))
        return out

    @staticmethod
    def _linear(keys, inc, counts, size, k_sub, max_atoms, *, force) -> tuple[list[dict], str]:
        """The exact check over pattern atoms: atoms in exactly the same shown cells merge."""
        keep = np.flatnonzero(size > 0)
        if not len(keep):
            return [], ""
        cols = inc[keep].T.tocsr()  # atoms x non-empty shown cells
        used = (counts > 0) & (np.diff(cols.indptr) > 0)
        if not force:  # count the patterns first (a random projection tells them apart)
            distinct = len(np.unique(cols[used] @ np.random.default_rng(0).random(len(keep))))
            if distinct > max_atoms:
                return [], f"exact check skipped ({distinct} atoms > {max_atoms})"
        patterns: dict[tuple, float] = defaultdict(float)
        for a in np.flatnonzero(used):
            patterns[tuple(sorted(cols.indices[cols.indptr[a]:cols.indptr[a + 1]].tolist()))] += counts[a]
        return _linear_atoms([keys[i] for i in keep], list(patterns), np.array(list(patterns.values())),
                             int(k_sub[keep].max()), max_atoms, force=force)


def _result(breaches: list[dict], checked: int, notes: list[str]) -> AuditResult:
    frame = pd.DataFrame(breaches, columns=list(_BREACH_COLUMNS)).drop_duplicates(ignore_index=True)
    return AuditResult(passed=frame.empty, breaches=frame, cells_checked=checked, notes=tuple(notes))


def _derived_items(release, parts: dict[str, tuple[str, ...]], people: pd.DataFrame,
                   atoms: _Atoms) -> list[dict]:
    """A withheld item is derivable where its construct and every other item are shown and
    everyone in the construct's cell answered every item (then the construct total is
    exactly the item totals over the number of items); a sensitive item counts as derivable
    whenever its construct and the other items are shown."""
    def shown(table: str) -> set[tuple]:
        t = release.table(table)
        t = t[t["status"] == "released"]
        dem = t["demographic"] if "demographic" in t.columns else _WHOLE
        band = t["band"] if "band" in t.columns else _WHOLE
        return set(zip(*(pd.Series(c, index=t.index).astype(str).to_numpy(dtype=object).tolist()
                         for c in (t["unit_id"], dem, band, t["measure"])), strict=True))

    cells = shown("scores") | shown("items") | shown("cuts")
    sensitive = set(release.table("items").query("sensitive")["measure"].astype(str))

    def has(column: str) -> np.ndarray:
        return (people[column].fillna(False).astype(bool).to_numpy() if column in people.columns
                else np.ones(len(people), dtype=bool))

    @functools.cache
    def per_atom(construct: str) -> tuple[np.ndarray, np.ndarray]:
        """People per atom with the construct and every item of it answered; with the construct."""
        inside = has(construct)
        complete = inside & np.logical_and.reduce([has(i) for i in parts[construct]])
        return atoms.per_atom(complete), atoms.per_atom(inside)

    out = []
    for unit, dem, band, measure in sorted(c for c in cells if c[3] in parts):
        items = parts[measure]
        hidden = [i for i in items if (unit, dem, band, i) not in cells]
        if len(hidden) != 1 or len(items) < 2:
            continue
        # exact iff the cell's people with the construct all answered every item
        row = atoms.incidence[atoms.cell((unit, dem, band))]
        complete, with_score = (float((row @ v)[0]) for v in per_atom(measure))
        if complete == with_score or hidden[0] in sensitive:
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


def _linear(shown: dict, sets: dict, max_atoms: int, *, force: bool) -> tuple[list[dict], str]:
    """The exact check over cells given as sets of people (the union of releases)."""
    keys = [k for k in shown if sets.get(k)]
    if not keys:
        return [], ""
    pattern: dict[int, list[int]] = defaultdict(list)
    for j, key in enumerate(keys):
        for p in sets[key]:
            pattern[p].append(j)
    patterns: dict[tuple, float] = defaultdict(float)
    for cols in pattern.values():
        patterns[tuple(cols)] += 1
    return _linear_atoms(keys, list(patterns), np.array(list(patterns.values())),
                         int(max(int(shown[k].k_sub) for k in keys)), max_atoms, force=force)


def _linear_atoms(keys: list, patterns: list[tuple], sizes: np.ndarray, k_sub: int, max_atoms: int,
                  *, force: bool) -> tuple[list[dict], str]:
    """Exact check: is any union of people of size 1..k-1 in the row space of the shown cells?

    People with the same pattern of membership across shown cells form an atom
    (``patterns``: the cells of each atom; ``sizes``: its people); a group is derivable
    iff it is a union of atoms whose indicator vector is a linear combination of the
    cells' indicator vectors (sums and differences of published totals). Small atoms
    are combined exhaustively.
    """
    if len(patterns) > max_atoms and not force:
        return [], f"exact check skipped ({len(patterns)} atoms > {max_atoms})"
    atoms = np.zeros((len(patterns), len(keys)), dtype=bool)
    for i, cols in enumerate(patterns):
        atoms[i, list(cols)] = True
    sizes = sizes.astype(np.int64)
    a = atoms.T.astype(np.float64)  # cells x atoms
    resid = np.eye(len(atoms)) - np.linalg.pinv(a) @ a  # u is derivable iff resid @ u == 0
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
                cell = keys[int(np.flatnonzero(atoms[combo[0]])[0])]
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
