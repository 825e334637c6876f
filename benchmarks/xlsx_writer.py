"""A fast XLSX writer for benchmark inputs: a text grid written as Excel writes a sheet.

openpyxl needs minutes to write the 200,000-row workbooks the ingest benchmark reads,
so the benchmark writes them here instead. The workbook is what Excel (and so a
Microsoft Forms "Open in Excel" export) saves: one sheet, shared strings, numbers as
numbers, ``YYYY-MM-DD HH:MM:SS`` text as date-times with a date format, ``r``
attributes on rows and cells, a ``<dimension>``. Every cell reads back (openpyxl or
the workbench's reader) as the text it was given, so the XLSX and the CSV of the
same grid hold the same cells.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np
import pandas as pd

_NUMBER = r"^(?!-0$)-?(?:0|[1-9]\d{0,14})(?:\.\d{0,13}[1-9])?$"  # reads back as the same text
_STAMP = r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$"
_EPOCH = pd.Timestamp("1899-12-30")

_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    '<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
    '<Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
    '</Types>')
_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>'
    '</Relationships>')
_WORKBOOK = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
    '<sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>')
_WORKBOOK_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>'
    '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/>'
    '<Relationship Id="rId3" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/>'
    '</Relationships>')
_STYLES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    '<numFmts count="1"><numFmt numFmtId="164" formatCode="yyyy\\-mm\\-dd\\ hh:mm:ss"/></numFmts>'
    '<fonts count="1"><font><sz val="11"/><name val="Calibri"/></font></fonts>'
    '<fills count="1"><fill><patternFill patternType="none"/></fill></fills>'
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="2"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/></cellXfs>'
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
    '</styleSheet>')
_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"


def _letter(pos: int) -> str:
    out, n = "", pos + 1
    while n:
        n, rem = divmod(n - 1, 26)
        out = chr(65 + rem) + out
    return out


def write_grid_xlsx(grid: pd.DataFrame, path: str | Path) -> Path:
    """Write a grid of text cells (row 0 = spreadsheet row 1) as a one-sheet workbook."""
    path = Path(path)
    n_rows, n_cols = grid.shape
    rows = pd.Series(np.arange(1, n_rows + 1).astype(str))
    strings: dict[str, int] = {}
    cells = []
    for j in range(n_cols):
        text = grid.iloc[:, j].astype(object).fillna("").astype(str).reset_index(drop=True)
        ref = '<c r="' + _letter(j) + rows
        number = text.str.match(_NUMBER)
        stamp = text.str.match(_STAMP)
        fragment = pd.Series("", index=text.index, dtype=object)
        fragment[number] = ref[number] + '"><v>' + text[number] + "</v></c>"
        if stamp.any():
            serial = (pd.to_datetime(text[stamp]) - _EPOCH) / pd.Timedelta(days=1)
            fragment[stamp] = ref[stamp] + '" s="1"><v>' + serial.map(repr) + "</v></c>"
        other = text.ne("") & ~number & ~stamp
        if other.any():
            codes = text[other].map(lambda s: strings.setdefault(s, len(strings)))
            fragment[other] = ref[other] + '" t="s"><v>' + codes.astype(str) + "</v></c>"
        cells.append(fragment.to_numpy(dtype=object))
    body = np.stack(cells, axis=1) if cells else np.empty((n_rows, 0), dtype=object)
    last = f"{_letter(max(n_cols - 1, 0))}{max(n_rows, 1)}"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as z:
        z.writestr("[Content_Types].xml", _CONTENT_TYPES)
        z.writestr("_rels/.rels", _RELS)
        z.writestr("xl/workbook.xml", _WORKBOOK)
        z.writestr("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS)
        z.writestr("xl/styles.xml", _STYLES)
        with z.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as fh:
            fh.write(('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                      f'<worksheet xmlns="{_MAIN}"><dimension ref="A1:{last}"/>'
                      '<sheetData>').encode())
            for i in range(n_rows):
                fh.write(f'<row r="{i + 1}">{"".join(body[i])}</row>'.encode())
            fh.write(b"</sheetData></worksheet>")
        with z.open("xl/sharedStrings.xml", "w", force_zip64=True) as fh:
            fh.write(('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                      f'<sst xmlns="{_MAIN}" count="{len(strings)}" '
                      f'uniqueCount="{len(strings)}">').encode())
            for s in strings:
                space = ' xml:space="preserve"' if s != s.strip() else ""
                fh.write(f"<si><t{space}>{escape(s)}</t></si>".encode())
            fh.write(b"</sst>")
    return path
