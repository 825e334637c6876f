"""CLI hygiene: nothing useful is a non-zero exit with the reason; a closed pipe is not an
error; --help lists every accepted value; anonymous waves are said in words.

The closed pipe is real: ``python -m culture`` runs in a subprocess whose stdout is a pipe
that the test closes before the command writes (and, separately, through ``| head -c``).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys

import pandas as pd
import pytest

from culture.cli import _parser, main
from culture.errors import EXIT_BAD_INPUT, EXIT_INTERNAL, EXIT_OK, EXIT_USAGE
from culture.stats import CONTINUOUS_OUTCOMES, COUNT_OUTCOMES
from culture.store import schema as store_mod
from culture.store.pseudonym import KEY_ENV
from culture.store.workspace import Workspace

NOISE = ("Traceback", "internal error", "BrokenPipe", "Exception ignored")


@pytest.fixture()
def ws_args(small_workspace):
    ws, _ = small_workspace
    return ["--workspace", str(ws.root)]


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in (KEY_ENV, store_mod.WORKSPACE_ENV)}


# ----------------------------------------------------------------- nothing useful: say why

def test_link_with_every_model_refused_exits_non_zero_with_the_reason(ws_args, tmp_path, capsys):
    """The small organisation has fewer released teams than thresholds.models (30)."""
    out = tmp_path / "models.csv"
    code = main([*ws_args, "link", "--wave", "latest", "--outcome", "nc_customer",
                 "--format", "csv", "-o", str(out)])
    assert code == EXIT_BAD_INPUT
    captured = capsys.readouterr()
    assert captured.err.startswith("culture link: no model of nc_customer could be estimated")
    assert "models threshold: 30 units" in captured.err
    assert "released for at least 30 units" in captured.err  # the refused model's own reason
    assert not out.exists()  # no empty file that looks like a result
    assert captured.out == ""


def test_trends_with_a_single_wave_says_there_is_nothing_to_compare(ws_args, small_workspace,
                                                                     capsys):
    _, org = small_workspace
    code = main([*ws_args, "trends", "--wave", org.waves[0], "--format", "csv"])
    assert code == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert err.startswith("culture trends:") and "nothing to compare" in err
    assert main(["trends", "--help"]) == EXIT_OK
    help_text = " ".join(capsys.readouterr().out.split())
    assert f"exit code {EXIT_BAD_INPUT} when there is no earlier wave" in help_text


# ----------------------------------------------------------------- closed pipes

@pytest.mark.parametrize("argv", [["status"], ["status", "--format", "json"], ["link", "--help"]])
def test_a_closed_pipe_is_not_an_error(small_workspace, tmp_path, argv):
    ws, _ = small_workspace
    proc = subprocess.Popen([sys.executable, "-m", "culture", "--workspace", str(ws.root), *argv],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=clean_env(),
                            cwd=tmp_path)
    proc.stdout.close()  # the reader is gone before the command writes a byte
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait(timeout=180) == EXIT_OK, err
    assert not [n for n in NOISE if n in err], err


def test_status_into_head_exits_zero_quietly(small_workspace, tmp_path):
    ws, _ = small_workspace
    command = (f"set -o pipefail; {shlex.quote(sys.executable)} -m culture --workspace "
               f"{shlex.quote(str(ws.root))} status --format json | head -c 10")
    done = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=180,
                          env=clean_env(), cwd=tmp_path)
    assert done.returncode == EXIT_OK, done.stderr
    assert len(done.stdout) == 10
    assert not [n for n in NOISE if n in done.stderr], done.stderr


class _ClosedPipe:
    """A stdout whose reader has gone."""

    def write(self, text):
        raise BrokenPipeError(32, "Broken pipe")

    def flush(self):
        raise BrokenPipeError(32, "Broken pipe")

    def fileno(self):
        raise OSError("not a real file")


def test_closed_stdout_in_process_returns_the_commands_code(ws_args, capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdout", _ClosedPipe())
    assert main([*ws_args, "status"]) == EXIT_OK
    assert capsys.readouterr().err == ""


def test_a_broken_pipe_elsewhere_is_still_a_bug(ws_args, capsys, monkeypatch):
    def broken(self):
        raise BrokenPipeError(32, "a pipe to some other process")

    monkeypatch.setattr(Workspace, "status", broken)
    assert main([*ws_args, "status"]) == EXIT_INTERNAL
    assert "internal error (BrokenPipeError)" in capsys.readouterr().err


# ----------------------------------------------------------------- --help lists what is accepted

def test_link_help_lists_every_outcome_and_refuses_others(capsys):
    assert main(["link", "--help"]) == EXIT_OK
    text = capsys.readouterr().out
    for outcome in (*COUNT_OUTCOMES, *CONTINUOUS_OUTCOMES):
        assert outcome in text, outcome
    assert "nc_total" in text
    assert main(["link", "--wave", "latest", "--outcome", "nc_everything"]) == EXIT_USAGE
    assert "invalid choice" in capsys.readouterr().err


def _commands(parser: argparse.ArgumentParser, prefix=()):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _commands(sub, (*prefix, name))
    yield prefix, parser


def test_every_option_with_fixed_values_lists_them_in_help():
    """argparse hides choices behind a metavar; no option may do that, and the options of
    scores, audit, trends and link each say what they take."""
    for path, parser in _commands(_parser()):
        help_text = " ".join(parser.format_help().split())
        for action in parser._actions:
            if action.choices and not isinstance(action, argparse._SubParsersAction):
                for value in action.choices:
                    assert str(value) in help_text, (path, action.dest, value)
            if path and path[0] in ("scores", "audit", "trends", "link") and action.option_strings:
                assert action.help or action.choices, (path, action.option_strings)
    for command in ("scores", "audit", "trends", "link"):
        sub = dict(_commands(_parser()))[(command,)]
        assert "latest" in " ".join(sub.format_help().split()), command


# ----------------------------------------------------------------- anonymous waves

@pytest.fixture(scope="module")
def anonymous_ws(tmp_path_factory, instrument):
    """A one-wave workspace whose survey export carries no employee id."""
    from culture.synth import SynthConfig, make_organisation
    from culture.synth.tool_exports import write_export

    root = tmp_path_factory.mktemp("anonymous")
    org = make_organisation(instrument, SynthConfig(seed=3, n_sites=1, n_waves=1))
    wave = org.waves[0]
    org.org_of(wave)[["unit_id", "parent_id", "name"]].to_csv(root / "org.csv", index=False)
    write_export(org.responses_of(wave), instrument, root / "named.csv", fmt="csv", seed=0)
    grid = pd.read_csv(root / "named.csv", dtype=str, keep_default_na=False)
    grid.drop(columns=["employee_id"]).to_csv(root / "anonymous.csv", index=False)
    ws = Workspace.init(root / "ws")
    ws.ingest_org(root / "org.csv", wave=wave)
    ws.ingest_responses(root / "anonymous.csv", instrument, wave=wave)
    return root / "ws", wave, len(grid)


def test_status_says_anonymous_instead_of_zero_respondents(anonymous_ws, capsys):
    root, wave, rows = anonymous_ws
    assert main(["--workspace", str(root), "status"]) == EXIT_OK
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if x.strip().startswith(wave))
    assert "anonymous: counts are responses" in line and str(rows) in line
    assert main(["--workspace", str(root), "status", "--format", "json"]) == EXIT_OK
    (entry,) = json.loads(capsys.readouterr().out)["waves"]
    assert entry["anonymous"] is True and entry["respondents"] is None
    assert entry["responses"] == rows


def test_status_of_named_waves_still_counts_respondents(ws_args, capsys):
    assert main([*ws_args, "status", "--format", "json"]) == EXIT_OK
    waves = json.loads(capsys.readouterr().out)["waves"]
    assert waves and all(w["anonymous"] is False and w["respondents"] > 0 for w in waves)
    assert main([*ws_args, "status"]) == EXIT_OK
    assert "anonymous" not in capsys.readouterr().out
