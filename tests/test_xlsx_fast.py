"""The fast XLSX reader (calamine) gives the grid the openpyxl reader gave, cell for cell.

Known truth: ``reference_grid`` below is the reader as it was before calamine (openpyxl,
``data_only=False``, every cell through ``cell_text``); each workbook here is written
by openpyxl or as raw SpreadsheetML, so what each cell holds is known. Workbooks that
calamine would read differently (formulas, error cells, ISO date cells, untrimmed
text without ``xml:space``) must take the openpyxl path and still give the same grid.
"""

from __future__ import annotations

import datetime as dt
import zipfile
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest

from culture.errors import ValidationError
from culture.ingest import textgrid
from culture.ingest.textgrid import cell_text, read_xlsx_grid


def reference_grid(path: Path, max_rows: int | None = None) -> pd.DataFrame:
    """The openpyxl reader as it was (kept here as the reference)."""
    wb = openpyxl.load_workbook(path, read_only=True, data_only=False)
    try:
        rows = [list(r) for r in wb.worksheets[0].iter_rows(min_row=1, max_row=max_rows,
                                                             values_only=True)]
    finally:
        wb.close()
    width = max((len(r) for r in rows), default=0)
    raw = pd.DataFrame([r + [None] * (width - len(r)) for r in rows], dtype=object)
    grid = pd.DataFrame({c: raw[c].map(cell_text).astype(str) for c in raw.columns})
    keep = grid.ne("").any(axis=0)[::-1].cummax()[::-1]
    grid = grid.loc[:, keep.to_numpy()]
    filled = grid.ne("").any(axis=1).to_numpy()
    if filled.any():
        grid = grid.iloc[:int(np.flatnonzero(filled)[-1]) + 1]
    return grid.reset_index(drop=True)


def same(path: Path, max_rows: int | None = None) -> pd.DataFrame:
    got = read_xlsx_grid(path, max_rows=max_rows)
    pd.testing.assert_frame_equal(got, reference_grid(path, max_rows))
    return got


@pytest.fixture
def reader(monkeypatch):
    """Which reader read each workbook ('calamine' or 'openpyxl')."""
    used: list[str] = []
    calamine, fallback = textgrid._calamine_grid, textgrid._openpyxl_grid

    def via_calamine(path, max_rows):
        grid = calamine(path, max_rows)
        if grid is not None:
            used.append("calamine")
        return grid

    def via_openpyxl(path, max_rows):
        used.append("openpyxl")
        return fallback(path, max_rows)

    monkeypatch.setattr(textgrid, "_calamine_grid", via_calamine)
    monkeypatch.setattr(textgrid, "_openpyxl_grid", via_openpyxl)
    return used


def survey_book(path: Path, *, formula: bool) -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["employee_id", "unit_id", "started_at", "LC1", "LC2", "score", "COMMENT", "done"])
    ws.append(["000123", "007", dt.datetime(2026, 1, 15, 9, 8, 7), 4, 5.0, 3.25, "Qualität ok", True])
    ws.append(["000124", "U02", dt.datetime(2026, 1, 15), 1.0, None, -0.5, "", False])
    ws.append(["000125", "0", dt.date(2026, 2, 1), 2, 3, 1e-20, "n = 3", None])
    ws.append(["000126", "U03", dt.time(9, 30), 12345678901234, 0.1, 1e20, "  spaced  ", 1])
    if formula:
        ws["F6"] = "=SUM(D2:D5)"
        ws["H6"] = '=HYPERLINK("http://x.invalid","4")'
    ws["J9"] = None  # a used range wider and longer than the data
    ws["K12"] = ""
    wb.save(path)
    return path


def test_survey_sheet_reads_as_openpyxl_did_through_calamine(tmp_path, reader):
    got = same(survey_book(tmp_path / "s.xlsx", formula=False))
    assert reader == ["calamine"]
    assert got.shape == (5, 8)  # blank rows and columns of the used range are cut
    assert got.iloc[1].tolist() == ["000123", "007", "2026-01-15 09:08:07", "4", "5", "3.25",
                                    "Qualität ok", "TRUE"]
    assert got.iloc[2].tolist() == ["000124", "U02", "2026-01-15 00:00:00", "1", "", "-0.5", "",
                                    "FALSE"]
    assert got.iloc[3, 2] == "2026-02-01 00:00:00" and got.iloc[3, 5] == "1e-20"
    # 1e20 is a whole number: cell_text writes it out, as it did for openpyxl's float
    assert got.iloc[4].tolist()[2:7] == ["09:30:00", "12345678901234", "0.1",
                                        "100000000000000000000", "  spaced  "]
    assert (got.dtypes == reference_grid(tmp_path / "s.xlsx").dtypes).all()


