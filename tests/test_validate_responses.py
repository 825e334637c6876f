"""Row and column validation of survey exports (culture.validate).

Truth here is planted: each test writes a small export whose bad cells are known,
and checks that exactly those rows are rejected, with a reason that names the row and
column and never the cell's content, and that the row accounting of
``culture.frames.ParsedResponses`` holds:
``n_rows == accepted + unique rejected rows + duplicates``.
"""

from __future__ import annotations

import csv
import tempfile
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from culture.errors import ValidationError
from culture.ingest import load_mapping, read_responses
from culture.measure.instrument import load_instrument, parse_instrument

FIX = Path(__file__).parent / "fixtures" / "exports"
HEADER = ["response_id", "employee_id", "unit_id", "tenure", "role_level", "TR1", "TR2", "QC1",
          "QC2", "COMMENTS"]
SECRET = "Xyzzy-Plover-42"  # a distinctive string planted in bad cells


@pytest.fixture(scope="module")
def inst():
    return load_instrument(FIX / "mini-instrument.yaml")


def good_row(i: int) -> list[str]:
    return [f"r-{i}", f"E{i:06d}", "U01" if i % 2 else "U02", "T2", "staff", "4", "3", "5", "2",
            ""]


def write(path: Path, rows: list[list[str]], header: list[str] = HEADER) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows([header, *rows])
    return path


def all_text(p) -> str:
    return "\n".join(p.rejected["reason"].tolist() + p.rejected["column"].astype(str).tolist())


@pytest.mark.parametrize("value", ["0", "6", "99", "3.5", "-1", "4.25", "-99"])
def test_out_of_scale_rejected_not_clipped(tmp_path, inst, value):
    rows = [good_row(1), good_row(2)]
    rows[1][5] = value
    p = read_responses(write(tmp_path / "x.csv", rows), inst)
    assert p.accepted["source_row"].tolist() == [2]
    r = p.rejected
    assert r["source_row"].tolist() == [3] and r["kind"].tolist() == ["invalid"]
    assert r["column"].tolist() == ["TR1"]
    reason = r["reason"].iloc[0]
    assert "outside the scale" in reason and "1..5" in reason and "column F" in reason
    assert "never clipped" in reason
    assert p.accounted()


def test_labels_folded(tmp_path, inst):
    rows = [good_row(i) for i in range(1, 6)]
    variants = ["AGREE", "  strongly   disagree ", "Neither Agree Nor Disagree",
                "Don\u2019t know / Not applicable", "\uff21gree"]  # fullwidth A: NFKC folds it
    for r, v in zip(rows, variants, strict=True):
        r[7] = v
    p = read_responses(write(tmp_path / "x.csv", rows), inst)
    assert p.accepted["QC1"].tolist()[:3] == [4.0, 1.0, 3.0]
    assert np.isnan(p.accepted["QC1"].iloc[3])  # declared non-substantive -> missing
    assert p.accepted["QC1"].iloc[4] == 4.0
    assert p.rejected.empty


@pytest.mark.parametrize("value", ["N/A", "Do not know", "Sorta agree", "Agreee", SECRET])
def test_unknown_label_is_row_error_never_missing(tmp_path, inst, value):
    rows = [good_row(1), good_row(2)]
    rows[0][6] = value
    p = read_responses(write(tmp_path / "x.csv", rows), inst)
    assert p.accepted["source_row"].tolist() == [3]
    reason = p.rejected["reason"].iloc[0]
    assert "not a label of the scale" in reason and "TR2" in reason
    assert value not in all_text(p)


def test_na_allowed_only_when_declared(tmp_path, inst):
    doc = yaml.safe_load((FIX / "mini-instrument.yaml").read_text())
    doc["scale"]["non_substantive"] = {9: "Don't know / not applicable", 8: "N/A"}
    with_na = parse_instrument(doc)
    rows = [good_row(1), good_row(2), good_row(3)]
    rows[0][6] = "n/a"
    rows[1][6] = "8"
    p = read_responses(write(tmp_path / "x.csv", rows), with_na)
    assert p.rejected.empty and p.accepted["TR2"].iloc[:2].isna().all()
    without = read_responses(tmp_path / "x.csv", inst)  # same file, N/A not declared
    assert without.rejected["source_row"].tolist() == [2, 3]


