"""Any text or spreadsheet file as a grid of text cells: the layer every reader stands on.

Cells stay text (leading zeros in ids survive, nothing is guessed from a number
format) and row ``i`` of a grid is spreadsheet row ``i + 1``, so messages can
name the row and column a user sees. Decoding is strict: a BOM, UTF-8, UTF-16 or
cp1252, never replacement characters.
"""

from __future__ import annotations

import codecs
import csv
import io as _io
import re
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from culture.errors import ConfigError, Problem, ValidationError

_XLSX_EXT = {".xlsx", ".xlsm"}
_SPSS_EXT = {".sav", ".zsav"}
# Characters a decoded text file must never contain: their presence means the
# bytes were not text in the encoding we tried (a binary file, wrong codec).
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_DELIMITERS = (",", ";", "\t")
_SNIFF_CHARS = 200_000
NUMBER_RE = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)$")
SHORT = 48  # characters of a header quoted in a message

def column_letter(pos: int) -> str:
    """0-based column position -> spreadsheet letters (0 -> A, 26 -> AA)."""
    out = ""
    n = pos + 1
    while n:
        n, rem = divmod(n - 1, 26)
        out = chr(65 + rem) + out
    return out


def fail(path: str | Path, where: str, message: str) -> ValidationError:
    return ValidationError([Problem(where, message)], source=str(path))



# --------------------------------------------------------------------------- text files

def decode_bytes(raw: bytes, *, encoding: str | None = None, source: str = "") -> str:
    """Decode a text export strictly: BOM first, then the declared encoding, else detect.

    Detection tries UTF-8, then UTF-16 (NUL-byte pattern, no BOM), then cp1252.
    Nothing is ever decoded with replacement characters: bytes that are not valid
    in the chosen encoding raise :class:`ValidationError` naming the byte offset.
    """
    return _decode(raw, encoding=encoding, source=source)[0]


def _decode(raw: bytes, *, encoding: str | None, source: str) -> tuple[str, str, int]:
    """(text, encoding used, length of the BOM) for :func:`decode_bytes`."""
    if encoding is not None:
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise ConfigError(f"encoding={encoding!r} is not a known codec; use e.g. "
                              "'utf-8', 'utf-8-sig', 'cp1252', 'utf-16'") from None
    bom = 0
    # A byte order mark is proof of the encoding; it wins over a declaration.
    if raw.startswith(codecs.BOM_UTF8):
        candidates, bom = ["utf-8"], 3
    elif raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        candidates = ["utf-16"]
    elif encoding is not None:
        candidates = [encoding]
    elif b"\x00" in raw[:4096]:
        head = raw[:4096]
        # ASCII text in UTF-16 has a NUL in every other byte.
        candidates = ["utf-16-le" if head[1::2].count(0) > head[0::2].count(0) else "utf-16-be"]
    else:
        candidates = ["utf-8", "cp1252"]
    first_error: UnicodeDecodeError | None = None
    for enc in candidates:
        try:
            text = raw[bom:].decode(enc) if bom else raw.decode(enc)
        except UnicodeDecodeError as exc:
            first_error = first_error or exc
            continue
        text = text.removeprefix("\ufeff")
        bad = _CONTROL_RE.search(text)
        if bad is None:
            return text, enc, bom
        first_error = first_error or UnicodeDecodeError(enc, raw, bad.start(), bad.start() + 1,
                                                        "control character")
    tried = " or ".join(candidates)
    raise fail(source, f"byte {first_error.start if first_error else 0}",
                f"the file is not text in {tried} (undecodable or binary content); save it as "
                "UTF-8 CSV, or pass encoding= (e.g. 'cp1252', 'utf-16')")


def sniff_delimiter(text: str) -> str:
    """Pick comma, semicolon or tab: the one that splits the first records most consistently."""
    sample = text[:_SNIFF_CHARS]
    cut = sample.rfind("\n") if len(text) > _SNIFF_CHARS else len(sample)
    sample = sample[:max(cut, 1)]
    best, best_score = ",", (-1, -1, -1)
    for delim in _DELIMITERS:
        rows = [r for r in _first_records(sample, delim, 12) if any(c.strip() for c in r)]
        if not rows:
            continue
        widths = [len(r) for r in rows]
        # Rows may carry one extra trailing empty field (legacy Qualtrics).
        consistent = sum(widths[0] <= w <= widths[0] + 1 for w in widths)
        score = (int(widths[0] > 1), consistent, widths[0])
        if score > best_score:
            best, best_score = delim, score
    return best


def _first_records(text: str, delim: str, n: int) -> list[list[str]]:
    reader = csv.reader(_io.StringIO(text), delimiter=delim)
    out = []
    try:
        for row in reader:
            out.append(row)
            if len(out) >= n:
                break
    except csv.Error:
        pass
    return out