def test_formulas_are_read_as_formula_text(tmp_path, reader):
    got = same(survey_book(tmp_path / "f.xlsx", formula=True))
    assert reader == ["openpyxl"]
    assert got.iloc[5, 5] == "=SUM(D2:D5)" and got.iloc[5, 7].startswith("=HYPERLINK(")
    reader.clear()
    # the first rows hold no formula: calamine reads them
    assert same(tmp_path / "f.xlsx", max_rows=3).shape == (3, 8)
    assert reader == ["calamine"]


@pytest.mark.parametrize("max_rows", [1, 2, 3, 20])
def test_max_rows(tmp_path, max_rows):
    got = same(survey_book(tmp_path / "s.xlsx", formula=False), max_rows=max_rows)
    assert len(got) == min(max_rows, 5)


def test_leading_blank_rows_and_columns_keep_spreadsheet_positions(tmp_path, reader):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws["C3"], ws["D3"], ws["C4"], ws["E6"] = "id", "LC1", "00042", 3
    wb.save(tmp_path / "l.xlsx")
    got = same(tmp_path / "l.xlsx")
    assert reader == ["calamine"]
    assert got.shape == (6, 5) and got.iloc[2, 2] == "id" and got.iloc[3, 2] == "00042"
    assert got.iloc[5, 4] == "3"


def test_empty_and_blank_sheets(tmp_path):
    openpyxl.Workbook().save(tmp_path / "e.xlsx")
    with pytest.raises(ValidationError, match="first sheet is empty"):
        read_xlsx_grid(tmp_path / "e.xlsx")
    wb = openpyxl.Workbook()
    wb.active["C2"] = ""
    wb.save(tmp_path / "b.xlsx")
    assert same(tmp_path / "b.xlsx").shape == (2, 0)


def test_many_rows_match_and_chunked_scan(tmp_path, monkeypatch, reader):
    monkeypatch.setattr(textgrid, "_XML_CHUNK", 4096)  # the XML scan crosses many chunks
    rng = np.random.default_rng(7)
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["id", "unit", "when", *[f"Q{i}" for i in range(12)], "comment"])
    for r in range(400):
        items = [None if rng.random() < 0.1 else int(v) for v in rng.integers(1, 6, 12)]
        ws.append([f"{r:06d}", f"U{r % 7}", dt.datetime(2026, 3, 1) + dt.timedelta(minutes=r),
                   *items, "Mehr Zeit für Qualität" if r % 3 else None])
    wb.save(tmp_path / "m.xlsx")
    for max_rows in (None, 1, 57, 400):
        same(tmp_path / "m.xlsx", max_rows=max_rows)
    assert set(reader) == {"calamine"}
    ws["C300"] = "=NOW()"  # one formula far down: the whole read goes to openpyxl
    wb.save(tmp_path / "m.xlsx")
    reader.clear()
    got = same(tmp_path / "m.xlsx")
    assert reader == ["openpyxl"] and got.iloc[299, 2] == "=NOW()"
    reader.clear()
    same(tmp_path / "m.xlsx", max_rows=57)  # the cut copy holds no formula
    assert reader == ["calamine"]


# --------------------------------------------------------------------------- raw SpreadsheetML

_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_R = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG = "http://schemas.openxmlformats.org/package/2006/relationships"
_CT = "application/vnd.openxmlformats-officedocument.spreadsheetml"


