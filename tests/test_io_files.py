"""File-level reading: encodings, delimiters, empty files, unreadable bytes, spreadsheets.

Facts tested come from /work/shared/reference/export-formats.md "Common traps": BOMs
(LimeSurvey, legacy Qualtrics), UTF-16 TSV (Qualtrics), comma/semicolon/tab, quoted
multi-line cells, blank last lines, leading zeros in ids. Byte values of cp1252
(0x92 = U+2019, 0x81 undefined) are from the Unicode mapping table
https://www.unicode.org/Public/MAPPINGS/VENDORS/MICSFT/WINDOWS/CP1252.TXT .
"""

from __future__ import annotations

import codecs
from pathlib import Path

import numpy as np
import openpyxl
import pytest

from culture.errors import ConfigError, ValidationError
from culture.ingest import column_letter, decode_bytes, read_responses, sniff_delimiter
from culture.measure.instrument import load_instrument

FIX = Path(__file__).parent / "fixtures" / "exports"
HEADER = ["employee_id", "unit_id", "tenure", "role_level", "TR1", "TR2", "QC1", "QC2",
          "COMMENTS"]
ROWS = [["000123", "007", "T1", "staff", "4", "5", "Agree", "2", "Qualit\u00e4t \u2019ok\u2019"],
        ["000124", "U02", "T2", "lead", "1", "", "3", "5", ""]]


@pytest.fixture(scope="module")
def inst():
    return load_instrument(FIX / "mini-instrument.yaml")


def table(delim: str = ",", rows=ROWS, header=HEADER, eol: str = "\n") -> str:
    return eol.join(delim.join(r) for r in [header, *rows]) + eol


def check_parsed(p) -> None:
    a = p.accepted
    assert a["respondent"].tolist() == ["000123", "000124"]
    assert a["unit_id"].tolist() == ["007", "U02"]
    assert a["TR1"].tolist() == [4.0, 1.0]
    assert a["QC1"].tolist() == [4.0, 3.0]
    assert a["COMMENTS"].iloc[0] == "Qualit\u00e4t \u2019ok\u2019"


@pytest.mark.parametrize(("encoding", "bom", "declared"), [
    ("utf-8", b"", None), ("utf-8", codecs.BOM_UTF8, None), ("cp1252", b"", None),
    ("cp1252", b"", "cp1252"), ("utf-16-le", codecs.BOM_UTF16_LE, None),
    ("utf-16-be", codecs.BOM_UTF16_BE, None), ("utf-16-le", b"", None)])
def test_encodings(tmp_path, inst, encoding, bom, declared):
    path = tmp_path / "x.csv"
    path.write_bytes(bom + table().encode(encoding))
    check_parsed(read_responses(path, inst, encoding=declared))


@pytest.mark.parametrize("delim", [",", ";", "\t"])
@pytest.mark.parametrize("eol", ["\n", "\r\n"])
def test_delimiters_sniffed(tmp_path, inst, delim, eol):
    path = tmp_path / "x.csv"
    path.write_text(table(delim, eol=eol), encoding="utf-8", newline="")
    assert sniff_delimiter(table(delim)) == delim
    check_parsed(read_responses(path, inst))


def test_semicolon_file_with_commas_in_text(tmp_path, inst):
    rows = [r[:-1] + ["one, two, three, four, five"] for r in ROWS]
    text = table(";", rows=rows)
    assert sniff_delimiter(text) == ";"
    path = tmp_path / "x.csv"
    path.write_text(text, encoding="utf-8")
    assert read_responses(path, inst).accepted["COMMENTS"].iloc[0] == "one, two, three, four, five"


def test_undecodable_bytes_are_a_file_error(tmp_path, inst):
    # 0x81 is undefined in cp1252 and invalid as a UTF-8 start byte: no decoding fits.
    path = tmp_path / "bad.csv"
    path.write_bytes(table().encode("utf-8") + b"\x81\x81,U01\n")
    with pytest.raises(ValidationError) as err:
        read_responses(path, inst)
    assert "not text" in str(err.value) and "bad.csv" in str(err.value)
    assert "\ufffd" not in str(err.value)


def test_declared_encoding_is_strict(tmp_path, inst):
    path = tmp_path / "x.csv"
    path.write_bytes(table().encode("cp1252"))  # 0xe4 (a-umlaut) is not valid UTF-8 here
    with pytest.raises(ValidationError, match="utf-8"):
        read_responses(path, inst, encoding="utf-8")
    with pytest.raises(ConfigError, match="encoding"):
        read_responses(path, inst, encoding="no-such-codec")


