"""``culture mapping draft`` and ``culture instrument draft`` on exports of questionnaires
unlike the shipped one (tests/fixtures/drafts, built by build_drafts.py), and the round
trip draft -> ingest for the shipped instrument with edited wording.

Expected matches are what the fixture author wrote into the fixtures (which header carries
which item, which answers were planted), not what the code under test computes.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from culture.cli import main
from culture.errors import EXIT_BAD_INPUT, EXIT_OK, EXIT_USAGE, ValidationError
from culture.ingest import load_mapping, read_responses
from culture.ingest.drafting import (
    draft_mapping,
    is_non_substantive,
    normalise,
    scale_position,
    scale_slots,
    similarity,
)
from culture.ingest.instrument_draft import draft_instrument
from culture.measure.instrument import load_default_instrument, load_instrument, parse_instrument
from culture.store.pseudonym import KEY_ENV
from culture.store.schema import WORKSPACE_ENV
from culture.store.workspace import Workspace

FIX = Path(__file__).parent / "fixtures" / "drafts"
GOOGLE = FIX / "own_googleforms.csv"
MONKEY = FIX / "own_surveymonkey_de.csv"
MSFORMS = FIX / "own_msforms_fr.xlsx"
SHIPPED = FIX / "shipped_edited_googleforms.csv"
SITE = FIX / "site-climate.yaml"
# Planted in own_googleforms.csv: a comment with a canary, a shift given by one person only,
# e-mail addresses and employee numbers; none may ever leave a draft.
SECRETS = ("CANARY-COMMENT-4471", "Rotating", "@example.org", "E200")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    monkeypatch.delenv(WORKSPACE_ENV, raising=False)


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def free_texts(path: Path, column: str) -> list[str]:
    """The comment cells of a fixture, read with pandas (what must never be printed)."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    return [t for t in frame[column] if t]


# ----------------------------------------------------------------------------- building blocks

def test_normalise_and_similarity():
    assert normalise("<b>Quality</b> is everyone&rsquo;s  JOB_here!") == \
        "quality is everyone s job here"
    assert similarity("Ancienneté", "anciennete") == 100
    assert similarity("Unsafe conditions are fixed quickly", "Unsafe conditions are fixed fast") \
        in range(80, 100)
    assert similarity("My workload is manageable", "Supervisors ask for our ideas") < 50


@pytest.mark.parametrize(("label", "position"), [
    ("Strongly disagree", -3), ("Disagree", -2), ("Somewhat disagree", -1),
    ("Neither agree nor disagree", 0), ("Somewhat agree", 1), ("Agree", 2),
    ("Completely agree", 3), ("Totally agree", 3), ("Very satisfied", 3), ("Dissatisfied", -2),
    ("Stimme überhaupt nicht zu", -3), ("Stimme eher nicht zu", -1), ("Teils/teils", 0),
    ("Stimme eher zu", 1), ("Stimme voll und ganz zu", 3), ("Trifft gar nicht zu", -3),
    ("Pas du tout d'accord", -3), ("Plutôt pas d'accord", -1), ("Ni d'accord ni pas d'accord", 0),
    ("Plutôt d'accord", 1), ("Tout à fait d'accord", 3), ("Never", -3), ("Always", 3),
    ("Early", None), ("Fewer meetings would help", None), ("Don't know", None),
    ("I agree with most of what the plan says about shifts", None),
])
def test_scale_positions(label, position):
    assert scale_position(label) == position


def test_non_substantive_and_slots():
    assert all(is_non_substantive(x) for x in ("Don't know", "N/A", "Weiß nicht",
                                                "Keine Angabe", "Je ne sais pas",
                                                "Prefer not to say"))
    assert not is_non_substantive("Agree")
    assert scale_slots([-3, -2, 0, 2, 3]) == ({-3: 1, -2: 2, 0: 3, 2: 4, 3: 5}, 5)
    assert scale_slots([-3, -1, 0, 1, 3]) == ({-3: 1, -1: 2, 0: 3, 1: 4, 3: 5}, 5)
    assert scale_slots([-3, -2, -1, 3])[1] == 7


