"""Improvement actions in the workspace: imported registers, single added actions, closings.

Actions are workspace data, not respondent data (who is responsible for what, by when).
Every change is a new *entry* in the ``actions`` table (schema 4) and nothing is
overwritten: an action's state is its latest entry, the entries before it are its
history (``read_actions(ws, history=True)``). So:

* ``culture ingest actions FILE`` (:func:`ingest_actions`) reads the file with
  :func:`culture.ingest.actions.read_actions`, checks it against the instrument and
  every stored org chart, and writes one entry per row with its ledger row (kind
  ``actions``) in one transaction, the raw file archived under its SHA-256. The same
  bytes again are a no-op (even if a later import or closing changed an action since;
  export the register again to bring it back). The latest entry wins per ``action_id``:
  a re-exported register updates the actions it lists, and actions it no longer lists
  keep their last state (a QMS export may be filtered; nothing is deleted by omission).
  The ledger counts an action seen before as ``superseded``, a new one as ``new``.
* ``culture actions add`` (:func:`add_action`) records one action (origin ``add``), and
  ``culture actions close`` (:func:`close_action`) a closing (origin ``close``); neither
  is a file, so neither has a ledger row.

The functions take the :class:`~culture.store.workspace.Workspace` (``ws``); its thin
methods ``ingest_actions``, ``add_action``, ``close_action`` and ``actions`` call them.
"""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from culture import frames as F
from culture.errors import ConfigError, Problem, ValidationError
from culture.measure.instrument import Instrument
from culture.store import archive, response_import
from culture.store.db import insert_frame, maybe_transaction, next_id, transaction
from culture.store.records import ImportReport
from culture.store.schema import ARCHIVE_DIR

KIND = "actions"
TABLE = "actions"
_TEXT = ("action_id", "unit_id", "construct", "finding_id", "clause", "owner", "status")
_DATES = ("opened", "due", "closed")
_ADDED_ID = re.compile(r"^A-(\d+)$")  # ids given by `culture actions add`


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _org_units(ws: Any) -> set[str]:
    """Every unit of every stored org chart: an action may outlive a re-organisation."""
    with ws._connect(write=False) as con:
        units = {r[0] for r in con.execute("SELECT DISTINCT unit_id FROM org_units").fetchall()}
    if not units:
        raise ConfigError("no org chart is stored yet; import one first (culture ingest org "
                          "FILE --wave W): actions are checked against its units")
    return units


def ingest_actions(ws: Any, path: str | os.PathLike[str], instrument: Instrument, *,
                   mapping: Any = None, dry_run: bool = False) -> ImportReport:
    """Import an actions register (see the module doc); returns the import's report."""
    from culture.ingest.actions import read_actions as read_file

    path = Path(path)
    sha = archive.input_sha256(path)
    prior = _prior(ws, sha)
    if prior is not None:
        return ImportReport(import_id=int(prior["import_id"]), kind=KIND, source=str(path),
                            sha256=sha, format=str(prior["format"]), no_op=True)
    frame = read_file(path, instrument=instrument, org_units=_org_units(ws), mapping=mapping)
    suffix = archive.archive_suffix(path)
    fmt = suffix.lstrip(".") or "file"
    started = _now()
    with ws._connect(write=not dry_run) as con, maybe_transaction(con, write=not dry_run):
        known = {r[0] for r in con.execute(f"SELECT DISTINCT action_id FROM {TABLE}").fetchall()}
        seen = int(frame["action_id"].isin(known).sum())
        counts = dict(rows_in=len(frame), accepted=len(frame), new=len(frame) - seen,
                      superseded=seen)
        report = dict(kind=KIND, source=str(path), sha256=sha, format=fmt, dry_run=dry_run,
                      **counts)
        if dry_run:
            return ImportReport(import_id=None, **report)
        import_id = next_id(con, "imports", "import_id")
        response_import.write_ledger(con, {
            "import_id": import_id, "kind": KIND, "source": str(path), "sha256": sha,
            "archived_as": f"{ARCHIVE_DIR}/{sha}{suffix}", "format": fmt,
            "instrument_id": instrument.id, "instrument_version": instrument.version,
            "wave": None, "quality_kind": None, "started": started, "finished": _now(),
            "rejected": 0, "duplicates": 0, "dropped_columns": json.dumps([]), **counts})
        _write(con, frame, origin="import", import_id=import_id)
        archive.archive_file(path, ws.archive_dir, sha, suffix)
    return ImportReport(import_id=import_id, **report)