def test_demographics(tmp_path, inst):
    rows = [good_row(i) for i in range(1, 6)]
    rows[0][3:5] = ["", ""]  # blank -> missing code
    rows[1][3:5] = ["3 to 10 years", "team leader or supervisor"]  # labels
    rows[2][3:5] = ["t4", "MANAGER"]  # codes, any case
    rows[3][3:5] = ["Prefer not to say", "X"]
    rows[4][3] = "T9"  # unknown band
    p = read_responses(write(tmp_path / "x.csv", rows), inst)
    a = p.accepted
    assert a["tenure"].tolist() == ["X", "T3", "T4", "X"]
    assert a["role_level"].tolist() == ["X", "lead", "manager", "X"]
    r = p.rejected
    assert r["source_row"].tolist() == [6] and r["column"].tolist() == ["tenure"]
    assert "T1, T2, T3, T4, X" in r["reason"].iloc[0] and "T9" not in r["reason"].iloc[0]


def test_missing_unit_is_row_error(tmp_path, inst):
    rows = [good_row(1), good_row(2)]
    rows[1][2] = "  "
    p = read_responses(write(tmp_path / "x.csv", rows), inst)
    assert p.rejected["source_row"].tolist() == [3]
    assert "unit_id is missing" in p.rejected["reason"].iloc[0]


def test_every_problem_of_a_row_is_listed(tmp_path, inst):
    rows = [good_row(1), good_row(2)]
    rows[1][2] = ""
    rows[1][5] = "7"
    rows[1][6] = SECRET
    rows[1][9] = "=1+1"
    p = read_responses(write(tmp_path / "x.csv", rows), inst)
    assert sorted(p.rejected["column"]) == ["COMMENTS", "TR1", "TR2", "unit_id"]
    assert p.invalid_rows == 1 and p.accounted()


def test_unknown_columns_are_file_errors_listing_all(tmp_path, inst):
    header = [*HEADER, "Bonus question", "Another one"]
    rows = [[*good_row(1), "a", "b"]]
    with pytest.raises(ValidationError) as err:
        read_responses(write(tmp_path / "x.csv", rows, header), inst)
    msg = str(err.value)
    assert "'Bonus question'" in msg and "'Another one'" in msg and "column K" in msg
    ok = read_responses(tmp_path / "x.csv", inst,
                        mapping={"Bonus question": "ignore", "Another one": "ignore"})
    assert len(ok.accepted) == 1


def test_renamed_question_needs_mapping(tmp_path, inst):
    header = [h if h != "QC2" else "Problems get fixed at their root cause" for h in HEADER]
    path = write(tmp_path / "x.csv", [good_row(1)], header)
    with pytest.raises(ValidationError) as err:
        read_responses(path, inst)
    msg = str(err.value)
    assert "Problems get fixed" in msg and "QC2" in msg and "2 problem(s)" in msg
    p = read_responses(path, inst, mapping={"Problems get fixed at their root cause": "QC2"})
    assert p.accepted["QC2"].tolist() == [2.0]


def test_absent_items_declared_in_mapping(tmp_path, inst):
    header = [h for h in HEADER if h not in ("QC2", "role_level")]
    rows = [[c for h, c in zip(HEADER, good_row(1), strict=True) if h in header]]
    path = write(tmp_path / "x.csv", rows, header)
    with pytest.raises(ValidationError, match="QC2, role_level|role_level.*QC2"):
        read_responses(path, inst)
    p = read_responses(path, inst, mapping={"absent": ["QC2", "role_level"]})
    assert p.accepted["QC2"].isna().all() and p.accepted["role_level"].tolist() == ["X"]


def test_no_unit_column(tmp_path, inst):
    header = [h for h in HEADER if h != "unit_id"]
    rows = [[c for h, c in zip(HEADER, good_row(1), strict=True) if h != "unit_id"]]
    with pytest.raises(ValidationError, match="no unit_id column"):
        read_responses(write(tmp_path / "x.csv", rows, header), inst)


def test_two_columns_one_target(tmp_path, inst):
    header = [*HEADER, "I trust my lead"]
    with pytest.raises(ValidationError, match="both map to 'TR1'"):
        read_responses(write(tmp_path / "x.csv", [[*good_row(1), "4"]], header), inst)