# ----------------------------------------------------------------------------- mapping draft

def test_mapping_draft_on_an_own_questionnaire():
    """own_googleforms.csv against site-climate.yaml: 6 items worded alike, 5 edited, one item
    (VO1) not asked, the canteen question not in the instrument, Team and Employee number."""
    draft = draft_mapping(GOOGLE, load_instrument(SITE))
    t = draft.table.set_index("column")
    assert (draft.count("matched"), draft.count("unsure"), draft.count("unmatched")) == (9, 7, 1)
    exact = {"G": "TW1", "I": "TW3", "K": "SF1", "M": "SF3", "O": "WL1", "S": "IDEAS"}
    edited = {"H": "TW2", "J": "TW4", "L": "SF2", "N": "SF4", "P": "WL2", "Q": "WL3"}
    assert {c: t.loc[c, "target"] for c in {**exact, **edited}} == {**exact, **edited}
    assert all(t.loc[c, "score"] == 100 for c in exact)
    assert t.loc["E", "target"] == "shift" and t.loc["F", "target"] == "site_tenure"
    assert t.loc["C", ["target", "status"]].tolist() == ["unit_id", "unsure"]
    assert t.loc["D", ["target", "status"]].tolist() == ["respondent", "unsure"]
    assert t.loc["R", "status"] == "unmatched"                       # the canteen menu
    assert t.loc["A", "status"] == "automatic" and t.loc["B", "status"] == "identifying"
    assert draft.not_found == ("VO1",)
    assert dict(draft.values) == {"Completely agree": 7}           # the form's wording of 7
    summary = draft.summary()
    assert "matched (score >= 90): 9" in summary and "column R 'Which canteen" in summary
    assert "VO1" in summary and "'Completely agree' -> 7" in summary
    for secret in (*SECRETS, *free_texts(GOOGLE, "What would make the biggest difference to "
                                                 "your work?")):
        assert secret not in draft.yaml and secret not in summary


def test_the_mapping_draft_is_a_valid_mapping_that_imports(tmp_path):
    inst = load_instrument(SITE)
    draft = draft_mapping(GOOGLE, inst)
    doc = yaml.safe_load(draft.yaml)
    assert "# 77 check: similar wording: I am able to take my breaks" in draft.yaml
    assert "# absent: [VO1]" in draft.yaml and "# R: ignore" in draft.yaml
    doc["absent"] = ["VO1"]                # what the user decides after reviewing
    doc["columns"]["R"] = "ignore"
    spec = load_mapping(doc, inst)
    parsed = read_responses(GOOGLE, inst, mapping=spec)
    answers = pd.read_csv(GOOGLE, dtype=str, keep_default_na=False)
    # every row but the one with the shift nobody else gave ("Rotating", not in the codebook)
    assert len(parsed.accepted) == len(answers) - 1
    assert parsed.rejected["reason"].str.contains("shift").all()
    rows = answers[answers["Which shift do you usually work?"] != "Rotating"].reset_index()
    column = "How do you see safety on site? [Unsafe conditions are fixed quickly]"
    seven = {lab: k for k, lab in inst.scale.labels.items()} | {"Completely agree": 7}
    want = rows[column].map(seven).astype("float64")
    assert parsed.accepted["SF4"].tolist() == pytest.approx(want.tolist(), nan_ok=True)


