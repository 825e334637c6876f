"""The mapping schema (docs/mapping.md): headers and letters, unmapped: ignore, the schema in
errors, every bad entry at once, and ``--mapping`` on every ``culture ingest`` kind.

Expected values come from the fixture files as written (column letters counted by hand,
rows read back with pandas), never from the code under test.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
import yaml

from culture.cli import main
from culture.errors import EXIT_BAD_INPUT, EXIT_OK, ValidationError
from culture.ingest import load_mapping, read_exposure, read_org, read_quality, read_responses
from culture.ingest.mapping import MAPPING_KEYS, letter_key
from culture.measure.instrument import load_instrument
from culture.store.pseudonym import KEY_ENV
from culture.store.schema import WORKSPACE_ENV
from culture.store.workspace import Workspace

FIX = Path(__file__).parent / "fixtures"
EXPORTS = FIX / "exports"
TABLES = FIX / "mapping"
MINI = EXPORTS / "mini-instrument.yaml"
CANARY = "OTTER-CANARY-5512"
# generic_mapped.csv: Team, Person, Tenure band, Level, Q-trust-lead, Q-future,
# Q-quality-everyone, Q-root-cause, Free text, Internal note  (columns A..J)
BY_HEADER = {"Team": "unit_id", "Person": "respondent", "Tenure band": "tenure",
             "Level": "role_level", "Q-trust-lead": "TR1", "Q-future": "TR2",
             "Q-quality-everyone": "QC1", "Q-root-cause": "QC2", "Free text": "COMMENTS",
             "Internal note": "ignore"}
BY_LETTER = dict(zip("ABCDEFGHIJ", BY_HEADER.values(), strict=True))


@pytest.fixture(scope="module")
def mini():
    return load_instrument(MINI)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    monkeypatch.delenv(WORKSPACE_ENV, raising=False)


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _frame(parsed) -> pd.DataFrame:
    return parsed.accepted.drop(columns=["response_id"])


# ----------------------------------------------------------------------------- headers, letters

def test_letters_name_the_same_columns_as_headers(mini, tmp_path):
    by_header = read_responses(EXPORTS / "generic_mapped.csv", mini, mapping=BY_HEADER)
    flat = _write(tmp_path / "letters.yaml", "".join(f"{k}: {v}\n" for k, v in BY_LETTER.items()))
    by_letter = read_responses(EXPORTS / "generic_mapped.csv", mini, mapping=flat)
    pd.testing.assert_frame_equal(_frame(by_header), _frame(by_letter))
    assert by_letter.accepted["TR1"].tolist() == [4.0, 2.0]  # the fixture's column E
    full = {"columns": {"column a": "unit_id", **{k: v for k, v in BY_LETTER.items() if k != "A"}}}
    pd.testing.assert_frame_equal(_frame(read_responses(EXPORTS / "generic_mapped.csv", mini,
                                                        mapping=full)), _frame(by_header))


def test_letter_key_forms():
    assert [letter_key(k) for k in ("J", "AB", "column j", "Column AB", "XFD")] == \
        ["J", "AB", "J", "AB", "XFD"]
    assert [letter_key(k) for k in ("j", "id", "Team", "ABCD", "J1")] == [None] * 5


def test_a_header_wins_over_a_letter(mini, tmp_path):
    # column A is headed "B": "B" names column A, not column B
    path = _write(tmp_path / "x.csv", "B,unit_id,TR2,QC1,QC2,tenure,role_level\n"
                                      "4,U1,4,4,4,T1,staff\n")
    p = read_responses(path, mini, mapping={"B": "TR1"})
    assert p.accepted["TR1"].tolist() == [4.0] and p.accepted["unit_id"].tolist() == ["U1"]


def test_a_headerless_column_is_named_by_its_letter(mini, tmp_path):
    path = _write(tmp_path / "x.csv", "unit_id,TR1,,QC1,QC2,tenure,role_level\n"
                                      "U1,4,2,4,4,T1,staff\n")
    with pytest.raises(ValidationError, match="column C \\(no header\\)"):
        read_responses(path, mini)
    assert read_responses(path, mini, mapping={"C": "TR2"}).accepted["TR2"].tolist() == [2.0]


def test_entries_naming_no_column_are_errors(mini, tmp_path):
    mapping = {**BY_HEADER, "Q-futur": "TR2", "AB": "QC1", "Old question": "ignore"}
    del mapping["Q-future"], mapping["Q-quality-everyone"]
    with pytest.raises(ValidationError) as err:
        read_responses(EXPORTS / "generic_mapped.csv", mini, mapping=mapping)
    wheres = [p.where for p in err.value.problems]
    assert "mapping columns[Q-futur]" in wheres          # a misspelt header
    assert "mapping columns[AB]" in wheres                # a letter past the last column J
    assert "last column J" in str(err.value)
    assert not any("Old question" in w for w in wheres)   # unused ignore entries are fine


def test_two_entries_for_one_column_with_two_targets(mini):
    mapping = {**BY_HEADER, "E": "TR2"}
    del mapping["Q-future"]
    with pytest.raises(ValidationError, match=r"columns\[E\] and columns\[Q-trust-lead\]"):
        read_responses(EXPORTS / "generic_mapped.csv", mini, mapping=mapping)


# ----------------------------------------------------------------------------- unmapped: ignore

def _extra_columns(tmp_path: Path) -> Path:
    grid = pd.read_csv(EXPORTS / "generic_mapped.csv", dtype=str, keep_default_na=False)
    grid["Quiz score"] = ["3 / 5", "4 / 5"]          # K
    grid["Favourite snack"] = [CANARY, "crisps"]      # L
    path = tmp_path / "extra.csv"
    grid.to_csv(path, index=False)
    return path


def test_unmapped_ignore_drops_unclaimed_columns_and_counts_them(mini, tmp_path):
    path = _extra_columns(tmp_path)
    with pytest.raises(ValidationError) as err:
        read_responses(path, mini, mapping=BY_HEADER)
    assert "2 column(s) match no instrument item" in str(err.value)
    assert "column K 'Quiz score'" in str(err.value) and CANARY not in str(err.value)
    p = read_responses(path, mini, mapping={"columns": BY_HEADER, "unmapped": "ignore"})
    assert p.ignored_columns == ("K", "L")
    assert len(p.accepted) == 2 and CANARY not in p.accepted.to_string()
    # the mapping and the automatic matching still claim their columns
    assert p.accepted["TR1"].tolist() == [4.0, 2.0]


def test_unmapped_ignore_keeps_the_no_header_check(mini, tmp_path):
    path = _write(tmp_path / "x.csv", "U1,4,4,4,4,T1,staff\nU2,3,3,3,3,T2,lead\n")
    with pytest.raises(ValidationError, match="no header row"):
        read_responses(path, mini, mapping={"unmapped": "ignore"})


# ----------------------------------------------------------------------------- schema errors

def test_unknown_keys_show_the_schema(mini, tmp_path):
    mixed = _write(tmp_path / "m.yaml", "J: LC1\nK: LC2\nabsent: [TR2]\n")
    with pytest.raises(ValidationError) as err:
        load_mapping(mixed, mini)
    (problem,) = err.value.problems
    assert "'J', 'K'" in problem.message and "under 'columns:'" in problem.message
    for key, line in MAPPING_KEYS.items():
        assert f"{key}: {line}" in problem.message


def test_every_bad_entry_is_listed_at_once(mini, tmp_path):
    path = _write(tmp_path / "m.yaml", (
        "columns:\n  Team: unit\n  E: TR9\n  Q-future: TR2\n"
        "values: {Totally agree: 5, Meh: 6}\nabsent: [nope]\nunmapped: drop\nextra: 1\n"))
    with pytest.raises(ValidationError) as err:
        read_responses(EXPORTS / "generic_mapped.csv", mini, mapping=path)
    wheres = sorted(p.where for p in err.value.problems)
    assert wheres == ["", "absent", "columns[E]", "columns[Team]", "unmapped", "values[Meh]"]
    assert str(path) in str(err.value)


def test_messages_never_quote_a_cell(mini, tmp_path):
    path = _extra_columns(tmp_path)
    bad = {"columns": {**BY_HEADER, "Q-root-cause": "QC9"}, "values": {CANARY: 1}}
    with pytest.raises(ValidationError) as err:
        read_responses(path, mini, mapping={"columns": BY_HEADER})
    assert CANARY not in str(err.value)
    with pytest.raises(ValidationError) as err:
        read_responses(path, mini, mapping=bad)
    assert "columns[Q-root-cause]" in str(err.value)
    assert CANARY not in str(err.value) and "crisps" not in str(err.value)


def test_yaml_booleans_stay_text(mini, tmp_path):
    path = _write(tmp_path / "m.yaml", "columns:\n  NO: TR1\nvalues:\n  Yes: 5\n  No: 1\n")
    with pytest.raises(ValidationError) as err:  # NO is a letter (column 379), not False
        read_responses(EXPORTS / "generic_mapped.csv", mini, mapping=path)
    assert "mapping columns[NO]" in [p.where for p in err.value.problems]
    spec = load_mapping(_write(tmp_path / "v.yaml", "values:\n  Yes: 5\n  No: 1\n"), mini)
    assert dict(spec.values) == {"yes": 5, "no": 1}


def test_the_csv_form_takes_letters(mini, tmp_path):
    path = _write(tmp_path / "m.csv", "source,target\n" + "".join(
        f"{k},{v}\n" for k, v in BY_LETTER.items()))
    p = read_responses(EXPORTS / "generic_mapped.csv", mini, mapping=path)
    assert p.accepted["QC2"].tolist() == [4.0, 5.0]


# ----------------------------------------------------------------------------- tables

def test_table_mappings_take_headers_letters_and_the_schema(tmp_path):
    org = read_org(TABLES / "org_renamed.csv", wave="2026Q1", mapping=TABLES / "org_mapping.yaml")
    assert org["unit_id"].tolist() == ["HQ", "OPS", "U01", "U02"]
    assert org.attrs["ignored_columns"] == ("D",)            # Cost centre
    exp = read_exposure(TABLES / "exposure_renamed.csv", mapping=TABLES / "exposure_mapping.yaml")
    assert exp["exposure"].tolist() == [1200.0, 800.0] and exp["quarter"].tolist() == ["2026Q1"] * 2
    with pytest.raises(ValidationError) as err:
        read_org(TABLES / "org_renamed.csv", wave="2026Q1",
                 mapping={"columns": {"A": "unit_id", "B": "parent_id"}, "values": {"x": 1},
                          "absent": ["name"], "colums": {}})
    wheres = sorted(p.where for p in err.value.problems)
    assert wheres == ["", "absent", "values"]
    assert "responses only" in str(err.value) and "unmapped:" in str(err.value)


def test_a_table_with_unmapped_error_lists_unclaimed_columns(tmp_path):
    with pytest.raises(ValidationError, match="1 column\\(s\\) match no column .*: E"):
        read_quality(TABLES / "ncr_renamed.csv", kind="nonconformity",
                     mapping={"columns": {"NCR no.": "event_id", "Area": "unit_id",
                                          "Raised on": "opened", "Found by": "detected"},
                              "unmapped": "error"})
    q = read_quality(TABLES / "ncr_renamed.csv", kind="nonconformity",
                     mapping=TABLES / "ncr_mapping.yaml")   # Notes: ignore
    assert q["event_id"].tolist() == ["NCR-17", "NCR-18"]


# ----------------------------------------------------------------------------- the CLI

@pytest.fixture
def ws(tmp_path, capsys):
    root = tmp_path / "ws"
    assert main(["--workspace", str(root), "init"]) == EXIT_OK
    capsys.readouterr()
    return root


def run(capsys, root, *argv):
    code = main(["--workspace", str(root), *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(("kind", "file", "extra", "not_read"), [
    ("org", "org_renamed.csv", ("--wave", "2026Q1"), "D"),
    ("headcount", "headcount_renamed.csv", ("--wave", "2026Q1"), "C"),
    ("quality", "ncr_renamed.csv", ("--kind", "nonconformity"), "E"),
    ("exposure", "exposure_renamed.csv", (), "D"),
])
def test_every_table_kind_takes_mapping_on_the_command_line(ws, capsys, kind, file, extra,
                                                             not_read):
    path = TABLES / file
    mapping = TABLES / file.replace("_renamed.csv", "_mapping.yaml")
    code, out, err = run(capsys, ws, "ingest", kind, path, *extra)
    assert code == EXIT_BAD_INPUT and "--mapping" in err     # the hint now has an option
    code, out, err = run(capsys, ws, "ingest", kind, path, *extra, "--mapping", mapping)
    assert code == EXIT_OK, err
    rows = len(pd.read_csv(path))
    assert f"rows in {rows} = accepted {rows}" in out
    assert f"columns not read (no column of this table, or 'ignore'): 1 ({not_read})" in out
    ws_ = Workspace.open(ws)
    stored = {"org": lambda: ws_.org("2026Q1"), "headcount": lambda: ws_.headcount("2026Q1"),
              "quality": ws_.quality_events, "exposure": ws_.exposure}[kind]()
    assert len(stored) == rows


def test_responses_on_the_command_line_report_what_unmapped_ignore_dropped(ws, capsys, tmp_path):
    path = _extra_columns(tmp_path)
    mapping = _write(tmp_path / "m.yaml", yaml.safe_dump({"columns": BY_LETTER,
                                                          "unmapped": "ignore"}))
    code, out, err = run(capsys, ws, "--instrument", MINI, "ingest", "responses", path,
                         "--wave", "2026Q1", "--mapping", mapping)
    assert code == EXIT_OK, err
    assert "columns dropped by 'unmapped: ignore': 2 (K, L)" in out
    assert CANARY not in out + err
    assert len(Workspace.open(ws).responses("2026Q1")) == 2


def test_a_bad_mapping_on_the_command_line_lists_the_schema(ws, capsys, tmp_path):
    mapping = _write(tmp_path / "m.yaml", "Team: unit_id\nabsent: []\n")
    code, out, err = run(capsys, ws, "ingest", "org", TABLES / "org_renamed.csv", "--wave",
                         "2026Q1", "--mapping", mapping)
    assert code == EXIT_BAD_INPUT
    assert err.startswith("culture ingest org:") and "unknown top-level key(s) 'Team'" in err
    assert all(f"{key}:" in err for key in MAPPING_KEYS)


# ----------------------------------------------------------------------------- the documentation

def test_docs_describe_every_key_and_format():
    text = (Path(__file__).parents[1] / "docs" / "mapping.md").read_text(encoding="utf-8")
    for key in MAPPING_KEYS:
        assert f"`{key}`" in text
    for heading in ("Qualtrics", "SurveyMonkey", "Microsoft Forms", "Google Forms", "LimeSurvey",
                    "SPSS", "Plain CSV / XLSX", "Org chart", "Headcount", "QMS register",
                    "Exposure"):
        assert re.search(rf"^### {re.escape(heading)}", text, re.M), heading
    blocks = re.findall(r"```yaml\n(.*?)```", text, re.S)
    assert len(blocks) >= 12
    for block in blocks:  # every example is YAML with the documented keys (or a flat table)
        doc = yaml.safe_load(block)
        assert isinstance(doc, dict) and doc
        if set(doc) & set(MAPPING_KEYS):
            assert set(doc) <= set(MAPPING_KEYS), block
