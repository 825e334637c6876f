"""The scheduling files in deploy/ parse and run the unattended report command."""

from __future__ import annotations

import configparser
import shutil
import subprocess
from pathlib import Path

import pytest

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"


def _unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # systemd keys are case-sensitive
    parser.read_string((DEPLOY / name).read_text())
    return parser


def test_service_runs_latest_wave_unattended():
    svc = _unit("culture-report.service")
    assert svc["Service"]["Type"] == "oneshot"
    exec_start = svc["Service"]["ExecStart"]
    assert "culture report --wave latest" in exec_start and "--log-file" in exec_start
    # Usage (2), bad input (3), failed audit (5) and failed notebook (6) need a person.
    assert set(svc["Service"]["RestartPreventExitStatus"].split()) == {"2", "3", "5", "6"}
    assert svc["Install"]["WantedBy"]


def test_timer_is_quarterly():
    timer = _unit("culture-report.timer")
    assert timer["Timer"]["Unit"] == "culture-report.service"
    assert timer["Timer"]["OnCalendar"].startswith("*-01,04,07,10-05")
    assert timer["Timer"]["Persistent"] == "true"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                    reason="systemd-analyze is not installed on this machine (no systemd here)")
def test_systemd_accepts_the_calendar_expression():
    spec = _unit("culture-report.timer")["Timer"]["OnCalendar"]
    out = subprocess.run(["systemd-analyze", "calendar", spec], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_crontab_line_is_well_formed():
    lines = [ln for ln in (DEPLOY / "crontab.example").read_text().splitlines()
             if ln.strip() and not ln.startswith("#")]
    assert len(lines) == 1
    fields = lines[0].split(None, 5)
    assert fields[:5] == ["0", "6", "5", "1,4,7,10", "*"]
    assert "culture report --wave latest" in fields[5]
