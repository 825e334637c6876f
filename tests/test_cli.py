"""The ``culture`` command line: init, ingest (every kind), status, exit codes, no leaks.

Every command runs in-process through ``culture.cli.main`` (capsys captures its
output), on files written by ``culture.demo.write_demo_files`` for a small
synthetic organisation; one test runs ``python -m culture`` in a subprocess for
the real process exit code. Expected counts are never computed by the code
under test: they come from reading the export files independently with pandas
(rows in a file) or from defects planted in a copy of an export (which row,
which column).
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from culture.cli import main
from culture.demo import REGISTER_KINDS, write_demo_files
from culture.errors import (
    EXIT_BAD_INPUT,
    EXIT_CONFLICT,
    EXIT_INTERNAL,
    EXIT_LOCKED,
    EXIT_OK,
    EXIT_USAGE,
)
from culture.measure.instrument import load_default_instrument
from culture.store import schema as store_mod
from culture.store.pseudonym import KEY_ENV
from culture.store.workspace import Workspace
from culture.synth import SynthConfig, make_organisation
from lockholder import another_writer

CANARY = "ZEBRA-CANARY-7731"      # planted in a comment cell; must never be printed
QUALTRICS_HEADER_ROWS = 3         # tags / question text / ImportId (formats §1)
ROWS_IN = re.compile(r"rows in (\d+) = accepted (\d+) .*\+ rejected (\d+) .*\+ duplicates (\d+)")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    # The key and workspace must come from the arguments, never from the caller's shell.
    monkeypatch.delenv(KEY_ENV, raising=False)
    monkeypatch.delenv(store_mod.WORKSPACE_ENV, raising=False)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Exports of a one-site, two-wave organisation: msforms XLSX (wave 1), Qualtrics CSV (wave 2)."""
    org = make_organisation(load_default_instrument(), SynthConfig(seed=5, n_sites=1, n_waves=2))
    return write_demo_files(org, tmp_path_factory.mktemp("exports"))


@pytest.fixture(scope="module")
def bad_export(files, tmp_path_factory):
    """A copy of the Qualtrics export with two out-of-range answers and a canary comment.

    Spreadsheet row r is grid position r - 1 (the three header rows count), so
    the planted cells are row 6 / LC1 (with the canary comment in the same row)
    and row 9 / QC2. The instrument allows 1..5 and 9 (don't know).
    """
    wave = sorted(files.responses)[-1]
    grid = pd.read_csv(files.responses[wave], header=None, dtype=str, keep_default_na=False)
    tags = list(grid.iloc[0])
    grid.iloc[5, tags.index("LC1")] = "6"
    grid.iloc[5, tags.index("COMMENT_IMPROVE")] = CANARY
    grid.iloc[8, tags.index("QC2")] = "17"
    path = tmp_path_factory.mktemp("bad") / "bad-qualtrics.csv"
    grid.to_csv(path, header=False, index=False)
    return wave, path


@pytest.fixture
def ws(tmp_path, capsys):
    """An empty workspace created through the CLI; returns its directory."""
    root = tmp_path / "ws"
    assert main(["--workspace", str(root), "init"]) == EXIT_OK
    capsys.readouterr()
    return root


