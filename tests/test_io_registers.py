"""Org chart, headcount, quality registers and exposure readers (culture.io).

The expected frames are the planted contents of tests/fixtures/exports/{org,headcount,
nonconformity,exposure}.csv; the bad fixtures plant one instance of every documented
problem (two roots, a cycle, a self-loop, an unknown parent, duplicate and blank ids;
closed before opened, an impossible date 2024-02-30, unknown unit, severity and
detection values) and the tests check that one ValidationError lists all of them.
The canonical columns are those documented in culture/frames.py.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from culture import frames
from culture.errors import ConfigError, ValidationError
from culture.ingest import read_exposure, read_headcount, read_org, read_quality

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
