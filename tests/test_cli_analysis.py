"""culture scores / audit / trends / link on a workspace ingested from real-format exports."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from culture import frames as F
from culture.boundary import SUPPRESSED_LABEL
from culture.cli import main
from culture.errors import EXIT_OK, EXIT_USAGE
from culture.measure.scoring import score


@pytest.fixture()
def ws_args(small_workspace):
    ws, _ = small_workspace
    return ["--workspace", str(ws.root)]


def test_scores_from_the_store_equal_scores_from_the_synthetic_truth(small_workspace, instrument):
    """Round trip: exports -> readers -> store -> scores equals scoring the generator's frame."""
    ws, org = small_workspace
    for wave in (org.waves[0], org.waves[-2], org.waves[-1]):  # CSV, Microsoft Forms, Qualtrics
        stored = ws.responses(wave, instrument=instrument)
        truth = org.responses_of(wave)
        a = score(stored, instrument).scores.assign(unit=stored[F.UNIT].to_numpy())
        b = score(truth, instrument).scores.assign(unit=truth[F.UNIT].to_numpy())
        pd.testing.assert_frame_equal(a.groupby("unit").mean().sort_index(),
                                      b.groupby("unit").mean().sort_index(), rtol=1e-12)
        assert len(stored) == len(truth)


def test_scores_prints_the_suppressed_release(ws_args, capsys):
    assert main([*ws_args, "scores", "--wave", "latest", "--level", "2"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "n = " in out and SUPPRESSED_LABEL in out
    numbers = [int(x) for x in pd.Series(out.split("n = ")[1:]).str.extract(r"^(\d+)")[0].dropna()]
    assert numbers and min(numbers) >= 5


def test_scores_writes_json_and_refuses_a_second_cut(ws_args, tmp_path, capsys):
    out = tmp_path / "scores.json"
    assert main([*ws_args, "scores", "--wave", "latest", "--format", "json", "-o", str(out)]) == EXIT_OK
    rows = json.loads(out.read_text())
    assert rows and {"unit_id", "measure", "n", "mean"} <= set(rows[0])
    # The wave was released cut by role level; a tenure cut of the same wave could be
    # subtracted from it, so it is refused ...
    code = main([*ws_args, "scores", "--wave", "latest", "--by", "tenure"])
    assert code == 5
    assert "was published cut by role_level" in capsys.readouterr().err
    # ... and refusing it blocks that request only: the wave's scores still read back
    assert main([*ws_args, "scores", "--wave", "latest", "--format", "json", "-o", str(out)]) == EXIT_OK
    assert json.loads(out.read_text()) == rows


def test_audit_passes_and_says_so(ws_args, capsys):
    assert main([*ws_args, "audit", "--wave", "latest"]) == EXIT_OK
    assert "audit passed" in capsys.readouterr().out


def test_trends_lists_real_changes(ws_args, small_workspace, capsys):
    _, org = small_workspace
    event = next(e for e in org.truth.events if e.wave == org.waves[-1])
    assert main([*ws_args, "trends", "--wave", "latest", "--format", "csv"]) == EXIT_OK
    table = pd.read_csv(pd.io.common.StringIO(capsys.readouterr().out))
    assert set(table["verdict"]) == {"significant and meaningful"}
    hit = table[(table["unit_id"] == event.unit_id) & (table["measure"] == event.construct)]
    assert len(hit) == 1 and np.sign(hit["diff"].iloc[0]) == np.sign(event.expected_score_shift)


def test_wave_must_look_like_a_quarter(ws_args, capsys):
    assert main([*ws_args, "trends", "--wave", "2026-3"]) == EXIT_USAGE
    assert "YYYYQn" in capsys.readouterr().err


def test_report_latest_publishes_and_logs(ws_args, tmp_path, capsys):
    """The unattended entry point: culture report --wave latest --log-file F."""
    log = tmp_path / "logs" / "report.log"
    reports = tmp_path / "reports"
    code = main([*ws_args, "report", "--wave", "latest", "--reports", str(reports), "--unit-level", "0",
                 "--workers", "2", "--log-file", str(log)])
    assert code == EXIT_OK
    index = capsys.readouterr().out.strip().splitlines()[-1]
    assert index.endswith("index.html") and (reports / "2026Q4" / "index.html").is_file()
    text = log.read_text()
    assert "started" in text and "published" in text


def test_report_for_a_wave_without_responses_fails_cleanly(ws_args, tmp_path, capsys):
    log = tmp_path / "report.log"
    code = main([*ws_args, "report", "--wave", "2030Q1", "--reports", str(tmp_path / "r"),
                 "--log-file", str(log)])
    assert code == EXIT_USAGE
    assert "has no responses" in capsys.readouterr().err
    assert "failed (exit 2)" in log.read_text()
    assert not (tmp_path / "r").exists()
