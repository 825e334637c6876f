"""Each survey tool's export fixture parses to the expected canonical frame.

Fixtures are built by tests/fixtures/exports/build_fixtures.py from the layouts in
/work/shared/reference/export-formats.md ("formats §n" below), whose sources are the
tools' own documentation (Qualtrics "Understanding your dataset", SurveyMonkey and
Microsoft Forms help pages, LimeSurvey CsvWriter.php, pyreadstat docs). The expected
values are the answers planted in each fixture, so the truth is known by construction.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from culture import frames
from culture.ingest import FORMATS, detect_format, read_responses
from culture.measure.instrument import load_instrument

FIX = Path(__file__).parent / "fixtures" / "exports"
ITEMS = ["TR1", "TR2", "QC1", "QC2"]
NAN = np.nan


@pytest.fixture(scope="module")
def inst():
    return load_instrument(FIX / "mini-instrument.yaml")


def items(parsed) -> list[list[float]]:
    return parsed.accepted[ITEMS].to_numpy(dtype=float).tolist()


def same(got: list[list[float]], expected: list[list[float]]) -> bool:
    return np.array_equal(np.array(got, float), np.array(expected, float), equal_nan=True)


@pytest.mark.parametrize(("name", "fmt"), [
    ("qualtrics_current.csv", "qualtrics"), ("qualtrics_legacy.csv", "qualtrics"),
    ("qualtrics_choice_text.tsv", "qualtrics"), ("surveymonkey.csv", "surveymonkey"),
    ("msforms.xlsx", "msforms"), ("googleforms.csv", "googleforms"),
    ("limesurvey_codes.csv", "limesurvey"), ("limesurvey_fulltext.csv", "limesurvey"),
    ("spss.sav", "spss"), ("generic_ids.csv", "csv"), ("generic_texts_cp1252.csv", "csv"),
    ("generic_formula.xlsx", "xlsx")])
def test_detect_format(name, fmt):
    assert detect_format(FIX / name) == fmt
    assert fmt in FORMATS


def test_canonical_columns_and_dtypes(inst):
    p = read_responses(FIX / "qualtrics_current.csv", inst)
    a = p.accepted
    expected = [frames.RESPONSE_ID, frames.RESPONDENT, frames.WAVE, frames.UNIT, "tenure",
                "role_level", frames.STARTED, frames.SUBMITTED, frames.DURATION, frames.FINISHED,
                *ITEMS, "COMMENTS", frames.SOURCE_ROW]
    assert list(a.columns) == expected
    assert a[frames.STARTED].dtype == "datetime64[ns]"
    assert a[frames.SUBMITTED].dtype == "datetime64[ns]"
    assert all(a[i].dtype == "float64" for i in ITEMS)
    assert a[frames.DURATION].dtype == "float64"
    assert a[frames.FINISHED].dtype == bool
    assert p.accounted()


def test_qualtrics_current(inst):
    """formats §1: 3 header rows; Status 1 = preview and 8 = spam are not real responses;
    Finished=0 kept and flagged; identifying metadata dropped; dates in the ImportId zone."""
    p = read_responses(FIX / "qualtrics_current.csv", inst)
    a = p.accepted
    assert p.format == "qualtrics" and p.n_rows == 5
    assert a["source_row"].tolist() == [4, 7, 8]  # data start at spreadsheet row 4
    assert a["response_id"].tolist() == ["R_1aBcDeFgHiJkLmN", "R_4dEfGhIjKlMnOpQ",
                                         "R_5eFgHiJkLmNoPqR"]
    assert a["respondent"].tolist() == ["E000123", "E000124", "E000125"]
    assert a["unit_id"].tolist() == ["007", "007", "U02"]  # leading zeros kept
    assert a["tenure"].tolist() == ["T2", "X", "T4"]
    assert a["role_level"].tolist() == ["staff", "lead", "manager"]
    # 9 = "Don't know / not applicable" is declared non-substantive -> missing
    assert same(items(p), [[4, 5, 4, 3], [2, NAN, NAN, NAN], [5, 4, NAN, 2]])
    assert a["finished"].tolist() == [True, False, True]
    assert a["duration_s"].tolist() == [455.0, 180.0, 700.0]
    # America/Denver is UTC-7 until DST starts on 10 March 2024 (IANA tz database).
    assert a["started_at"].iloc[0] == pd.Timestamp("2024-03-04 16:12:44")
    assert a["submitted_at"].iloc[2] == pd.Timestamp("2024-03-05 21:41:40")
    assert a["COMMENTS"].tolist() == ["Less churn, please", None,
                                      "Two things:\nmore time, fewer meetings"]
    rej = p.rejected
    assert rej["source_row"].tolist() == [5, 6]
    assert set(rej["kind"]) == {"excluded"}
    assert "preview" in rej["reason"].iloc[0] and "spam" in rej["reason"].iloc[1]
    assert set(p.dropped_columns) == {"IPAddress", "RecipientLastName", "RecipientFirstName",
                                      "RecipientEmail", "ExternalReference", "LocationLatitude",
                                      "LocationLongitude"}
    assert not any("192.0.2" in str(v) for v in a.to_numpy().ravel())


def test_qualtrics_partial_reject(inst):
    p = read_responses(FIX / "qualtrics_current.csv", inst, partial="reject")
    assert p.accepted["source_row"].tolist() == [4, 8]
    row7 = p.rejected[p.rejected["source_row"] == 7]
    assert row7["kind"].tolist() == ["excluded"]
    assert "Finished = 0" in row7["reason"].iloc[0]
    assert p.accounted()


def test_qualtrics_legacy(inst):
    """formats §1 legacy: V1..V10 over ResponseID..Finished, BOM, trailing comma."""
    p = read_responses(FIX / "qualtrics_legacy.csv", inst)
    a = p.accepted
    assert a["source_row"].tolist() == [3, 4]
    assert a["response_id"].tolist() == ["R_6fGhIjKlMnOpQrS", "R_7gHiJkLmNoPqRsT"]
    assert a["respondent"].isna().all()  # anonymous: no employee id column
    assert same(items(p), [[4, 4, 5, 5], [2, 3, NAN, 1]])
    assert a["started_at"].iloc[1] == pd.Timestamp("2013-05-09 11:00:00")
    assert set(p.dropped_columns) == {"Name", "ExternalDataReference", "EmailAddress",
                                      "IPAddress", "LocationLatitude", "LocationLongitude",
                                      "LocationAccuracy"}


def test_qualtrics_tsv_utf16_choice_text(inst):
    """formats §1: TSV in UTF-16, choice-text values, German metadata labels, Status label."""
    p = read_responses(FIX / "qualtrics_choice_text.tsv", inst)
    a = p.accepted
    assert a["source_row"].tolist() == [4, 6]
    # "strongly agree" and "  Disagree " fold to the scale labels; curly apostrophe folds too.
    assert same(items(p), [[4, 5, NAN, 2], [3, NAN, NAN, NAN]])
    assert a["tenure"].tolist() == ["T4", "X"]  # labels -> codes; "Prefer not to say" -> X
    assert a["finished"].tolist() == [True, False]
    assert a["COMMENTS"].iloc[0].startswith("\u039b\u03b9\u03b3\u03cc")  # Greek survived
    assert "\u4f1a\u8b70" in a["COMMENTS"].iloc[0]  # and Japanese
    assert p.rejected["source_row"].tolist() == [5]  # "Survey Preview" label


def test_surveymonkey(inst):
    """formats §2: two header rows, matrix statements in row 2, repeated Respondent ID."""
    p = read_responses(FIX / "surveymonkey.csv", inst)
    a = p.accepted
    assert a["source_row"].tolist() == [3, 4]
    assert a["response_id"].tolist() == ["118500012345", "118500012346"]
    assert a["tenure"].tolist() == ["T2", "T1"]
    assert a["role_level"].tolist() == ["lead", "staff"]
    assert same(items(p), [[4, 5, 3, 2], [NAN, 4, 4, 4]])
    assert p.duplicates.to_dict("list") == {"source_row": [5], "duplicate_of": [3]}
    assert a["started_at"].iloc[0] == pd.Timestamp("2024-03-04 09:12:00")
    assert set(p.dropped_columns) == {"IP Address", "Email Address", "First Name", "Last Name",
                                      "Custom Data 1"}
    assert p.accounted()


def test_msforms(inst):
    """formats §3: ID/Start/Completion/Email/Name, statement headers, labels, reordered columns."""
    p = read_responses(FIX / "msforms.xlsx", inst)
    a = p.accepted
    assert a["response_id"].tolist() == ["1", "2"]
    assert a["respondent"].tolist() == ["000123", "000124"]
    assert a["unit_id"].tolist() == ["007", "U02"]
    assert same(items(p), [[4, 5, NAN, 2], [3, 2, NAN, 4]])
    assert a["tenure"].tolist() == ["T4", "X"]
    assert a["started_at"].iloc[0] == pd.Timestamp("2024-03-04 09:12:44")
    assert a["submitted_at"].iloc[1] == pd.Timestamp("2024-03-04 10:06:30")
    assert set(p.dropped_columns) == {"Email", "Name"}


def test_googleforms(inst):
    """formats §4: Timestamp with GMT+1 (= UTC+1), grid columns Question [Row]."""
    p = read_responses(FIX / "googleforms.csv", inst)
    a = p.accepted
    assert a["response_id"].tolist() == ["row-2", "row-3"]  # Google Forms has no response id
    # 9:12:44 AM at UTC+1 is 08:12:44 UTC; 1:05:09 PM at UTC+1 is 12:05:09 UTC.
    assert a["submitted_at"].tolist() == [pd.Timestamp("2024-03-04 08:12:44"),
                                          pd.Timestamp("2024-03-04 12:05:09")]
    assert same(items(p), [[4, 4, 5, 2], [1, 2, 3, 4]])
    assert a["tenure"].tolist() == ["T3", "X"]
    assert p.dropped_columns == ("Email Address",)


def test_limesurvey_codes_with_mapping(inst):
    """formats §5: BOM, ';', quoted, CRLF, blank last line; G02Q05[SQ001] codes; empty
    submitdate = incomplete; token and ipaddr dropped."""
    p = read_responses(FIX / "limesurvey_codes.csv", inst,
                       mapping=FIX / "limesurvey_mapping.yaml")
    a = p.accepted
    assert p.n_rows == 3  # the blank last line is not a data row
    assert a["response_id"].tolist() == ["7", "8", "9"]
    assert same(items(p), [[4, 2, 5, 3], [3, NAN, NAN, NAN], [NAN, 1, 2, NAN]])
    assert a["finished"].tolist() == [True, False, True]
    assert a["duration_s"].tolist() == [412.5, 95.0, 300.0]
    assert set(p.dropped_columns) == {"token", "ipaddr"}
    rejected = read_responses(FIX / "limesurvey_codes.csv", inst, partial="reject",
                              mapping=FIX / "limesurvey_mapping.yaml")
    assert rejected.accepted["response_id"].tolist() == ["7", "9"]
    assert "submitdate is empty" in rejected.rejected["reason"].iloc[0]


def test_limesurvey_codes_need_mapping(inst):
    from culture.errors import ValidationError

    with pytest.raises(ValidationError) as err:
        read_responses(FIX / "limesurvey_codes.csv", inst)
    msg = str(err.value)
    assert "G02Q05[SQ001]" in msg and "TR1" in msg  # names the unmapped column and the item


def test_limesurvey_fulltext(inst):
    p = read_responses(FIX / "limesurvey_fulltext.csv", inst)
    a = p.accepted
    assert same(items(p), [[4, 4, 4, 5], [2, 1, NAN, 3]])
    assert a["started_at"].iloc[0] == pd.Timestamp("2024-03-04 09:11:00")
    assert a["role_level"].tolist() == ["staff", "lead"]


def test_spss(inst):
    """formats §6: codes with value labels; -99 declared user-missing -> missing; 9 -> missing
    (non-substantive); tenure stored as labelled numbers 1..4, 99."""
    p = read_responses(FIX / "spss.sav", inst)
    a = p.accepted
    assert a["source_row"].tolist() == [1, 2, 3]  # SPSS Data View case numbers
    assert a["respondent"].tolist() == ["000801", "000802", "000803"]
    assert same(items(p), [[4, 3, 5, 1], [NAN, 2, 5, NAN], [5, NAN, 1, 2]])
    assert a["tenure"].tolist() == ["T1", "T4", "X"]
    assert a["COMMENTS"].tolist() == [None, "Better tools", None]


def test_generic_ids(inst):
    p = read_responses(FIX / "generic_ids.csv", inst)
    a = p.accepted
    assert a["respondent"].tolist() == ["000123", "000124", "000125"]
    assert a["unit_id"].tolist() == ["007", "007", "0100"]
    assert a["wave"].tolist() == ["2026Q1"] * 3
    assert same(items(p), [[4, 5, 3, 2], [1, NAN, NAN, 5], [3, 3, 3, 3]])
    assert a["COMMENTS"].tolist() == [None, 'Say "thanks" more often', None]


def test_generic_texts_cp1252_semicolon(inst):
    p = read_responses(FIX / "generic_texts_cp1252.csv", inst)
    a = p.accepted
    assert same(items(p), [[4, 4, NAN, 5], [2, 3, 4, 4]])
    assert a["COMMENTS"].iloc[0] == "Qualit\u00e4t \u2013 mehr Zeit"
    assert a["tenure"].tolist() == ["T1", "T4"]


@pytest.mark.parametrize("mapping", ["generic_mapping.yaml", "generic_mapping.csv"])
def test_generic_mapped(inst, mapping):
    p = read_responses(FIX / "generic_mapped.csv", inst, mapping=FIX / mapping)
    a = p.accepted
    assert a["unit_id"].tolist() == ["U01", "U02"]
    assert a["respondent"].tolist() == ["E000701", "E000702"]
    assert same(items(p), [[4, 4, 4, 4], [2, 2, 1, 5]])
    assert a["COMMENTS"].tolist() == ["Good", None]


def test_generic_xlsx_formula_cell(inst):
    p = read_responses(FIX / "generic_formula.xlsx", inst)
    assert p.accepted["source_row"].tolist() == [2, 4]
    assert same(items(p), [[4, 5, 3, 2], [1, 2, 3, 4]])  # 5.0 stored as float reads as 5
    r = p.rejected
    assert r["source_row"].tolist() == [3]
    assert "formula" in r["reason"].iloc[0] and "2+2" not in r["reason"].iloc[0]


def test_fmt_override(inst):
    # A Qualtrics file forced through the generic reader fails loudly, never half-parsed.
    from culture.errors import ValidationError

    with pytest.raises(ValidationError):
        read_responses(FIX / "qualtrics_current.csv", inst, fmt="csv")
    p = read_responses(FIX / "generic_ids.csv", inst, fmt="csv")
    assert p.format == "csv"


def test_a_mapped_identifying_column_is_kept_and_named(inst, tmp_path):
    """A Qualtrics panel carries the employee id in ExternalReference: mapped to
    respondent, the reader keeps it (instead of dropping it as identifying) and the
    import says which column each id came from."""
    import csv

    with (FIX / "qualtrics_current.csv").open(newline="", encoding="utf-8-sig") as fh:
        rows = list(csv.reader(fh))
    ext, emp = rows[0].index("ExternalReference"), rows[0].index("employee_id")
    for row in rows[3:]:  # the panel's ids sit in ExternalReference; employee_id is unused
        row[ext], row[emp] = row[emp], ""
    export = tmp_path / "panel.csv"
    with export.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)
    p = read_responses(export, inst, mapping={
        "columns": {"ExternalReference": "respondent", "employee_id": "ignore"}})
    assert "ExternalReference" not in p.dropped_columns
    assert p.accepted["respondent"].notna().sum() >= 2
    ids = dict(p.id_columns)
    assert ids["respondent id"] == "M (ExternalReference)"
    assert ids["response id"].endswith("(ResponseId)")
