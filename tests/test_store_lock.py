"""A second process writing at the same time gets WorkspaceLockedError and no damage.

DuckDB takes an exclusive OS file lock for a read-write connection; the store
keeps connections open only for one operation and maps the lock failure.
Both directions are tested with real processes (``subprocess``).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest

from culture.errors import EXIT_LOCKED, WorkspaceLockedError
from culture.frames import ParsedResponses
from culture.measure.instrument import parse_instrument
from culture.store import schema as store_mod
from culture.store.pseudonym import KEY_ENV
from culture.store.workspace import Workspace
from lockholder import another_writer

DOC = {
    "id": "mini", "version": "1", "title": "Mini",
    "scale": {"min": 1, "max": 5, "favourable": [4, 5],
              "labels": {1: "a", 2: "b", 3: "c", 4: "d", 5: "e"}},
    "constructs": [{"id": "lead", "name": "Leadership", "clauses": ["5.1.1 a"]}],
    "items": [{"id": "L1", "construct": "lead", "text": "x"},
              {"id": "L2", "construct": "lead", "text": "y"}],
}


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    monkeypatch.delenv(store_mod.WORKSPACE_ENV, raising=False)


def _parsed(tmp_path, n, name):
    k = np.arange(1, n + 1)
    acc = pd.DataFrame({
        "response_id": [f"R{i}" for i in k], "respondent": [f"E{i}" for i in k], "wave": None,
        "unit_id": "U1", "started_at": pd.NaT, "submitted_at": pd.NaT, "duration_s": np.nan,
        "finished": True, "L1": (k % 5 + 1).astype(float), "L2": 3.0, "source_row": k + 1})
    raw = tmp_path / name
    raw.write_text(acc.to_csv(index=False))
    empty_rej = pd.DataFrame({"source_row": pd.Series(dtype="int64"), "column": [], "kind": [],
                              "reason": []})
    empty_dup = pd.DataFrame({"source_row": pd.Series(dtype="int64"),
                              "duplicate_of": pd.Series(dtype="int64")})
    return ParsedResponses(str(raw), "csv", acc, empty_rej, empty_dup, (), n)


def test_writer_in_another_process_locks_us_out_without_damage(tmp_path):
    inst = parse_instrument(DOC)
    ws = Workspace.init(tmp_path / "ws")
    ws.ingest_parsed(_parsed(tmp_path, 3, "a.csv"), inst, wave="2026Q1")
    before = ws.content_hash()
    files = sorted(p.name for p in ws.archive_dir.iterdir())
    with another_writer(ws.db_path):
        late = _parsed(tmp_path, 6, "b.csv")
        with pytest.raises(WorkspaceLockedError, match="workspace is locked by another process"):
            ws.ingest_parsed(late, inst, wave="2026Q1")
        with pytest.raises(WorkspaceLockedError):
            ws.responses("2026Q1")
        with pytest.raises(WorkspaceLockedError):
            Workspace.open(ws.root)
    assert ws.content_hash() == before
    assert sorted(p.name for p in ws.archive_dir.iterdir()) == files
    report = ws.ingest_parsed(late, inst, wave="2026Q1")  # works once the other writer is gone
    assert report.new == 3 and report.already_stored == 3


def test_other_process_gets_the_locked_exit_code_while_we_write(tmp_path):
    ws = Workspace.init(tmp_path / "ws")
    before = ws.content_hash()
    script = textwrap.dedent("""
        import sys
        from culture.errors import WorkspaceLockedError
        from culture.store.workspace import Workspace
        try:
            Workspace.open(sys.argv[1]).status()
        except WorkspaceLockedError as exc:
            print(exc)
            sys.exit(exc.exit_code)
    """)
    with ws._connect(write=True):  # this process is mid-operation, holding the write lock
        done = subprocess.run([sys.executable, "-c", script, str(ws.root)],
                              capture_output=True, text=True, timeout=60)
    assert done.returncode == EXIT_LOCKED, done.stderr
    assert "workspace is locked by another process" in done.stdout
    assert ws.content_hash() == before
    free = subprocess.run([sys.executable, "-c", script, str(ws.root)],
                          capture_output=True, text=True, timeout=60)
    assert free.returncode == 0, free.stderr
