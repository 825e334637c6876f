"""Workspace files are for their owner only: folders 0700, files 0600, archived files 0400.

A workspace holds pseudonymised responses, free-text comments and (in ``archive/``)
every raw export byte for byte, raw employee ids included. Nothing in it may be
readable, writable or even traversable by the group or by other users, whatever the
umask of the process that wrote it:

* :func:`private_dir` and :func:`private_file` set exact modes (``chmod`` after
  creation: a umask only ever narrows a mode, and an existing folder keeps its own);
* :func:`private_umask` makes everything created meanwhile private from the first
  byte; DuckDB creates ``culture.duckdb.wal`` (and spill files) itself, whenever a
  write needs one, so the store holds this umask for as long as a read-write
  connection is open;
* :func:`check_private` refuses a workspace that others can read (one written by an
  older version, or opened up by hand) before anything in it is read, naming each
  path, its mode and the command that fixes it.

Mode bits mean nothing on Windows (access there is governed by ACLs), so the check
is skipped on it.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import stat
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

from culture.errors import WorkspaceError
from culture.store.schema import ARCHIVE_DIR, DB_NAME, DEFAULT_KEY_FILE, RELEASES_DIR

BUNDLES_DIR = "bundles"  # culture.pipeline writes bundles/<wave>/ (no constant in schema yet)
# the folders Workspace.init makes inside the workspace, 0700 from the start
PRIVATE_DIRS = (ARCHIVE_DIR, RELEASES_DIR, BUNDLES_DIR)
PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
ARCHIVED_FILE = 0o400  # read-only, owner only: an archived export is never changed
OTHERS = 0o077  # any group or other bit (read, write or traverse) is refused
WAL_NAME = f"{DB_NAME}.wal"
_CHECKS_MODES = os.name != "nt"
_SHOWN = 5  # offending paths named in one message; the rest are counted


def private_dir(path: str | os.PathLike[str]) -> Path:
    """Create the folder ``path`` (its parent must exist) or take an existing one: mode 0700."""
    path = Path(path)
    with contextlib.suppress(FileExistsError):
        path.mkdir(mode=PRIVATE_DIR)
    if not path.is_dir():
        raise WorkspaceError(f"{path}: exists and is not a directory")
    if stat.S_IMODE(path.stat().st_mode) != PRIVATE_DIR:
        os.chmod(path, PRIVATE_DIR)
    return path


def private_file(path: str | os.PathLike[str], mode: int = PRIVATE_FILE) -> Path:
    """Set an existing file's mode exactly (default 0600; :data:`ARCHIVED_FILE` for the archive)."""
    path = Path(path)
    os.chmod(path, mode)
    return path


def private_layout(root: Path) -> None:
    """The workspace folder and :data:`PRIVATE_DIRS` in it, created (or made) 0700.

    Folders above ``root`` are created as the user's umask makes them: they are not
    the workspace's. Call :func:`check_new_root` first: an existing folder is made
    0700 only when it holds nothing of anyone else's.
    """
    root.parent.mkdir(parents=True, exist_ok=True)
    private_dir(root)
    for name in PRIVATE_DIRS:
        private_dir(root / name)


def private_files(root: Path, *names: str) -> None:
    """Set the files ``root/<name>`` to 0600 exactly (a umask may have narrowed them)."""
    for name in names:
        private_file(root / name)


def check_new_root(root: Path) -> None:
    """Refuse to create a workspace in a folder others can reach that already holds something
    besides ``secrets/`` (a key restored there before init). An empty folder, or one with
    only ``secrets/``, is taken over and made 0700 by :func:`private_layout`; changing the
    mode of a folder holding other files is the user's decision."""
    if not root.is_dir():
        return
    if set(os.listdir(root)) - {Path(DEFAULT_KEY_FILE).parts[0]}:
        check_private(root, [root])


class _UmaskState:
    lock = threading.Lock()
    depth = 0
    saved = 0


@contextlib.contextmanager
def private_umask() -> Iterator[None]:
    """Files and folders created inside the block get no group/other bits (umask |= 077).

    The umask belongs to the whole process. Nested and concurrent blocks (threads)
    are counted: the first one in sets it, the last one out restores the original,
    so two overlapping blocks can never leave the process stuck with 077 or restore
    022 while the other still writes.
    """
    with _UmaskState.lock:
        if _UmaskState.depth == 0:
            old = os.umask(OTHERS)
            if old | OTHERS != OTHERS:  # keep restrictions of the owner's own bits too
                os.umask(old | OTHERS)
            _UmaskState.saved = old
        _UmaskState.depth += 1
    try:
        yield
    finally:
        with _UmaskState.lock:
            _UmaskState.depth -= 1
            if _UmaskState.depth == 0:
                os.umask(_UmaskState.saved)


def workspace_paths(root: Path) -> list[Path]:
    """What :func:`check_private` looks at: the folder, the database and its WAL, the
    archive folder and every file in it (existing ones only; ``stat``, nothing is read).

    ``releases/`` and ``bundles/`` sit inside the folder, which alone keeps others out;
    they are created 0700 by :meth:`~culture.store.workspace.Workspace.init`.
    """
    paths = [root, root / DB_NAME, root / WAL_NAME, root / ARCHIVE_DIR]
    with contextlib.suppress(FileNotFoundError, NotADirectoryError):
        paths.extend(sorted(Path(e.path) for e in os.scandir(root / ARCHIVE_DIR)))
    return paths


def exposed(paths: Iterable[Path]) -> list[tuple[Path, int]]:
    """``(path, mode)`` of each existing path that gives the group or others any access."""
    out = []
    for path in paths:
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
        except FileNotFoundError:  # optional (the WAL) or gone meanwhile (a temp file)
            continue
        if mode & OTHERS:
            out.append((path, mode))
    return out


def check_private(root: str | os.PathLike[str], paths: Iterable[Path] | None = None) -> None:
    """Refuse a workspace whose files other users of the machine could read or change.

    ``paths`` defaults to :func:`workspace_paths`. Only modes are looked at (no file
    is opened), so this runs before anything in the workspace is read.

    Raises
    ------
    WorkspaceError
        Naming the first offending path and its mode, any others, and the fix
        (``chmod -R go-rwx <workspace>``, which makes every file in it private).
    """
    if not _CHECKS_MODES:
        return
    root = Path(root)
    bad = exposed(workspace_paths(root) if paths is None else paths)
    if not bad:
        return
    (first, mode), rest = bad[0], bad[1:]
    also = ""
    if rest:
        shown = ", ".join(f"{p} {m:04o}" for p, m in rest[:_SHOWN])
        more = f" and {len(rest) - _SHOWN} more" if len(rest) > _SHOWN else ""
        also = f" (also: {shown}{more})"
    raise WorkspaceError(
        f"{first}: permissions {mode:04o} let other users of this machine read or change the "
        f"workspace, which holds raw employee ids and comments; refusing to use it{also}. "
        f"Make it private with: chmod -R go-rwx {shlex.quote(str(root))}")
