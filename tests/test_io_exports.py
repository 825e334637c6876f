"""Writers (culture.exports) round-trip through the readers (culture.io).

The truth is the canonical frame written: reading the export back must give the same
item codes (non-substantive codes become missing), units, demographics and respondent
ids. Layout facts checked on the written files come from
/work/shared/reference/export-formats.md (Qualtrics §1, Microsoft Forms §3,
LimeSurvey §5).
"""

from __future__ import annotations

import csv
import json

import numpy as np
import openpyxl
import pandas as pd
import pytest

from culture.errors import ConfigError
from culture.ingest import detect_format, read_responses
from culture.measure.instrument import load_default_instrument
from culture.synth import WRITE_FORMATS, write_export

EXT = {"msforms": "xlsx", "xlsx": "xlsx", "spss": "sav"}


@pytest.fixture(scope="module")
def inst():
    return load_default_instrument()


@pytest.fixture(scope="module")
def frame(inst):
    """A canonical frame as culture.synth produces it (raw employee ids, band codes)."""
    rng = np.random.default_rng(7)
    n = 24
    df = pd.DataFrame({
        "respondent": [f"E{i:06d}" for i in range(100, 100 + n)],
        "wave": "2026Q1",
        "unit_id": rng.choice(["U01", "U02", "007"], n),
        "tenure": rng.choice(["T1", "T2", "T3", "T4", "X"], n),
        "role_level": rng.choice(["staff", "lead", "manager", "X"], n)})
    codes = rng.integers(1, 6, (n, len(inst.item_ids))).astype("float64")
    codes[rng.random(codes.shape) < 0.08] = np.nan
    codes[0, 3] = 9.0  # "Don't know / not applicable"
    df = pd.concat([df, pd.DataFrame(codes, columns=list(inst.item_ids))], axis=1)
    df["COMMENT_IMPROVE"] = [None] * n
    df.loc[1, "COMMENT_IMPROVE"] = 'More time, "really"\nfor root causes'
    df.loc[2, "COMMENT_IMPROVE"] = "=2+3 is what the spreadsheet would run"
    df["COMMENT_LEADERS"] = None
    return df


@pytest.mark.parametrize("fmt", WRITE_FORMATS)
def test_round_trip(tmp_path, inst, frame, fmt):
    before = frame.copy()
    path = write_export(frame, inst, tmp_path / f"x.{EXT.get(fmt, 'csv')}", fmt=fmt, seed=1)
    pd.testing.assert_frame_equal(frame, before)  # the input is not mutated
    assert detect_format(path) == fmt
    p = read_responses(path, inst)
    a = p.accepted
    assert p.rejected.empty and p.duplicates.empty and p.accounted()
    assert a["respondent"].tolist() == frame["respondent"].tolist()
    assert a["unit_id"].tolist() == frame["unit_id"].tolist()  # "007" keeps its zeros
    assert a["wave"].tolist() == frame["wave"].tolist()
    for d in ("tenure", "role_level"):
        assert a[d].tolist() == frame[d].tolist()
    expected = frame[list(inst.item_ids)].where(frame[list(inst.item_ids)] != 9.0)
    np.testing.assert_array_equal(a[list(inst.item_ids)].to_numpy(), expected.to_numpy())
    assert a["COMMENT_IMPROVE"].iloc[1] == 'More time, "really"\nfor root causes'
    # Formula-like text is neutralised with a leading apostrophe, so it is not rejected.
    assert a["COMMENT_IMPROVE"].iloc[2] == "'=2+3 is what the spreadsheet would run"


def test_qualtrics_layout(tmp_path, inst, frame):
    path = write_export(frame, inst, tmp_path / "q.csv", fmt="qualtrics", seed=3)
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    tags, labels, imports = rows[:3]
    assert tags[:9] == ["StartDate", "EndDate", "Status", "IPAddress", "Progress",
                        "Duration (in seconds)", "Finished", "RecordedDate", "ResponseId"]
    assert labels[2] == "Response Type"
    assert json.loads(imports[8]) == {"ImportId": "_recordId"}
    assert json.loads(imports[0]) == {"ImportId": "startDate", "timeZone": "UTC"}
    rid = [r[8] for r in rows[3:]]
    assert all(len(r) == 17 and r.startswith("R_") and r[2:].isalnum() for r in rid)
    assert len(set(rid)) == len(rid)
    assert {r[3] for r in rows[3:]} == {""}  # IP address blank (anonymised)
    again = write_export(frame, inst, tmp_path / "q2.csv", fmt="qualtrics", seed=3)
    assert again.read_bytes() == path.read_bytes()  # same seed, same file


def test_msforms_layout(tmp_path, inst, frame):
    path = write_export(frame, inst, tmp_path / "f.xlsx", fmt="msforms")
    ws = openpyxl.load_workbook(path).active
    rows = list(ws.iter_rows(values_only=True))
    assert list(rows[0][:5]) == ["ID", "Start time", "Completion time", "Email", "Name"]
    assert {r[3] for r in rows[1:]} == {"anonymous"} and {r[4] for r in rows[1:]} == {None}
    col = rows[0].index(inst.item("LC1").text)
    assert set(r[col] for r in rows[1:]) <= {*inst.scale.labels.values(), None}


def test_limesurvey_bytes(tmp_path, inst, frame):
    path = write_export(frame, inst, tmp_path / "l.csv", fmt="limesurvey")
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf\"id\";\"submitdate\";")
    assert b"\r\n" in raw


def test_csv_headers_are_ids(tmp_path, inst, frame):
    path = write_export(frame, inst, tmp_path / "c.csv", fmt="csv")
    header = path.read_text(encoding="utf-8").splitlines()[0].split(",")
    assert set(inst.item_ids) <= set(header) and "employee_id" in header


def test_writer_errors(tmp_path, inst, frame):
    with pytest.raises(ConfigError, match="fmt"):
        write_export(frame, inst, tmp_path / "x.csv", fmt="pdf")
    with pytest.raises(ConfigError, match="LC1"):
        write_export(frame.drop(columns=["LC1"]), inst, tmp_path / "x.csv", fmt="csv")
