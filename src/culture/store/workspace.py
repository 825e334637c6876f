"""The workspace: a DuckDB database, a read-only archive of raw files, settings.

Layout of a workspace directory (default ``./data``, or ``CULTURE_WORKSPACE``)::

    culture.duckdb            the database (schema below)
    settings.json             format version, where the pseudonymisation key lives
    archive/<sha256><suffix>  every imported file, byte for byte, chmod 0444
    secrets/pseudonym.key     the HMAC key (0600); never inside the database

Guarantees
----------
* Respondent and response ids are stored only as keyed pseudonyms
  (:mod:`culture.pseudonym`); the database holds the key's fingerprint and a
  missing or different key is a :class:`~culture.errors.PseudonymKeyError`.
* One import is one explicit transaction (``BEGIN`` ... ``COMMIT``) that also
  writes its ledger row: the whole file lands or nothing does. The raw file is
  copied to a temporary name, checked against its SHA-256 and renamed into the
  archive *before* ``COMMIT``, so a ledger row never lacks its file (a file
  without a ledger row, left by a failed commit, is harmless).
* Connections live only for one operation. DuckDB holds an exclusive file
  lock for a read-write connection; a second process gets
  :class:`~culture.errors.WorkspaceLockedError` and changes nothing.

Schema (``schema_version`` 1)
-----------------------------
``imports`` (the ledger), ``responses`` (one row per response *version*:
``version``, ``current``, ``superseded_by``), ``answers`` (long:
``response_key, item_id, value``; unanswered items are not stored),
``texts`` (demographics and comments, long), ``response_columns`` (the columns
each import carried, to rebuild the wide frame), ``rejections``,
``org_units``, ``headcount``, ``quality_events``, ``exposure``, ``releases``,
``release_cells``, ``release_respondents``, ``meta``, ``schema_version``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from culture import frames as F
from culture.errors import (
    ConfigError,
    ImportConflictError,
    Problem,
    PseudonymKeyError,
    ValidationError,
    WorkspaceError,
    WorkspaceLockedError,
)
from culture.measure.instrument import Instrument, load_instrument
from culture.store.pseudonym import (
    RESPONDENT_DOMAIN,
    RESPONSE_DOMAIN,
    Pseudonymizer,
    generate_key,
    load_key_env,
    load_key_file,
    parse_key_hex,
    write_key_file,
)

WORKSPACE_ENV = "CULTURE_WORKSPACE"
DEFAULT_WORKSPACE = "data"
DB_NAME = "culture.duckdb"
SETTINGS_NAME = "settings.json"
ARCHIVE_DIR = "archive"
DEFAULT_KEY_FILE = "secrets/pseudonym.key"
SCHEMA_VERSION = 1
WORKSPACE_FORMAT = "culture-workspace"

_PSEUDONYM_RE = re.compile(r"^[0-9a-f]{64}$")
_HEX_KEY_RE = re.compile(r"^[0-9a-fA-F]{32,}$")
_SUFFIX_RE = re.compile(r"^\.[A-Za-z0-9]{1,10}$")
_ERROR_LIMIT = 200


class AccountingError(WorkspaceError):
    """A parsed file does not account for every row (rows in != accepted + rejected + duplicates).

    This is a defect in the reader, not in the data; nothing is written.
    """


# ----------------------------------------------------------------------------- schema

_SCHEMA = """
CREATE TABLE schema_version (version INTEGER NOT NULL, applied TIMESTAMP NOT NULL);
CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL);
CREATE TABLE imports (
    import_id INTEGER PRIMARY KEY,
    kind VARCHAR NOT NULL,
    source VARCHAR NOT NULL,
    sha256 VARCHAR NOT NULL,
    archived_as VARCHAR NOT NULL,
    format VARCHAR NOT NULL,
    instrument_id VARCHAR,
    instrument_version VARCHAR,
    wave VARCHAR,
    quality_kind VARCHAR,
    started TIMESTAMP NOT NULL,
    finished TIMESTAMP NOT NULL,
    rows_in INTEGER NOT NULL,
    accepted INTEGER NOT NULL,
    rejected INTEGER NOT NULL,
    duplicates INTEGER NOT NULL,
    new INTEGER NOT NULL,
    superseded INTEGER NOT NULL,
    dropped_columns VARCHAR NOT NULL,
    UNIQUE (sha256, kind, wave),
    CHECK (rows_in = accepted + rejected + duplicates),
    CHECK (accepted = new + superseded)
);
CREATE TABLE responses (
    response_key BIGINT PRIMARY KEY,
    import_id INTEGER NOT NULL,
    instrument_id VARCHAR NOT NULL,
    instrument_version VARCHAR NOT NULL,
    wave VARCHAR NOT NULL,
    response_id VARCHAR NOT NULL,
    respondent VARCHAR,
    unit_id VARCHAR,
    started_at TIMESTAMP,
    submitted_at TIMESTAMP,
    duration_s DOUBLE,
    finished BOOLEAN,
    source_row INTEGER NOT NULL,
    version INTEGER NOT NULL,
    current BOOLEAN NOT NULL,
    superseded_by INTEGER,
    UNIQUE (instrument_id, wave, response_id, version)
);
CREATE TABLE answers (response_key BIGINT NOT NULL, item_id VARCHAR NOT NULL, value DOUBLE NOT NULL);
CREATE TABLE texts (response_key BIGINT NOT NULL, column_id VARCHAR NOT NULL, value VARCHAR NOT NULL);
CREATE TABLE response_columns (
    import_id INTEGER NOT NULL, column_id VARCHAR NOT NULL, role VARCHAR NOT NULL,
    position INTEGER NOT NULL);
CREATE TABLE rejections (
    import_id INTEGER NOT NULL, source_row INTEGER NOT NULL, column_id VARCHAR,
    kind VARCHAR NOT NULL, reason VARCHAR NOT NULL);
CREATE TABLE org_units (
    import_id INTEGER NOT NULL, wave VARCHAR NOT NULL, unit_id VARCHAR NOT NULL,
    parent_id VARCHAR, name VARCHAR, level INTEGER);
CREATE TABLE headcount (
    import_id INTEGER NOT NULL, wave VARCHAR NOT NULL, unit_id VARCHAR NOT NULL,
    invited INTEGER NOT NULL);
CREATE TABLE quality_events (
    import_id INTEGER NOT NULL, event_id VARCHAR NOT NULL, kind VARCHAR NOT NULL,
    unit_id VARCHAR NOT NULL, opened TIMESTAMP, closed TIMESTAMP, due TIMESTAMP,
    severity VARCHAR, detected VARCHAR);
CREATE TABLE exposure (
    import_id INTEGER NOT NULL, unit_id VARCHAR NOT NULL, quarter VARCHAR NOT NULL,
    exposure DOUBLE NOT NULL, exposure_kind VARCHAR);
CREATE TABLE releases (
    release_id INTEGER PRIMARY KEY, wave VARCHAR NOT NULL, created TIMESTAMP NOT NULL,
    thresholds VARCHAR NOT NULL);
CREATE TABLE release_cells (
    release_id INTEGER NOT NULL, cell_id VARCHAR NOT NULL, n INTEGER NOT NULL,
    respondent_set_hash VARCHAR);