def _prior(ws: Any, sha: str) -> dict[str, Any] | None:
    with ws._connect(write=False) as con:
        cur = con.execute("SELECT * FROM imports WHERE sha256 = ? AND kind = ?", [sha, KIND])
        rows = cur.fetchall()
        if not rows:
            return None
        return dict(zip([d[0] for d in cur.description], rows[0], strict=True))


def _write(con: Any, frame: pd.DataFrame, *, origin: str, import_id: int | None) -> None:
    first = next_id(con, TABLE, "entry_id")
    rows = frame.assign(entry_id=range(first, first + len(frame)), import_id=import_id,
                        recorded=_now(), origin=origin)
    if F.SOURCE_ROW not in rows:
        rows[F.SOURCE_ROW] = None
    rows["import_id"] = rows["import_id"].astype("Int64")
    rows[F.SOURCE_ROW] = rows[F.SOURCE_ROW].astype("Int64")
    insert_frame(con, TABLE, rows[["entry_id", "import_id", "recorded", "origin",
                                   *F.ACTION_COLUMNS, F.SOURCE_ROW]])


def add_action(ws: Any, instrument: Instrument, *, unit_id: str, construct: str, owner: str,
               due: date | str, finding_id: str | None = None, clause: str | None = None,
               opened: date | str | None = None, action_id: str | None = None) -> str:
    """Record one open action; returns its id (``A-<n>``, the next free number, unless
    ``action_id`` is given). ``opened`` defaults to today and ``clause`` to
    :func:`culture.ingest.actions.default_clause`. Checked like a register row (unknown
    unit or construct, dates, clause), problems named by field."""
    from culture.ingest.actions import check_action_fields

    units = _org_units(ws)
    stored = read_actions(ws)
    if action_id is not None and action_id in set(stored["action_id"]):
        raise ValidationError([Problem("action_id", "an action with this id is stored already "
                                       "(culture actions list)")], source="culture actions add")
    if action_id is None:
        numbers = [int(m[1]) for m in map(_ADDED_ID.match, stored["action_id"]) if m]
        action_id = f"A-{max(numbers, default=0) + 1:04d}"
    fields = check_action_fields({
        "action_id": action_id, "unit_id": unit_id, "construct": construct,
        "finding_id": finding_id, "clause": clause, "owner": owner,
        "opened": _iso(opened if opened is not None else date.today()), "due": _iso(due),
        "status": "open", "closed": None}, instrument=instrument, org_units=units,
        source="culture actions add")
    with ws._connect(write=True) as con, transaction(con):
        _write(con, pd.DataFrame([fields]), origin="add", import_id=None)
    return action_id


def close_action(ws: Any, action_id: str, *, closed: date | str) -> None:
    """Close an open action on ``closed`` (a new entry; the open entry stays as history)."""
    where = "culture actions close"
    current = read_actions(ws)
    row = current[current["action_id"] == action_id]
    if row.empty:
        raise ValidationError([Problem("action_id", "no stored action has this id (culture "
                                       "actions list)")], source=where)
    action = row.iloc[0].to_dict()
    day = pd.to_datetime(_iso(closed), format="ISO8601", errors="coerce")
    problems = []
    if pd.isna(day):
        problems.append(Problem("date", "not a date; use YYYY-MM-DD"))
    elif day < action["opened"]:
        problems.append(Problem("date", "the closing date is before the action was opened"))
    if action["status"] != "open":
        problems.append(Problem("action_id", f"the action is {action['status']}, not open"))
    if problems:
        raise ValidationError(problems, source=where)
    action.update(status="closed", closed=day)
    with ws._connect(write=True) as con, transaction(con):
        _write(con, pd.DataFrame([action]), origin="close", import_id=None)


def _iso(value: Any) -> str:
    return value.isoformat() if isinstance(value, date) else str(value)


def read_actions(ws: Any, *, history: bool = False) -> pd.DataFrame:
    """The actions register: each action's latest entry, ordered by ``action_id``
    (:data:`culture.frames.ACTION_COLUMNS`). ``history=True``: every entry, oldest first,
    with ``entry_id, import_id, recorded, origin`` in front."""
    latest = "" if history else ("QUALIFY row_number() OVER (PARTITION BY action_id "
                                 "ORDER BY entry_id DESC) = 1")
    meta = "entry_id, import_id, recorded, origin, " if history else ""
    order = "entry_id" if history else "action_id"
    with ws._connect(write=False) as con:
        frame = con.execute(f"SELECT {meta}{', '.join(F.ACTION_COLUMNS)} FROM {TABLE} "
                            f"{latest} ORDER BY {order}").df()
    for c in _DATES:
        frame[c] = frame[c].astype("datetime64[ns]")
    return response_import.text_with_none(frame, _TEXT).reset_index(drop=True)
