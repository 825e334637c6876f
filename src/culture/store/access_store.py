"""The access list in the workspace: imported per wave, like org charts.

``culture access import FILE --wave W`` reads the file with
:func:`culture.ingest.access.read_access`, checks it against the org chart in force at
``W`` (unknown units, leaders without a unit, units no leader covers: all in one
:class:`~culture.errors.ValidationError`) and stores it in one transaction with its
ledger row (kind ``access``), the raw file archived under its SHA-256 like every import.
The list in force at a wave is the latest import of the latest access wave at or before
it (:func:`read_access`), so an unchanged list need not be imported again each quarter.

The functions take the :class:`~culture.store.workspace.Workspace` (``ws``); its thin
methods ``ingest_access`` and ``access_list`` call them.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from culture import frames as F
from culture.errors import ConfigError
from culture.store import archive, response_import
from culture.store.db import insert_frame, maybe_transaction, next_id
from culture.store.records import ImportReport
from culture.store.schema import ARCHIVE_DIR

KIND = "access"
TABLE = "access_list"
COLUMNS = ("wave", "person_id", "email", "role", "unit_id", "scope", "source_row")


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _check_wave(wave: Any) -> str:
    if not isinstance(wave, str) or not F.WAVE_RE.match(wave):
        raise ConfigError(f"wave must look like YYYYQn (e.g. 2026Q3), got {wave!r}")
    return wave


def ingest_access(ws: Any, path: str | os.PathLike[str], *, wave: str, mapping: Any = None,
                  dry_run: bool = False) -> ImportReport:
    """Import an access list for ``wave`` (see the module doc). The same bytes imported
    again for the same wave are a no-op; for another wave they are imported again (and
    checked against that wave's org chart)."""
    from culture.ingest.access import read_access

    wave = _check_wave(wave)
    path = Path(path)
    sha = archive.input_sha256(path)
    prior = _prior(ws, sha, wave)
    if prior is not None:
        return ImportReport(import_id=int(prior["import_id"]), kind=KIND, source=str(path),
                            sha256=sha, format=str(prior["format"]), wave=wave, no_op=True)
    org = ws.org(wave)  # ConfigError when no org chart is in force at the wave
    frame = read_access(path, org=org, mapping=mapping)
    people = int(frame["source_row"].nunique())  # rows of the file (blank rows left out)
    suffix = archive.archive_suffix(path)
    fmt = suffix.lstrip(".") or "file"
    report = dict(kind=KIND, source=str(path), sha256=sha, format=fmt, wave=wave,
                  rows_in=people, accepted=people, new=people, dry_run=dry_run)
    started = _now()
    with ws._connect(write=not dry_run) as con, maybe_transaction(con, write=not dry_run):
        if dry_run:
            return ImportReport(import_id=None, **report)
        import_id = next_id(con, "imports", "import_id")
        response_import.write_ledger(con, {
            "import_id": import_id, "kind": KIND, "source": str(path), "sha256": sha,
            "archived_as": f"{ARCHIVE_DIR}/{sha}{suffix}", "format": fmt,
            "instrument_id": None, "instrument_version": None, "wave": wave,
            "quality_kind": None, "started": started, "finished": _now(),
            "rows_in": people, "accepted": people, "rejected": 0, "duplicates": 0,
            "new": people, "superseded": 0, "dropped_columns": json.dumps([])})
        rows = frame.assign(wave=wave, import_id=import_id)
        rows["source_row"] = rows["source_row"].astype("int64")
        insert_frame(con, TABLE, rows[["import_id", *COLUMNS]])
        archive.archive_file(path, ws.archive_dir, sha, suffix)
    return ImportReport(import_id=import_id, **report)


def _prior(ws: Any, sha: str, wave: str) -> dict[str, Any] | None:
    with ws._connect(write=False) as con:
        cur = con.execute("SELECT * FROM imports WHERE sha256 = ? AND kind = ? AND wave = ?",
                          [sha, KIND, wave])
        rows = cur.fetchall()
        if not rows:
            return None
        return dict(zip([d[0] for d in cur.description], rows[0], strict=True))


def read_access(ws: Any, wave: str) -> pd.DataFrame:
    """The access list in force at ``wave``: the latest import of the latest access wave at or
    before it. Columns ``person_id, email, role, unit_id, scope, source_row``;
    ``frame.attrs["access_wave"]`` names the list's own wave.

    Raises
    ------
    ConfigError
        No access list imported for ``wave`` or earlier.
    """
    wave = _check_wave(wave)
    with ws._connect(write=False) as con:
        waves = [r[0] for r in con.execute(f"SELECT DISTINCT wave FROM {TABLE}").fetchall()]
        usable = [w for w in waves if F.wave_index(w) <= F.wave_index(wave)]
        if not usable:
            raise ConfigError(f"no access list for wave {wave} or earlier; import one with "
                              f"`culture access import FILE --wave {wave}`")
        access_wave = max(usable, key=F.wave_index)
        frame = con.execute(
            f"SELECT person_id, email, role, unit_id, scope, source_row FROM {TABLE} "
            f"WHERE import_id = (SELECT max(import_id) FROM {TABLE} WHERE wave = ?) "
            "ORDER BY source_row, unit_id", [access_wave]).df()
    frame = response_import.text_with_none(frame, ("person_id", "email", "role", "unit_id",
                                                   "scope"))
    frame["source_row"] = frame["source_row"].astype("int64")
    frame.attrs["access_wave"] = access_wave
    return frame