def test_binary_file_is_a_file_error(tmp_path, inst):
    path = tmp_path / "x.csv"
    path.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(ValidationError, match="not text"):
        read_responses(path, inst)


@pytest.mark.parametrize(("content", "message"), [
    (b"", "empty"), (b"\n\n  \r\n", "empty"), (codecs.BOM_UTF8, "empty"),
    (table(rows=[]).encode(), "no data rows"), ((table(rows=[]) + "\n,,,\n").encode(),
                                                "no data rows")])
def test_empty_and_header_only(tmp_path, inst, content, message):
    path = tmp_path / "x.csv"
    path.write_bytes(content)
    with pytest.raises(ValidationError, match=message):
        read_responses(path, inst)


def test_missing_file(tmp_path, inst):
    with pytest.raises(ValidationError, match="not found"):
        read_responses(tmp_path / "nope.csv", inst)


def test_bad_parameters(inst):
    with pytest.raises(ConfigError, match="fmt"):
        read_responses(FIX / "generic_ids.csv", inst, fmt="sas")
    with pytest.raises(ConfigError, match="partial"):
        read_responses(FIX / "generic_ids.csv", inst, partial="drop")


def test_ragged_row_names_the_line(tmp_path, inst):
    path = tmp_path / "x.csv"
    path.write_text(table() + "1,2,3,4,5,6,7,8,9,10,11,12\n", encoding="utf-8")
    with pytest.raises(ValidationError, match="line 4"):
        read_responses(path, inst)


def test_multiline_quoted_cells_keep_row_numbers(tmp_path, inst):
    rows = [ROWS[0][:-1] + ['"first line\nsecond line\nthird"'], ROWS[1]]
    path = tmp_path / "x.csv"
    path.write_text(table(rows=rows) + "\n", encoding="utf-8")
    p = read_responses(path, inst)
    assert p.accepted["COMMENTS"].iloc[0] == "first line\nsecond line\nthird"
    assert p.accepted["source_row"].tolist() == [2, 3]  # one spreadsheet row per record


def test_blank_rows_inside_keep_numbering(tmp_path, inst):
    path = tmp_path / "x.csv"
    text = table()
    lines = text.splitlines()
    path.write_text("\n".join([lines[0], lines[1], "", lines[2]]) + "\n\n", encoding="utf-8")
    p = read_responses(path, inst)
    assert p.n_rows == 2
    assert p.accepted["source_row"].tolist() == [2, 4]


def test_formula_text_in_csv_rejected(tmp_path, inst):
    rows = [ROWS[0], ["000124", "U02", "T2", "lead", '"=HYPERLINK(""http://x.invalid"",""4"")"', "",
                      "3", "5", ""]]
    path = tmp_path / "x.csv"
    path.write_text(table(rows=rows), encoding="utf-8")
    p = read_responses(path, inst)
    assert p.accepted["source_row"].tolist() == [2]
    r = p.rejected
    assert r["source_row"].tolist() == [3] and "formula" in r["reason"].iloc[0]
    assert "HYPERLINK" not in r["reason"].iloc[0]


def test_xlsx_formula_and_number_cells(tmp_path, inst):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(HEADER)
    ws.append(["000123", "007", "T1", "staff", 4, 5.0, "Agree", 2, None])
    ws.append(["000124", "U02", "T2", "lead", 1, None, 3, 5, "=A1&B1"])
    ws.append([None] * len(HEADER))  # trailing blank row in the used range
    wb.save(tmp_path / "x.xlsx")
    p = read_responses(tmp_path / "x.xlsx", inst)
    assert p.n_rows == 2
    assert p.accepted["TR2"].tolist() == [5.0]
    assert p.rejected["source_row"].tolist() == [3]
    assert "column I" in p.rejected["reason"].iloc[0]


def test_xlsx_damaged(tmp_path, inst):
    path = tmp_path / "x.xlsx"
    path.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(ValidationError, match="xlsx"):
        read_responses(path, inst)


def test_column_letters():
    # Spreadsheet column naming: A..Z, AA..AZ, BA.. (bijective base 26).
    assert [column_letter(i) for i in (0, 25, 26, 27, 51, 52, 701, 702)] == \
        ["A", "Z", "AA", "AB", "AZ", "BA", "ZZ", "AAA"]


def test_decode_prefers_bom_over_declaration():
    assert decode_bytes(codecs.BOM_UTF8 + "\u00e4".encode(), encoding="cp1252") == "\u00e4"
    assert decode_bytes("a,\u00e4".encode("cp1252")) == "a,\u00e4"
    assert np.array_equal(np.frombuffer(decode_bytes(b"a,b").encode(), np.uint8),
                          np.frombuffer(b"a,b", np.uint8))
