"""The pack's exports for analysts: release tables, ISO 9001 evidence, findings (CSV, XLSX).

``release.csv`` (the scores) and ``release.xlsx`` (sheets ``scores``, ``items``,
``response_rates``, ``cuts``) hold the rows of
:func:`culture.boundary.release.export_table`: numbers are numbers (``n`` an integer,
statistics floats rounded to :data:`~culture.boundary.release.EXPORT_DECIMALS`
decimals), a withheld cell says so in ``status`` and has empty values (never 0), and
each unit carries its path below the organisation (``unit_path``) beside its id.

Every text cell is neutralised against spreadsheet formulas; XLSX files are
byte-reproducible (fixed document dates and zip times), so an unchanged pack
rebuilds identically. Tables are written one at a time as they are produced, and
XLSX sheets are streamed row by row (openpyxl's write-only mode), so a large
organisation's exports never sit in memory whole.
"""

from __future__ import annotations

import math
import re
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from culture.boundary.bundle import Bundle
from culture.boundary.leakgate import neutralise_frame
from culture.boundary.release import EXPORT_TABLES, export_table

FIXED_TIME = datetime(2000, 1, 1)
_ROWS_PER_CHUNK = 5000  # rows converted to plain cell values at a time


def _cell(value: Any) -> Any:
    """One value as openpyxl writes it: missing -> empty cell, numpy scalars -> Python,
    anything that is not a number, text, truth value or date -> its text (as pandas does)."""
    if isinstance(value, np.datetime64 | np.timedelta64):
        value = pd.Timestamp(value) if isinstance(value, np.datetime64) else pd.Timedelta(value)
    elif isinstance(value, np.generic):
        value = value.item()
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if math.isnan(value):
            return None
        return value if math.isfinite(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, pd.Timestamp):
        return value.tz_localize(None).to_pydatetime() if value.tzinfo else value.to_pydatetime()
    if isinstance(value, datetime):
        return value.replace(tzinfo=None)
    if isinstance(value, date | timedelta):
        return value
    return str(value)


def _rows(frame: pd.DataFrame) -> Iterator[list[Any]]:
    for start in range(0, len(frame), _ROWS_PER_CHUNK):
        chunk = frame.iloc[start:start + _ROWS_PER_CHUNK].astype(object)
        for row in chunk.itertuples(index=False, name=None):
            yield [_cell(v) for v in row]


def write_xlsx(sheets: Mapping[str, pd.DataFrame] | Iterable[tuple[str, pd.DataFrame]],
               path: Path) -> None:
    """Write sheets to XLSX byte-for-byte reproducibly (fixed document dates and zip times),
    so an unchanged pack rebuilds identically.

    ``sheets`` is a mapping or an iterable of ``(name, frame)`` pairs; a generator is
    consumed one sheet at a time, so each table can be built, written and dropped. Rows
    are streamed (write-only workbook); missing values are empty cells, numbers stay
    numbers and every text cell is neutralised against formulas.
    """
    from openpyxl import Workbook

    pairs = sheets.items() if isinstance(sheets, Mapping) else sheets
    book = Workbook(write_only=True)
    book.properties.created = book.properties.modified = FIXED_TIME
    for name, frame in pairs:
        safe = neutralise_frame(frame)
        sheet = book.create_sheet(title=str(name))
        sheet.append([_cell(c) for c in safe.columns])
        for row in _rows(safe):
            sheet.append(row)
        del safe
    if not book.worksheets:
        book.create_sheet(title="empty")
    book.save(path)
    with zipfile.ZipFile(path) as zin:
        entries = [(info.filename, zin.read(info)) for info in zin.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zout:
        for name, data in entries:
            if name == "docProps/core.xml":  # openpyxl stamps "modified" with the save time
                data = re.sub(rb"(<dcterms:modified[^>]*>)[^<]*", rb"\g<1>2000-01-01T00:00:00Z", data)
            zout.writestr(zipfile.ZipInfo(name, date_time=(2000, 1, 1, 0, 0, 0)), data,
                          compress_type=zipfile.ZIP_DEFLATED)


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    """One table as CSV: text cells neutralised, numbers as numbers, missing values empty."""
    neutralise_frame(frame).to_csv(path, index=False)


def write_exports(bundle: Bundle, folder: Path) -> list[str]:
    """release.csv / release.xlsx, ISO 9001 evidence (CSV + XLSX) and findings.csv.

    Each table is built when it is written and dropped after, never all at once.
    """
    release = bundle.release
    write_csv(export_table(release, "scores"), folder / "release.csv")
    write_xlsx(((name, export_table(release, name)) for name in EXPORT_TABLES),
               folder / "release.xlsx")
    iso = bundle.table("iso_evidence")
    write_csv(iso, folder / "iso_evidence.csv")
    write_xlsx({"iso_9001_evidence": iso}, folder / "iso_evidence.xlsx")
    del iso
    write_csv(bundle.table("findings").drop(columns=["numbers"], errors="ignore"),
              folder / "findings.csv")
    return ["release.csv", "release.xlsx", "iso_evidence.csv", "iso_evidence.xlsx", "findings.csv"]
