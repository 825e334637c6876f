"""Workspace files are private to their owner, and a killed import leaves no raw copy behind.

Real files in ``tmp_path`` under the common umask 022 (set by an autouse fixture and
restored after): the workspace folder and every folder the store makes are 0700, its
files 0600, archived exports 0400; a workspace others can read is refused before
anything in it is read; stale ``.incoming-*`` copies of dead processes are removed by
the next command while those of live processes are kept. Inputs come from the helpers
of ``test_store`` (a tiny instrument and a parsed export written as a real file).
"""

from __future__ import annotations

import os
import pickle
import shlex
import signal
import stat
import subprocess
import sys
import textwrap
import threading
import uuid
from pathlib import Path

import pytest

from culture.cli import main
from culture.errors import EXIT_BAD_INPUT, WorkspaceError, WorkspaceLockedError
from culture.measure.instrument import parse_instrument
from culture.store import Workspace, archive, permissions
from culture.store import schema as store_mod
from culture.store.pseudonym import KEY_ENV
from test_store import INSTRUMENT_DOC, WAVE, parsed, responses_frame

pytestmark = pytest.mark.skipif(os.name == "nt", reason="POSIX permission bits")


@pytest.fixture(autouse=True)
def _umask_022_and_clean_env(monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    monkeypatch.delenv(store_mod.WORKSPACE_ENV, raising=False)
    old = os.umask(0o022)  # what most machines use: new files 0644, folders 0755
    try:
        yield
    finally:
        os.umask(old)


@pytest.fixture
def mini():
    return parse_instrument(INSTRUMENT_DOC)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def current_umask() -> int:
    value = os.umask(0)
    os.umask(value)
    return value


def incoming(ws: Workspace) -> list[str]:
    return sorted(p.name for p in ws.archive_dir.glob(".incoming-*"))


def stale_copy(ws: Workspace, pid: int | None) -> Path:
    """A leftover temporary copy as archive_file names it (``pid`` None: the old name)."""
    tag = f"{pid}-" if pid is not None else ""
    path = ws.archive_dir / f".incoming-{tag}{uuid.uuid4().hex}.csv"
    path.write_text("response_id,respondent\nR_1,E1001\n")
    path.chmod(0o600)
    return path


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()  # reaped: the pid names no process now
    return child.pid


# --------------------------------------------------------------------------- modes

def test_init_makes_everything_private_whatever_the_umask(tmp_path):
    ws = Workspace.init(tmp_path / "ws")
    root = ws.root
    for folder in (root, root / "archive", root / "releases", root / "bundles", root / "secrets"):
        assert mode(folder) == 0o700, folder
    for file in (ws.db_path, root / "settings.json", root / "secrets" / "pseudonym.key"):
        assert mode(file) == 0o600, file
    assert not [p for p in root.rglob("*") if mode(p) & 0o077]
    assert current_umask() == 0o022  # restored


def test_an_import_keeps_every_file_private(tmp_path, mini):
    ws = Workspace.init(tmp_path / "ws")
    ws.ingest_parsed(parsed(tmp_path, responses_frame(range(1, 9))), mini, wave=WAVE)
    org = tmp_path / "org.csv"
    org.write_text("unit_id,parent_id,name\nORG,,Company\nU-A,ORG,A\nU-B,ORG,B\n")
    ws.ingest_org(org, wave=WAVE)
    archived = [p for p in ws.archive_dir.iterdir()]
    assert len(archived) == 2 and all(mode(p) == 0o400 for p in archived)
    assert incoming(ws) == []
    assert mode(ws.db_path) == 0o600 and mode(ws.archive_dir) == 0o700
    assert not [p for p in ws.root.rglob("*") if mode(p) & 0o077]
    assert current_umask() == 0o022
    Workspace.open(ws.root)  # and the workspace still opens


def test_the_write_ahead_log_duckdb_creates_is_private(tmp_path):
    ws = Workspace.init(tmp_path / "ws")
    wal = ws.db_path.with_name(ws.db_path.name + ".wal")
    with ws._connect(write=True) as con:
        con.execute("CREATE TABLE scratch (a INTEGER)")
        con.execute("INSERT INTO scratch VALUES (1)")
        assert wal.exists() and mode(wal) == 0o600  # made by DuckDB itself, mid-connection
        assert current_umask() == 0o077
    assert current_umask() == 0o022
    with pytest.raises(RuntimeError), ws._connect(write=True):
        raise RuntimeError("a failing write")
    assert current_umask() == 0o022  # restored on errors too


def test_private_umask_nests_and_counts_threads():
    barrier = threading.Barrier(2)
    seen = []

    def writer():
        with permissions.private_umask():
            barrier.wait()  # both blocks open at once
            seen.append(current_umask())
            barrier.wait()

    threads = [threading.Thread(target=writer) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen == [0o077, 0o077] and current_umask() == 0o022
    with permissions.private_umask(), permissions.private_umask():
        assert current_umask() == 0o077
    assert current_umask() == 0o022


def test_init_takes_over_an_empty_folder_but_refuses_a_shared_one(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir(mode=0o755)
    assert mode(Workspace.init(empty).root) == 0o700
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    (shared / "notes.txt").write_text("someone else's file")
    with pytest.raises(WorkspaceError) as info:
        Workspace.init(shared)
    assert str(shared) in str(info.value) and "0755" in str(info.value)
    assert f"chmod -R go-rwx {shlex.quote(str(shared))}" in str(info.value)
    assert sorted(p.name for p in shared.iterdir()) == ["notes.txt"]  # no key, nothing written
    restored = tmp_path / "restored"  # a key put back into secrets/ before init
    first = Workspace.init(tmp_path / "first")
    (restored / "secrets").mkdir(parents=True)
    (restored / "secrets" / "pseudonym.key").write_bytes(
        (first.root / "secrets" / "pseudonym.key").read_bytes())
    (restored / "secrets" / "pseudonym.key").chmod(0o600)
    restored.chmod(0o755)
    again = Workspace.init(restored)
    assert mode(again.root) == 0o700
    assert again.pseudonymizer.fingerprint == first.pseudonymizer.fingerprint


# --------------------------------------------------------------------------- refusing

@pytest.mark.parametrize(("where", "bad"), [
    ("", 0o755), ("", 0o750), ("", 0o701), ("", 0o770),
    ("culture.duckdb", 0o644), ("culture.duckdb", 0o640), ("culture.duckdb", 0o602),
    ("archive", 0o755),
])
def test_open_refuses_a_workspace_others_can_reach(tmp_path, where, bad):
    ws = Workspace.init(tmp_path / "ws")
    target = ws.root / where if where else ws.root
    target.chmod(bad)
    (ws.root / "settings.json").write_text("{not json")  # proves nothing is read first
    with pytest.raises(WorkspaceError) as info:
        Workspace.open(ws.root)
    message = str(info.value)
    assert message.startswith(f"{target}: permissions {bad:04o}")
    assert f"chmod -R go-rwx {ws.root}" in message
    assert "settings" not in message


def test_a_workspace_of_an_older_version_gets_the_message_and_the_fix_works(tmp_path, mini):
    ws = Workspace.init(tmp_path / "ws")
    ws.ingest_parsed(parsed(tmp_path, responses_frame(range(1, 5))), mini, wave=WAVE)
    before = ws.content_hash()
    (archived,) = ws.archive_dir.iterdir()
    for path, old in ((ws.root, 0o755), (ws.archive_dir, 0o755), (ws.db_path, 0o644),
                      (archived, 0o444), (ws.root / "settings.json", 0o644)):
        path.chmod(old)  # what culture 0.1 left under umask 022
    with pytest.raises(WorkspaceError) as info:
        Workspace.open(ws.root)
    message = str(info.value)
    assert message.startswith(f"{ws.root}: permissions 0755")
    for path, old in ((ws.db_path, "0644"), (ws.archive_dir, "0755"), (archived, "0444")):
        assert f"{path} {old}" in message
    code = main(["--workspace", str(ws.root), "status"])  # every command: a clear error
    assert code == EXIT_BAD_INPUT
    subprocess.run(["chmod", "-R", "go-rwx", str(ws.root)], check=True)  # the fix, as printed
    assert Workspace.open(ws.root).content_hash() == before
    assert mode(archived) == 0o400


def test_cli_names_the_path_and_the_fix(tmp_path, capsys):
    ws = Workspace.init(tmp_path / "ws")
    ws.db_path.chmod(0o644)
    assert main(["--workspace", str(ws.root), "status"]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert err.startswith("culture status: ") and "internal error" not in err
    assert f"{ws.db_path}: permissions 0644" in err and f"chmod -R go-rwx {ws.root}" in err


# --------------------------------------------------------------------------- stale copies

def test_stale_copies_of_dead_processes_go_and_live_ones_stay(tmp_path, mini):
    ws = Workspace.init(tmp_path / "ws")
    dead, old_name = stale_copy(ws, dead_pid()), stale_copy(ws, None)
    ours = stale_copy(ws, os.getpid())  # e.g. another thread of this process importing now
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        live = stale_copy(ws, sleeper.pid)
        Workspace.open(ws.root)
        assert not dead.exists() and not old_name.exists()
        assert ours.exists() and live.exists()
        late = stale_copy(ws, dead_pid())  # left after this open: the next import removes it
        ws.ingest_parsed(parsed(tmp_path, responses_frame(range(1, 4))), mini, wave=WAVE)
        assert not late.exists() and ours.exists() and live.exists()
    finally:
        sleeper.kill()
        sleeper.wait()
    Workspace.open(ws.root)  # its process is gone now
    assert incoming(ws) == [ours.name]


def test_failure_inside_archive_file_leaves_no_copy(tmp_path, mini, monkeypatch):
    ws = Workspace.init(tmp_path / "ws")
    seen = []

    def failing(path, mode=permissions.PRIVATE_FILE):
        seen.append((path.name, stat.S_IMODE(path.stat().st_mode)))  # the copy is complete
        raise OSError("disk full while archiving")

    real = archive.private_file
    monkeypatch.setattr(archive, "private_file", failing)
    p = parsed(tmp_path, responses_frame(range(1, 4)))
    with pytest.raises(OSError, match="disk full"):
        ws.ingest_parsed(p, mini, wave=WAVE)
    assert len(seen) == 1 and seen[0][0].startswith(f".incoming-{os.getpid()}-")
    assert seen[0][1] == 0o600  # private while it was being written
    assert incoming(ws) == [] and ws.imports().empty
    monkeypatch.setattr(archive, "private_file", real)
    ws.ingest_parsed(p, mini, wave=WAVE)
    assert [mode(q) for q in ws.archive_dir.iterdir()] == [0o400]


_KILLED_IMPORT = textwrap.dedent("""
    import os, pickle, sys
    from culture.store import Workspace

    real_fsync = os.fsync

    def stall(fd):  # the copy is written; block before it is checked and renamed
        real_fsync(fd)
        print("copying", flush=True)
        sys.stdin.read()

    os.fsync = stall
    root, blob = sys.argv[1], sys.argv[2]
    with open(blob, "rb") as fh:
        p, instrument, wave = pickle.load(fh)
    Workspace.open(root).ingest_parsed(p, instrument, wave=wave)
""")


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_a_killed_import_leaves_no_copy_after_the_next_command(tmp_path, mini):
    ws = Workspace.init(tmp_path / "ws")
    p = parsed(tmp_path, responses_frame(range(1, 6)))
    blob = tmp_path / "job.pickle"
    blob.write_bytes(pickle.dumps((p, mini, WAVE)))
    env = {k: v for k, v in os.environ.items() if k not in (KEY_ENV, store_mod.WORKSPACE_ENV)}
    child = subprocess.Popen([sys.executable, "-c", _KILLED_IMPORT, str(ws.root), str(blob)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = child.stdout.readline()
        assert line.strip() == "copying", child.stderr.read() if not line else line
        (copy,) = ws.archive_dir.glob(".incoming-*")
        assert copy.name.startswith(f".incoming-{child.pid}-") and mode(copy) == 0o600
        with pytest.raises(WorkspaceLockedError):  # it holds the lock: we cannot touch it
            Workspace.open(ws.root)
        assert copy.exists()
    finally:
        child.send_signal(signal.SIGKILL)  # no finally block of the child runs
        child.wait(timeout=30)
        child.stdin.close()
        child.stdout.close()
        child.stderr.close()
    assert child.returncode == -signal.SIGKILL
    assert copy.exists()  # the raw export a kill leaves behind ...
    again = Workspace.open(ws.root)  # ... is gone after the next command
    assert incoming(again) == [] and again.imports().empty
    report = again.ingest_parsed(p, mini, wave=WAVE)
    assert report.new == 5 and [mode(q) for q in again.archive_dir.iterdir()] == [0o400]
