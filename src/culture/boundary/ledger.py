"""The release ledger's view of a release: which people each shown cell holds.

:func:`ledger_cells` hashes the respondent set behind every shown cell so the
store can remember what was published; :func:`check_rerelease` refuses a second
release of a wave that a reader could subtract from an earlier one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from culture.boundary.aggregate import ALL, RESPONDENTS, org_index
from culture.boundary.release import (
    RELEASED,
    Release,
    Thresholds,
)
from culture.errors import ConfigError, RereleaseRefused
from culture.frames import RESPONDENT, UNIT

# --------------------------------------------------------------------------- ledger



def _set_hash(respondents: pd.Series, groups: pd.DataFrame) -> pd.Series:
    """Order-free hash of each group's respondent set (sum of per-person 64-bit hashes, two keys)."""
    parts = []
    for key in ("culture-ledger-1", "culture-ledger-2"):
        h = pd.util.hash_pandas_object(respondents.astype(str), index=False, hash_key=key).to_numpy()
        for shift in (0, 32):
            parts.append(((h >> np.uint64(shift)) & np.uint64(0xFFFFFFFF)).astype(np.int64))
    frame = groups.assign(**{f"h{i}": p for i, p in enumerate(parts)})
    sums = frame.groupby(list(groups.columns), sort=False)[[f"h{i}" for i in range(4)]].sum()
    return sums.apply(lambda r: hashlib.sha256(",".join(map(str, r)).encode()).hexdigest(), axis=1)


def ledger_cells(release: Release, membership: pd.DataFrame) -> pd.DataFrame:
    """Cells of a release with their respondent-set hash, for the store's release ledger.

    ``membership`` has ``respondent``, ``unit_id``, the release's demographic column
    and, optionally, one boolean column per measure (answered / has a score);
    without such a column a measure's cells are hashed over all respondents.

    Returns ``cell_id`` (``table|unit|demographic|band|measure``), ``n`` and
    ``respondent_set_hash``: only released cells. The hashes stay in the store
    (never in the Release) because a set hash of a known population could be
    matched against guessed sets.
    """
    idx = org_index(release.table("units")[["unit_id", "parent_id"]])
    rows = membership.reset_index(drop=True)
    pos = idx.positions(rows[UNIT])
    rows = rows.assign(descendant=np.where(pos < 0, idx.root, pos))
    up = rows.merge(idx.closure[["ancestor", "descendant"]], on="descendant")
    up["unit_id_"] = idx.units[up["ancestor"].to_numpy()]
    dem = release.demographic
    frames = []
    cells = pd.concat([
        release.table("response_rates").assign(table="response_rates", demographic=ALL, band=ALL,
                                               measure=RESPONDENTS),
        release.table("scores").assign(table="scores", demographic=ALL, band=ALL),
        release.table("items").assign(table="items", demographic=ALL, band=ALL),
        release.table("cuts").assign(table="cuts"),
    ], ignore_index=True)
    cells = cells[cells["status"] == RELEASED]
    for measure, group in cells.groupby("measure", sort=False):
        people = up[up[measure].astype(bool)] if measure in up.columns else up
        for scope, sub in ((ALL, people.assign(band_=ALL)),
                           *(((dem, people.assign(band_=people[dem].astype(str))),) if dem else ())):
            h = _set_hash(sub[RESPONDENT], sub[["unit_id_", "band_"]])
            n = sub.groupby(["unit_id_", "band_"], sort=False)[RESPONDENT].nunique()
            keyed = pd.DataFrame({"hash": h, "n_": n}).reset_index()
            want = group[group["demographic"] == scope]
            frames.append(want.merge(keyed, left_on=["unit_id", "band"], right_on=["unit_id_", "band_"]))
    merged = pd.concat(frames, ignore_index=True)
    # the membership must be the one the release was built from (band codes, missing code filled in)
    off = int((merged["n_"] != merged["n"]).sum()) + (len(cells) - len(merged))
    if off:
        raise ConfigError(f"membership does not match the release: {off} released cell(s) get another n "
                          f"or no respondents (is {dem or 'the unit'} column filled with codebook codes?)")
    cell_id = (merged["table"] + "|" + merged["unit_id"].astype(str) + "|" + merged["demographic"] + "|"
               + merged["band"].astype(str) + "|" + merged["measure"].astype(str))
    return pd.DataFrame({"cell_id": cell_id, "n": merged["n_"].astype(np.int64),
                         "respondent_set_hash": merged["hash"]}).reset_index(drop=True)


def _thresholds_of(record: Any) -> Thresholds:
    th = record.thresholds
    return th if isinstance(th, Thresholds) else Thresholds.from_dict(th)


def _cut_demographics(cells: pd.DataFrame) -> set[str]:
    parts = cells["cell_id"].astype(str).str.split("|", expand=True)
    if parts.shape[1] < 5:
        return set()
    return set(parts.loc[parts[0] == "cuts", 2].unique())


def check_rerelease(previous_records: Sequence[Any], new_thresholds: Thresholds, new_cells: pd.DataFrame,
                    new_respondents: Iterable[str]) -> None:
    """Refuse a re-release of a wave that readers could subtract from an earlier one.

    ``previous_records`` are the store's ``ReleaseRecord`` objects of this wave
    (``thresholds``, ``cells`` with ``cell_id``, ``n``, ``respondent_set_hash``,
    ``respondents``). Refused, with every reason listed:

    - thresholds differ from the wave's first release (they are frozen per wave);
    - the wave's respondent set differs from an earlier release by 1..k-1 people;
    - a cell published before is published again with another respondent set
      whose size differs by fewer than k (a swap changes the set but not n);
    - the release adds a demographic cut other than the one already published.

    Raises
    ------
    RereleaseRefused
    """
    records = sorted(previous_records, key=lambda r: (str(getattr(r, "created", "")), r.release_id))
    if not records:
        return
    k = new_thresholds.complements
    problems: list[str] = []
    first = _thresholds_of(records[0])
    if first != new_thresholds:
        changed = [f"{name} {old} -> {new_thresholds.as_dict()[name]}"
                   for name, old in first.as_dict().items() if new_thresholds.as_dict()[name] != old]
        problems.append(f"thresholds are frozen after the first release of the wave; changed: {', '.join(changed)}")
    people = frozenset(map(str, new_respondents))
    new = new_cells.set_index("cell_id")
    for rec in records:
        diff = len(people.symmetric_difference(map(str, rec.respondents)))
        if 0 < diff < k:
            problems.append(f"release {rec.release_id}: the respondent set differs by {diff} people "
                            f"(allowed: 0 or at least {k})")
        old = rec.cells.set_index("cell_id")
        common = old.index.intersection(new.index)
        changed = (old.loc[common, "respondent_set_hash"] != new.loc[common, "respondent_set_hash"])
        close = (old.loc[common, "n"] - new.loc[common, "n"]).abs() < k
        bad = sorted(common[(changed & close).to_numpy()])
        if bad:
            problems.append(f"release {rec.release_id}: {len(bad)} cell(s) would be shown again with a "
                            f"respondent set changed by fewer than {k} people: {', '.join(bad[:50])}"
                            + (" ..." if len(bad) > 50 else ""))
    before = set().union(*(_cut_demographics(r.cells) for r in records))
    after = _cut_demographics(new_cells)
    if len(before | after) > 1:
        problems.append(f"the wave was released with cut(s) {', '.join(sorted(before)) or 'none'}; a second "
                        f"demographic ({', '.join(sorted(after - before))}) would allow cross-cut subtraction")
    if problems:
        raise RereleaseRefused("re-release of the wave refused:\n  - " + "\n  - ".join(problems))