def raw_book(path: Path, rows: str, *, strings: tuple[str, ...] = (), prefix: str = "",
             date1904: bool = False) -> Path:
    """A workbook whose sheet XML is ``rows`` (inside sheetData); styles: 1 = yyyy-mm-dd."""
    p = f"{prefix}:" if prefix else ""
    ns = f'xmlns:{prefix}="{_MAIN}"' if prefix else f'xmlns="{_MAIN}"'
    sheet = (f'<?xml version="1.0" encoding="UTF-8"?><{p}worksheet {ns}><{p}dimension ref="A1:Z99"/>'
             f"<{p}sheetData>{rows}</{p}sheetData></{p}worksheet>")
    sst = f'<sst xmlns="{_MAIN}">' + "".join(f"<si>{s}</si>" for s in strings) + "</sst>"
    styles = (f'<styleSheet xmlns="{_MAIN}"><numFmts count="1"><numFmt numFmtId="164" '
              'formatCode="yyyy-mm-dd"/></numFmts><fonts count="1"><font/></fonts><fills count="1">'
              '<fill><patternFill patternType="none"/></fill></fills><borders count="1"><border/>'
              '</borders><cellStyleXfs count="1"><xf/></cellStyleXfs><cellXfs count="2"><xf/>'
              '<xf numFmtId="164" applyNumberFormat="1"/></cellXfs><cellStyles count="1">'
              '<cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles></styleSheet>')
    pr = '<workbookPr date1904="1"/>' if date1904 else ""
    book = (f'<workbook xmlns="{_MAIN}" xmlns:r="{_R}">{pr}<sheets>'
            '<sheet name="Data" sheetId="1" r:id="rId1"/></sheets></workbook>')
    rels = (f'<Relationships xmlns="{_PKG}">'
            f'<Relationship Id="rId1" Type="{_R}/worksheet" Target="worksheets/sheet1.xml"/>'
            f'<Relationship Id="rId2" Type="{_R}/sharedStrings" Target="sharedStrings.xml"/>'
            f'<Relationship Id="rId3" Type="{_R}/styles" Target="styles.xml"/></Relationships>')
    types = ('<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
             '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
             'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
             f'<Override PartName="/xl/workbook.xml" ContentType="{_CT}.sheet.main+xml"/>'
             f'<Override PartName="/xl/worksheets/sheet1.xml" ContentType="{_CT}.worksheet+xml"/>'
             f'<Override PartName="/xl/sharedStrings.xml" ContentType="{_CT}.sharedStrings+xml"/>'
             f'<Override PartName="/xl/styles.xml" ContentType="{_CT}.styles+xml"/></Types>')
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", types)
        z.writestr("_rels/.rels", f'<Relationships xmlns="{_PKG}"><Relationship Id="rId1" '
                   f'Type="{_R}/officeDocument" Target="xl/workbook.xml"/></Relationships>')
        z.writestr("xl/workbook.xml", book)
        z.writestr("xl/_rels/workbook.xml.rels", rels)
        z.writestr("xl/styles.xml", styles)
        z.writestr("xl/sharedStrings.xml", sst)
        z.writestr("xl/worksheets/sheet1.xml", sheet)
    return path


def cells(row: int, *values: str) -> str:
    return f'<row r="{row}">' + "".join(
        v.replace("@", f"{chr(65 + i)}{row}") for i, v in enumerate(values)) + "</row>"