def test_bad_mapping_lists_every_problem(inst, tmp_path):
    bad = {"columns": {"A": "TR9", "B": "unit", "C": "ignore"}, "values": {"A1": 7},
           "absent": ["nope"], "extra": 1}
    with pytest.raises(ValidationError) as err:
        load_mapping(bad, inst)
    assert len(err.value.problems) == 5
    path = tmp_path / "m.yaml"
    path.write_text("columns: [unclosed\n")
    with pytest.raises(ValidationError, match="YAML"):
        load_mapping(path, inst)
    (tmp_path / "m.csv").write_text("from,to\nA,TR1\n")
    with pytest.raises(ValidationError, match="source,target"):
        load_mapping(tmp_path / "m.csv", inst)


def test_duplicate_response_ids(tmp_path, inst):
    rows = [good_row(1), good_row(2), good_row(1), good_row(3), good_row(2)]
    rows[1][5] = "8"  # first r-2 is invalid, so the later r-2 is kept, not a duplicate
    p = read_responses(write(tmp_path / "x.csv", rows), inst)
    assert p.accepted["source_row"].tolist() == [2, 5, 6]
    assert p.duplicates.to_dict("list") == {"source_row": [4], "duplicate_of": [2]}
    assert p.rejected["source_row"].tolist() == [3]
    assert p.n_rows == 5 and p.accounted()


def test_all_rejected_is_a_file_error_without_content(tmp_path, inst):
    rows = [good_row(1), good_row(2)]
    rows[0][5] = SECRET
    rows[1][2] = ""
    rows[1][9] = "=" + SECRET
    with pytest.raises(ValidationError) as err:
        read_responses(write(tmp_path / "secret.csv", rows), inst)
    msg = str(err.value)
    assert "all 2 data rows were rejected" in msg
    assert "secret.csv" in msg and "row 2" in msg and "row 3" in msg and "column F" in msg
    assert SECRET not in msg


def test_qualtrics_status_and_finished_values(tmp_path, inst):
    src = (FIX / "qualtrics_current.csv").read_text(encoding="utf-8")
    # row 4: unknown Status; row 8: Finished not readable (both substrings are unique).
    src = src.replace(",0,192.0.2.10,", ",77,192.0.2.10,").replace(",700,1,", ",700,maybe,")
    path = tmp_path / "q.csv"
    path.write_text(src, encoding="utf-8")
    p = read_responses(path, inst)
    assert p.accepted["source_row"].tolist() == [7]
    bad = p.rejected[p.rejected["kind"] == "invalid"]
    assert bad["source_row"].tolist() == [4, 8]
    assert "Status" in bad["reason"].iloc[0] and "Finished" in bad["reason"].iloc[1]
    assert "77" not in all_text(p) and "maybe" not in all_text(p)


def test_wave_format_checked(tmp_path, inst):
    header = [*HEADER, "wave"]
    rows = [[*good_row(1), "2026Q1"], [*good_row(2), "Spring 2026"]]
    p = read_responses(write(tmp_path / "x.csv", rows, header), inst)
    assert p.accepted["wave"].tolist() == ["2026Q1"]
    assert "YYYYQn" in p.rejected["reason"].iloc[0]


def test_does_not_touch_the_file(tmp_path, inst):
    path = write(tmp_path / "x.csv", [good_row(1)])
    before = path.read_bytes()
    read_responses(path, inst)
    assert path.read_bytes() == before


# --------------------------------------------------------------------------- property test

BAD_NUMBERS = ["0", "6", "99", "3.5", "-1", "10", "4.25", "-99"]
CORRUPTIBLE = [2, 3, 4, 5, 6, 7, 8, 9]  # unit_id, demographics, items, comment
label_token = st.text(alphabet="bcdfghjkmnpqrstvwxz", min_size=5, max_size=9).map(
    lambda s: "Zq" + s)
formula_token = st.sampled_from(["=SUM(A1:A3)", "=cmd|' /C calc'!A0", "=HYPERLINK(\"x\")",
                                 "=1+1"])
corruption = st.one_of(
    st.tuples(st.just("number"), st.sampled_from(BAD_NUMBERS)),
    st.tuples(st.just("label"), label_token),
    st.tuples(st.just("blank"), st.just("")),
    st.tuples(st.just("formula"), formula_token))


