"""docs/your-own-survey.md, followed literally: its YAML and every command it shows, in order,
on made-up files in the layout the page describes (an anonymous Google Forms export of a
7-point questionnaire unlike the shipped one)."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import yaml

from culture import frames as F
from culture.measure.instrument import load_instrument
from culture.synth import SynthConfig, make_organisation
from culture.synth.tool_exports import write_export

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "your-own-survey.md"
FENCE = re.compile(r"```(\w+)\n(.*?)```", re.S)


def blocks(kind: str) -> list[str]:
    return [body for lang, body in FENCE.findall(DOC.read_text(encoding="utf-8")) if lang == kind]


def commands() -> list[list[str]]:
    return [shlex.split(line)[1:] for body in blocks("console") for line in body.splitlines()
            if line.startswith("culture ")]


def write_files(folder: Path, instrument) -> None:
    """Two waves of the page's files: exports without any id column, org chart, headcount."""
    org = make_organisation(instrument, SynthConfig(seed=11, n_sites=2, n_waves=2,
                                                    depts_per_site=(2, 3), teams_per_dept=(2, 3)))
    for wave in org.waves:
        answers = org.responses_of(wave).assign(**{F.RESPONDENT: None, F.RESPONSE_ID: None})
        path = write_export(answers, instrument, folder / f"pulse-{wave}.csv", fmt="googleforms")
        export = pd.read_csv(path, dtype=str, keep_default_na=False)
        export.drop(columns="Employee ID").to_csv(path, index=False)
        org.org_of(wave)[[F.UNIT, F.PARENT, "name"]].to_csv(folder / f"org-{wave}.csv", index=False)
        hc = org.headcount[org.headcount[F.WAVE] == wave]
        hc[[F.UNIT, "invited"]].to_csv(folder / f"headcount-{wave}.csv", index=False)


@dataclass
class Run:
    folder: Path
    draft_output: str
    draft: dict
    outputs: dict[str, str]
    failures: list[str]


def culture(argv: list[str], folder: Path) -> tuple[int, str]:
    """One command as a user types it: the installed ``culture`` in its own process, in
    ``folder`` (``--debug``, a global flag that changes nothing else, puts a traceback in
    the output if a command ever fails)."""
    exe = Path(sys.executable).with_name("culture")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CULTURE_")}
    done = subprocess.run([str(exe), "--debug", *argv], cwd=folder, env=env, text=True,
                          capture_output=True, timeout=900)
    return done.returncode, done.stdout + done.stderr


def follow_the_page(folder: Path) -> Run:
    """Write the page's files into ``folder`` and run its commands there, in order; the
    user's edit of the draft is the page's YAML block."""
    documented = blocks("yaml")[0]
    (folder / "page-instrument.yaml").write_text(documented, encoding="utf-8")
    write_files(folder, load_instrument(folder / "page-instrument.yaml"))
    steps = commands()
    outputs, failures = {}, []
    code, draft_output = culture(steps[0], folder)
    if code != 0:
        failures.append(f"culture {' '.join(steps[0])} -> {code}: {draft_output[-2000:]}")
    draft = yaml.safe_load((folder / "my-survey.yaml").read_text(encoding="utf-8"))
    (folder / "my-survey.yaml").write_text(documented, encoding="utf-8")  # the user's edit
    for argv in steps[1:]:
        code, text = culture(argv, folder)
        if code != 0 or "internal error" in text:
            failures.append(f"culture {' '.join(argv)} -> {code}: {text[-2000:]}")
        outputs[" ".join(argv[4:6])] = text
    return Run(folder, draft_output, draft, outputs, failures)


@pytest.mark.slow
def test_the_page_works_as_written(tutorial_run):
    run = tutorial_run
    assert len(commands()) >= 10 and commands()[0][:2] == ["instrument", "draft"]
    assert not run.failures, "\n".join(run.failures)
    instrument = load_instrument(run.folder / "my-survey.yaml")

    # 1. the draft finds the page's questions and asks for the scale to be ordered
    assert "ORDER THE SCALE" in run.draft_output
    assert [i["text"] for i in run.draft["items"]] == [i.text for i in instrument.items]
    assert [c["text"] for c in run.draft["comments"]] == [c.text for c in instrument.comments]
    assert sorted(run.draft["scale"]["labels"].values()) == sorted(instrument.scale.labels.values())

    outputs = run.outputs
    assert (run.folder / "ws" / "policy.yaml").exists()
    mapping = outputs["mapping draft"]
    assert "matched (score >= 90): 10" in mapping and "unmatched columns" in mapping
    assert "respondent id: none (an anonymous survey" in outputs["ingest responses"]
    assert "anonymous: counts are responses" in outputs["status"]
    assert "clarity" in outputs["scores --wave"]
    reports = run.folder / "reports" / "2025Q2"
    assert "Plant pulse check" in (reports / "index.html").read_text(encoding="utf-8")
    briefs = sorted((reports / "units").glob("*.html"))
    assert len(briefs) == 2  # one per site (--unit-level 1)
    for page in [reports / "org_report.html", *briefs]:
        text = page.read_text(encoding="utf-8")
        assert "Voice on the line" in text
        assert "strongly disagree" not in text.lower()  # the shipped instrument's words