@pytest.mark.parametrize(("name", "rows", "strings", "expect"), [
    ("numbers and dates", cells(1, '<c r="@"><v>5</v></c>', '<c r="@"><v>1E3</v></c>',
                                '<c r="@" s="1"><v>45000</v></c>', '<c r="@" s="1"><v>0.5</v></c>',
                                '<c r="@" s="1"><v>45000.25</v></c>', '<c r="@"><v>007</v></c>'),
     (), "calamine"),
    ("shared and inline strings", cells(1, '<c r="@" t="s"><v>0</v></c>',
                                        '<c r="@" t="inlineStr"><is><t>inl</t></is></c>',
                                        '<c r="@" t="s"><v>1</v></c>', '<c r="@" t="str"><v>s</v></c>'),
     ('<t xml:space="preserve"> keep </t>', "<r><t>rich </t></r><r><t>text</t></r>"), "openpyxl"),
    ("edge spaces preserved", cells(1, '<c r="@" t="s"><v>0</v></c>',
                                    '<c r="@" t="inlineStr"><is><t xml:space="preserve"> y</t></is></c>'),
     ('<t xml:space="preserve">a </t>',), "calamine"),
    ("untrimmed inline text", cells(1, '<c r="@" t="inlineStr"><is><t> y </t></is></c>'), (), "openpyxl"),
    ("error cell", cells(1, '<c r="@" t="e"><v>#N/A</v></c>', '<c r="@"><v>1</v></c>'), (), "openpyxl"),
    ("iso date cell", cells(1, '<c r="@" t="d"><v>2026-01-15</v></c>'), (), "openpyxl"),
    ("booleans", cells(1, '<c r="@" t="b"><v>1</v></c>', '<c r="@"><v>1</v></c>',
                       '<c r="@" t="b"><v>0</v></c>', '<c r="@"><v>0</v></c>'), (), "calamine"),
    ("shared formula", cells(1, '<c r="@"><v>1</v></c>', '<c r="@"><f t="shared" ref="B1:B2" si="0">A1*2</f><v>2</v></c>')
     + cells(2, '<c r="@"><v>3</v></c>', '<c r="@"><f t="shared" si="0"/><v>6</v></c>'), (), "openpyxl"),
    ("integer past float64", cells(1, '<c r="@"><v>9007199254740993</v></c>'), (), "openpyxl"),
    ("sparse rows", cells(2, "", '<c r="@"><v>2</v></c>') + cells(5, '<c r="@" t="s"><v>0</v></c>'),
     ("x",), "calamine"),
])
def test_raw_workbooks(tmp_path, reader, name, rows, strings, expect):
    path = raw_book(tmp_path / "r.xlsx", rows, strings=strings)
    got = same(path)
    assert reader == [expect], name
    if name == "booleans":
        assert got.iloc[0].tolist() == ["TRUE", "1", "FALSE", "0"]
    if name == "integer past float64":
        assert got.iloc[0, 0] == "9007199254740993"


def test_prefixed_namespace_and_1904_dates(tmp_path, reader):
    rows = ('<x:row r="1"><x:c r="A1" s="1"><x:v>1</x:v></x:c><x:c r="B1"><x:v>2.5</x:v></x:c>'
            '</x:row>')
    got = same(raw_book(tmp_path / "p.xlsx", rows, prefix="x", date1904=True))
    assert got.iloc[0].tolist() == ["1904-01-02 00:00:00", "2.5"] and reader == ["calamine"]
    reader.clear()
    rows = '<x:row r="1"><x:c r="A1"><x:f>1+1</x:f><x:v>2</x:v></x:c></x:row>'
    assert same(raw_book(tmp_path / "q.xlsx", rows, prefix="x")).iloc[0, 0] == "=1+1"
    assert reader == ["openpyxl"]


def test_carriage_returns_are_unescaped_as_excel_shows_them(tmp_path):
    # Excel writes a carriage return in text as _x000D_ (ECMA-376 ST_Xstring); calamine
    # shows the character, as Excel does, where openpyxl left the escape in the text.
    path = raw_book(tmp_path / "c.xlsx", cells(1, '<c r="@" t="s"><v>0</v></c>'),
                    strings=("<t>line one_x000D_\nline two</t>",))
    assert read_xlsx_grid(path).iloc[0, 0] == "line one\r\nline two"


def test_damaged_and_unnamed_workbooks(tmp_path):
    bad = tmp_path / "x.xlsx"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(ValidationError, match="not a readable .xlsx workbook"):
        read_xlsx_grid(bad)
    with pytest.raises(ValidationError, match="file not found"):
        read_xlsx_grid(tmp_path / "missing.xlsx")
    book = survey_book(tmp_path / "s.xlsx", formula=False)
    unnamed = tmp_path / "export"  # no extension: recognised by its bytes
    unnamed.write_bytes(book.read_bytes())
    pd.testing.assert_frame_equal(read_xlsx_grid(unnamed), reference_grid(book))


def test_chart_sheet_first_is_skipped_like_openpyxl(tmp_path, reader):
    wb = openpyxl.Workbook()
    data = wb.active
    data.title = "answers"
    data.append(["id", "LC1"])
    data.append(["000001", 4])
    chart = wb.create_chartsheet("chart", 0)
    ref = openpyxl.chart.Reference(data, min_col=2, min_row=1, max_row=2)
    bar = openpyxl.chart.BarChart()
    bar.add_data(ref, titles_from_data=True)
    chart.add_chart(bar)
    wb.save(tmp_path / "c.xlsx")
    assert same(tmp_path / "c.xlsx").iloc[1].tolist() == ["000001", "4"]
    assert reader == ["calamine"]