def _expected_bad(col: int, kind: str) -> bool:
    if kind == "formula":
        return True
    if kind == "blank":
        return col == 2  # a blank unit is an error; blank answers / demographics are missing
    if col in (2, 9):
        return False  # any unit code is allowed (no org tree here); comments are free text
    if kind == "number" and col in (3, 4):
        return True  # no numeric demographic codes
    return True


@settings(max_examples=60, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(n=st.integers(3, 14),
       hits=st.lists(st.tuples(st.integers(0, 13), st.sampled_from(CORRUPTIBLE), corruption),
                     max_size=12),
       dup_of=st.lists(st.tuples(st.integers(0, 13), st.integers(0, 13)), max_size=3))
def test_random_corruption_accounts_for_every_row(inst, n, hits, dup_of):
    rows = [good_row(i) for i in range(n)]
    for a, b in dup_of:
        if a < n and b < a:
            rows[a][0] = rows[b][0]  # a repeated response id
    bad_rows: set[int] = set()
    planted: list[str] = []
    for r, c, (_kind, value) in hits:
        if r >= n:
            continue
        rows[r][c] = value
        planted.append(value)
    for r in range(n):  # recompute from the final cells (a later hit may overwrite)
        for c in CORRUPTIBLE:
            v = rows[r][c]
            kind = ("formula" if v.startswith("=") else "blank" if v == "" else
                    "number" if v in BAD_NUMBERS else "label" if v.startswith("Zq") else None)
            if kind and _expected_bad(c, kind):
                bad_rows.add(r)
    good = [r for r in range(n) if r not in bad_rows]
    seen: dict[str, int] = {}
    expected_dups = {}
    for r in good:
        rid = rows[r][0]
        if rid in seen:
            expected_dups[r + 2] = seen[rid] + 2
        else:
            seen[rid] = r
    # Only strings no message could contain by coincidence (row numbers are digits).
    distinctive = [v for v in planted if v and not v.isdigit()]
    with tempfile.TemporaryDirectory() as tmp:
        path = write(Path(tmp) / "x.csv", rows)
        try:
            p = read_responses(path, inst)
        except ValidationError as err:
            assert not good, "a file with good rows must not fail as a whole"
            assert "rejected" in str(err)
            assert not any(v in str(err) for v in distinctive)
            return
    assert p.n_rows == n
    assert p.accounted()
    assert set(p.rejected["source_row"]) == {r + 2 for r in bad_rows}
    assert dict(zip(p.duplicates["source_row"], p.duplicates["duplicate_of"],
                    strict=True)) == expected_dups
    assert len(p.accepted) == len(good) - len(expected_dups)
    text = all_text(p)
    assert not any(v in text for v in distinctive)


def test_dates_to_naive_utc():
    """UTC offsets by arithmetic; zone rules from the IANA tz database (CET = UTC+1 until
    DST starts on 31 March 2024). dateutil reads 'GMT+1' POSIX-style (one hour *behind*),
    so Google's 'GMT-5' must come out 5 hours *behind* UTC, not ahead."""
    import pandas as pd

    from culture.ingest.responses import _parse_dates

    s = pd.Series(["2024-03-04 09:12:44", "", "not a date", "2024/03/04 9:12:44 PM GMT-5",
                   "3/4/2024 9:12", "2024-03-04T09:12:44Z"])
    assert _parse_dates(s, None).tolist()[3] == pd.Timestamp("2024-03-05 02:12:44")
    berlin = _parse_dates(s, "Europe/Berlin")
    assert berlin.iloc[0] == pd.Timestamp("2024-03-04 08:12:44")
    assert berlin.iloc[4] == pd.Timestamp("2024-03-04 08:12:00")  # US month/day order
    assert berlin.iloc[5] == pd.Timestamp("2024-03-04 09:12:44")  # explicit Z wins
    assert berlin.iloc[1:3].isna().all()
    assert _parse_dates(s, "Mars/Olympus").iloc[0] is pd.NaT  # unknown zone: time unknown


def test_demographic_without_missing_code(tmp_path):
    doc = yaml.safe_load((FIX / "mini-instrument.yaml").read_text())
    del doc["demographics"][1]["missing"]
    no_missing = parse_instrument(doc)
    rows = [good_row(1), good_row(2)]
    rows[0][4] = ""
    p = read_responses(write(tmp_path / "x.csv", rows), no_missing)
    assert p.rejected.empty and p.accepted["role_level"].tolist() == [None, "staff"]
