"""The audit as it was first written: every cell a Python set of people.

Kept as the reference the scalable audit (atoms and sparse arithmetic, in
culture.boundary.audit) must agree with: it is the definition of each check spelled
out on sets, slow (people x cells) but plainly right. Only the tests use it.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd

from culture.boundary.audit import _WHOLE, _ancestors, _breach, _cell_sets, _member_codes

_BUDGET = 200_000


def oracle_breaches(respondents: pd.DataFrame, org: pd.DataFrame, release) -> list[dict]:
    """Every structural and linear breach of one release, by sets of people."""
    chains, _ = _ancestors(org)
    (codes,) = _member_codes([respondents.reset_index(drop=True)])
    out = []
    for (family, measure), (group, sets) in _cell_sets(respondents, codes, org, release).items():
        shown = {(str(r.unit_id), str(r.demographic), str(r.band)): r for r in group.itertuples()}
        found = _check_measure(shown, sets, chains) + _linear(shown, sets)
        out += [dict(b, family=family, measure=measure) for b in found]
    return out


def _check_measure(shown: dict, sets: dict, chains: dict[str, list[str]]) -> list[dict]:
    out = []
    members = {key: frozenset(sets.get(key, ())) for key in shown}
    for key, row in shown.items():
        size, k = len(members[key]), int(row.k)
        if 0 < size < k:
            out.append(_breach("too_small", key, size, k, ""))
        n = getattr(row, "n", None)
        if n is not None and not pd.isna(n) and int(n) != size:
            out.append(_breach("n_mismatch", key, size, k, ""))
    for key, mem in members.items():  # every pair, no shortcuts
        for other, big in members.items():
            gap = len(big) - len(mem)
            k_sub = int(max(shown[key].k_sub, shown[other].k_sub))
            if other != key and mem and mem <= big and 0 < gap < k_sub:
                out.append(_breach("nested_pair", key, gap, k_sub, "", other[0]))
    for key, mem in members.items():
        unit, d, b = key
        k_sub = int(shown[key].k_sub)
        below = [o for o in members if o[1:] == (d, b) and o[0] != unit and unit in chains[o[0]]]
        kids = [o for o in below if chains[o[0]][1] == unit]
        for check, parts in (("remainder", below), ("children", kids)):
            if parts:
                rest = len(mem - frozenset().union(*(members[p] for p in parts)))
                if 0 < rest < k_sub:
                    out.append(_breach(check, key, rest, k_sub, ""))
        if d == _WHOLE:
            bands = [o for o in members if o[0] == unit and o[1] != _WHOLE]
            if bands:
                rest = len(mem - frozenset().union(*(members[o] for o in bands)))
                if 0 < rest < k_sub:
                    out.append(_breach("cut_complement", key, rest, k_sub, ""))
    return out


def _linear(shown: dict, sets: dict) -> list[dict]:
    """Every union of small atoms whose indicator lies in the row space of the cells."""
    keys = [k for k in shown if sets.get(k)]
    if not keys:
        return []
    everyone = sorted(set().union(*(sets[k] for k in keys)))
    pos = {p: i for i, p in enumerate(everyone)}
    member = np.zeros((len(everyone), len(keys)), dtype=bool)
    for j, key in enumerate(keys):
        member[[pos[p] for p in sets[key]], j] = True
    atoms, sizes = np.unique(member, axis=0, return_counts=True)
    a = atoms.T.astype(np.float64)
    resid = np.eye(len(atoms)) - np.linalg.pinv(a) @ a
    k_sub = int(max(int(shown[k].k_sub) for k in keys))
    small = np.flatnonzero(sizes < k_sub)
    out = []
    for r in range(1, k_sub):
        if math.comb(len(small), r) > _BUDGET:
            break
        for combo in itertools.combinations(small, r):
            total = int(sizes[list(combo)].sum())
            if total < k_sub and np.abs(resid[:, list(combo)].sum(axis=1)).max() < 1e-8:
                out.append(_breach("linear", keys[0], total, k_sub, ""))
    return out
