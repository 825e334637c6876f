"""A second process that holds a workspace's DuckDB file open read-write (an exclusive lock)."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

_HOLDER = textwrap.dedent("""
    import sys, duckdb
    con = duckdb.connect(sys.argv[1])          # read-write: exclusive file lock
    print("holding", flush=True)
    sys.stdin.read()                           # until the test closes our stdin
    con.close()
""")


@contextlib.contextmanager
def another_writer(db_path: str | Path) -> Iterator[subprocess.Popen]:
    """Hold the database locked in another process for the duration of the block."""
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, str(db_path)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "holding"
        yield holder
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    assert holder.returncode == 0
