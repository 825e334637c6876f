"""The raw-file archive: every imported file kept byte for byte under its SHA-256.

Archived files are 0400 (read-only, owner only) in a 0700 folder: a raw export holds
employee ids and comments in clear (see :mod:`culture.store.permissions`).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import uuid
from pathlib import Path

from culture.errors import Problem, ValidationError, WorkspaceError
from culture.files import sha256_file
from culture.store.permissions import ARCHIVED_FILE, PRIVATE_FILE, private_dir, private_file

_SUFFIX_RE = re.compile(r"^\.[A-Za-z0-9]{1,10}$")
INCOMING_PREFIX = ".incoming-"
# .incoming-<pid>-<uuid hex><suffix>; versions before the pid was added wrote .incoming-<hex>
_INCOMING_RE = re.compile(r"^\.incoming-(?:(\d+)-)?[0-9a-f]{32}(?:\.[A-Za-z0-9]{1,10})?$")


def archive_suffix(path: Path) -> str:
    suffix = path.suffix.lower()
    return suffix if _SUFFIX_RE.match(suffix) else ""


def incoming_name(suffix: str = "") -> str:
    """The temporary name of a copy being written by this process (see :func:`remove_stale_incoming`)."""
    return f"{INCOMING_PREFIX}{os.getpid()}-{uuid.uuid4().hex}{suffix}"


def remove_stale_incoming(archive_dir: Path) -> list[Path]:
    """Remove temporary copies left in ``archive_dir`` by an import that was killed.

    A killed import (SIGKILL, power cut) never runs its cleanup, and its
    ``.incoming-*`` file is a full raw export. Call this only while holding a
    connection to the workspace database; it returns what it removed.

    Why this is safe against an import running right now: :func:`archive_file` is
    only ever called inside an import's read-write transaction, so a temporary copy
    exists only while its writer holds DuckDB's exclusive file lock, and *any*
    connection we hold (read-only ones take a shared lock) keeps every other process
    out of that section. The lock alone does not cover the same process, though:
    DuckDB lets several connections of one process write at once (threads), so the
    writing process id is part of the name too, and a copy is removed only when its
    process is gone (``os.kill(pid, 0)`` -> ProcessLookupError) or the name has no
    pid (written by an older version, which also wrote only under the lock). A copy
    of a live process is kept: ours (another thread's), or a pid the lock says is
    stale but that has since been reused; a later command removes it. The pid test
    alone would not do either: a pid seen from another container or host sharing the
    folder can look dead while its writer is alive; together they are safe.
    """
    removed = []
    try:
        entries = list(os.scandir(archive_dir))
    except (FileNotFoundError, NotADirectoryError):
        return removed
    for entry in entries:
        m = _INCOMING_RE.match(entry.name)
        if m is None or (m.group(1) is not None and _process_alive(int(m.group(1)))):
            continue
        with contextlib.suppress(OSError):  # best effort: gone already, or a read-only mount
            os.unlink(entry.path)
            removed.append(Path(entry.path))
    return removed


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    if pid <= 0:  # never a writer's pid; os.kill(0, ...) would address our process group
        return False
    if os.name == "nt":  # os.kill(pid, 0) sends CTRL_C_EVENT there; keep the file
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: alive, another user's
        return True
    return True


def archive_file(src: Path, archive_dir: Path, sha256: str, suffix: str) -> Path:
    """Copy ``src`` to ``archive/<sha256><suffix>`` (0400) via a temporary name.

    The copy is hashed as it is written; if it differs from ``sha256`` (the
    file changed while it was being imported) nothing is archived and the
    import fails. ``os.replace`` makes the final name appear atomically.
    Called only inside an import's write transaction (see
    :func:`remove_stale_incoming`, which runs first).
    """
    dest = archive_dir / f"{sha256}{suffix}"
    if dest.exists():  # same bytes archived earlier (another kind, or a failed commit)
        if sha256_file(dest) != sha256:
            raise WorkspaceError(f"{dest}: archived file does not match its SHA-256; "
                                 "the archive is damaged")
        return dest
    private_dir(archive_dir)
    remove_stale_incoming(archive_dir)
    tmp = archive_dir / incoming_name(suffix)
    h = hashlib.sha256()
    try:
        with src.open("rb") as fin:
            # created 0600 in one call: never readable by others, whatever the umask
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0),
                         PRIVATE_FILE)
            with os.fdopen(fd, "wb") as fout:
                for block in iter(lambda: fin.read(1 << 20), b""):
                    h.update(block)
                    fout.write(block)
                fout.flush()
                os.fsync(fout.fileno())
        if h.hexdigest() != sha256:
            raise WorkspaceError(f"{src}: the file changed while it was being imported; "
                                 "import it again once it is complete")
        private_file(tmp, ARCHIVED_FILE)
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


def input_sha256(path: Path) -> str:
    """SHA-256 of a file a user asked to import; a missing path is a clear input error."""
    try:
        return sha256_file(path)
    except FileNotFoundError:
        raise ValidationError([Problem(str(path), "file not found")], source=str(path)) from None
    except IsADirectoryError:
        raise ValidationError([Problem(str(path), "is a directory, not a file")],
                              source=str(path)) from None
