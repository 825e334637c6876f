"""No broken row is taken for a response (culture.ingest: textgrid, formats, responses).

Each test writes a small synthetic export (the mini instrument of the reader tests)
that reproduces one way a file breaks: a row cut off at the end of the file, a
ragged row in the middle, a file without its header row, an encoding that changes
part way, a multi-header format forced on a one-header file. Each must be a
:class:`ValidationError` naming the file, the row (as a spreadsheet shows it; lines
are physical lines of the file) and the column, and no message may contain a cell:
canary strings are planted in the cells around every problem. Well-formed files with
quoted multi-line comments, empty trailing fields and blank lines still import, and
``n_rows`` counts the data records physically in the file.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from culture.errors import ValidationError
from culture.ingest import decode_bytes, read_grid, read_responses
from culture.measure.instrument import load_instrument

FIX = Path(__file__).parent / "fixtures" / "exports"
HEADER = ["response_id", "employee_id", "unit_id", "tenure", "role_level", "TR1", "TR2", "QC1",
          "QC2", "COMMENTS"]
CANARY = "Zorblax"  # planted in cells; never in a message
CANARY_ID = "ZX000417"


@pytest.fixture(scope="module")
def inst():
    return load_instrument(FIX / "mini-instrument.yaml")


def row(i: int, comment: str = "") -> list[str]:
    return [f"r-{i}", f"E{i:06d}", "U01" if i % 2 else "U02", "T2", "staff", "4", "3", "5", "2",
            comment]


def line(cells: list[str]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(cells)
    return out.getvalue()


def text(rows: list[list[str]], header: list[str] = HEADER) -> str:
    return "".join(line(r) for r in [header, *rows])


def error_of(path: Path, inst, **kw) -> str:
    with pytest.raises(ValidationError) as err:
        read_responses(path, inst, **kw)
    msg = str(err.value)
    assert path.name in msg
    assert CANARY not in msg and CANARY_ID not in msg
    return msg


def records(path: Path) -> int:
    """Non-blank records by the csv module: the physical count n_rows must match."""
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    return sum(1 for r in rows[1:] if any(c.strip() for c in r))


# --------------------------------------------------------------------------- cut and ragged rows

def test_truncated_final_row_is_an_error(tmp_path, inst):
    cut = line(["r-9", CANARY_ID, "U01", "T2", "staff", "4", "3", "5", "2", CANARY])[:27]
    assert CANARY_ID in cut and not cut.endswith("\n")
    path = tmp_path / "cut.csv"
    path.write_text(text([row(1), row(2), row(3)]) + cut, encoding="utf-8")
    msg = error_of(path, inst)
    assert "row 5 (line 5)" in msg and "cut off" in msg
    assert "has 6 field(s) but the header row has 10" in msg and "G to J missing" in msg


def test_file_ending_inside_a_quoted_cell_is_an_error(tmp_path, inst):
    last = line([*row(9)[:1], CANARY_ID, *row(9)[2:-1], f"{CANARY} first line\nsecond line"])
    path = tmp_path / "cut.csv"
    path.write_text(text([row(1), row(2, "two\nlines")]) + last[:-8], encoding="utf-8")
    msg = error_of(path, inst)
    # row 4 starts on line 5: row 3 holds a quoted line break.
    assert "row 4 (line 5)" in msg and "column J" in msg and "quoted cell" in msg


def test_ragged_rows_are_listed_at_once(tmp_path, inst):
    short = [*row(3)[:1], CANARY_ID, "U01", f"{CANARY} lost"]
    long = [*row(5), "", CANARY]
    rows = [row(1), row(2, f"{CANARY}\nmulti-line"), short, row(4), long, row(6)]
    path = tmp_path / "ragged.csv"
    path.write_text(text(rows), encoding="utf-8")
    msg = error_of(path, inst)
    assert "2 problem(s)" in msg
    assert "row 4 (line 5): the row has 4 field(s) but the header row has 10" in msg
    assert "E to J missing" in msg and "never padded" in msg
    assert "row 6 (line 7): the row has 12 fields" in msg and "column(s) L hold values" in msg


def test_short_row_under_used_blank_header_cells_is_an_error(tmp_path):
    # SurveyMonkey writes question text over the first column of a matrix only, so
    # header cells may be blank at the end of row 1 while other rows fill them.
    path = tmp_path / "x.csv"
    path.write_text(f"id,Question,,\n,Response,Row 1,Row 2\n1,a,b,c\n2,{CANARY}\n",
                    encoding="utf-8")
    with pytest.raises(ValidationError) as err:
        read_grid(path)
    assert "row 4 (line 4)" in str(err.value) and "C to D missing" in str(err.value)
    assert CANARY not in str(err.value)


def test_well_formed_file_still_imports(tmp_path, inst):
    rows = [row(1, 'Say "thanks",\nand mean it'), row(2), row(3, "one\r\ntwo\n\nthree")]
    body = text(rows)
    body += "r-4,E000004,U02,T2,staff,4,3,5,2,,,\n"  # empty trailing fields (a trailing delimiter)
    body += ",,,\n\n"  # a blank record and a blank line: not records
    body += ",".join(row(5))  # complete last row without a final line break
    path = tmp_path / "ok.csv"
    path.write_text(body, encoding="utf-8", newline="")
    p = read_responses(path, inst)
    assert p.accepted["source_row"].tolist() == [2, 3, 4, 5, 8]
    assert p.accepted["COMMENTS"].iloc[0] == 'Say "thanks",\nand mean it'
    assert p.accepted["COMMENTS"].iloc[2] == "one\r\ntwo\n\nthree"
    assert p.n_rows == records(path) == 5 and p.accounted()


def test_header_with_trailing_delimiter_and_rows_without(tmp_path, inst):
    # A header written with one extra empty field; data rows without it: nothing is lost.
    path = tmp_path / "x.csv"
    path.write_text(",".join(HEADER) + ",\n" + "".join(line(row(i)) for i in (1, 2)),
                    encoding="utf-8")
    p = read_responses(path, inst)
    assert p.n_rows == 2 and len(p.accepted) == 2


# --------------------------------------------------------------------------- header row

def test_missing_header_row_is_reported_without_cells(tmp_path, inst):
    rows = [[*row(1)[:1], CANARY_ID, *row(1)[2:-1], f"{CANARY} wants a new canteen"],
            row(2), row(3)]
    path = tmp_path / "nohead.csv"
    path.write_text("".join(line(r) for r in rows), encoding="utf-8")
    msg = error_of(path, inst)
    assert "1 problem(s)" in msg and "row 1: the file seems to have no header row" in msg
    for cell in ["r-1", "U01", "staff", "T2"]:
        assert repr(cell) not in msg


def test_unknown_columns_quote_only_header_like_headers(tmp_path, inst):
    extra = ["Bonus question", f"{CANARY}@example.org", "20240517", "4",
             f"{CANARY} said the night shift never gets the memo in time, again"]
    path = tmp_path / "x.csv"
    path.write_text(text([row(1) + ["", "", "", "", ""]], [*HEADER, *extra]), encoding="utf-8")
    msg = error_of(path, inst)
    assert "5 column(s) match no instrument item" in msg
    assert "column K 'Bonus question'" in msg
    for letter in "LMNO":
        assert f"column {letter} (header not shown" in msg
    assert "20240517" not in msg and "'4'" not in msg


# --------------------------------------------------------------------------- encodings

def test_encoding_that_changes_part_way_is_an_error(tmp_path, inst):
    head = text([row(1, "Qualität für alle"), row(2, "two\nlines, café")])
    tail = line(row(3, f"{CANARY} café crème"))
    path = tmp_path / "mixed.csv"
    path.write_bytes(head.encode("utf-8") + tail.encode("cp1252") + line(row(4)).encode())
    msg = error_of(path, inst)
    assert "mixes them" in msg and "UTF-8" in msg
    # row 4 starts on line 5 (row 3 holds a quoted line break); the comment is column J.
    assert "row 4, column J (line 5): bytes that are not UTF-8" in msg
    assert "caf" not in msg and "\u00c3" not in msg and "\ufffd" not in msg
    # a declared encoding is the way out for a file that really is one legacy encoding
    assert "encoding=" in msg


def test_mixed_encoding_with_one_character_each(tmp_path, inst):
    # "cafÃ©": one UTF-8 é and one cp1252 é are enough to refuse the file.
    path = tmp_path / "mixed.csv"
    body = text([row(1, "café")]).encode() + line(row(2, "café")).encode("cp1252")
    path.write_bytes(body)
    msg = error_of(path, inst)
    assert "row 3, column J (line 3)" in msg


def test_wholly_cp1252_file_still_decodes(tmp_path, inst):
    path = tmp_path / "cp.csv"
    comments = ["Qualität für alle", "naïve café – crème brûlée", "Don’t know"]
    path.write_bytes(text([row(i, c) for i, c in enumerate(comments, 1)]).encode("cp1252"))
    p = read_responses(path, inst)
    assert p.accepted["COMMENTS"].tolist() == comments
    assert decode_bytes("Grüße, Zoë".encode("cp1252")) == "Grüße, Zoë"


# --------------------------------------------------------------------------- header depth

def test_forced_qualtrics_never_eats_a_respondent(tmp_path, inst):
    rows = [[*row(1)[:1], CANARY_ID, *row(1)[2:-1], CANARY]] + [row(i) for i in range(2, 39)]
    path = tmp_path / "plain.csv"
    path.write_text(text(rows), encoding="utf-8")
    p = read_responses(path, inst)
    assert p.n_rows == 38 == records(path) and len(p.accepted) == 38
    msg = error_of(path, inst, fmt="qualtrics")
    assert "--format qualtrics" in msg and "row 2 looks like a response" in msg
    # SurveyMonkey's second header row is blank under Respondent ID: none here, one header.
    assert read_responses(path, inst, fmt="surveymonkey").n_rows == 38


def test_qualtrics_fixtures_keep_their_header_rows(inst):
    for name, first in [("qualtrics_current.csv", 4), ("qualtrics_legacy.csv", 3)]:
        p = read_responses(FIX / name, inst, fmt="qualtrics")
        assert int(p.accepted["source_row"].min()) == first and p.accounted()


# --------------------------------------------------------------------------- accounting

def test_rows_in_counts_physical_records(tmp_path, inst):
    bad = row(4)
    bad[5] = "7"  # out of scale: rejected, still a record
    dup = row(2)
    rows = [row(1, "a\nb\nc"), row(2), row(3, ""), bad, dup, ["", "", "", "", "", "", "", "", "", ""]]
    path = tmp_path / "x.csv"
    path.write_text(text(rows) + "\n\n", encoding="utf-8")
    p = read_responses(path, inst)
    assert p.n_rows == records(path) == 5
    assert (len(p.accepted), p.rejected["source_row"].nunique(), len(p.duplicates)) == (3, 1, 1)
    assert p.accounted()