def test_round_trip_for_the_shipped_instrument(tmp_path, capsys):
    """A Google Forms export of the shipped items with edited wording: the draft maps every
    item, comment and demographic, and the import with it accepts every row."""
    mapping = tmp_path / "mapping.yaml"
    code, out, err = run(capsys, "mapping", "draft", SHIPPED, "-o", mapping)
    assert code == EXIT_OK, err
    inst = load_default_instrument()
    columns = yaml.safe_load(mapping.read_text(encoding="utf-8"))["columns"]
    ids = [*inst.item_ids, *(c.id for c in inst.comments), *(d.id for d in inst.demographics)]
    assert sorted(columns.values()) == sorted([*ids, "unit_id"])
    header = list(pd.read_csv(SHIPPED, nrows=0).columns)
    for item, (key, target) in zip(inst.items, list(columns.items())[3:], strict=False):
        assert (target, header.index(key)) == (item.id, 5 + inst.item_ids.index(item.id))
    assert "instrument columns not found (put under 'absent:' if the export lacks them on " \
           "purpose): 0" in out
    assert "'Totally agree' -> 5" in out and "unmatched columns (not written; map them or " \
                                              "ignore them): 0" in out
    ws = tmp_path / "ws"
    assert run(capsys, "--workspace", ws, "init")[0] == EXIT_OK
    code, out, err = run(capsys, "--workspace", ws, "ingest", "responses", SHIPPED, "--wave",
                         "2026Q1", "--mapping", mapping)
    assert code == EXIT_OK, err
    rows = len(pd.read_csv(SHIPPED))
    assert f"rows in {rows} = accepted {rows}" in out
    stored = Workspace.open(ws).responses("2026Q1")
    answers = pd.read_csv(SHIPPED, dtype=str, keep_default_na=False)
    lc1 = answers.iloc[:, 5]
    assert int((stored["LC1"] == 5).sum()) == int((lc1 == "Totally agree").sum())
    assert int(stored["LC1"].isna().sum()) == int(lc1.isin(["", "Don't know"]).sum())


@pytest.mark.parametrize(("path", "columns"), [(GOOGLE, 15), (MONKEY, 9), (MSFORMS, 7)])
def test_an_unrelated_questionnaire_matches_nothing_of_the_shipped_one(path, columns):
    """Own questionnaires against the shipped instrument: no false matches, only the unit
    (and employee-number) headers proposed for checking."""
    draft = draft_mapping(path, load_default_instrument())
    assert draft.count("matched") == 0 and draft.count("unmatched") == columns
    assert set(draft.table.loc[draft.table["status"] == "unsure", "target"]) <= \
        {"unit_id", "respondent"}
    assert not draft.values


def test_mapping_draft_cli_writes_stdout_and_refuses_to_overwrite(tmp_path, capsys):
    code, out, err = run(capsys, "--instrument", SITE, "mapping", "draft", GOOGLE)
    assert code == EXIT_OK
    assert out.startswith("# Mapping draft for own_googleforms.csv") and "matched" in err
    for secret in (*SECRETS, *free_texts(GOOGLE, "What would make the biggest difference to "
                                                 "your work?")):
        assert secret not in out + err
    target = tmp_path / "m.yaml"
    target.write_text("# my edits\n", encoding="utf-8")
    code, out, err = run(capsys, "--instrument", SITE, "mapping", "draft", GOOGLE, "-o", target)
    assert code == EXIT_USAGE and "--force" in err
    assert target.read_text(encoding="utf-8") == "# my edits\n"
    code, out, err = run(capsys, "--instrument", SITE, "mapping", "draft", GOOGLE, "-o", target,
                         "--force")
    assert code == EXIT_OK and f"wrote {target}" in out and "matched (score >= 90): 9" in out


# ----------------------------------------------------------------------------- instrument draft

@pytest.mark.parametrize(("path", "items", "constructs", "points", "labels", "comments",
                          "demographics", "unit"), [
    (GOOGLE, 11, ["teamwork_shift", "safety_site", "workload"], 7,
     ("Strongly disagree", "Completely agree"), 1, 3, "C 'Team'"),
    (MONKEY, 7, ["zusammenarbeit_bereich", "information_durch_leitung"], 5,
     ("Stimme überhaupt nicht zu", "Stimme voll und ganz zu"), 1, 1, "J 'Abteilung'"),
    (MSFORMS, 5, ["construct_1"], 5, ("Pas du tout d'accord", "Tout à fait d'accord"), 1, 1,
     "G 'Service'"),
])
def test_instrument_draft(path, items, constructs, points, labels, comments, demographics, unit):
    draft = draft_instrument(path)
    inst = parse_instrument(yaml.safe_load(draft.yaml))       # loads and validates
    assert len(inst.items) == items
    assert list(inst.construct_ids) == constructs
    assert (inst.scale.min, inst.scale.max) == (1, points)
    assert (inst.scale.labels[1], inst.scale.labels[points]) == labels
    assert len(inst.comments) == comments and len(inst.demographics) == demographics
    assert f"column {unit} looks like the unit column" in draft.yaml
    for hint in ("reverse: true", "ISO 9001:2015 clauses", "leader_codes", "favourable"):
        assert hint in draft.yaml
    summary = draft.summary()
    assert f"items: {items} in {len(constructs)} construct(s)" in summary