CREATE TABLE release_respondents (release_id INTEGER NOT NULL, respondent VARCHAR NOT NULL);
"""

_RESPONSE_META = (F.RESPONSE_ID, F.RESPONDENT, F.UNIT, F.STARTED, F.SUBMITTED, F.DURATION,
                  F.FINISHED)


@dataclass(frozen=True)
class _TableSpec:
    """How one non-response register is stored: columns with SQL types and keys."""

    kind: str
    table: str
    columns: tuple[tuple[str, str], ...]
    key: tuple[str, ...]          # unique within one file
    required: tuple[str, ...]     # must be present and non-null


_TABLES = {
    "org": _TableSpec("org", "org_units", (
        (F.WAVE, "VARCHAR"), (F.UNIT, "VARCHAR"), (F.PARENT, "VARCHAR"), ("name", "VARCHAR"),
        ("level", "INTEGER")), key=(F.UNIT,), required=(F.UNIT,)),
    "headcount": _TableSpec("headcount", "headcount", (
        (F.WAVE, "VARCHAR"), (F.UNIT, "VARCHAR"), ("invited", "INTEGER")),
        key=(F.UNIT,), required=(F.UNIT, "invited")),
    "quality": _TableSpec("quality", "quality_events", (
        ("event_id", "VARCHAR"), ("kind", "VARCHAR"), (F.UNIT, "VARCHAR"), ("opened", "TIMESTAMP"),
        ("closed", "TIMESTAMP"), ("due", "TIMESTAMP"), ("severity", "VARCHAR"),
        ("detected", "VARCHAR")), key=("kind", "event_id"), required=("event_id", "kind", F.UNIT)),
    "exposure": _TableSpec("exposure", "exposure", (
        (F.UNIT, "VARCHAR"), ("quarter", "VARCHAR"), ("exposure", "DOUBLE"),
        ("exposure_kind", "VARCHAR")), key=(F.UNIT, "quarter", "exposure_kind"),
        required=(F.UNIT, "quarter", "exposure")),
}


# ----------------------------------------------------------------------------- results

@dataclass(frozen=True)
class ImportReport:
    """What one import did (or, for ``dry_run``/``no_op``, would do / did not need to do).

    Row accounting: ``rows_in = accepted + rejected + duplicates + conflicts``, with
    ``accepted = new + superseded``; ``conflicts`` is 0 for every import that was
    written. ``duplicates`` counts repeats within the file plus responses already
    stored unchanged (``already_stored``). ``problems`` are what stops the import
    (empty when it was, or could be, written).
    """

    import_id: int | None
    kind: str
    source: str
    sha256: str
    format: str
    wave: str | None = None
    instrument: str | None = None
    rows_in: int = 0
    accepted: int = 0
    rejected: int = 0
    excluded: int = 0
    duplicates: int = 0
    already_stored: int = 0
    new: int = 0
    superseded: int = 0
    conflicts: int = 0
    dropped_columns: tuple[str, ...] = ()
    no_op: bool = False
    dry_run: bool = False
    problems: tuple[Problem, ...] = ()

    @property
    def ok(self) -> bool:
        """True when nothing stops the import."""
        return not self.problems

    def summary(self) -> str:
        what = ", ".join(x for x in (self.kind, self.instrument, self.wave and f"wave {self.wave}")
                         if x)
        if self.no_op:
            return (f"{self.source} ({what}) was already imported as import #{self.import_id} "
                    f"(sha256 {self.sha256[:12]}...); nothing changed.")
        head = (f"Dry run of {self.source} ({what}): nothing written." if self.dry_run
                else f"Imported {self.source} ({what}) as import #{self.import_id}.")
        lines = [head,
                 f"  rows in {self.rows_in} = accepted {self.accepted} (new {self.new}, "
                 f"superseding {self.superseded}) + rejected {self.rejected} "
                 f"(excluded {self.excluded}) + duplicates {self.duplicates} "
                 f"({self.duplicates - self.already_stored} in file, {self.already_stored} "
                 f"already stored)" + (f" + conflicts {self.conflicts}" if self.conflicts else "")]
        if self.dropped_columns:
            lines.append(f"  identifying columns dropped: {', '.join(self.dropped_columns)}")
        if self.problems:
            lines.append(f"  {len(self.problems)} problem(s) stop this import:")
            lines += [f"    - {p}" for p in self.problems[:20]]
            if len(self.problems) > 20:
                lines.append(f"    ... and {len(self.problems) - 20} more")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


@dataclass(frozen=True)
class ReleaseRecord:
    """One recorded release of a wave (see :meth:`Workspace.record_release`).

    ``cells`` has columns ``cell_id``, ``n``, ``respondent_set_hash``;
    ``respondents`` are the pseudonyms whose answers the release used.
    """

    release_id: int
    wave: str
    created: datetime
    thresholds: Mapping[str, int]
    cells: pd.DataFrame = field(repr=False)
    respondents: frozenset[str] = field(repr=False)


# ----------------------------------------------------------------------------- paths & settings

def resolve_workspace_path(path: str | os.PathLike[str] | None = None, *,
                           environ: Mapping[str, str] | None = None) -> Path:
    """The workspace directory: ``path`` if given, else ``$CULTURE_WORKSPACE``, else ``./data``."""
    env = os.environ if environ is None else environ
    chosen = path if path is not None else (env.get(WORKSPACE_ENV) or DEFAULT_WORKSPACE)
    return Path(chosen).expanduser().resolve()


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)  # naive UTC, like every timestamp we store


def _write_json_atomic(path: Path, data: Mapping[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _check_wave(wave: Any, *, parameter: str = "wave") -> str:
    if not isinstance(wave, str) or not F.WAVE_RE.match(wave):
        raise ConfigError(f"{parameter} must look like YYYYQn (e.g. 2026Q3), got {wave!r}")
    return wave


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    try:
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    except FileNotFoundError:
        raise ValidationError([Problem(str(path), "file not found")], source=str(path)) from None
    except IsADirectoryError:
        raise ValidationError([Problem(str(path), "is a directory, not a file")],
                              source=str(path)) from None
    return h.hexdigest()


def _suffix(path: Path) -> str:
    suffix = path.suffix.lower()
    return suffix if _SUFFIX_RE.match(suffix) else ""


_PER_WAVE_KINDS = ("org", "headcount")


def _archive_file(src: Path, archive_dir: Path, sha256: str, suffix: str) -> Path:
    """Copy ``src`` to ``archive/<sha256><suffix>`` (0444) via a temporary name.

    The copy is hashed as it is written; if it differs from ``sha256`` (the
    file changed while it was being imported) nothing is archived and the
    import fails. ``os.replace`` makes the final name appear atomically.
    """
    dest = archive_dir / f"{sha256}{suffix}"
    if dest.exists():  # same bytes archived earlier (another kind, or a failed commit)
        if _file_sha256(dest) != sha256:
            raise WorkspaceError(f"{dest}: archived file does not match its SHA-256; "
                                 "the archive is damaged")
        return dest
    archive_dir.mkdir(exist_ok=True)
    tmp = archive_dir / f".incoming-{uuid.uuid4().hex}{suffix}"
    h = hashlib.sha256()
    try:
        with src.open("rb") as fin, open(tmp, "xb") as fout:
            for block in iter(lambda: fin.read(1 << 20), b""):
                h.update(block)
                fout.write(block)
            fout.flush()
            os.fsync(fout.fileno())
        if h.hexdigest() != sha256:
            raise WorkspaceError(f"{src}: the file changed while it was being imported; "
                                 "import it again once it is complete")
        os.chmod(tmp, 0o444)
        os.replace(tmp, dest)
        _fsync_dir(archive_dir)  # the new name must survive a crash before COMMIT returns
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):  # not every platform/filesystem can fsync a directory
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


# ----------------------------------------------------------------------------- db helpers

def _is_lock_error(exc: BaseException) -> bool:
    text = str(exc).lower()
    return "lock" in text and ("conflicting" in text or "could not set" in text)


def _next_id(con: duckdb.DuckDBPyConnection, table: str, column: str) -> int:
    # max+1 inside the writing transaction: the file lock makes us the only writer
    return int(_scalar(con, f"SELECT coalesce(max({column}), 0) + 1 FROM {table}"))


def _scalar(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> Any:
    # fetchall, not fetchone: DuckDB refuses new work on a connection whose
    # result was not read to the end
    rows = con.execute(sql, params or []).fetchall()
    return rows[0][0] if rows else None


@contextlib.contextmanager
def _transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """``BEGIN`` ... ``COMMIT``, or ``ROLLBACK`` on any exception (including in ``COMMIT``)."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield
        con.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(duckdb.Error):  # a failed COMMIT has already rolled back
            con.execute("ROLLBACK")
        raise


def _insert_frame(con: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame) -> None:
    """Bulk insert: register the frame and ``INSERT ... SELECT`` (never row by row)."""
    if frame.empty:
        return
    name = f"incoming_{uuid.uuid4().hex}"
    cols = ", ".join(f'"{c}"' for c in frame.columns)
    con.register(name, frame)
    try:
        con.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {name}")
    finally:
        con.unregister(name)


# The steps of one response import. Module-level so tests can make one fail
# half-way and show that the transaction leaves the store unchanged.
def _write_ledger(con: duckdb.DuckDBPyConnection, row: Mapping[str, Any]) -> None:
    rows_in, acc, rej, dup = (row[k] for k in ("rows_in", "accepted", "rejected", "duplicates"))
    if rows_in != acc + rej + dup or acc != row["new"] + row["superseded"]:
        raise AccountingError(f"{row['source']}: refusing to write the ledger: rows in {rows_in} "
                              f"!= accepted {acc} + rejected {rej} + duplicates {dup}")
    _insert_frame(con, "imports", pd.DataFrame([dict(row)]))


def _write_responses(con: duckdb.DuckDBPyConnection, meta: pd.DataFrame,
                     superseded_keys: np.ndarray, import_id: int) -> None:
    if len(superseded_keys):
        name = f"old_{uuid.uuid4().hex}"
        con.register(name, pd.DataFrame({"response_key": superseded_keys.astype("int64")}))
        try:
            con.execute(f"UPDATE responses SET current = false, superseded_by = ? "
                        f"WHERE response_key IN (SELECT response_key FROM {name})", [import_id])
        finally:
            con.unregister(name)
    _insert_frame(con, "responses", meta)


def _write_values(con: duckdb.DuckDBPyConnection, answers: pd.DataFrame,
                  texts: pd.DataFrame, columns: pd.DataFrame) -> None:
    _insert_frame(con, "answers", answers)
    _insert_frame(con, "texts", texts)
    _insert_frame(con, "response_columns", columns)


def _write_rejections(con: duckdb.DuckDBPyConnection, rejections: pd.DataFrame) -> None:
    _insert_frame(con, "rejections", rejections)


# ----------------------------------------------------------------------------- frame helpers

