"""Org chart, headcount, quality registers and exposure readers (culture.io).

The expected frames are the planted contents of tests/fixtures/exports/{org,headcount,
nonconformity,exposure}.csv; the bad fixtures plant one instance of every documented
problem (two roots, a cycle, a self-loop, an unknown parent, duplicate and blank ids;
closed before opened, an impossible date 2024-02-30, unknown unit, severity and
detection values) and the tests check that one ValidationError lists all of them.
The canonical columns are those documented in culture/frames.py.

What each register kind must carry is what the culture -> quality panel uses
(culture/stats/panel.py: _check_events, _counts, _capa), checked at read time:
REQUIRED below is that specification, written out independently of the reader.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from culture import frames
from culture.errors import ConfigError, ValidationError
from culture.ingest import read_exposure, read_headcount, read_org, read_quality
from culture.ingest.registers import QUALITY_REQUIRED, check_quality

FIX = Path(__file__).parent / "fixtures" / "exports"


@pytest.fixture(scope="module")
def org():
    return read_org(FIX / "org.csv", wave="2026Q1")


def test_org(org):
    assert list(org.columns) == ["wave", "unit_id", "parent_id", "name", "level"]
    assert org["unit_id"].tolist() == ["HQ", "OPS", "U01", "U02", "007"]
    assert org["parent_id"].tolist() == [None, "HQ", "OPS", "OPS", "HQ"]
    assert org["level"].tolist() == [0, 1, 2, 2, 1]
    assert org["wave"].tolist() == ["2026Q1"] * 5


def test_org_lists_every_problem():
    with pytest.raises(ValidationError) as err:
        read_org(FIX / "org_bad.csv")
    msg = str(err.value)
    wheres = [p.where for p in err.value.problems]
    assert "exactly one root" in msg and "rows: 2, 3" in msg  # HQ and HQ2
    assert "row 6, column parent_id" in wheres  # U01 -> NOPE
    assert "row 7, column unit_id" in wheres and "first at row 6" in msg  # duplicate U01
    assert "row 8, column unit_id" in wheres  # blank id
    assert {"unit 'A'", "unit 'B'", "unit 'S'"} <= set(wheres)  # loop A<->B, self-loop S
    assert "bad" not in msg.lower().replace("org_bad", "")


def test_org_per_wave_and_mapping(tmp_path):
    path = tmp_path / "o.csv"
    path.write_text("Unit,Reports to,Title,wave\nHQ,,Head,2026Q1\nA,HQ,Alpha,2026Q1\n"
                    "HQ,,Head,2026Q2\nA,HQ,Alpha,2026Q2\nB,A,Beta,2026Q2\n")
    o = read_org(path, mapping={"Unit": "unit_id", "Reports to": "parent_id", "Title": "name"})
    assert o.groupby("wave").size().to_dict() == {"2026Q1": 2, "2026Q2": 3}
    assert o["level"].tolist() == [0, 1, 0, 1, 2]
    with pytest.raises(ValidationError, match="required column 'parent_id'"):
        read_org(path)


def test_headcount(org, tmp_path):
    h = read_headcount(FIX / "headcount.csv", org=org)
    assert list(h.columns) == ["wave", "unit_id", "invited"]
    assert h["invited"].tolist() == [12, 8, 5] and h["invited"].dtype == "int64"
    assert h["unit_id"].tolist() == ["U01", "U02", "007"]
    bad = tmp_path / "h.csv"
    bad.write_text("unit_id,invited\nU01,12\nU01,3\nU09,-1\nU02,2.5\n")
    with pytest.raises(ValidationError) as err:
        read_headcount(bad, org=org, wave="2026Q1")
    wheres = [p.where for p in err.value.problems]
    assert wheres.count("row 4, column invited") == 1 and "row 5, column invited" in wheres
    assert "row 3, column unit_id" in wheres  # duplicate U01
    assert "row 4, column unit_id" in wheres  # U09 not in the org tree


def test_quality(org):
    q = read_quality(FIX / "nonconformity.csv", kind="nonconformity", org=org)
    assert list(q.columns) == ["event_id", "kind", "unit_id", "opened", "closed", "due",
                               "severity", "detected"]
    assert q["event_id"].tolist() == ["NC-0001", "NC-0002", "NC-0003"]
    assert q["kind"].tolist() == ["nonconformity"] * 3
    assert q["opened"].tolist() == [pd.Timestamp("2026-01-05"), pd.Timestamp("2026-01-07"),
                                    pd.Timestamp("2026-02-01")]
    assert pd.isna(q["closed"].iloc[1]) and pd.isna(q["due"].iloc[2])
    assert q["severity"].tolist() == ["minor", "major", "critical"]
    assert q["detected"].tolist() == ["internal", "customer", "internal"]
    assert q["opened"].dtype == "datetime64[ns]"
    assert "description" not in q.columns  # free text never enters the workbench
    assert set(q["severity"]) <= set(frames.SEVERITIES)


def test_quality_lists_every_problem(org):
    with pytest.raises(ValidationError) as err:
        read_quality(FIX / "nonconformity_bad.csv", kind="complaint", org=org)
    wheres = [p.where for p in err.value.problems]
    assert "row 2, column closed" in wheres  # closed 2026-01-02 before opened 2026-01-05
    assert "row 3, column opened" in wheres  # 2026-02-30 does not exist
    assert "row 4, column id" in wheres  # NC-1 again
    assert "row 4, column unit_id" in wheres  # U09 not in the org
    assert "row 4, column severity" in wheres and "row 4, column detected" in wheres
    assert "row 5, column id" in wheres and "row 5, column opened" in wheres  # blanks
    assert len(err.value.problems) == 8


def test_quality_kind_and_mapping(tmp_path):
    with pytest.raises(ConfigError, match="kind"):
        read_quality(FIX / "nonconformity.csv", kind="incident")
    path = tmp_path / "c.csv"
    path.write_text("Ref;Site;Raised\nC-1;U01;2026-03-01\nC-2;U02;2026-03-09\n")
    mapping = tmp_path / "m.yaml"
    mapping.write_text("Ref: event_id\nSite: unit_id\nRaised: opened\n")
    c = read_quality(path, kind="complaint", mapping=mapping)
    assert c["event_id"].tolist() == ["C-1", "C-2"]
    assert c["detected"].tolist() == ["customer", "customer"]  # complaints come from customers
    assert c["severity"].tolist() == [None, None]


def test_exposure(org, tmp_path):
    e = read_exposure(FIX / "exposure.csv", org=org)
    assert list(e.columns) == ["unit_id", "quarter", "exposure", "exposure_kind"]
    assert e["exposure"].tolist() == [1200.0, 800.5, 40.0]
    assert e["exposure_kind"].tolist() == ["units"] * 3
    bad = tmp_path / "e.csv"
    bad.write_text("unit_id,quarter,exposure\nU01,2026Q1,0\nU01,2026-1,5\nU01,2026Q1,x\n")
    with pytest.raises(ValidationError) as err:
        read_exposure(bad, org=org)
    wheres = [p.where for p in err.value.problems]
    assert sorted(wheres) == ["row 2, column exposure", "row 3, column quarter",
                      "row 4, column exposure", "row 4, column unit_id"]


# --------------------------------------------------------------------------- model-required fields

# kind -> columns the models need; id/unit/opened place every event in a unit and quarter
REQUIRED = {
    "nonconformity": ("event_id", "unit_id", "opened", "detected"),   # nc_internal/nc_customer
    "audit_finding": ("event_id", "unit_id", "opened", "severity"),   # audit_minor/major/critical
    "complaint": ("event_id", "unit_id", "opened"),                   # customer by definition
    "capa": ("event_id", "unit_id", "opened", "closed", "due"),       # days to close, on time
}
# words of the purpose each missing-column message must give
PURPOSE = {"event_id": "counting it twice", "unit_id": "org unit", "opened": "quarter",
           "detected": "tell internally found from customer-found nonconformities",
           "severity": "audit findings by severity", "closed": "days to close",
           "due": "closed on time"}
HEADER = {"event_id": "id"}  # the documented header of a canonical column, where it differs
# a complete register (every documented column filled); synthetic ids and units
FULL = {"event_id": ["E-1", "E-2", "E-3"], "unit_id": ["U01", "U02", "007"],
        "opened": ["2026-01-05", "2026-01-07", "2026-02-01"],
        "closed": ["2026-01-20", "2026-02-02", "2026-02-03"],
        "due": ["2026-02-05", "2026-02-07", "2026-03-01"],
        "severity": ["minor", "major", "critical"], "detected": ["internal", "customer", "internal"]}


def write_register(path: Path, columns: dict[str, list[str]]) -> Path:
    header = ",".join(HEADER.get(c, c) for c in columns)
    lines = [header] + [",".join(r) for r in zip(*columns.values(), strict=True)]
    path.write_text("\n".join(lines) + "\n")
    return path


def without(column: str, **changes: list[str]) -> dict[str, list[str]]:
    return {c: changes.get(c, v) for c, v in FULL.items() if c != column}


def test_required_columns_are_the_models_needs():
    assert {k: tuple(v) for k, v in QUALITY_REQUIRED.items()} == REQUIRED
    assert set(REQUIRED) == set(frames.QUALITY_KINDS)


@pytest.mark.parametrize(("kind", "column"), [(k, c) for k, cs in REQUIRED.items() for c in cs])
def test_missing_required_column_fails_at_read_time(tmp_path, kind, column):
    path = write_register(tmp_path / "r.csv", without(column))
    with pytest.raises(ValidationError) as err:
        read_quality(path, kind=kind)
    (problem,) = err.value.problems
    assert problem.where == "header"
    assert f"required column {column!r} not found" in problem.message
    assert PURPOSE[column] in problem.message
    assert "mapping file (--mapping)" in problem.message and "mapping={" not in problem.message


def test_missing_column_names_the_allowed_values(tmp_path):
    with pytest.raises(ValidationError) as err:
        read_quality(write_register(tmp_path / "nc.csv", without("detected")), kind="nonconformity")
    assert "allowed values: internal, customer" in str(err.value)
    with pytest.raises(ValidationError) as err:
        read_quality(write_register(tmp_path / "au.csv", without("severity")), kind="audit_finding")
    assert "allowed values: minor, major, critical" in str(err.value)


@pytest.mark.parametrize(("kind", "column"), [(k, c) for k in REQUIRED for c in FULL
                                              if c not in REQUIRED[k]])
def test_columns_no_model_needs_are_optional(tmp_path, kind, column):
    q = read_quality(write_register(tmp_path / "r.csv", without(column)), kind=kind)
    assert len(q) == 3
    if kind == "complaint" and column == "detected":
        assert q["detected"].tolist() == ["customer"] * 3  # complaints come from customers
    else:
        assert q[column].isna().all()


def test_a_mapped_header_satisfies_the_requirement(tmp_path):
    cols = without("detected")
    cols["Found by"] = FULL["detected"]
    path = write_register(tmp_path / "nc.csv", cols)
    mapping = tmp_path / "m.yaml"
    mapping.write_text("Found by: detected\n")
    q = read_quality(path, kind="nonconformity", mapping=mapping)
    assert q["detected"].tolist() == FULL["detected"]


@pytest.mark.parametrize(("kind", "column"), [(k, c) for k, cs in REQUIRED.items() for c in cs
                                              if c != "closed"])
def test_blank_required_cells_name_their_rows(tmp_path, kind, column):
    values = list(FULL[column])
    values[1] = ""  # spreadsheet row 3
    path = write_register(tmp_path / "r.csv", {**FULL, column: values})
    with pytest.raises(ValidationError) as err:
        read_quality(path, kind=kind)
    (problem,) = err.value.problems
    assert problem.where == f"row 3, column {HEADER.get(column, column)}"
    assert "blank" in problem.message and PURPOSE[column] in problem.message


def test_nonconformity_detection_and_audit_severity_must_be_filled(tmp_path):
    nc = write_register(tmp_path / "nc.csv", {**FULL, "detected": ["", "customer", ""]})
    with pytest.raises(ValidationError) as err:
        read_quality(nc, kind="nonconformity")
    assert [p.where for p in err.value.problems] == ["row 2, column detected",
                                                     "row 4, column detected"]
    assert "internal, customer" in str(err.value)
    # the same blanks are fine where no model reads them
    assert read_quality(nc, kind="audit_finding")["detected"].tolist() == [None, "customer", None]
    au = write_register(tmp_path / "au.csv", {**FULL, "severity": ["", "major", "fatal"]})
    with pytest.raises(ValidationError) as err:
        read_quality(au, kind="audit_finding")
    wheres = [p.where for p in err.value.problems]
    assert wheres == ["row 2, column severity", "row 4, column severity"]
    assert "or blank" not in str(err.value)  # a required value has no blank option
    with pytest.raises(ValidationError, match="or blank"):  # optional, but still checked
        read_quality(au, kind="nonconformity")


def test_capa_open_is_fine_but_closed_needs_a_due_date(tmp_path):
    path = write_register(tmp_path / "ca.csv", {**FULL, "closed": ["2026-01-20", "", ""],
                                                "due": ["2026-02-05", "", "2026-03-01"],
                                                "severity": ["", "", ""], "detected": ["", "", ""]})
    q = read_quality(path, kind="capa")  # rows 3 and 4 are still open; row 3 has no due date yet
    assert q["closed"].isna().tolist() == [False, True, True]
    closed = write_register(tmp_path / "ca2.csv", {**FULL, "due": ["2026-02-05", "", ""]})
    with pytest.raises(ValidationError) as err:
        read_quality(closed, kind="capa")
    assert [p.where for p in err.value.problems] == ["row 3, column due", "row 4, column due"]
    assert "closed CAPA" in str(err.value) and "on time" in str(err.value)


def test_a_column_blank_throughout_is_one_problem(tmp_path):
    path = write_register(tmp_path / "nc.csv", {**FULL, "detected": ["", "", ""]})
    with pytest.raises(ValidationError) as err:
        read_quality(path, kind="nonconformity")
    (problem,) = err.value.problems
    assert problem.where == "column detected" and "all 3 rows" in problem.message


def test_every_problem_in_one_error_never_quoting_a_cell(org, tmp_path):
    cols = without("detected", unit_id=["U01", "ZZ-UNIT-42", "U02"],
                   opened=["2026-01-05", "2026-02-30", ""], severity=["minor", "grave", "major"])
    cols["event_id"] = ["E-1", "E-1", "E-3"]
    path = write_register(tmp_path / "nc.csv", cols)
    with pytest.raises(ValidationError) as err:
        read_quality(path, kind="nonconformity", org=org)
    wheres = [p.where for p in err.value.problems]
    assert wheres[0] == "header"  # detected missing, listed first
    assert sorted(wheres[1:]) == sorted([
        "row 3, column id",           # E-1 again
        "row 3, column unit_id",      # not in the org tree
        "row 3, column opened",       # 2026-02-30
        "row 3, column severity",     # not an allowed severity (optional, still checked)
        "row 4, column opened"])      # blank (so closed-before-opened cannot be judged)
    msg = str(err.value)
    assert "ZZ-UNIT-42" not in msg and "grave" not in msg and "2026-02-30" not in msg.replace(
        "2024-02-30", "")


def test_check_quality_enforces_the_same_rules():
    body = pd.DataFrame({c: FULL[c] for c in ("event_id", "unit_id", "opened")})
    rows = pd.RangeIndex(2, 5).to_numpy()
    with pytest.raises(ValidationError, match="'detected' not found"):
        check_quality(body, rows, kind="nonconformity", org=None, source="frame")
    q = check_quality(body, rows, kind="complaint", org=None, source="frame")
    assert q["detected"].tolist() == ["customer"] * 3
    with pytest.raises(ConfigError, match="kind"):
        check_quality(body, rows, kind="incident", org=None, source="frame")


def test_missing_column_message_points_to_the_mapping_file(tmp_path):
    path = tmp_path / "o.csv"
    path.write_text("unit_id,name\nHQ,Head\n")
    with pytest.raises(ValidationError) as err:
        read_org(path)
    assert "required column 'parent_id' not found" in str(err.value)
    assert "mapping file (--mapping)" in str(err.value) and "mapping={" not in str(err.value)
