"""The raw-file archive: every imported file kept byte for byte under its SHA-256."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import uuid
from pathlib import Path

from culture.errors import WorkspaceError
from culture.files import sha256_file

_SUFFIX_RE = re.compile(r"^\.[A-Za-z0-9]{1,10}$")


def archive_suffix(path: Path) -> str:
    suffix = path.suffix.lower()
    return suffix if _SUFFIX_RE.match(suffix) else ""



def archive_file(src: Path, archive_dir: Path, sha256: str, suffix: str) -> Path:
    """Copy ``src`` to ``archive/<sha256><suffix>`` (0444) via a temporary name.

    The copy is hashed as it is written; if it differs from ``sha256`` (the
    file changed while it was being imported) nothing is archived and the
    import fails. ``os.replace`` makes the final name appear atomically.
    """
    dest = archive_dir / f"{sha256}{suffix}"
    if dest.exists():  # same bytes archived earlier (another kind, or a failed commit)
        if sha256_file(dest) != sha256:
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
