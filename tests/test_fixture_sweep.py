"""No command ends in an internal error on any file a user might bring: every fixture file
goes through every ingest kind (dry run), both draft commands, with the shipped instrument
and with a second, different one. A wrong file must get a clear error, never a crash."""

from __future__ import annotations

from pathlib import Path

import pytest

from culture.cli import main
from culture.errors import EXIT_INTERNAL

FIXTURES = Path(__file__).parent / "fixtures"
DATA = sorted(p for p in FIXTURES.rglob("*") if p.is_file() and p.suffix.lower() in
              (".csv", ".tsv", ".xlsx", ".sav", ".yaml", ".json", ".txt"))
SECOND = FIXTURES / "instruments" / "plant-pulse.yaml"
KINDS = (["ingest", "responses"], ["ingest", "org"], ["ingest", "headcount"],
         ["ingest", "quality", "--kind", "nonconformity"], ["ingest", "exposure"],
         ["access", "import"], ["ingest", "actions"])
NO_WAVE = {"exposure", "actions"}


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    ws = tmp_path_factory.mktemp("sweep") / "ws"
    assert main(["--workspace", str(ws), "init"]) == 0
    return ws


@pytest.mark.parametrize("path", DATA, ids=lambda p: str(p.relative_to(FIXTURES)))
def test_no_internal_error_on_any_fixture(path, workspace, tmp_path, capsys):
    crashed = []
    for instrument in (None, SECOND):
        base = ["--workspace", str(workspace)] + (["--instrument", str(instrument)] if instrument else [])
        runs = [[*kind, str(path), "--dry-run", *([] if kind[1] in NO_WAVE else
                                                  ["--wave", "2026Q1"])] for kind in KINDS]
        runs += [["mapping", "draft", str(path)]]
        if instrument:  # only what reads the instrument runs twice
            runs = [runs[0], runs[-1]]
        else:
            runs.append(["instrument", "draft", str(path), "-o", str(tmp_path / "d.yaml"), "--force"])
        for argv in runs:
            code = main([*base, *argv])
            err = capsys.readouterr().err
            if code == EXIT_INTERNAL or "internal error" in err:
                crashed.append(f"{' '.join(argv[:2])} ({'second' if instrument else 'shipped'} "
                               f"instrument): {err.strip()[-300:]}")
    assert not crashed, "\n".join(crashed)
