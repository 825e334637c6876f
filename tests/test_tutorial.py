"""docs/your-own-survey.md, followed literally: its YAML and every command it shows, in order,
on made-up files in the layout the page describes (an anonymous Google Forms export of a
7-point questionnaire unlike the shipped one)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pandas as pd
import pytest
import yaml

from culture import frames as F
from culture.cli import main
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


@pytest.mark.slow
def test_the_page_works_as_written(tmp_path, monkeypatch, capsys):
    documented = blocks("yaml")[0]
    assert documented.startswith("# my-survey.yaml")
    instrument_file = tmp_path / "page-instrument.yaml"
    instrument_file.write_text(documented, encoding="utf-8")
    instrument = load_instrument(instrument_file)
    write_files(tmp_path, instrument)
    monkeypatch.chdir(tmp_path)
    steps = commands()
    assert steps[0][:2] == ["instrument", "draft"] and len(steps) >= 10

    # 1. the draft finds the page's questions and asks for the scale to be ordered
    assert main(steps[0]) == 0
    out = capsys.readouterr().out
    assert "ORDER THE SCALE" in out
    draft = yaml.safe_load(Path("my-survey.yaml").read_text(encoding="utf-8"))
    assert [i["text"] for i in draft["items"]] == [i.text for i in instrument.items]
    assert [c["text"] for c in draft["comments"]] == [c.text for c in instrument.comments]
    assert sorted(draft["scale"]["labels"].values()) == sorted(instrument.scale.labels.values())
    # ... and the user edits it into the page's instrument
    Path("my-survey.yaml").write_text(documented, encoding="utf-8")

    outputs = {}
    for argv in steps[1:]:
        code = main(argv)
        captured = capsys.readouterr()
        assert code == 0, f"culture {' '.join(argv)} -> {code}: {captured.err[-800:]}"
        assert "internal error" not in captured.err
        outputs[" ".join(argv[4:6])] = captured.out + captured.err

    assert "ws/policy.yaml" in "".join(outputs.values()) or Path("ws/policy.yaml").exists()
    mapping = outputs["mapping draft"]
    assert "matched (score >= 90): 10" in mapping and "unmatched columns" in mapping
    imported = outputs["ingest responses"]
    assert "respondent id: none (an anonymous survey" in imported
    assert "anonymous: counts are responses" in outputs["status"]
    scores = outputs["scores --wave"]
    assert "Clarity of priorities" in scores or "clarity" in scores
    index = Path("reports/2025Q2/index.html").read_text(encoding="utf-8")
    assert "Plant pulse check" in index
    briefs = sorted(Path("reports/2025Q2/units").glob("*.html"))
    assert len(briefs) == 2  # one per site (--unit-level 1)
    for page in [Path("reports/2025Q2/org_report.html"), *briefs]:
        text = page.read_text(encoding="utf-8")
        assert "Voice on the line" in text
        assert "strongly disagree" not in text.lower()  # the shipped instrument's words
