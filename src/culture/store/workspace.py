"""The workspace: a DuckDB database, a read-only archive of raw files, settings.

Layout of a workspace directory (default ``./data``, or ``CULTURE_WORKSPACE``)::

    culture.duckdb            the database (see :mod:`culture.store.schema`)
    settings.json             format version, where the pseudonymisation key lives
    archive/<sha256><suffix>  every imported file, byte for byte, chmod 0400
    secrets/pseudonym.key     the HMAC key (0600); never inside the database

Guarantees
----------
* Respondent and response ids are stored only as keyed pseudonyms
  (:mod:`culture.store.pseudonym`); the database holds the key's fingerprint and a
  missing or different key is a :class:`~culture.errors.PseudonymKeyError`.
* One import is one explicit transaction (``BEGIN`` ... ``COMMIT``) that also
  writes its ledger row: the whole file lands or nothing does. The raw file is
  copied to a temporary name, checked against its SHA-256 and renamed into the
  archive *before* ``COMMIT``, so a ledger row never lacks its file (a file
  without a ledger row, left by a failed commit, is harmless).
* Connections live only for one operation. DuckDB holds an exclusive file
  lock for a read-write connection; a second process gets
  :class:`~culture.errors.WorkspaceLockedError` and changes nothing.

Why this module is long: it is the ``Workspace`` class (about 880 lines) because each
public method is the transaction boundary of one operation; the steps inside them live in
``response_import``, ``register_import``, ``release_ledger``, ``access_store``,
``actions_store`` and ``archive``, and new kinds of workspace data get their own module
the same way.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
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
from culture.files import write_json_atomic
from culture.measure.instrument import Instrument, load_instrument
from culture.store import (
    access_store,
    actions_store,
    archive,
    permissions,
    release_ledger,
    response_import,
)
from culture.store.db import (
    insert_frame,
    is_lock_error,
    maybe_transaction,
    next_id,
    scalar,
    transaction,
)
from culture.store.pseudonym import (
    Pseudonymizer,
    generate_key,
    load_key_env,
    load_key_file,
    parse_key_hex,
    write_key_file,
)
from culture.store.records import ImportReport, ReleaseRecord
from culture.store.register_import import prepare_table
from culture.store.response_import import (
    check_accounting,
    count_rows,
    keyed_rows,
    plan_import,
    prepare_responses,
    read_wide,
    rejection_rows,
    row_list,
    stored_versions,
    text_with_none,
)
from culture.store.schema import (
    ARCHIVE_DIR,
    DB_NAME,
    DEFAULT_KEY_FILE,
    DEFAULT_WORKSPACE,
    MIGRATIONS,
    SCHEMA,
    SCHEMA_VERSION,
    SETTINGS_NAME,
    TABLES,
    WORKSPACE_ENV,
    WORKSPACE_FORMAT,
)

_HEX_KEY_RE = re.compile(r"^[0-9a-fA-F]{32,}$")
_PER_WAVE_KINDS = ("org", "headcount")


# ----------------------------------------------------------------------------- paths & settings

def resolve_workspace_path(path: str | os.PathLike[str] | None = None, *,
                           environ: Mapping[str, str] | None = None) -> Path:
    """The workspace directory: ``path`` if given, else ``$CULTURE_WORKSPACE``, else ``./data``."""
    env = os.environ if environ is None else environ
    chosen = path if path is not None else (env.get(WORKSPACE_ENV) or DEFAULT_WORKSPACE)
    return Path(chosen).expanduser().resolve()


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)  # naive UTC, like every timestamp we store


def _check_wave(wave: Any, *, parameter: str = "wave") -> str:
    if not isinstance(wave, str) or not F.WAVE_RE.match(wave):
        raise ConfigError(f"{parameter} must look like YYYYQn (e.g. 2026Q3), got {wave!r}")
    return wave


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
        An existing key file is never overwritten. Everything is private to its owner
        whatever the umask (folders 0700, files 0600: :mod:`culture.store.permissions`).

        Raises
        ------
        WorkspaceError
            A workspace already exists at ``path`` (or others can read a folder there).
        PseudonymKeyError
            The key file is unreadable, too permissive or malformed.
        """
        root = resolve_workspace_path(path)
        if (root / DB_NAME).exists() or (root / SETTINGS_NAME).exists():
            raise WorkspaceError(f"{root}: a workspace already exists here; refusing to "
                                 "initialise over it (open it instead, or choose another path)")
        if root.exists() and not root.is_dir():
            raise WorkspaceError(f"{root}: exists and is not a directory")
        permissions.check_new_root(root)
        key_path: Path | None
        if key_file is not None:
            key_path = Path(key_file).expanduser().resolve()
            setting: str | None = str(key_path)
        elif (env_key := load_key_env()) is not None:
            key_path, setting = None, None
        else:
            key_path, setting = root / DEFAULT_KEY_FILE, DEFAULT_KEY_FILE
        new_key = key_path is not None and not key_path.exists()
        if key_path is None:
            key = env_key
        else:
            key = generate_key() if new_key else load_key_file(key_path)
        pz = Pseudonymizer(key)
        permissions.private_layout(root)  # 0700 folders first: the default key goes inside
        if new_key:
            write_key_file(key_path, key)
        with permissions.private_umask():  # private from the first byte, DuckDB's files too
            created = _now()
            con = duckdb.connect(str(root / DB_NAME))
            try:
                with transaction(con):
                    con.execute(SCHEMA)
                    con.execute("INSERT INTO schema_version VALUES (?, ?)", [SCHEMA_VERSION, created])
                    con.executemany("INSERT INTO meta VALUES (?, ?)", [
                        ["key_fingerprint", pz.fingerprint], ["created", created.isoformat()],
                        ["format", WORKSPACE_FORMAT]])
            finally:
                con.close()
            settings = {"format": WORKSPACE_FORMAT, "schema_version": SCHEMA_VERSION,
                        "created": created.isoformat(), "key_file": setting}
            write_json_atomic(root / SETTINGS_NAME, settings)  # last: marks the workspace complete
            permissions.private_files(root, DB_NAME, SETTINGS_NAME)  # exact, whatever the umask
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
            No workspace at ``path``, one of another schema version, or one others can read.
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
        permissions.check_private(root)  # modes only: before anything in it is read
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
            version = scalar(con, "SELECT max(version) FROM schema_version")
            stored = scalar(con, "SELECT value FROM meta WHERE key = 'key_fingerprint'")
            archive.remove_stale_incoming(ws.archive_dir)  # safe under this lock: see there
        if version is None or version > SCHEMA_VERSION:
            raise WorkspaceError(f"{root}: workspace schema version {version}; this version of "
                                 f"culture reads versions up to {SCHEMA_VERSION}")
        if stored != ws._pz.fingerprint:
            raise PseudonymKeyError(
                f"{root}: the pseudonymisation key does not match this workspace (fingerprint "
                f"{ws._pz.fingerprint[:12]}..., workspace expects "
                f"{(stored or '?')[:12]}...); pseudonyms made with it would not "
                "link to stored ones. Use the original key (restore secrets/pseudonym.key or set "
                "CULTURE_PSEUDONYM_KEY)")
        if version < SCHEMA_VERSION:
            ws._migrate(version)
        return ws

    def _migrate(self, version: int) -> None:
        """Bring an older workspace's schema up to date, one step per version, in one
        transaction (a second process waits for the lock and then finds it done)."""
        with self._connect(write=True) as con, transaction(con):
            current = scalar(con, "SELECT max(version) FROM schema_version")
            for step in range(current, SCHEMA_VERSION):
                con.execute(MIGRATIONS[step])
                con.execute("INSERT INTO schema_version VALUES (?, ?)", [step + 1, _now()])
        settings = {**self._settings, "schema_version": SCHEMA_VERSION}
        write_json_atomic(self._root / SETTINGS_NAME, settings)
        self._settings = MappingProxyType(settings)

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
        with permissions.private_umask() if write else contextlib.nullcontext():  # for the WAL
            try:
                con = duckdb.connect(str(self.db_path), read_only=not write)
            except duckdb.Error as exc:
                if is_lock_error(exc):
                    raise WorkspaceLockedError(
                        f"workspace is locked by another process ({self.db_path}); wait until "
                        "it has finished and try again. Nothing was changed.") from None
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
                         dry_run: bool = False,
                         progress: Callable[[str], None] = lambda _msg: None) -> ImportReport:
        """Read a survey export with :func:`culture.ingest.read_responses` and import it.

        See :meth:`ingest_parsed` for what happens to the rows. The file is hashed
        before it is parsed and hashed again as it is copied into the archive: if
        the bytes changed in between, the import fails, so the ledger's SHA-256 is
        always that of the bytes that were parsed. Re-importing a file with the same
        SHA-256 is a no-op (checked before parsing). ``progress`` receives a short
        description of each stage.
        """
        wave = _check_wave(wave)
        instrument = _instrument(instrument)
        path = Path(path)
        sha = archive.input_sha256(path)
        no_op = self._no_op(sha, "responses", source=str(path), wave=wave,
                            instrument_id=instrument.id)
        if no_op is not None:
            return no_op
        from culture.ingest import read_responses  # lazy: readers of the store never need it

        progress(f"reading {path.name}")
        parsed = read_responses(path, instrument, fmt=fmt, mapping=mapping, partial=partial)
        progress("checking against the workspace" if dry_run else "storing")
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
        sha = _sha256 or archive.input_sha256(source)
        started = _now()
        check_accounting(parsed)  # refuse a reader that loses rows, before anything else
        rejected = parsed.rejected
        invalid = rejected[rejected["kind"] == "invalid"]
        excluded_rows = count_rows(rejected[rejected["kind"] == "excluded"])
        prepared = prepare_responses(parsed.accepted, instrument, wave, self._pz)
        if prepared.problems:
            raise ValidationError(prepared.problems, source=str(source))
        invalid_problems = [] if accept_valid else [
            Problem(f"row {int(r)}" + (f", column {c}" if isinstance(c, str) and c else ""), str(m))
            for r, c, m in invalid[[F.SOURCE_ROW, "column", "reason"]].itertuples(index=False)]
        report = dict(kind="responses", source=str(source), sha256=sha, format=parsed.format,
                      wave=wave, instrument=f"{instrument.id} {instrument.version}",
                      rows_in=parsed.n_rows, rejected=count_rows(rejected),
                      excluded=excluded_rows, dropped_columns=tuple(parsed.dropped_columns),
                      id_columns=tuple(getattr(parsed, "id_columns", ())), dry_run=dry_run, set_aside=parsed.rejected, repeats=parsed.duplicates)

        with self._connect(write=not dry_run) as con, maybe_transaction(con, write=not dry_run):
            prior = self._prior(con, sha, "responses")
            if prior is not None:
                return self._no_op_report(prior, str(source), wave=wave,
                                          instrument_id=instrument.id)
            stored = stored_versions(con, instrument.id, wave, prepared.meta[F.RESPONSE_ID])
            plan = plan_import(prepared, stored, con)
            conflict_rows = sorted(prepared.meta.loc[plan.conflict, F.SOURCE_ROW].tolist())
            conflict_problems = [Problem(
                f"rows {row_list(conflict_rows)}",
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
                error = ValidationError(invalid_problems, source=str(source))
                error.add_note(f"Nothing was imported. Fix the export, or import the valid rows "
                               f"and record the {parsed.invalid_rows} invalid one(s) as rejected "
                               "(--accept-valid, or accept_valid=True).")
                raise error
            if conflict_problems:
                raise ImportConflictError(
                    f"{source}: {len(conflict_rows)} response(s) were already imported for wave "
                    f"{wave} with different content: source rows {row_list(conflict_rows)}. "
                    "Nothing was imported. Check the export; re-run with supersede=True "
                    "(--supersede) to keep the stored versions as history and make these current.")
            import_id = next_id(con, "imports", "import_id")
            suffix = archive.archive_suffix(source)
            response_import.write_ledger(con, {
                "import_id": import_id, "kind": "responses", "source": str(source),
                "sha256": sha, "archived_as": f"{ARCHIVE_DIR}/{sha}{suffix}",
                "format": parsed.format, "instrument_id": instrument.id,
                "instrument_version": instrument.version, "wave": wave, "quality_kind": None,
                "started": started, "finished": _now(), "rows_in": report["rows_in"],
                "accepted": report["accepted"], "rejected": report["rejected"],
                "duplicates": dups, "new": report["new"], "superseded": superseded,
                "dropped_columns": json.dumps(list(parsed.dropped_columns))})
            write = plan.new | (plan.conflict if supersede else False)
            meta, answers, texts = keyed_rows(prepared, write, plan, con, import_id, instrument)
            response_import.write_responses(con, meta, plan.old_keys[plan.conflict.to_numpy()] if supersede
                             else np.array([], dtype="int64"), import_id)
            columns = prepared.columns.assign(import_id=import_id)
            response_import.write_values(con, answers, texts, columns)
            response_import.write_rejections(con, rejection_rows(parsed, import_id, accept_valid))
            archive.archive_file(source, self.archive_dir, sha, suffix)
        return ImportReport(import_id=import_id, **report)

    # -- other registers --------------------------------------------------------------------------
    def ingest_org(self, path: str | os.PathLike[str], *, wave: str, mapping: Any = None,
                   dry_run: bool = False) -> ImportReport:
        """Import an org chart (``read_org``; ``mapping``: docs/mapping.md) as ``wave``'s tree."""
        from culture.ingest import read_org

        return self._ingest_path(path, "org", lambda p: read_org(p, wave=wave, mapping=mapping),
                                 wave=wave, dry_run=dry_run)

    def ingest_headcount(self, path: str | os.PathLike[str], *, wave: str, mapping: Any = None,
                         dry_run: bool = False) -> ImportReport:
        """Import the people invited per unit for ``wave`` (``read_headcount``, ``mapping``)."""
        from culture.ingest import read_headcount

        return self._ingest_path(path, "headcount", lambda p: read_headcount(
            p, wave=wave, mapping=mapping), wave=wave, dry_run=dry_run)

    def ingest_quality(self, path: str | os.PathLike[str], *, kind: str, mapping: Any = None,
                       dry_run: bool = False) -> ImportReport:
        """Import a QMS register of one ``kind`` (``culture.io.read_quality``, ``mapping``)."""
        from culture.ingest import read_quality

        _check_quality_kind(kind)
        return self._ingest_path(path, "quality", lambda p: read_quality(p, kind=kind, mapping=mapping),
                                 quality_kind=kind, dry_run=dry_run)

    def ingest_exposure(self, path: str | os.PathLike[str], *, mapping: Any = None,
                        dry_run: bool = False) -> ImportReport:
        """Import exposure per unit and quarter (``culture.io.read_exposure``, ``mapping``)."""
        from culture.ingest import read_exposure

        return self._ingest_path(path, "exposure", lambda p: read_exposure(p, mapping=mapping), dry_run=dry_run)

    def ingest_access(self, path: str | os.PathLike[str], *, wave: str, **options: Any) -> ImportReport:
        """Import who receives which part of the pack (``mapping``, ``dry_run``; access_store)."""
        return access_store.ingest_access(self, path, wave=wave, **options)

    def access_list(self, wave: str) -> pd.DataFrame:
        """The access list in force at ``wave`` (:func:`culture.store.access_store.read_access`)."""
        return access_store.read_access(self, wave)

    def ingest_actions(self, path: str | os.PathLike[str], instrument: Instrument | str,
                       **options: Any) -> ImportReport:
        """Import an actions register (``mapping``, ``dry_run``; actions_store)."""
        return actions_store.ingest_actions(self, path, _instrument(instrument), **options)

    def add_action(self, instrument: Instrument | str, **fields: Any) -> str:
        """Record one open action; returns its id (:func:`actions_store.add_action`)."""
        return actions_store.add_action(self, _instrument(instrument), **fields)

    def close_action(self, action_id: str, *, closed: Any) -> None:
        """Close an open action on a date (a new entry: the history is kept)."""
        actions_store.close_action(self, action_id, closed=closed)

    def actions(self, *, history: bool = False) -> pd.DataFrame:
        """Each action's latest entry (``history=True``: every entry; actions_store)."""
        return actions_store.read_actions(self, history=history)

    def _ingest_path(self, path: str | os.PathLike[str], kind: str, reader: Any, *,
                     wave: str | None = None, quality_kind: str | None = None,
                     dry_run: bool = False) -> ImportReport:
        path = Path(path)
        if wave is not None:
            _check_wave(wave)
        sha = archive.input_sha256(path)
        no_op = self._no_op(sha, kind, source=str(path), wave=wave, quality_kind=quality_kind)
        if no_op is not None:
            return no_op
        frame = reader(path)
        return self.ingest_table(frame, kind=kind, source=path, wave=wave,
                                 quality_kind=quality_kind, fmt=archive.archive_suffix(path).lstrip(".") or "file",
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
        if kind not in TABLES:
            raise ConfigError(f"kind must be one of {', '.join(TABLES)}, got {kind!r}")
        spec = TABLES[kind]
        if kind in ("org", "headcount"):
            wave = _check_wave(wave)
        if kind == "quality":
            _check_quality_kind(quality_kind)
        source = Path(source)
        sha = _sha256 or archive.input_sha256(source)
        started = _now()
        table, dropped, problems = prepare_table(frame, spec, wave=wave, quality_kind=quality_kind)
        if problems:
            raise ValidationError(problems, source=str(source))
        report = dict(kind=kind, source=str(source), sha256=sha, format=fmt, wave=wave,
                      rows_in=len(table), accepted=len(table), new=len(table),
                      dropped_columns=dropped, dry_run=dry_run)
        with self._connect(write=not dry_run) as con, maybe_transaction(con, write=not dry_run):
            prior = self._prior(con, sha, kind, wave)
            if prior is not None:
                return self._no_op_report(prior, str(source), wave=wave, quality_kind=quality_kind)
            if dry_run:
                return ImportReport(import_id=None, **report)
            import_id = next_id(con, "imports", "import_id")
            suffix = archive.archive_suffix(source)
            response_import.write_ledger(con, {
                "import_id": import_id, "kind": kind, "source": str(source), "sha256": sha,
                "archived_as": f"{ARCHIVE_DIR}/{sha}{suffix}", "format": fmt,
                "instrument_id": None, "instrument_version": None, "wave": wave,
                "quality_kind": quality_kind, "started": started, "finished": _now(),
                "rows_in": len(table), "accepted": len(table), "rejected": 0, "duplicates": 0,
                "new": len(table), "superseded": 0, "dropped_columns": json.dumps(list(dropped))})
            insert_frame(con, spec.table, table.assign(import_id=import_id))
            archive.archive_file(source, self.archive_dir, sha, suffix)
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
                "SELECT DISTINCT instrument_id FROM responses WHERE current AND wave = ? ORDER BY 1",
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
            wide = read_wide(con, where, [wave, inst_id])
        return self._complete(wide, instrument)

    def responses_by_key(self, keys: Iterable[int], *,
                         instrument: Instrument | None = None) -> pd.DataFrame:
        """The response versions with these keys, current or not (superseded and withdrawn
        versions are kept): what an earlier release was built from."""
        frame = pd.DataFrame({"response_key": pd.array(list(keys), dtype="int64")})
        with self._connect(write=False) as con:
            con.register("wanted_keys", frame)
            try:
                wide = read_wide(con, "r.response_key IN (SELECT response_key FROM wanted_keys)", [])
            finally:
                con.unregister("wanted_keys")
        return self._complete(wide, instrument)

    @staticmethod
    def _complete(wide: pd.DataFrame, instrument: Instrument | str | None) -> pd.DataFrame:
        """Index (the response version) as column ``response_key``; every instrument column."""
        wide = wide.rename_axis(F.VERSION).reset_index()
        wide = wide[[*wide.columns[1:], F.VERSION]]  # the canonical columns first
        if isinstance(instrument, Instrument):
            extra = [c for c in (*(d.id for d in instrument.demographics), *instrument.item_ids,
                                 *(c.id for c in instrument.comments)) if c not in wide.columns]
            for c in extra:
                wide[c] = np.nan if c in instrument.item_ids else None
        return wide

    @staticmethod
    def _waves(con: duckdb.DuckDBPyConnection) -> list[str]:
        rows = con.execute("SELECT DISTINCT wave FROM responses WHERE current").fetchall()
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
        frame = text_with_none(frame, (F.UNIT, F.PARENT, "name"))
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
        return text_with_none(frame, ("event_id", "kind", F.UNIT, "severity", "detected"))

    def exposure(self) -> pd.DataFrame:
        """Exposure per unit, quarter and kind; the latest import wins."""
        with self._connect(write=False) as con:
            frame = con.execute(
                "SELECT unit_id, quarter, exposure, exposure_kind FROM exposure "
                "QUALIFY row_number() OVER (PARTITION BY unit_id, quarter, exposure_kind "
                "ORDER BY import_id DESC) = 1 ORDER BY quarter, unit_id, exposure_kind").df()
        return text_with_none(frame, (F.UNIT, "quarter", "exposure_kind"))

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

    def rejection_summary(self) -> pd.DataFrame:
        """Rows set aside per import, grouped: ``import_id, kind, column_id, reason, rows,
        first_row`` (duplicates included; positions only)."""
        with self._connect(write=False) as con:
            return con.execute(
                "SELECT import_id, kind, coalesce(column_id, '') AS column_id, reason, "
                "count(DISTINCT source_row) AS rows, min(source_row) AS first_row "
                "FROM rejections GROUP BY ALL ORDER BY ALL").df()

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
                return int(scalar(con, sql))

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
    def record_release(self, wave: str, *, release_dir: str | os.PathLike[str],
                       thresholds: Mapping[str, int], demographic: str | None, instrument: str,
                       inputs_key: str, org: pd.DataFrame, members: pd.DataFrame,
                       audit: Mapping[str, Any]) -> int:
        """Record one published release of ``wave`` (see :mod:`culture.store.release_ledger`):
        the saved release folder is copied into the workspace and its members are recorded
        with the response versions used. One transaction; returns the ``release_id``."""
        wave = _check_wave(wave)
        release_ledger.check_record(wave, thresholds, members, org)
        with self._connect(write=True) as con, transaction(con):
            return release_ledger.record(
                con, self._root, wave=wave, created=_now(), release_dir=Path(release_dir),
                thresholds=thresholds, demographic=demographic, instrument=instrument,
                inputs_key=inputs_key, org=org, members=members, audit=audit)

    def releases(self, wave: str) -> list[ReleaseRecord]:
        """Every recorded release of ``wave``, oldest first."""
        wave = _check_wave(wave)
        with self._connect(write=False) as con:
            return release_ledger.read(con, self._root, wave)

    def withdraw(self, wave: str, *, reason: str) -> int:
        """Retract every current response of ``wave`` (a recorded step; nothing is deleted).

        The wave can then be imported and released afresh. Earlier releases stay in the
        ledger and every later release of the wave is still checked against them: what
        was published cannot be unpublished. Returns the number of responses withdrawn.
        """
        wave = _check_wave(wave)
        if not str(reason).strip():
            raise ConfigError("withdraw needs a reason (it is recorded in the ledger)")
        with self._connect(write=True) as con, transaction(con):
            count = int(scalar(con, "SELECT count(*) FROM responses WHERE current AND wave = ?",
                               [wave]))
            if not count:
                raise ConfigError(f"wave {wave} has no current responses to withdraw")
            withdrawal = next_id(con, "withdrawals", "withdrawal_id")
            con.execute("INSERT INTO withdrawals VALUES (?, ?, ?, ?, ?)",
                        [withdrawal, wave, _now(), str(reason).strip(), count])
            con.execute("UPDATE responses SET current = false, withdrawn_by = ? "
                        "WHERE current AND wave = ?", [withdrawal, wave])
        return count

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