def run(capsys, root, *argv):
    """Run ``culture --workspace root argv...``; return (exit code, stdout, stderr)."""
    code = main(["--workspace", str(root), *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def accounting(text):
    """(rows in, accepted, rejected, duplicates) from an ImportReport summary."""
    m = ROWS_IN.search(text)
    assert m, text
    return tuple(int(g) for g in m.groups())


def data_rows(path):
    """Data rows of an export read independently of culture.io."""
    if path.suffix == ".xlsx":
        return len(pd.read_excel(path))                       # msforms: one header row
    return len(pd.read_csv(path, header=None, dtype=str)) - QUALTRICS_HEADER_ROWS


# ----------------------------------------------------------------------------- init

def test_init_creates_workspace_and_says_where_the_key_is(tmp_path, capsys):
    root = tmp_path / "ws"
    code, out, err = run(capsys, root, "init")
    assert code == EXIT_OK, err
    key = root / "secrets" / "pseudonym.key"
    assert key.is_file()
    assert f"Pseudonymisation key: {key}" in out
    assert "WARNING: back up this key file" in out
    Workspace.open(root)  # the key found through settings.json matches the database

    code, out, err = run(capsys, root, "init")  # never initialise over an existing workspace
    assert code == EXIT_BAD_INPUT
    assert err.startswith("culture init:") and "already exists" in err

    outside = tmp_path / "vault" / "culture.key"
    code, out, err = run(capsys, tmp_path / "ws2", "init", "--key-file", outside)
    assert code == EXIT_OK, err
    assert outside.is_file() and f"Pseudonymisation key: {outside}" in out


def test_global_options_work_after_the_command(tmp_path, capsys):
    root = tmp_path / "ws"
    assert main(["init", "--workspace", str(root)]) == EXIT_OK
    assert (root / "culture.duckdb").exists()
    assert str(root) in capsys.readouterr().out


# ----------------------------------------------------------------------------- ingest

def test_every_ingest_kind_on_demo_exports(ws, files, capsys):
    outputs = []
    for wave in sorted(files.org):
        for kind, path in (("org", files.org[wave]), ("headcount", files.headcount[wave])):
            code, out, err = run(capsys, ws, "ingest", kind, path, "--wave", wave)
            assert code == EXIT_OK, err
            # org chart / headcount: one record per unit, one header row
            assert accounting(out) == (len(pd.read_csv(path)),) * 2 + (0, 0)
        path = files.responses[wave]
        code, out, err = run(capsys, ws, "ingest", "responses", path, "--wave", wave)
        assert code == EXIT_OK, err
        rows_in, accepted, rejected, dups = accounting(out)
        assert rows_in == data_rows(path) == accepted + rejected + dups
        assert len(Workspace.open(ws).responses(wave)) == accepted
        outputs.append(out)
    # identifying columns the tools export are dropped and named (formats §1, §3)
    assert "identifying columns dropped: Email, Name" in outputs[0]
    assert "IPAddress" in outputs[1] and "RecipientEmail" in outputs[1]
    for kind in REGISTER_KINDS:
        path = files.registers[kind]
        code, out, err = run(capsys, ws, "ingest", "quality", path, "--kind", kind)
        assert code == EXIT_OK, err
        assert accounting(out)[:2] == (len(pd.read_csv(path)),) * 2
    code, out, err = run(capsys, ws, "ingest", "exposure", files.exposure)
    assert code == EXIT_OK, err
    assert accounting(out)[0] == len(pd.read_csv(files.exposure))

    ledger = Workspace.open(ws).imports()
    assert ledger["kind"].value_counts().to_dict() == {
        "org": 2, "headcount": 2, "responses": 2, "quality": 4, "exposure": 1}
    assert sorted(ledger["quality_kind"].dropna()) == sorted(REGISTER_KINDS)
    # raw ids from the export never reach the output (the store keeps pseudonyms only)
    raw_ids = pd.read_excel(files.responses[sorted(files.responses)[0]])["Employee ID"]
    shown = "".join(outputs)
    assert not [i for i in raw_ids.dropna().astype(str) if i in shown]


def test_reimport_of_the_same_file_is_a_no_op(ws, files, capsys):
    wave = sorted(files.responses)[0]
    args = ("ingest", "responses", files.responses[wave], "--wave", wave)
    assert run(capsys, ws, *args)[0] == EXIT_OK
    before = Workspace.open(ws).content_hash()
    code, out, err = run(capsys, ws, *args)
    assert code == EXIT_OK, err
    assert "was already imported as import #1" in out and "nothing changed" in out
    assert Workspace.open(ws).content_hash() == before


def test_bad_export_fails_naming_row_and_column_without_echoing_data(ws, files, bad_export,
                                                                     capsys):
    wave, bad = bad_export
    org = ("ingest", "org", files.org[wave], "--wave", wave)
    assert run(capsys, ws, *org)[0] == EXIT_OK
    before = Workspace.open(ws).content_hash()
    archived = sorted(p.name for p in (ws / "archive").iterdir())

    code, out, err = run(capsys, ws, "ingest", "responses", bad, "--wave", wave)
    assert code == EXIT_BAD_INPUT
    assert err.startswith("culture ingest responses:")
    assert "row 6, column LC1" in err and "row 9, column QC2" in err   # the planted cells
    assert "--accept-valid" in err and "Traceback" not in err
    assert CANARY not in out + err
    assert Workspace.open(ws).content_hash() == before
    assert sorted(p.name for p in (ws / "archive").iterdir()) == archived

    # with --accept-valid the other rows land and the two planted rows are recorded
    code, out, err = run(capsys, ws, "ingest", "responses", bad, "--wave", wave, "--accept-valid")
    assert code == EXIT_OK, err
    rows_in, accepted, rejected, dups = accounting(out)
    assert rows_in == data_rows(bad) and rejected == 2
    assert "invalid, not imported: 2 row(s)" in out
    assert "row 6, column LC1" in out and "row 9, column QC2" in out
    code, status, err = run(capsys, ws, "status")
    assert code == EXIT_OK
    assert CANARY not in out + status + err
    assert "1 row(s) from row 6, column LC1" in status


def test_partial_reject_lists_excluded_rows_and_why(ws, files, capsys):
    wave = sorted(files.responses)[-1]
    path = files.responses[wave]
    grid = pd.read_csv(path, header=None, dtype=str, keep_default_na=False)
    finished = grid.iloc[QUALTRICS_HEADER_ROWS:, list(grid.iloc[0]).index("Finished")]
    partial_rows = [int(i) + 1 for i in finished.index[finished == "0"]]  # Qualtrics Finished=0
    assert partial_rows, "the synthetic export should hold partial responses"
    code, out, err = run(capsys, ws, "ingest", "responses", path, "--wave", wave,
                         "--partial", "reject", "--dry-run")
    assert code == EXIT_OK, err
    assert f"excluded (not real responses): {len(partial_rows)} row(s)" in out
    shown = ("rows " if len(partial_rows) > 1 else "row ") + ", ".join(map(str, partial_rows))
    assert f"{shown}, column Finished: partial response" in out
    assert f"(excluded {len(partial_rows)})" in out


def test_repeated_row_is_listed_as_a_duplicate(ws, files, tmp_path, capsys):
    wave = sorted(files.responses)[-1]
    grid = pd.read_csv(files.responses[wave], header=None, dtype=str, keep_default_na=False)
    grid = pd.concat([grid, grid.iloc[[QUALTRICS_HEADER_ROWS]]], ignore_index=True)
    path = tmp_path / "repeated.csv"   # spreadsheet row 4 (first data row) repeated at the end
    grid.to_csv(path, header=False, index=False)
    code, out, err = run(capsys, ws, "ingest", "responses", path, "--wave", wave, "--dry-run")
    assert code == EXIT_OK, err
    assert accounting(out) == (len(grid) - QUALTRICS_HEADER_ROWS,
                               len(grid) - QUALTRICS_HEADER_ROWS - 1, 0, 1)
    assert f"rows {len(grid)} (of 4): repeat a response id" in out


def test_instrument_format_and_mapping_options(ws, capsys):
    fixtures = Path(__file__).parent / "fixtures" / "exports"
    export = fixtures / "generic_mapped.csv"   # headers Team, Person, Q-trust-lead, ...
    base = ("--instrument", fixtures / "mini-instrument.yaml", "ingest", "responses", export,
            "--wave", "2026Q1", "--format", "csv")
    code, out, err = run(capsys, ws, *base)
    assert code == EXIT_BAD_INPUT and "instrument column(s) not found" in err
    code, out, err = run(capsys, ws, *base, "--mapping", fixtures / "generic_mapping.yaml")
    assert code == EXIT_OK, err
    assert accounting(out) == (2, 2, 0, 0)     # the fixture's two data rows
    got = Workspace.open(ws).responses("2026Q1")
    assert sorted(got["unit_id"]) == ["U01", "U02"]
    # items of the first row: 4, 4, 4, 4; second row: 2, 2, 1, 5 (fixture file)
    assert got.sort_values("unit_id")[["TR1", "TR2", "QC1", "QC2"]].to_numpy().tolist() == [
        [4.0, 4.0, 4.0, 4.0], [2.0, 2.0, 1.0, 5.0]]


def test_changed_content_is_a_conflict_unless_superseded(ws, files, tmp_path, capsys):
    wave = sorted(files.responses)[-1]
    path = files.responses[wave]
    assert run(capsys, ws, "ingest", "responses", path, "--wave", wave)[0] == EXIT_OK
    grid = pd.read_csv(path, header=None, dtype=str, keep_default_na=False)
    col = list(grid.iloc[0]).index("LC1")
    grid.iloc[3, col] = "1" if grid.iloc[3, col] != "1" else "2"  # row 4 answers differently
    changed = tmp_path / "corrected.csv"
    grid.to_csv(changed, header=False, index=False)
    before = Workspace.open(ws).content_hash()
    code, out, err = run(capsys, ws, "ingest", "responses", changed, "--wave", wave)
    assert code == EXIT_CONFLICT
    assert err.startswith("culture ingest responses:") and "source rows 4." in err
    assert Workspace.open(ws).content_hash() == before
    code, out, err = run(capsys, ws, "ingest", "responses", changed, "--wave", wave, "--supersede")
    assert code == EXIT_OK, err
    assert "superseding 1" in out


def test_dry_run_writes_nothing(ws, files, bad_export, capsys):
    wave = sorted(files.responses)[0]
    before = Workspace.open(ws).content_hash()
    for args in (("responses", files.responses[wave], "--wave", wave),
                 ("org", files.org[wave], "--wave", wave),
                 ("quality", files.registers["capa"], "--kind", "capa"),
                 ("exposure", files.exposure)):
        code, out, err = run(capsys, ws, "ingest", *args, "--dry-run")
        assert code == EXIT_OK, err
        assert out.startswith("Dry run of") and "nothing written" in out
    # a dry run of a bad file reports what would stop it and fails like the real run
    bad_wave, bad = bad_export
    code, out, err = run(capsys, ws, "ingest", "responses", bad, "--wave", bad_wave, "--dry-run")
    assert code == EXIT_BAD_INPUT
    assert "2 problem(s) stop this import" in out and "row 6, column LC1" in out
    assert CANARY not in out + err
    assert Workspace.open(ws).content_hash() == before
    assert Workspace.open(ws).imports().empty
    assert not any((ws / "archive").iterdir())


def test_locked_workspace_gives_the_locked_exit_code(ws, files, capsys):
    db = ws / store_mod.DB_NAME
    before = Workspace.open(ws).content_hash()
    with another_writer(db):
        wave = sorted(files.org)[0]
        code, out, err = run(capsys, ws, "ingest", "org", files.org[wave], "--wave", wave)
        assert code == EXIT_LOCKED
        assert err.startswith("culture ingest org: workspace is locked by another process")
        code, out, err = run(capsys, ws, "status")
        assert code == EXIT_LOCKED and err.startswith("culture status:")
    assert Workspace.open(ws).content_hash() == before


# ----------------------------------------------------------------------------- status

def test_status_lists_waves_imports_and_rejections(ws, files, bad_export, capsys):
    first = sorted(files.responses)[0]
    bad_wave, bad = bad_export
    for args in (("org", files.org[first], "--wave", first),
                 ("responses", files.responses[first], "--wave", first),
                 ("responses", bad, "--wave", bad_wave, "--accept-valid")):
        assert run(capsys, ws, "ingest", *args)[0] == EXIT_OK
    code, table, err = run(capsys, ws, "status")
    assert code == EXIT_OK, err
    assert "Imports (3):" in table
    for name in (files.org[first].name, files.responses[first].name, bad.name):
        assert name in table
    assert "msforms" in table and "qualtrics" in table

    code, text, err = run(capsys, ws, "status", "--format", "json")
    assert code == EXIT_OK, err
    data = json.loads(text)
    assert [i["file"] for i in data["imports"]] == [files.org[first].name,
                                                    files.responses[first].name, bad.name]
    assert [i["format"] for i in data["imports"]] == ["csv", "msforms", "qualtrics"]
    opened = Workspace.open(ws)
    assert {w["wave"]: w["responses"] for w in data["waves"]} == {
        w: len(opened.responses(w)) for w in (first, bad_wave)}
    invalid = {(r["column_id"], r["first_row"]) for r in data["rejections"]
               if r["kind"] == "invalid"}
    assert invalid == {("LC1", 6), ("QC2", 9)}          # exactly the planted cells
    assert data["rejected_rows"] >= 2


# ----------------------------------------------------------------------------- errors

@pytest.mark.parametrize("argv, expected", [
    (["ingest", "responses", "x.csv", "--wave", "2026-3"],
     "culture ingest responses: error: argument --wave: wave must look like YYYYQn"),
    (["ingest", "responses", "x.csv", "--wave", "2026Q5"],
     "culture ingest responses: error: argument --wave: wave must look like YYYYQn"),
    (["ingest", "org", "x.csv"],
     "culture ingest org: error: the following arguments are required: --wave"),
    (["ingest", "quality", "x.csv", "--kind", "defect"],
     "culture ingest quality: error: argument --kind: invalid choice"),
    (["status", "--format", "xml"], "culture status: error: argument --format: invalid choice"),
])
def test_usage_errors_exit_2_before_touching_anything(tmp_path, capsys, argv, expected):
    root = tmp_path / "never"
    code, out, err = run(capsys, root, *argv)
    assert code == EXIT_USAGE == 2
    assert expected in err
    assert not root.exists()


def test_missing_workspace_or_file_is_bad_input(ws, tmp_path, capsys):
    code, out, err = run(capsys, tmp_path / "nowhere", "status")
    assert code == EXIT_BAD_INPUT and "culture init" in err
    code, out, err = run(capsys, ws, "ingest", "exposure", tmp_path / "missing.csv")
    assert code == EXIT_BAD_INPUT and err.startswith("culture ingest exposure:")
    assert "file not found" in err


def test_internal_error_is_short_unless_debug(ws, capsys, monkeypatch):
    def broken(self):
        raise RuntimeError(f"cell value {CANARY}")  # a bug whose message quotes data

    monkeypatch.setattr(Workspace, "status", broken)
    code, out, err = run(capsys, ws, "status")
    assert code == EXIT_INTERNAL
    assert err.startswith("culture status: internal error (RuntimeError)")
    assert "Traceback" not in err and CANARY not in err
    code, out, err = run(capsys, ws, "--debug", "status")
    assert code == EXIT_INTERNAL and "Traceback" in err


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_goes_to_stderr_only_on_a_terminal(ws, files, capsys, monkeypatch):
    wave = sorted(files.org)[0]
    code, out, err = run(capsys, ws, "ingest", "org", files.org[wave], "--wave", wave,
                         "--dry-run")
    assert code == EXIT_OK and err == ""  # not a terminal: no progress noise in logs
    term = _Terminal()
    monkeypatch.setattr(sys, "stderr", term)
    code = main(["--workspace", str(ws), "ingest", "org", str(files.org[wave]), "--wave", wave])
    assert code == EXIT_OK
    assert f"org {files.org[wave].name}" in term.getvalue()
    assert "Imported" in capsys.readouterr().out


def test_python_dash_m_culture_returns_the_real_exit_code(ws, bad_export, tmp_path):
    wave, bad = bad_export
    env = {k: v for k, v in os.environ.items()
           if k not in (KEY_ENV, store_mod.WORKSPACE_ENV)}
    done = subprocess.run([sys.executable, "-m", "culture", "--workspace", str(ws), "ingest",
                           "responses", str(bad), "--wave", wave],
                          capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
    assert done.returncode == EXIT_BAD_INPUT, done.stderr
    assert done.stderr.startswith("culture ingest responses:")
    assert "Traceback" not in done.stderr and CANARY not in done.stdout + done.stderr


def test_demo_never_replaces_a_folder_it_did_not_write(tmp_path, capsys):
    """The demo replaces its own folder; a real workspace given by mistake is left alone.
    (The demo itself runs end to end from an installed wheel in test_install.)"""
    real = tmp_path / "data"
    real.mkdir()
    (real / "culture.duckdb").write_text("not to be deleted")
    assert main(["demo", "--sites", "1", "--workspace", str(real)]) == EXIT_USAGE
    assert "was not written by culture demo" in capsys.readouterr().err
    assert (real / "culture.duckdb").read_text() == "not to be deleted"