def read_text_grid(path: str | Path, *, encoding: str | None = None,
                   delimiter: str | None = None) -> pd.DataFrame:
    """Read a delimited text file into a DataFrame of ``str`` cells, header rows included.

    Columns are named by position; every cell is text ("" for empty), quoted
    line breaks stay inside their cell and blank lines are kept so that row
    ``i`` of the result is spreadsheet row ``i + 1``.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise fail(path, "", "file not found") from None
    except IsADirectoryError:
        raise fail(path, "", "expected a file, got a directory") from None
    if not raw.strip():
        raise fail(path, "", "the file is empty")
    text, enc, bom = _decode(raw, encoding=encoding, source=str(path))
    if not text.strip():
        raise fail(path, "", "the file is empty")
    head = text[:_SNIFF_CHARS]
    # The C parser reads UTF-8 bytes far more compactly than a StringIO (which holds
    # 4 bytes per character); valid UTF-8 input is handed over as it is.
    data = raw[bom:] if enc == "utf-8" else text.encode("utf-8")
    del raw, text
    delim = delimiter or sniff_delimiter(head)
    width = max((len(r) for r in _first_records(head, delim, 3)), default=1)
    try:
        # width + 1 names absorb the trailing empty field some exporters add.
        grid = pd.read_csv(_io.BytesIO(data), sep=delim, header=None, names=range(width + 1),
                           dtype=str, keep_default_na=False, na_filter=False,
                           skip_blank_lines=False, engine="c", quotechar='"',
                           encoding="utf-8")
    except pd.errors.ParserError as exc:
        m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(exc))
        msg = (f"line {m[2]} has {m[3]} fields but the header has {width}; check the "
               "delimiter and quoting" if m else "the file is not a well-formed delimited file")
        raise fail(path, f"line {m[2]}" if m else "", msg) from None
    grid = grid.fillna("")
    last = grid.columns[-1]
    if not grid[last].str.len().any():
        grid = grid.drop(columns=last)
    return grid


# --------------------------------------------------------------------------- spreadsheets

def cell_text(value: Any) -> str:
    """An openpyxl cell value as the text a user sees (integral floats without ``.0``)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat(sep=" ") if isinstance(value, datetime) else value.isoformat()
    text = getattr(value, "text", None)  # openpyxl ArrayFormula / DataTableFormula
    if text is not None:
        return "=" + str(text).removeprefix("=")
    return str(value)


def read_xlsx_grid(path: str | Path, *, max_rows: int | None = None) -> pd.DataFrame:
    """Read the first worksheet as a DataFrame of ``str`` cells (formulas kept as ``=...`` text).

    The workbook is opened with ``data_only=False`` so a formula cell shows its
    formula, which :mod:`culture.validate` rejects, rather than a cached value.
    """
    import openpyxl

    path = Path(path)
    if not path.exists():
        raise fail(path, "", "file not found")
    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=False)
    except Exception as exc:  # openpyxl raises many types for a damaged zip / not xlsx
        raise fail(path, "", f"not a readable .xlsx workbook ({type(exc).__name__})") from None
    try:
        ws = wb.worksheets[0]
        rows = [list(r) for r in ws.iter_rows(min_row=1, max_row=max_rows, values_only=True)]
    finally:
        wb.close()
    width = max((len(r) for r in rows), default=0)
    if width == 0:
        raise fail(path, "", "the workbook's first sheet is empty")
    raw = pd.DataFrame([r + [None] * (width - len(r)) for r in rows], dtype=object)
    grid = pd.DataFrame({c: raw[c].map(cell_text).astype(str) for c in raw.columns})
    # read-only mode reports the sheet's used range, which often has blank tails.
    nonblank = grid.ne("").any(axis=0)
    keep = nonblank[::-1].cummax()[::-1]
    grid = grid.loc[:, keep.to_numpy()]
    filled = grid.ne("").any(axis=1).to_numpy()
    if filled.any():
        grid = grid.iloc[:int(np.flatnonzero(filled)[-1]) + 1]
    return grid.reset_index(drop=True)


def read_grid(path: str | Path, *, encoding: str | None = None) -> pd.DataFrame:
    """Text grid of a CSV/TSV/TXT or XLSX file (chosen by extension, then by magic bytes)."""
    path = Path(path)
    if is_xlsx(path):
        return read_xlsx_grid(path)
    return read_text_grid(path, encoding=encoding)


def is_xlsx(path: Path) -> bool:
    if path.suffix.lower() in _XLSX_EXT:
        return True
    try:
        with path.open("rb") as fh:
            return fh.read(4) == b"PK\x03\x04"
    except OSError:
        return False


def is_spss(path: Path) -> bool:
    if path.suffix.lower() in _SPSS_EXT:
        return True
    try:
        with path.open("rb") as fh:
            return fh.read(4) in (b"$FL2", b"$FL3")
    except OSError:
        return False



def fold_header(text: str) -> str:
    """Letters and digits only, case-folded: ``Duration (in seconds)`` == ``Duration__in_seconds_``."""
    return re.sub(r"[\W_]+", "", str(text).casefold())

def short_text(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= SHORT else text[:SHORT - 3] + "..."