def _as_text(values: pd.Series, *, strip: bool = True) -> pd.Series:
    """Object column of str / None; whole-number floats become integers (``101.0`` -> ``"101"``)."""
    present = values.notna()
    out = pd.Series(None, index=values.index, dtype=object)
    if not present.any():
        return out
    vals = values[present]
    text = vals.astype(str)
    if pd.api.types.is_float_dtype(vals):
        whole = vals % 1 == 0
        text[whole] = vals[whole].astype("int64").astype(str)
    if strip:
        text = text.str.strip()
    out[present] = text.to_numpy(dtype=object)
    return out


def _text_with_none(frame: pd.DataFrame, columns: Iterable[str]) -> pd.DataFrame:
    """Text columns as object with None for missing, as :mod:`culture.frames` documents."""
    out = frame.copy()
    for c in columns:
        out[c] = out[c].astype(object).where(out[c].notna(), None)
    return out


def _as_timestamp(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Naive-UTC ``datetime64[us]`` rounded to microseconds (what DuckDB keeps), and a bad mask."""
    if pd.api.types.is_datetime64_any_dtype(values):
        converted = pd.to_datetime(values, utc=True)
    else:  # text: ISO 8601 only, so a day/month swap can never pass silently
        converted = pd.to_datetime(values, errors="coerce", utc=True, format="ISO8601")
    bad = values.notna() & converted.isna()
    out = converted.dt.tz_localize(None).dt.round("us").astype("datetime64[us]")
    return out, bad


def _rows_where(source_rows: pd.Series, mask: pd.Series) -> list[int]:
    return sorted(int(r) for r in source_rows[mask].tolist())


def _count_rows(frame: pd.DataFrame) -> int:
    return int(frame[F.SOURCE_ROW].nunique()) if len(frame) else 0


def _row_list(rows: Iterable[int], limit: int = _ERROR_LIMIT) -> str:
    rows = list(rows)
    text = ", ".join(str(r) for r in rows[:limit])
    return text + (f" ... and {len(rows) - limit} more" if len(rows) > limit else "")


def _check_accounting(parsed: F.ParsedResponses) -> None:
    """Every data row is accepted, rejected or a duplicate: exactly one of them."""
    problems = []
    for name, frame, cols in (("accepted", parsed.accepted, (F.SOURCE_ROW,)),
                              ("rejected", parsed.rejected,
                               (F.SOURCE_ROW, "column", "kind", "reason")),
                              ("duplicates", parsed.duplicates, (F.SOURCE_ROW, "duplicate_of"))):
        missing = [c for c in cols if c not in frame.columns]
        if missing:
            problems.append(f"{name} frame lacks column(s) {', '.join(missing)}")
    if problems:
        raise AccountingError(f"{parsed.source}: parsed responses do not follow the contract: "
                              + "; ".join(problems))
    acc = set(parsed.accepted[F.SOURCE_ROW].tolist())
    rej = set(parsed.rejected[F.SOURCE_ROW].tolist())
    dup = set(parsed.duplicates[F.SOURCE_ROW].tolist())
    if len(acc) != len(parsed.accepted):
        problems.append("a source row appears twice among accepted rows")
    if len(dup) != len(parsed.duplicates):
        problems.append("a source row appears twice among duplicates")
    overlap = (acc & rej) | (acc & dup) | (rej & dup)
    if overlap:
        problems.append(f"rows counted twice (accepted/rejected/duplicate): {_row_list(sorted(overlap))}")
    kinds = set(parsed.rejected["kind"].tolist()) - {"invalid", "excluded"}
    if kinds:
        problems.append(f"rejection kind(s) {sorted(map(str, kinds))}; allowed: invalid, excluded")
    if not parsed.accounted():
        problems.append(f"rows in {parsed.n_rows} != accepted {len(acc)} + rejected {len(rej)} "
                        f"+ duplicates {len(dup)}")
    if problems:
        raise AccountingError(f"{parsed.source}: refusing to import, the rows do not add up: "
                              + "; ".join(problems))


@dataclass(frozen=True)
class _Prepared:
    """An accepted frame turned into what the store writes (keys are positions 0..n-1)."""

    meta: pd.DataFrame       # response_key(position), pseudonymised ids, wave, meta, source_row
    answers: pd.DataFrame    # response_key, item_id, value (answered items only)
    texts: pd.DataFrame      # response_key, column_id, value (non-missing only)
    columns: pd.DataFrame    # column_id, role, position
    problems: tuple[Problem, ...]


def _prepare_responses(accepted: pd.DataFrame, instrument: Instrument, wave: str,
                       pz: Pseudonymizer) -> _Prepared:
    """Pseudonymise and split the accepted rows into long tables; collect every problem."""
    problems: list[Problem] = []
    cols = list(accepted.columns)
    src = accepted[F.SOURCE_ROW].astype("int64").reset_index(drop=True)
    df = accepted.reset_index(drop=True)
    for c in (*_RESPONSE_META,):
        if c not in cols:
            problems.append(Problem(f"column {c}", "required canonical column is missing"))
    roles = {i: "item" for i in instrument.item_ids}
    roles.update({d.id: "demographic" for d in instrument.demographics})
    roles.update({c.id: "comment" for c in instrument.comments})
    known = {*F.META_COLUMNS, F.SOURCE_ROW}
    for c in cols:
        if c not in known and c not in roles:
            problems.append(Problem(f"column {c}", f"not a column of instrument {instrument.id} "
                                    f"{instrument.version}; refusing to store it (it may "
                                    f"identify people)"))
    if F.WAVE in cols:
        other = df[F.WAVE].notna() & (df[F.WAVE].astype(object) != wave)
        if other.any():
            problems.append(Problem("column wave", f"rows {_row_list(_rows_where(src, other))} "
                                    f"belong to another wave than the one imported ({wave})"))
    if problems:
        return _Prepared(*(pd.DataFrame() for _ in range(4)), tuple(problems))

    rid = _as_text(df[F.RESPONSE_ID])
    missing_id = rid.isna() | (rid == "")
    if missing_id.any():
        problems.append(Problem("column response_id",
                                f"rows {_row_list(_rows_where(src, missing_id))} have no response id"))
    meta = pd.DataFrame({
        "response_key": np.arange(len(df), dtype="int64"),
        F.RESPONSE_ID: pz.hash(rid.where(~missing_id, None), domain=RESPONSE_DOMAIN),
        F.RESPONDENT: pz.hash(_as_text(df[F.RESPONDENT]), domain=RESPONDENT_DOMAIN),
        F.WAVE: wave,
        F.UNIT: _as_text(df[F.UNIT]),
    })
    for c in (F.STARTED, F.SUBMITTED):
        meta[c], bad = _as_timestamp(df[c])
        if bad.any():
            problems.append(Problem(f"column {c}", f"rows {_row_list(_rows_where(src, bad))} "
                                    "are not date-times"))
    duration = pd.to_numeric(df[F.DURATION], errors="coerce").astype("float64")
    bad = df[F.DURATION].notna() & duration.isna()
    if bad.any():
        problems.append(Problem(f"column {F.DURATION}", f"rows {_row_list(_rows_where(src, bad))} "
                                "are not numbers"))
    meta[F.DURATION] = duration
    finished = df[F.FINISHED]
    if finished.isna().any() or not finished.isin([True, False, 0, 1]).all():
        problems.append(Problem(f"column {F.FINISHED}", "must be true/false in every row"))
    meta[F.FINISHED] = finished.fillna(False).astype(bool)
    meta[F.SOURCE_ROW] = src
    dup_ids = meta[F.RESPONSE_ID].duplicated(keep=False) & ~missing_id
    if dup_ids.any():
        raise AccountingError(f"response ids repeat among accepted rows "
                              f"{_row_list(_rows_where(src, dup_ids))}; a reader must list "
                              "repeats as duplicates")

    present = [c for c in cols if c in roles]
    columns = pd.DataFrame({"column_id": present, "role": [roles[c] for c in present],
                            "position": np.arange(len(present), dtype="int32")})
    items = [c for c in present if roles[c] == "item"]
    values = {}
    for c in items:
        num = pd.to_numeric(df[c], errors="coerce").astype("float64")
        bad = df[c].notna() & num.isna()
        if bad.any():
            problems.append(Problem(f"column {c}", f"rows {_row_list(_rows_where(src, bad))} "
                                    "are not answer codes"))
        values[c] = num
    answers = _melt(pd.DataFrame(values, index=df.index), meta["response_key"], "item_id")
    text_cols = [c for c in present if roles[c] != "item"]
    text_values = {c: _as_text(df[c], strip=roles[c] == "demographic") for c in text_cols}
    texts = _melt(pd.DataFrame(text_values, index=df.index, dtype=object), meta["response_key"],
                  "column_id")
    return _Prepared(meta, answers, texts, columns, tuple(problems))


def _melt(wide: pd.DataFrame, keys: pd.Series, var: str) -> pd.DataFrame:
    if wide.shape[1] == 0:
        return pd.DataFrame({"response_key": pd.Series(dtype="int64"), var: pd.Series(dtype=object),
                             "value": pd.Series(dtype=object)})
    wide = wide.assign(response_key=keys.to_numpy())
    long = wide.melt(id_vars="response_key", var_name=var, value_name="value")
    return long[long["value"].notna()].reset_index(drop=True)


def _assemble_wide(meta: pd.DataFrame, answers: pd.DataFrame, texts: pd.DataFrame,
                   columns: pd.DataFrame) -> pd.DataFrame:
    """Canonical wide frame (index: response_key) from the long tables.

    Used both to read the store and to shape an incoming file, so the two
    compare like for like when checking whether a response changed.
    """
    out = pd.DataFrame(index=pd.Index(meta["response_key"].to_numpy(), name="response_key"))
    for c in F.META_COLUMNS:
        out[c] = meta[c].to_numpy()
    for c in (F.RESPONSE_ID, F.RESPONDENT, F.WAVE, F.UNIT):
        out[c] = out[c].astype(object).where(out[c].notna(), None)
    for c in (F.STARTED, F.SUBMITTED):
        out[c] = pd.to_datetime(out[c]).astype("datetime64[ns]")
    out[F.DURATION] = out[F.DURATION].astype("float64")
    out[F.FINISHED] = out[F.FINISHED].astype(bool)
    order = columns.drop_duplicates("column_id")
    if len(answers):
        items = answers.pivot(index="response_key", columns="item_id", values="value")
        out = out.join(items.astype("float64"))
    if len(texts):
        txt = texts.pivot(index="response_key", columns="column_id", values="value")
        out = out.join(txt.astype(object))
    for c, role in zip(order["column_id"], order["role"], strict=True):
        if c not in out.columns:
            out[c] = np.nan if role == "item" else None
        elif role != "item":
            out[c] = out[c].astype(object).where(out[c].notna(), None)
        else:
            out[c] = out[c].astype("float64")
    return out[[*F.META_COLUMNS, *order["column_id"]]].copy()


def _changed(new: pd.DataFrame, old: pd.DataFrame) -> pd.Series:
    """Per response id: does any value differ (missing equals missing)? Loops columns, not rows."""
    cols = sorted((set(new.columns) | set(old.columns)) - {F.RESPONSE_ID, F.WAVE})
    old = old.reindex(new.index)
    diff = pd.Series(False, index=new.index)
    for c in cols:
        a = new[c].astype(object) if c in new else pd.Series(None, index=new.index, dtype=object)
        b = old[c].astype(object) if c in old else pd.Series(None, index=new.index, dtype=object)
        same = (a == b).astype(bool) | (a.isna() & b.isna())
        diff |= ~same
    return diff


# ----------------------------------------------------------------------------- the workspace

class Workspace:
    """A workspace directory. Create one with :meth:`init`, open it with :meth:`open`.

    The object holds no database connection: each method opens one for its
    own duration, so other processes can use the workspace in between.
    """

    def __init__(self, root: Path, pseudonymizer: Pseudonymizer, settings: Mapping[str, Any]):
        self._root = Path(root)
        self._pz = pseudonymizer
        self._settings = MappingProxyType(dict(settings))

    def __repr__(self) -> str:
        return f"Workspace({str(self._root)!r})"

    # -- paths ------------------------------------------------------------------------------
    @property
    def root(self) -> Path:
        return self._root

    @property
    def db_path(self) -> Path:
        return self._root / DB_NAME

    @property
    def archive_dir(self) -> Path:
        return self._root / ARCHIVE_DIR

    @property
    def settings(self) -> Mapping[str, Any]:
        return self._settings

    @property
    def pseudonymizer(self) -> Pseudonymizer:
        """Pseudonymises ids exactly as the store does (e.g. to look up one person)."""
        return self._pz

    # -- creation and opening -----------------------------------------------------------------
    @classmethod
    def init(cls, path: str | os.PathLike[str] | None = None, *,
             key_file: str | os.PathLike[str] | None = None) -> Workspace:
        """Create a workspace and its pseudonymisation key.

        Key source, first that applies: ``key_file`` (loaded when it exists,
        else a new key is written there with 0600), the ``CULTURE_PSEUDONYM_KEY``
        environment variable (nothing written), an existing
        ``<workspace>/secrets/pseudonym.key``, else a new key written there.
        An existing key file is never overwritten.

        Raises
        ------
        WorkspaceError
            A workspace already exists at ``path``.
        PseudonymKeyError
            The key file is unreadable, too permissive or malformed.
        """
        root = resolve_workspace_path(path)
        if (root / DB_NAME).exists() or (root / SETTINGS_NAME).exists():
            raise WorkspaceError(f"{root}: a workspace already exists here; refusing to "
                                 "initialise over it (open it instead, or choose another path)")
        if root.exists() and not root.is_dir():
            raise WorkspaceError(f"{root}: exists and is not a directory")
        key_path: Path | None
        if key_file is not None:
            key_path = Path(key_file).expanduser().resolve()
            setting: str | None = str(key_path)
        elif (env_key := load_key_env()) is not None:
            key_path, setting = None, None
        else:
            key_path, setting = root / DEFAULT_KEY_FILE, DEFAULT_KEY_FILE
        if key_path is None:
            key = env_key
        elif key_path.exists():
            key = load_key_file(key_path)
        else:
            key = generate_key()
            write_key_file(key_path, key)
        pz = Pseudonymizer(key)
        root.mkdir(parents=True, exist_ok=True)
        (root / ARCHIVE_DIR).mkdir(exist_ok=True)
        created = _now()
        con = duckdb.connect(str(root / DB_NAME))
        try:
            with _transaction(con):
                con.execute(_SCHEMA)
                con.execute("INSERT INTO schema_version VALUES (?, ?)", [SCHEMA_VERSION, created])
                con.executemany("INSERT INTO meta VALUES (?, ?)", [
                    ["key_fingerprint", pz.fingerprint], ["created", created.isoformat()],
                    ["format", WORKSPACE_FORMAT]])
        finally:
            con.close()
        settings = {"format": WORKSPACE_FORMAT, "schema_version": SCHEMA_VERSION,
                    "created": created.isoformat(), "key_file": setting}
        _write_json_atomic(root / SETTINGS_NAME, settings)  # last: marks the workspace complete
        return cls(root, pz, settings)

    @classmethod
    def open(cls, path: str | os.PathLike[str] | None = None, *,
             key: bytes | str | os.PathLike[str] | None = None) -> Workspace:
        """Open an existing workspace and check the pseudonymisation key.

        Parameters
        ----------
        path : workspace directory (default ``$CULTURE_WORKSPACE`` or ``./data``).
        key : the key as bytes or hex text, or a key file path; default
            ``$CULTURE_PSEUDONYM_KEY``, else the key file named in ``settings.json``.

        Raises
        ------
        WorkspaceError
            No workspace at ``path``, or one of another schema version.
        PseudonymKeyError
            No key found, or its fingerprint differs from the one stored.
        WorkspaceLockedError
            Another process is writing.
        """
        root = resolve_workspace_path(path)
        settings_path = root / SETTINGS_NAME
        if not settings_path.exists() or not (root / DB_NAME).exists():
            raise WorkspaceError(f"{root}: no workspace here (expected {SETTINGS_NAME} and "
                                 f"{DB_NAME}); create one with Workspace.init / `culture init`")
        try:
            settings = json.loads(settings_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise WorkspaceError(f"{settings_path}: unreadable settings ({type(exc).__name__})") \
                from None
        if not isinstance(settings, dict) or settings.get("format") != WORKSPACE_FORMAT:
            raise WorkspaceError(f"{settings_path}: not a culture workspace settings file")
        raw = cls._find_key(root, settings, key)
        ws = cls(root, Pseudonymizer(raw), settings)
        with ws._connect(write=False) as con:
            version = _scalar(con, "SELECT max(version) FROM schema_version")
            stored = _scalar(con, "SELECT value FROM meta WHERE key = 'key_fingerprint'")
        if version != SCHEMA_VERSION:
            raise WorkspaceError(f"{root}: workspace schema version {version}; this version of "
                                 f"culture reads version {SCHEMA_VERSION}")
        if stored != ws._pz.fingerprint:
            raise PseudonymKeyError(
                f"{root}: the pseudonymisation key does not match this workspace (fingerprint "
                f"{ws._pz.fingerprint[:12]}..., workspace expects "
                f"{(stored or '?')[:12]}...); pseudonyms made with it would not "
                "link to stored ones. Use the original key (restore secrets/pseudonym.key or set "
                "CULTURE_PSEUDONYM_KEY)")
        return ws

    @staticmethod
    def _find_key(root: Path, settings: Mapping[str, Any],
                  key: bytes | str | os.PathLike[str] | None) -> bytes:
        if isinstance(key, bytes | bytearray):
            return bytes(key)
        if isinstance(key, str) and _HEX_KEY_RE.match(key.strip()):
            return parse_key_hex(key, where="key=")  # never treat (and echo) a key as a path
        if key is not None:
            return load_key_file(key)
        env_key = load_key_env()
        if env_key is not None:
            return env_key
        setting = settings.get("key_file")
        if not setting:
            raise PseudonymKeyError(f"{root}: this workspace takes its key from the environment; "
                                    f"set CULTURE_PSEUDONYM_KEY (hex) or pass key=")
        key_path = Path(setting)
        return load_key_file(key_path if key_path.is_absolute() else root / key_path)

    @contextlib.contextmanager
    def _connect(self, *, write: bool) -> Iterator[duckdb.DuckDBPyConnection]:
        try:
            con = duckdb.connect(str(self.db_path), read_only=not write)
        except duckdb.Error as exc:
            if _is_lock_error(exc):
                raise WorkspaceLockedError(
                    f"workspace is locked by another process ({self.db_path}); wait until it "
                    "has finished and try again. Nothing was changed.") from None
            raise WorkspaceError(f"{self.db_path}: cannot open the workspace database "
                                 f"({type(exc).__name__})") from exc
        try:
            yield con
        finally:
            con.close()

    # -- response imports -----------------------------------------------------------------------
    def ingest_responses(self, path: str | os.PathLike[str], instrument: Instrument | str, *,
                         wave: str, fmt: str | None = None,
                         mapping: Mapping[str, str] | None = None, partial: str = "keep",
                         accept_valid: bool = False, supersede: bool = False,
                         dry_run: bool = False) -> ImportReport:
        """Read a survey export with :func:`culture.io.read_responses` and import it.

        See :meth:`ingest_parsed` for what happens to the rows. Re-importing
        a file with the same SHA-256 is a no-op (checked before parsing).
        """
        wave = _check_wave(wave)
        instrument = _instrument(instrument)
        path = Path(path)
        sha = _file_sha256(path)
        no_op = self._no_op(sha, "responses", source=str(path), wave=wave,
                            instrument_id=instrument.id)
        if no_op is not None:
            return no_op
        from culture.ingest import (
            read_responses,  # lazy: io is heavy and optional for readers of the store
        )

        parsed = read_responses(path, instrument, fmt=fmt, mapping=mapping, partial=partial)
        return self.ingest_parsed(parsed, instrument, wave=wave, accept_valid=accept_valid,
                                  supersede=supersede, dry_run=dry_run, _sha256=sha)

    def ingest_parsed(self, parsed: F.ParsedResponses, instrument: Instrument | str, *,
                      wave: str, accept_valid: bool = False, supersede: bool = False,
                      dry_run: bool = False, _sha256: str | None = None) -> ImportReport:
        """Import responses already parsed into a :class:`~culture.frames.ParsedResponses`.

        ``parsed.source`` must be the raw file: it is hashed and archived.

        * Rows of kind ``invalid`` fail the import with one ValidationError
          listing them all, unless ``accept_valid``; then the valid rows are
          imported and the rejections recorded. ``excluded`` rows never fail it.
        * A response id already stored for this instrument and wave with the
          same content counts as a duplicate; with other content it is an
          ImportConflictError (rows listed, never values) unless ``supersede``,
          which keeps the old version (``current = false``) and adds the new one.
        * ``dry_run`` returns the report, problems included, and writes nothing.
        """
        wave = _check_wave(wave)
        instrument = _instrument(instrument)
        source = Path(parsed.source)
        sha = _sha256 or _file_sha256(source)
        started = _now()
        _check_accounting(parsed)  # refuse a reader that loses rows, before anything else
        rejected = parsed.rejected
        invalid = rejected[rejected["kind"] == "invalid"]
        excluded_rows = _count_rows(rejected[rejected["kind"] == "excluded"])
        prepared = _prepare_responses(parsed.accepted, instrument, wave, self._pz)
        if prepared.problems:
            raise ValidationError(prepared.problems, source=str(source))
        invalid_problems = [] if accept_valid else [
            Problem(f"row {int(r)}" + (f", column {c}" if isinstance(c, str) and c else ""), str(m))
            for r, c, m in invalid[[F.SOURCE_ROW, "column", "reason"]].itertuples(index=False)]
        report = dict(kind="responses", source=str(source), sha256=sha, format=parsed.format,
                      wave=wave, instrument=f"{instrument.id} {instrument.version}",
                      rows_in=parsed.n_rows, rejected=_count_rows(rejected),
                      excluded=excluded_rows, dropped_columns=tuple(parsed.dropped_columns),
                      dry_run=dry_run)

        with self._connect(write=not dry_run) as con, _maybe_transaction(con, write=not dry_run):
            prior = self._prior(con, sha, "responses")
            if prior is not None:
                return self._no_op_report(prior, str(source), wave=wave,
                                          instrument_id=instrument.id)
            stored = _stored_versions(con, instrument.id, wave, prepared.meta[F.RESPONSE_ID])
            plan = _plan(prepared, stored, con)
            conflict_rows = sorted(prepared.meta.loc[plan.conflict, F.SOURCE_ROW].tolist())
            conflict_problems = [Problem(
                f"rows {_row_list(conflict_rows)}",
                "already imported for this wave with different content (use supersede)")
            ] if conflict_rows and not supersede else []
            superseded = len(conflict_rows) if supersede else 0
            dups = len(parsed.duplicates) + int(plan.same.sum())
            report.update(accepted=int(plan.new.sum()) + superseded, new=int(plan.new.sum()),
                          superseded=superseded, duplicates=dups,
                          already_stored=int(plan.same.sum()),
                          conflicts=0 if supersede else len(conflict_rows),
                          problems=(*invalid_problems, *conflict_problems))
            if dry_run:
                return ImportReport(import_id=None, **report)
            if invalid_problems:
                raise ValidationError(invalid_problems, source=str(source))
            if conflict_problems:
                raise ImportConflictError(
                    f"{source}: {len(conflict_rows)} response(s) were already imported for wave "
                    f"{wave} with different content: source rows {_row_list(conflict_rows)}. "
                    "Nothing was imported. Check the export; re-run with supersede=True "
                    "(--supersede) to keep the stored versions as history and make these current.")
            import_id = _next_id(con, "imports", "import_id")
            suffix = _suffix(source)
            _write_ledger(con, {
                "import_id": import_id, "kind": "responses", "source": str(source),
                "sha256": sha, "archived_as": f"{ARCHIVE_DIR}/{sha}{suffix}",
                "format": parsed.format, "instrument_id": instrument.id,
                "instrument_version": instrument.version, "wave": wave, "quality_kind": None,
                "started": started, "finished": _now(), "rows_in": report["rows_in"],
                "accepted": report["accepted"], "rejected": report["rejected"],
                "duplicates": dups, "new": report["new"], "superseded": superseded,
                "dropped_columns": json.dumps(list(parsed.dropped_columns))})
            write = plan.new | (plan.conflict if supersede else False)
            meta, answers, texts = _keyed(prepared, write, plan, con, import_id, instrument)
            _write_responses(con, meta, plan.old_keys[plan.conflict.to_numpy()] if supersede
                             else np.array([], dtype="int64"), import_id)
            columns = prepared.columns.assign(import_id=import_id)
            _write_values(con, answers, texts, columns)
            _write_rejections(con, _rejection_rows(parsed, import_id, accept_valid))
            _archive_file(source, self.archive_dir, sha, suffix)
        return ImportReport(import_id=import_id, **report)

    # -- other registers --------------------------------------------------------------------------
    def ingest_org(self, path: str | os.PathLike[str], *, wave: str,
                   dry_run: bool = False) -> ImportReport:
        """Import an org chart (``culture.io.read_org``) as the org tree of ``wave``."""
        from culture.ingest import read_org

        return self._ingest_path(path, "org", lambda p: read_org(p, wave=wave), wave=wave,
                                 dry_run=dry_run)

    def ingest_headcount(self, path: str | os.PathLike[str], *, wave: str,
                         dry_run: bool = False) -> ImportReport:
        """Import the people invited per unit for ``wave`` (``culture.io.read_headcount``)."""
        from culture.ingest import read_headcount

        return self._ingest_path(path, "headcount", lambda p: read_headcount(p, wave=wave), wave=wave,
                                 dry_run=dry_run)

    def ingest_quality(self, path: str | os.PathLike[str], *, kind: str,
                       dry_run: bool = False) -> ImportReport:
        """Import a QMS register of one ``kind`` (``culture.io.read_quality``)."""
        from culture.ingest import read_quality

        _check_quality_kind(kind)
        return self._ingest_path(path, "quality", lambda p: read_quality(p, kind=kind),
                                 quality_kind=kind, dry_run=dry_run)

    def ingest_exposure(self, path: str | os.PathLike[str], *,
                        dry_run: bool = False) -> ImportReport:
        """Import exposure per unit and quarter (``culture.io.read_exposure``)."""
        from culture.ingest import read_exposure

        return self._ingest_path(path, "exposure", read_exposure, dry_run=dry_run)

    def _ingest_path(self, path: str | os.PathLike[str], kind: str, reader: Any, *,
                     wave: str | None = None, quality_kind: str | None = None,
                     dry_run: bool = False) -> ImportReport:
        path = Path(path)
        if wave is not None:
            _check_wave(wave)
        sha = _file_sha256(path)
        no_op = self._no_op(sha, kind, source=str(path), wave=wave, quality_kind=quality_kind)
        if no_op is not None:
            return no_op
        frame = reader(path)
        return self.ingest_table(frame, kind=kind, source=path, wave=wave,
                                 quality_kind=quality_kind, fmt=_suffix(path).lstrip(".") or "file",
                                 dry_run=dry_run, _sha256=sha)

    def ingest_table(self, frame: pd.DataFrame, *, kind: str, source: str | os.PathLike[str],
                     wave: str | None = None, quality_kind: str | None = None,
                     fmt: str = "table", dry_run: bool = False,
                     _sha256: str | None = None) -> ImportReport:
        """Import a canonical org / headcount / quality / exposure frame read from ``source``.

        ``source`` is the raw file the frame came from (hashed and archived).
        ``org`` and ``headcount`` need ``wave``; ``quality`` needs ``quality_kind``.
        Columns outside the canonical frame are not stored and are listed in
        ``dropped_columns``. One transaction, like a response import.
        """
        if kind not in _TABLES:
            raise ConfigError(f"kind must be one of {', '.join(_TABLES)}, got {kind!r}")
        spec = _TABLES[kind]
        if kind in ("org", "headcount"):
            wave = _check_wave(wave)
        if kind == "quality":
            _check_quality_kind(quality_kind)
        source = Path(source)
        sha = _sha256 or _file_sha256(source)
        started = _now()
        table, dropped, problems = _prepare_table(frame, spec, wave=wave, quality_kind=quality_kind)
        if problems:
            raise ValidationError(problems, source=str(source))
        report = dict(kind=kind, source=str(source), sha256=sha, format=fmt, wave=wave,
                      rows_in=len(table), accepted=len(table), new=len(table),
                      dropped_columns=dropped, dry_run=dry_run)
        with self._connect(write=not dry_run) as con, _maybe_transaction(con, write=not dry_run):
            prior = self._prior(con, sha, kind, wave)
            if prior is not None:
                return self._no_op_report(prior, str(source), wave=wave, quality_kind=quality_kind)
            if dry_run:
                return ImportReport(import_id=None, **report)
            import_id = _next_id(con, "imports", "import_id")
            suffix = _suffix(source)
            _write_ledger(con, {
                "import_id": import_id, "kind": kind, "source": str(source), "sha256": sha,
                "archived_as": f"{ARCHIVE_DIR}/{sha}{suffix}", "format": fmt,
                "instrument_id": None, "instrument_version": None, "wave": wave,
                "quality_kind": quality_kind, "started": started, "finished": _now(),
                "rows_in": len(table), "accepted": len(table), "rejected": 0, "duplicates": 0,
                "new": len(table), "superseded": 0, "dropped_columns": json.dumps(list(dropped))})
            _insert_frame(con, spec.table, table.assign(import_id=import_id))
            _archive_file(source, self.archive_dir, sha, suffix)
        return ImportReport(import_id=import_id, **report)

    # -- no-op detection ------------------------------------------------------------------------
    def _prior(self, con: duckdb.DuckDBPyConnection, sha: str, kind: str,
               wave: str | None = None) -> dict[str, Any] | None:
        """An earlier import of the same bytes. Org charts and headcounts are per wave, and an
        unchanged file is legitimately imported again for the next wave."""
        if kind in _PER_WAVE_KINDS:
            cur = con.execute("SELECT * FROM imports WHERE sha256 = ? AND kind = ? AND wave = ?",
                              [sha, kind, wave])
        else:
            cur = con.execute("SELECT * FROM imports WHERE sha256 = ? AND kind = ?", [sha, kind])
        rows = cur.fetchall()
        if not rows:
            return None
        return dict(zip([d[0] for d in cur.description], rows[0], strict=True))

    def _no_op(self, sha: str, kind: str, **expect: Any) -> ImportReport | None:
        with self._connect(write=False) as con:
            prior = self._prior(con, sha, kind, expect.get("wave"))
        if prior is None:
            return None
        source = expect.pop("source")
        return self._no_op_report(prior, source, **expect)

    @staticmethod
    def _no_op_report(prior: Mapping[str, Any], source: str, **expect: Any) -> ImportReport:
        """Same bytes imported before: a no-op, unless it was imported as something else."""
        clash = [f"{k}={prior[k]!r}" for k, v in expect.items() if prior.get(k) != v]
        if clash:
            raise ImportConflictError(
                f"{source}: this file (sha256 {prior['sha256'][:12]}...) was already imported as "
                f"import #{prior['import_id']} with {', '.join(clash)}; importing it again with "
                "other settings would duplicate it. Nothing was imported.")
        return ImportReport(import_id=int(prior["import_id"]), kind=str(prior["kind"]),
                            source=source, sha256=str(prior["sha256"]), format=str(prior["format"]),
                            wave=prior["wave"], no_op=True)

    # -- reading ------------------------------------------------------------------------------
    def waves(self) -> list[str]:
        """Waves with stored responses, oldest first."""
        with self._connect(write=False) as con:
            return self._waves(con)

    def responses(self, wave: str, *, instrument: Instrument | str | None = None) -> pd.DataFrame:
        """Current responses of a wave as the canonical wide frame (see :mod:`culture.frames`).

        ``response_id`` and ``respondent`` are pseudonyms. With an
        :class:`Instrument`, every item / demographic / comment column of it
        is present (all-missing when never answered). Needed only when a wave
        holds more than one instrument.
        """
        wave = _check_wave(wave)
        inst_id = instrument.id if isinstance(instrument, Instrument) else instrument
        with self._connect(write=False) as con:
            ids = [r[0] for r in con.execute(
                "SELECT DISTINCT instrument_id FROM responses WHERE wave = ? ORDER BY 1",
                [wave]).fetchall()]
            if not ids:
                raise ConfigError(f"wave {wave} has no responses in the workspace; waves stored: "
                                  f"{', '.join(self._waves(con)) or 'none'}")
            if inst_id is None and len(ids) > 1:
                raise ConfigError(f"wave {wave} holds several instruments ({', '.join(ids)}); "
                                  "pass instrument=")
            inst_id = inst_id or ids[0]
            if inst_id not in ids:
                raise ConfigError(f"instrument {inst_id!r} has no responses in wave {wave}; "
                                  f"it holds: {', '.join(ids)}")
            where = "r.current AND r.wave = ? AND r.instrument_id = ?"
            wide = _read_wide(con, where, [wave, inst_id])
        if isinstance(instrument, Instrument):
            extra = [c for c in (*(d.id for d in instrument.demographics), *instrument.item_ids,
                                 *(c.id for c in instrument.comments)) if c not in wide.columns]
            for c in extra:
                wide[c] = np.nan if c in instrument.item_ids else None
        return wide.reset_index(drop=True)

    @staticmethod
    def _waves(con: duckdb.DuckDBPyConnection) -> list[str]:
        rows = con.execute("SELECT DISTINCT wave FROM responses").fetchall()
        return sorted((r[0] for r in rows), key=F.wave_index)

    def org(self, wave: str) -> pd.DataFrame:
        """The org tree in force at ``wave``: the latest import for the latest org wave <= ``wave``.

        Columns ``wave`` (the requested wave), ``unit_id``, ``parent_id``, ``name``,
        ``level``; ``frame.attrs["org_wave"]`` names the org chart's own wave.
        """
        wave = _check_wave(wave)
        with self._connect(write=False) as con:
            waves = [r[0] for r in con.execute("SELECT DISTINCT wave FROM org_units").fetchall()]
            usable = [w for w in waves if F.wave_index(w) <= F.wave_index(wave)]
            if not usable:
                raise ConfigError(f"no org chart for wave {wave} or earlier; org charts stored "
                                  f"for: {', '.join(sorted(waves, key=F.wave_index)) or 'none'}")
            org_wave = max(usable, key=F.wave_index)
            frame = con.execute(
                "SELECT unit_id, parent_id, name, level FROM org_units WHERE import_id = "
                "(SELECT max(import_id) FROM org_units WHERE wave = ?) ORDER BY unit_id",
                [org_wave]).df()
        frame = _text_with_none(frame, (F.UNIT, F.PARENT, "name"))
        frame.insert(0, F.WAVE, wave)
        frame["level"] = frame["level"].astype("Int64")
        frame.attrs["org_wave"] = org_wave
        return frame

    def headcount(self, wave: str) -> pd.DataFrame:
        """People invited per unit for ``wave`` (latest import of that wave)."""
        wave = _check_wave(wave)
        with self._connect(write=False) as con:
            frame = con.execute(
                "SELECT wave, unit_id, invited FROM headcount WHERE import_id = "
                "(SELECT max(import_id) FROM headcount WHERE wave = ?) ORDER BY unit_id",
                [wave]).df()
        if frame.empty:
            raise ConfigError(f"no headcount stored for wave {wave}")
        frame["invited"] = frame["invited"].astype("int64")
        return frame

    def quality_events(self, kind: str | None = None) -> pd.DataFrame:
        """Quality register entries; for an event id seen in several imports the latest wins."""
        if kind is not None:
            _check_quality_kind(kind)
        with self._connect(write=False) as con:
            frame = con.execute(
                "SELECT event_id, kind, unit_id, opened, closed, due, severity, detected "
                "FROM quality_events WHERE (? IS NULL OR kind = ?) "
                "QUALIFY row_number() OVER (PARTITION BY kind, event_id "
                "ORDER BY import_id DESC) = 1 ORDER BY kind, event_id", [kind, kind]).df()
        for c in ("opened", "closed", "due"):
            frame[c] = frame[c].astype("datetime64[ns]")
        return _text_with_none(frame, ("event_id", "kind", F.UNIT, "severity", "detected"))

    def exposure(self) -> pd.DataFrame:
        """Exposure per unit, quarter and kind; the latest import wins."""
        with self._connect(write=False) as con:
            frame = con.execute(
                "SELECT unit_id, quarter, exposure, exposure_kind FROM exposure "
                "QUALIFY row_number() OVER (PARTITION BY unit_id, quarter, exposure_kind "
                "ORDER BY import_id DESC) = 1 ORDER BY quarter, unit_id, exposure_kind").df()
        return _text_with_none(frame, (F.UNIT, "quarter", "exposure_kind"))

    def imports(self) -> pd.DataFrame:
        """The import ledger, one row per import (``dropped_columns`` as a JSON list)."""
        with self._connect(write=False) as con:
            return con.execute("SELECT * FROM imports ORDER BY import_id").df()

    def rejections(self, import_id: int | None = None) -> pd.DataFrame:
        """Rejected, excluded and duplicate rows: ``import_id, source_row, column_id, kind, reason``."""
        with self._connect(write=False) as con:
            return con.execute(
                "SELECT * FROM rejections WHERE (? IS NULL OR import_id = ?) "
                "ORDER BY import_id, source_row, column_id", [import_id, import_id]).df()

    def status(self) -> dict[str, Any]:
        """Overview: per wave and instrument counts, imports, rejected rows, registers."""
        with self._connect(write=False) as con:
            waves = con.execute(
                "SELECT wave, instrument_id, count(*) FILTER (WHERE current) AS responses, "
                "count(DISTINCT respondent) FILTER (WHERE current) AS respondents, "
                "count(*) FILTER (WHERE NOT current) AS superseded_versions, "
                "count(DISTINCT import_id) AS imports "
                "FROM responses GROUP BY ALL ORDER BY wave, instrument_id").df()
            def one(sql: str) -> int:
                return int(_scalar(con, sql))

            out = {
                "path": str(self._root),
                "schema_version": SCHEMA_VERSION,
                "key_fingerprint": self._pz.fingerprint[:16],
                "waves": waves,
                "imports": one("SELECT count(*) FROM imports"),
                "rejected_rows": one("SELECT count(DISTINCT (import_id, source_row)) "
                                     "FROM rejections WHERE kind <> 'duplicate'"),
                "duplicate_rows": one("SELECT count(*) FROM rejections WHERE kind = 'duplicate'"),
                "org_waves": sorted({r[0] for r in con.execute(
                    "SELECT DISTINCT wave FROM org_units").fetchall()}, key=F.wave_index),
                "headcount_waves": sorted({r[0] for r in con.execute(
                    "SELECT DISTINCT wave FROM headcount").fetchall()}, key=F.wave_index),
                "quality_events": one("SELECT count(DISTINCT (kind, event_id)) FROM quality_events"),
                "releases": one("SELECT count(*) FROM releases"),
            }
        return out

    # -- releases -------------------------------------------------------------------------------
    def record_release(self, wave: str, *, thresholds: Mapping[str, int], cells: pd.DataFrame,
                       respondents: Iterable[str]) -> int:
        """Record one release of ``wave`` in a single transaction; returns its ``release_id``.

        ``cells`` needs columns ``cell_id`` (unique), ``n`` (int >= 0) and
        ``respondent_set_hash``; ``respondents`` are pseudonyms (64 hex digits),
        so a raw id can never reach the ledger.
        """
        wave = _check_wave(wave)
        problems: list[str] = []
        if not isinstance(thresholds, Mapping) or not thresholds:
            problems.append("thresholds must be a non-empty mapping name -> int")
            thresholds = {}
        for name, value in thresholds.items():
            if not isinstance(name, str) or not name:
                problems.append(f"threshold name {name!r} must be non-empty text")
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
                problems.append(f"threshold {name!r} must be an integer >= 0, got {value!r}")
        need = ("cell_id", "n", "respondent_set_hash")
        missing = [c for c in need if c not in getattr(cells, "columns", ())]
        if missing:
            problems.append(f"cells lacks column(s) {', '.join(missing)}")
        else:
            n = pd.to_numeric(cells["n"], errors="coerce")
            if n.isna().any() or (n < 0).any() or (n % 1 != 0).any():
                problems.append("cells.n must hold integers >= 0")
            if cells["cell_id"].isna().any() or cells["cell_id"].duplicated().any():
                problems.append("cells.cell_id must be unique and non-missing")
        people = pd.Series(list(respondents), dtype=object)
        not_pseudonym = ~(people.notna()
                          & people.astype(str).str.fullmatch(_PSEUDONYM_RE.pattern.strip("^$")))
        if not_pseudonym.any():
            problems.append(f"{int(not_pseudonym.sum())} respondent(s) are not pseudonyms "
                            "(64 lower-case hex digits); raw ids are never recorded")
        if problems:
            raise ConfigError(f"record_release(wave={wave}): " + "; ".join(problems))
        with self._connect(write=True) as con, _transaction(con):
            release_id = _next_id(con, "releases", "release_id")
            con.execute("INSERT INTO releases VALUES (?, ?, ?, ?)", [
                release_id, wave, _now(),
                json.dumps({str(k): int(v) for k, v in thresholds.items()}, sort_keys=True)])
            _insert_frame(con, "release_cells", pd.DataFrame({
                "release_id": release_id, "cell_id": _as_text(cells["cell_id"]),
                "n": cells["n"].astype("int64").to_numpy(),
                "respondent_set_hash": _as_text(cells["respondent_set_hash"]).to_numpy()}))
            _insert_frame(con, "release_respondents", pd.DataFrame(
                {"release_id": release_id, "respondent": people.drop_duplicates().to_numpy()}))
        return release_id

    def releases(self, wave: str) -> list[ReleaseRecord]:
        """Every recorded release of ``wave``, oldest first."""
        wave = _check_wave(wave)
        with self._connect(write=False) as con:
            heads = con.execute("SELECT release_id, created, thresholds FROM releases "
                                "WHERE wave = ? ORDER BY release_id", [wave]).fetchall()
            cells = con.execute("SELECT c.* FROM release_cells c JOIN releases r USING "
                                "(release_id) WHERE r.wave = ? ORDER BY release_id, cell_id",
                                [wave]).df()
            people = con.execute("SELECT p.* FROM release_respondents p JOIN releases r USING "
                                 "(release_id) WHERE r.wave = ?", [wave]).df()
        out = []
        for release_id, created, thresholds in heads:
            mine = cells[cells["release_id"] == release_id].drop(columns="release_id")
            mine = mine.reset_index(drop=True).astype({"n": "int64"})
            who = frozenset(people.loc[people["release_id"] == release_id, "respondent"].tolist())
            out.append(ReleaseRecord(release_id=int(release_id), wave=wave, created=created,
                                     thresholds=MappingProxyType(json.loads(thresholds)),
                                     cells=mine, respondents=who))
        return out

    # -- integrity ----------------------------------------------------------------------------
    def content_hash(self) -> str:
        """SHA-256 over every table's name, column types and contents sorted by all columns.

        Two stores with equal hashes hold the same data; tests compare it
        before and after a failing import to prove nothing changed.
        """
        h = hashlib.sha256()
        with self._connect(write=False) as con:
            tables = [r[0] for r in con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' "
                "ORDER BY table_name").fetchall()]
            for t in tables:
                cols = con.execute("SELECT column_name, data_type FROM information_schema.columns "
                                   "WHERE table_schema = 'main' AND table_name = ? "
                                   "ORDER BY ordinal_position", [t]).fetchall()
                h.update(json.dumps([t, cols]).encode())
                frame = con.execute(f'SELECT * FROM "{t}" ORDER BY ALL').df()
                h.update(frame.to_csv(index=False, na_rep="<NA>").encode())
        return h.hexdigest()


# ----------------------------------------------------------------------------- import internals

@contextlib.contextmanager
def _maybe_transaction(con: duckdb.DuckDBPyConnection, *, write: bool) -> Iterator[None]:
    if write:
        with _transaction(con):
            yield
    else:
        yield


def _instrument(instrument: Instrument | str | os.PathLike[str]) -> Instrument:
    if isinstance(instrument, Instrument):
        return instrument
    if isinstance(instrument, str | os.PathLike):
        return load_instrument(instrument)
    raise ConfigError(f"instrument must be an Instrument or a YAML path, got "
                      f"{type(instrument).__name__}")


def _check_quality_kind(kind: Any) -> None:
    if kind not in F.QUALITY_KINDS:
        raise ConfigError(f"quality kind must be one of {', '.join(F.QUALITY_KINDS)}, got {kind!r}")


def _stored_versions(con: duckdb.DuckDBPyConnection, instrument_id: str, wave: str,
                     ids: pd.Series) -> pd.DataFrame:
    """Current stored versions (wide, indexed by response_key) of the given pseudonymised ids."""
    name = f"ids_{uuid.uuid4().hex}"
    con.register(name, pd.DataFrame({"response_id": ids.to_numpy(dtype=object)}))
    try:
        where = (f"r.current AND r.instrument_id = ? AND r.wave = ? AND r.response_id IN "
                 f"(SELECT response_id FROM {name})")
        return _read_wide(con, where, [instrument_id, wave], extra=("version",))
    finally:
        con.unregister(name)


def _read_wide(con: duckdb.DuckDBPyConnection, where: str, params: list[Any],
               extra: tuple[str, ...] = ()) -> pd.DataFrame:
    sel = ", ".join(f"r.{c}" for c in ("response_key", *F.META_COLUMNS, *extra))
    meta = con.execute(f"SELECT {sel} FROM responses r WHERE {where} ORDER BY r.response_key",
                       params).df()
    answers = con.execute(f"SELECT a.response_key, a.item_id, a.value FROM answers a JOIN "
                          f"responses r USING (response_key) WHERE {where}", params).df()
    texts = con.execute(f"SELECT t.response_key, t.column_id, t.value FROM texts t JOIN "
                        f"responses r USING (response_key) WHERE {where}", params).df()
    columns = con.execute(
        f"SELECT column_id, any_value(role) AS role FROM response_columns WHERE import_id IN "
        f"(SELECT DISTINCT r.import_id FROM responses r WHERE {where}) "
        f"GROUP BY column_id ORDER BY min(position), column_id", params).df()
    wide = _assemble_wide(meta, answers, texts, columns)
    for c in extra:
        wide[c] = meta[c].to_numpy()
    return wide


@dataclass(frozen=True)
class _Plan:
    new: pd.Series        # bool per prepared row: id not stored
    same: pd.Series       # stored, identical content -> duplicate
    conflict: pd.Series   # stored, different content
    old_keys: np.ndarray  # stored response_key per prepared row (-1 when new)
    old_version: np.ndarray


def _plan(prepared: _Prepared, stored: pd.DataFrame, con: duckdb.DuckDBPyConnection) -> _Plan:
    """Classify each incoming row against the stored current version of its response id."""
    meta = prepared.meta
    by_id = pd.Series(stored.index.to_numpy(), index=stored[F.RESPONSE_ID].to_numpy())
    old_keys = meta[F.RESPONSE_ID].map(by_id).fillna(-1).astype("int64").to_numpy()
    exists = pd.Series(old_keys >= 0, index=meta.index)
    versions = pd.Series(stored["version"].to_numpy(), index=stored.index)
    old_version = np.where(old_keys >= 0, versions.reindex(old_keys).fillna(0).to_numpy(), 0)
    conflict = pd.Series(False, index=meta.index)
    if exists.any():
        incoming = _assemble_wide(meta, prepared.answers, prepared.texts, prepared.columns)
        incoming = incoming.set_index(F.RESPONSE_ID)
        previous = stored.drop(columns="version").set_index(F.RESPONSE_ID)
        hit = exists.to_numpy()
        differs = _changed(incoming[hit], previous)
        conflict[hit] = differs.to_numpy()
    return _Plan(new=~exists, same=exists & ~conflict, conflict=conflict, old_keys=old_keys,
                 old_version=old_version.astype("int64"))


def _keyed(prepared: _Prepared, write: pd.Series, plan: _Plan, con: duckdb.DuckDBPyConnection,
           import_id: int, instrument: Instrument) -> tuple[pd.DataFrame, ...]:
    """Give the rows to write their final response keys and version numbers."""
    base = _next_id(con, "responses", "response_key")
    rows = prepared.meta.loc[write.to_numpy()]
    keys = pd.Series(np.arange(base, base + len(rows), dtype="int64"), index=rows["response_key"])
    meta = rows.assign(
        response_key=keys.to_numpy(), import_id=import_id, instrument_id=instrument.id,
        instrument_version=instrument.version,
        version=plan.old_version[write.to_numpy()] + 1, current=True, superseded_by=None)
    meta["superseded_by"] = meta["superseded_by"].astype("Int32")

    def remap(long: pd.DataFrame) -> pd.DataFrame:
        kept = long[long["response_key"].isin(keys.index)]
        return kept.assign(response_key=kept["response_key"].map(keys).astype("int64"))

    return meta, remap(prepared.answers), remap(prepared.texts)


def _rejection_rows(parsed: F.ParsedResponses, import_id: int, accept_valid: bool) -> pd.DataFrame:
    rej = parsed.rejected
    if not accept_valid:
        rej = rej[rej["kind"] != "invalid"]
    dup = parsed.duplicates
    out = pd.concat([
        pd.DataFrame({F.SOURCE_ROW: rej[F.SOURCE_ROW].astype("int64").to_numpy(),
                      "column_id": _as_text(rej["column"]).to_numpy(),
                      "kind": rej["kind"].astype(str).to_numpy(),
                      "reason": rej["reason"].astype(str).to_numpy()}),
        pd.DataFrame({F.SOURCE_ROW: dup[F.SOURCE_ROW].astype("int64").to_numpy(),
                      "column_id": F.RESPONSE_ID, "kind": "duplicate",
                      "reason": ("repeats the response id of row "
                                 + dup["duplicate_of"].astype("int64").astype(str)).to_numpy()}),
    ], ignore_index=True)
    return out.assign(import_id=import_id)


def _prepare_table(frame: pd.DataFrame, spec: _TableSpec, *, wave: str | None,
                   quality_kind: str | None) -> tuple[pd.DataFrame, tuple[str, ...], list[Problem]]:
    """Canonical columns with store types; every problem located by record and column."""
    problems: list[Problem] = []
    if not isinstance(frame, pd.DataFrame):
        return pd.DataFrame(), (), [Problem("", f"expected a DataFrame, got {type(frame).__name__}")]
    df = frame.reset_index(drop=True)
    names = [c for c, _ in spec.columns]
    dropped = tuple(str(c) for c in df.columns if c not in names)
    fixed = {F.WAVE: wave, "kind": quality_kind}
    out = pd.DataFrame(index=df.index)
    record = pd.Series(np.arange(1, len(df) + 1), index=df.index)
    for name, sql in spec.columns:
        if name in fixed and fixed[name] is not None:
            if name in df.columns:
                other = df[name].notna() & (df[name].astype(object) != fixed[name])
                if other.any():
                    problems.append(Problem(f"column {name}", f"records "
                                            f"{_row_list(record[other].tolist())} differ from "
                                            f"the {name} being imported ({fixed[name]})"))
            out[name] = fixed[name]
            continue
        if name not in df.columns:
            if name in spec.required:
                problems.append(Problem(f"column {name}", "required column is missing"))
            out[name] = None
            continue
        col = df[name]
        if sql == "VARCHAR":
            out[name] = _as_text(col)
        elif sql == "TIMESTAMP":
            out[name], bad = _as_timestamp(col)
            if bad.any():
                problems.append(Problem(f"column {name}", f"records "
                                        f"{_row_list(record[bad].tolist())} are not dates"))
        else:
            num = pd.to_numeric(col, errors="coerce").astype("float64")
            bad = col.notna() & (num.isna() | ((num % 1 != 0) if sql == "INTEGER" else False))
            if bad.any():
                kind = "integers" if sql == "INTEGER" else "numbers"
                problems.append(Problem(f"column {name}", f"records "
                                        f"{_row_list(record[bad].tolist())} are not {kind}"))
            out[name] = num.round().astype("Int64") if sql == "INTEGER" else num
        if name in spec.required:
            gone = out[name].isna()
            if gone.any():
                problems.append(Problem(f"column {name}", f"records "
                                        f"{_row_list(record[gone].tolist())} are empty"))
    if problems:
        return out, dropped, problems
    dup = out.duplicated(list(spec.key), keep=False)
    if dup.any():
        problems.append(Problem(f"column(s) {', '.join(spec.key)}",
                                f"records {_row_list(record[dup].tolist())} repeat a key"))
    if spec.kind == "org":
        orphan = out[F.PARENT].notna() & ~out[F.PARENT].isin(out[F.UNIT])
        if orphan.any():
            problems.append(Problem(f"column {F.PARENT}", f"records "
                                    f"{_row_list(record[orphan].tolist())} name a parent unit "
                                    "that is not in the file"))
    if spec.kind == "quality":
        for name, allowed in (("severity", F.SEVERITIES), ("detected", ("internal", "customer"))):
            bad = out[name].notna() & ~out[name].isin(allowed)
            if bad.any():
                problems.append(Problem(f"column {name}", f"records "
                                        f"{_row_list(record[bad].tolist())} are not one of "
                                        f"{', '.join(allowed)}"))
    if spec.kind == "exposure":
        bad = ~out["quarter"].astype(str).str.match(F.WAVE_RE.pattern)
        if bad.any():
            problems.append(Problem("column quarter", f"records "
                                    f"{_row_list(record[bad].tolist())} are not of the form "
                                    "YYYYQn"))
    return out, dropped, problems