def test_instrument_draft_copies_no_answer_text():
    draft = draft_instrument(GOOGLE)
    shift = draft.instrument.demographics[0]
    assert sorted(shift.codes.values()) == ["Early", "Late", "Night"]
    assert "1 answer(s) given once or too long were not copied" in draft.yaml
    for secret in (*SECRETS, *free_texts(GOOGLE, "What would make the biggest difference to "
                                                 "your work?")):
        assert secret not in draft.yaml and secret not in draft.summary()
    tenure = draft.instrument.demographics[1]
    assert (tenure.missing_code, tenure.missing_label) == ("X", "Prefer not to say")
    monkey = draft_instrument(MONKEY)
    assert monkey.instrument.scale.non_substantive == {9: "Weiß nicht"}
    assert not any(t in monkey.yaml for t in free_texts(MONKEY, "Was sollten wir als Erstes "
                                                                "verbessern?")[1:])


def test_instrument_draft_then_mapping_draft_then_import(tmp_path, capsys):
    """A team with its own German questionnaire: draft the instrument, draft the mapping
    against it (it proposes Abteilung as the unit), import."""
    inst, mapping, ws = tmp_path / "inst.yaml", tmp_path / "map.yaml", tmp_path / "ws"
    code, out, err = run(capsys, "instrument", "draft", MONKEY, "-o", inst)
    assert code == EXIT_OK, err
    assert "items: 7 in 2 construct(s)" in out and "unit candidates: column J 'Abteilung'" in out
    code, out, err = run(capsys, "--instrument", inst, "mapping", "draft", MONKEY, "-o", mapping)
    assert code == EXIT_OK, err
    assert "unmatched columns (not written; map them or ignore them): 0" in out
    assert '"Abteilung": unit_id' in mapping.read_text(encoding="utf-8")
    assert run(capsys, "--workspace", ws, "init")[0] == EXIT_OK
    code, out, err = run(capsys, "--workspace", ws, "--instrument", inst, "ingest", "responses",
                         MONKEY, "--wave", "2026Q1", "--mapping", mapping)
    assert code == EXIT_OK, err
    rows = len(pd.read_csv(MONKEY, header=None, skiprows=2))
    assert f"rows in {rows} = accepted {rows}" in out
    stored = Workspace.open(ws).responses("2026Q1", instrument=load_instrument(inst))
    assert sorted(stored["unit_id"].unique()) == ["FER", "MON", "QS", "VER"]


def test_drafts_refuse_files_they_cannot_use(tmp_path, capsys):
    text_only = tmp_path / "comments.csv"
    text_only.write_text("Timestamp,What should change?\n"
                         "2024/03/04 9:12:44 AM GMT+1,More time to plan the week ahead\n",
                         encoding="utf-8")
    with pytest.raises(ValidationError, match="no column has Likert-like answers"):
        draft_instrument(text_only)
    headerless = tmp_path / "headerless.csv"
    headerless.write_text("U01,Agree,Disagree,2024-03-04,12\nU02,Agree,Agree,2024-03-05,14\n",
                          encoding="utf-8")
    code, out, err = run(capsys, "instrument", "draft", headerless)
    assert code == EXIT_BAD_INPUT and "no header row" in err and "Agree" not in err
    code, out, err = run(capsys, "mapping", "draft", headerless)
    assert code == EXIT_BAD_INPUT and "no header row" in err
