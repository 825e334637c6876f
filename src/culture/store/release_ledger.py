"""The release ledger: every release of a wave that was published, kept whole.

A release is recorded with everything needed to check a later one against it:
the stored release itself (its Parquet files, copied into the workspace under
``releases/<wave>/<release_id>/`` and hashed), the org tree it used, its
thresholds and demographic cut (frozen for the wave from its first release), the
key of its inputs (so an unchanged wave is not released again), and its members:
each respondent with the *version* of the response that was used (the store's
``response_key``; a superseded or withdrawn response keeps its old version, so
what a release showed can always be rebuilt). The pipeline reads the ledger; it
never writes it except through :func:`record`.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from culture.errors import ConfigError
from culture.files import sha256_file
from culture.store.db import insert_frame, next_id
from culture.store.records import ReleaseRecord
from culture.store.schema import PSEUDONYM_RE, RELEASES_DIR

ORG_COLUMNS = ("unit_id", "parent_id", "name", "level")


def check_record(wave: str, thresholds: Mapping[str, int], members: pd.DataFrame,
                 org: pd.DataFrame) -> None:
    """Every problem with what is about to be recorded, in one error."""
    problems: list[str] = []
    if not isinstance(thresholds, Mapping) or not thresholds:
        problems.append("thresholds must be a non-empty mapping name -> int")
    else:
        for name, value in thresholds.items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                problems.append(f"threshold {name!r} must be an integer >= 0, got {value!r}")
    missing = [c for c in ("respondent", "response_key") if c not in members.columns]
    if missing:
        problems.append(f"members lacks column(s) {', '.join(missing)}")
    else:
        people = members["respondent"].astype(str)
        if not people.str.fullmatch(PSEUDONYM_RE.pattern.strip("^$")).all():
            problems.append("members.respondent must hold pseudonyms (64 lower-case hex "
                            "digits); raw ids are never recorded")
    if [c for c in ORG_COLUMNS[:2] if c not in org.columns]:
        problems.append("org needs unit_id and parent_id")
    if problems:
        raise ConfigError(f"record_release(wave={wave}): " + "; ".join(problems))


def record(con: duckdb.DuckDBPyConnection, root: Path, *, wave: str, created: Any,
           release_dir: Path, thresholds: Mapping[str, int], demographic: str | None,
           instrument: str, inputs_key: str, org: pd.DataFrame, members: pd.DataFrame,
           audit: Mapping[str, Any]) -> int:
    """Copy the saved release into the workspace and write its ledger rows (caller's
    transaction: if anything fails, the copy is removed and nothing is recorded)."""
    release_id = next_id(con, "releases", "release_id")
    stored = Path(RELEASES_DIR) / wave / str(release_id)
    target = root / stored
    if target.exists():  # left by a crash before COMMIT: it was never recorded
        shutil.rmtree(target)
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    shutil.copytree(release_dir, target)
    try:
        con.execute("INSERT INTO releases (release_id, wave, created, thresholds, demographic, "
                    "instrument, inputs_key, stored_as, sha256, org, audit) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", [
                        release_id, wave, created,
                        json.dumps({str(k): int(v) for k, v in thresholds.items()}, sort_keys=True),
                        demographic, instrument, inputs_key, str(stored),
                        sha256_file(target / "manifest.json"),
                        org[[c for c in ORG_COLUMNS if c in org.columns]].to_json(orient="records"),
                        json.dumps(dict(audit), sort_keys=True, default=str)])
        keep = members[["respondent", "response_key"]].drop_duplicates()
        insert_frame(con, "release_members", keep.assign(release_id=release_id)[
            ["release_id", "respondent", "response_key"]])
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        raise
    return release_id


def read(con: duckdb.DuckDBPyConnection, root: Path, wave: str) -> list[ReleaseRecord]:
    """Every recorded release of ``wave``, oldest first."""
    heads = con.execute("SELECT * FROM releases WHERE wave = ? ORDER BY release_id", [wave]).df()
    members = con.execute("SELECT m.* FROM release_members m JOIN releases r USING (release_id) "
                          "WHERE r.wave = ?", [wave]).df()
    out = []
    for row in heads.itertuples(index=False):
        mine = members[members["release_id"] == row.release_id][["respondent", "response_key"]]
        org = (pd.DataFrame(json.loads(row.org), columns=list(ORG_COLUMNS)) if row.org
               else pd.DataFrame(columns=list(ORG_COLUMNS)))
        out.append(ReleaseRecord(
            release_id=int(row.release_id), wave=wave, created=row.created,
            thresholds=json.loads(row.thresholds),
            demographic=None if pd.isna(row.demographic) else row.demographic,
            instrument=None if pd.isna(row.instrument) else row.instrument,
            inputs_key=None if pd.isna(row.inputs_key) else row.inputs_key,
            stored_as=None if pd.isna(row.stored_as) else root / row.stored_as,
            sha256=None if pd.isna(row.sha256) else row.sha256,
            org=org, members=mine.reset_index(drop=True),
            audit=json.loads(row.audit) if row.audit else {}))
    return out
