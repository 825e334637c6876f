"""Any text or spreadsheet file as a grid of text cells: the layer every reader stands on.

Cells stay text (leading zeros in ids survive, nothing is guessed from a number
format) and row ``i`` of a grid is spreadsheet row ``i + 1``, so messages can
name the row and column a user sees. Decoding is strict: a BOM, UTF-8, UTF-16 or
cp1252, never replacement characters, and never a file whose encoding changes part
way (UTF-8 text with some cp1252 bytes). Rows are never padded or cut: a record
with fewer or more fields than the header row, or a file that ends inside a row,
is an error naming the row, the line and the columns, not a grid.
"""

from __future__ import annotations

import bisect
import codecs
import contextlib
import csv
import io as _io
import itertools
import re
import sys
import zipfile
from dataclasses import dataclass
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
    Bytes that are not UTF-8 in a file that is otherwise UTF-8 text (an encoding
    that changes part way, see :func:`_mixed_encoding`) raise naming the row, column
    and line of each, rather than decoding the whole file as cp1252.
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
            # UTF-8 text with some bytes of another encoding is never decoded as cp1252.
            mixed = _mixed_encoding(raw[bom:], source) if enc == "utf-8" else None
            if mixed is not None:
                raise mixed from None
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


# A byte that is not UTF-8, decoded with ``surrogateescape``, becomes one of U+DC80..U+DCFF.
_ESCAPED_RE = re.compile("[\udc80-\udcff]")
# Valid multi-byte UTF-8 characters in a cp1252 file need rare byte pairs ("Ã©");
# this many of them are no coincidence.
_MIXED_MIN = 3
_MIXED_SHOWN = 10


def _mixed_encoding(raw: bytes, source: str) -> ValidationError | None:
    """The error for UTF-8 text holding some bytes of another encoding, or None.

    ``raw`` failed to decode as UTF-8. It is *mixed* (UTF-8 with, typically, rows
    pasted from a cp1252 program) when valid multi-byte UTF-8 characters make up
    most of its non-ASCII text or number at least :data:`_MIXED_MIN`. A file that
    is wholly cp1252 has no (or hardly any) valid multi-byte sequences and is not
    mixed. Decoding a mixed file either way garbles one part (``café`` ->
    ``cafÃ©``), so it is refused; the error names the row, column and line of the
    first few bad bytes, never their content.
    """
    text = raw.decode("utf-8", "surrogateescape")
    n_bad = len(_ESCAPED_RE.findall(text))
    n_multi = len(text) - len(text.encode("ascii", "ignore")) - n_bad
    if n_multi <= 0 or (n_multi < n_bad and n_multi < _MIXED_MIN):
        return None
    positions = [m.start() for m in itertools.islice(_ESCAPED_RE.finditer(text), _MIXED_SHOWN)]
    delim = sniff_delimiter(text[:_SNIFF_CHARS])
    places = list(dict.fromkeys(_locate_offsets(text, positions, delim)))
    problems = [Problem("", f"the file is not text in one encoding, it mixes them: "
                        f"{n_multi} character(s) are UTF-8 but {n_bad} byte(s) are not "
                        "(typically rows pasted or appended from "
                        "a program that saves cp1252 / Windows-1252). Decoding it as either "
                        "encoding would garble letters, so nothing was read; save the whole "
                        "file again as UTF-8 (if it is wholly in one legacy encoding, pass "
                        "encoding=, e.g. 'cp1252')")]
    problems += [Problem(f"row {row}, column {column_letter(col)} (line {line})",
                         "bytes that are not UTF-8") for row, col, line in places]
    if n_bad > len(positions):
        problems.append(Problem("", f"... {n_bad - len(positions)} more byte(s) that are not "
                                "UTF-8 after these"))
    return ValidationError(problems, source=source)


def _locate_offsets(text: str, offsets: list[int], delim: str) -> list[tuple[int, int, int]]:
    """(row, 0-based column, line) of character offsets of ``text``, in one csv pass.

    Rows count records as a spreadsheet shows them (a quoted line break stays in
    its cell; blank lines count), lines count physical lines of the file.
    """
    ends: list[int] = []

    def lines() -> Any:
        end = 0
        for ln in _io.StringIO(text, newline=""):
            end += len(ln)
            ends.append(end)
            yield ln

    out: list[tuple[int, int, int]] = []
    todo = sorted(offsets)
    reader = csv.reader(lines(), delimiter=delim, quotechar='"', strict=False)
    start, row = 0, 0
    with _field_limit(len(text)):
        for _ in reader:
            row += 1
            end = ends[reader.line_num - 1]
            while todo and todo[0] < end:
                pos = todo.pop(0)
                line = bisect.bisect_right(ends, pos) + 1
                part = next(csv.reader(_io.StringIO(text[start:pos] + "\ue000", newline=""),
                                       delimiter=delim, quotechar='"', strict=False), [""])
                out.append((row, len(part) - 1, line))
            if not todo:
                break
            start = end
    return out


@contextlib.contextmanager
def _field_limit(size: int) -> Any:
    """Let the csv module read cells as long as the file (its default stops at 128 KiB)."""
    old = csv.field_size_limit()
    csv.field_size_limit(max(old, min(size + 1, sys.maxsize)))
    try:
        yield
    finally:
        csv.field_size_limit(old)


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

    Columns are named by position, one per field of the first (header) row; every
    cell is text ("" for empty), quoted line breaks stay inside their cell and
    blank lines are kept so that row ``i`` of the result is spreadsheet row ``i + 1``.

    Every record is checked against the header row before any is taken (see
    :func:`_record_problems`): a record with fewer fields (a broken or cut row is
    never padded), one with values past the last header column, and a file that
    ends inside a row raise one :class:`ValidationError` listing all of them.
    Empty trailing fields are not a problem, nor are blank lines.
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
    ends_open = not text.endswith(("\n", "\r"))
    # The C parser reads UTF-8 bytes far more compactly than a StringIO (which holds
    # 4 bytes per character); valid UTF-8 input is handed over as it is.
    data = raw[bom:] if enc == "utf-8" else text.encode("utf-8")
    del raw, text
    delim = delimiter or sniff_delimiter(head)
    counts = _field_counts(data, delim)
    width = max(int(counts.max()), 1)
    unclosed = False
    for closing in (b"", b'"'):
        try:
            grid = _parse(data + closing, delim, width)
            break
        except pd.errors.ParserError as exc:
            # A quoted cell still open at the end: close it to read the rest, then report it.
            if closing or "EOF inside string" not in str(exc):
                raise fail(path, "", "the file is not a well-formed delimited file; check "
                           "the delimiter and quoting") from None
            unclosed = True
    if len(grid) != len(counts):
        raise fail(path, "", f"the file's quoting is ambiguous ({len(counts)} records by one "
                   f"reading, {len(grid)} by another); check for unbalanced quote characters")
    problems, width = _record_problems(grid, counts, ends_open=ends_open, unclosed=unclosed)
    if problems:
        lines = _record_lines(data, delim)
        raise ValidationError([Problem(f"row {r + 1} (line {lines[r]})", msg)
                               for r, msg in problems], source=str(path))
    return grid.iloc[:, :width] if grid.shape[1] > width else grid


def _parse(data: bytes, delim: str, width: int) -> pd.DataFrame:
    return pd.read_csv(_io.BytesIO(data), sep=delim, header=None, names=range(width),
                       dtype=str, keep_default_na=False, na_filter=False,
                       skip_blank_lines=False, engine="c", quotechar='"', encoding="utf-8")


def _csv_reader(data: bytes, delim: str) -> Any:
    stream = _io.TextIOWrapper(_io.BytesIO(data), encoding="utf-8", newline="")
    return csv.reader(stream, delimiter=delim, quotechar='"', doublequote=True, strict=False)


def _field_counts(data: bytes, delim: str) -> np.ndarray:
    """Fields of every physical record (0 for a blank line): one pass of the csv module.

    pandas pads a short record with empty cells, so a record cut short and one
    with empty trailing fields look alike in its grid; this count tells them apart.
    """
    with _field_limit(len(data)):
        return np.fromiter(map(len, _csv_reader(data, delim)), dtype=np.int64)


def _record_lines(data: bytes, delim: str) -> np.ndarray:
    """The physical line each record starts on (1-based), for messages."""
    reader = _csv_reader(data, delim)
    with _field_limit(len(data)):
        last = np.fromiter((reader.line_num for _ in reader), dtype=np.int64)
    return np.concatenate([[1], last[:-1] + 1])


def _filled(grid: pd.DataFrame, rows: np.ndarray, cols: slice) -> np.ndarray:
    """Which of ``rows`` hold a non-blank cell in ``cols`` (vectorised)."""
    part = grid.iloc[rows, cols]
    if part.shape[1] == 0:
        return np.zeros(len(rows), bool)
    return part.apply(lambda s: s.astype(str).str.strip().ne("")).to_numpy().any(axis=1)


def _record_problems(grid: pd.DataFrame, counts: np.ndarray, *, ends_open: bool,
                     unclosed: bool) -> tuple[list[tuple[int, str]], int]:
    """(0-based record, message) for every broken record, and the header's width.

    The header row is the first non-blank record; its field count ``H`` is the
    width of the grid. A record with ``H`` fields is whole. Fewer fields are fine
    only when the missing ones fall under blank header cells that no row uses (a
    header written with a trailing delimiter); more only when the extra fields
    are empty (a trailing delimiter). Records whose cells are all blank are not
    records (blank lines, ``,,,``). A short last record of a file that does not
    end with a line break is reported as cut off; so is a quoted cell still open
    at the end of the file (``unclosed``). Messages name columns, never cells.
    Only the irregular records are looked at cell by cell.
    """
    first = int(np.flatnonzero(counts > 0)[0])
    width = int(counts[first])
    header = grid.iloc[first, :width].astype(str).str.strip().to_numpy() != ""
    named = int(np.flatnonzero(header)[-1]) + 1 if header.any() else width
    if named < width:  # trailing blank header cells: short rows may omit them if never used
        used = grid.iloc[:, named:width].apply(lambda s: s.astype(str).str.strip().ne(""))\
            .to_numpy().any(axis=0)
        named += int(np.flatnonzero(used)[-1]) + 1 if used.any() else 0
    last = len(counts) - 1
    cut_last = unclosed or (ends_open and 0 < counts[last] < width)
    short = np.flatnonzero((counts > 0) & (counts < named))
    short = short[_filled(grid, short, slice(None)) | (cut_last & (short == last))]
    long = np.flatnonzero(counts > width)
    long = long[_filled(grid, long, slice(width, None))]
    bad = np.union1d(short, long)
    if unclosed:
        bad = np.union1d(bad, [last])
    problems: list[tuple[int, str]] = []
    for r in bad.tolist():
        n = int(counts[r])
        if unclosed and r == last:
            problems.append((r, f"the file ends inside a quoted cell that starts in column "
                             f"{column_letter(max(n - 1, 0))} of this row: the file was cut off "
                             "(e.g. an interrupted download) or a quote character is "
                             "unbalanced; nothing was imported. Export or download the file "
                             "again"))
        elif n < width:
            gap = f"{column_letter(n)}" if n == width - 1 else \
                f"{column_letter(n)} to {column_letter(width - 1)}"
            what = ("the file ends in the middle of this row (no line break after it): it was "
                    "cut off, e.g. by an interrupted download" if r == last and cut_last else
                    "the row is broken (a line break inside an unquoted cell, a lost "
                    "delimiter, or a damaged file)")
            problems.append((r, f"the row has {n} field(s) but the header row has {width}: "
                             f"column(s) {gap} missing; {what}. Rows are never padded: export "
                             "or download the file again"))
        else:
            extra = np.flatnonzero(grid.iloc[r, width:n].astype(str).str.strip().ne("")
                                   .to_numpy()) + width
            where = column_letter(int(extra[0])) if len(extra) == 1 else \
                f"{column_letter(int(extra[0]))} to {column_letter(int(extra[-1]))}"
            problems.append((r, f"the row has {n} fields but the header row has {width}: "
                             f"column(s) {where} hold values past the last header column (an "
                             "unquoted delimiter inside a cell shifts a row); check the "
                             "delimiter and quoting"))
    return problems, width


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

    Cells read as :func:`cell_text` shows them: text as typed, integral numbers
    without ``.0``, date-times in ISO form, a formula as its ``=...`` text (which
    :mod:`culture.validate` rejects) rather than its cached value. Row ``i`` is
    spreadsheet row ``i + 1``; blank rows and columns after the last value are cut;
    ``max_rows`` reads only the first rows.

    The values come from calamine (a Rust reader, :func:`_calamine_grid`), which is
    fast but sees cached values, not formulas. A streaming look at the sheet's XML
    first (:func:`_inspect_xlsx`) sends every workbook that calamine would read
    differently from openpyxl (formulas, error cells, ISO date cells, text whose
    edge spaces calamine would drop) to openpyxl, the reference reader.
    """
    path = Path(path)
    if not path.exists():
        raise fail(path, "", "file not found")
    grid = _calamine_grid(path, max_rows)
    if grid is None:
        grid = _openpyxl_grid(path, max_rows)
    # read-only mode reports the sheet's used range, which often has blank tails.
    nonblank = grid.ne("").any(axis=0)
    keep = nonblank[::-1].cummax()[::-1]
    grid = grid.loc[:, keep.to_numpy()]
    filled = grid.ne("").any(axis=1).to_numpy()
    if filled.any():
        grid = grid.iloc[:int(np.flatnonzero(filled)[-1]) + 1]
    return grid.reset_index(drop=True)


def _openpyxl_grid(path: Path, max_rows: int | None) -> pd.DataFrame:
    """The reference reader: openpyxl with ``data_only=False`` (formulas as ``=...``)."""
    import openpyxl

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
    return pd.DataFrame({c: raw[c].map(cell_text).astype(str) for c in raw.columns})


# Relationship types (the end of the URI is the same in transitional and strict OOXML).
_REL_DOCUMENT = "/officeDocument"
_REL_WORKSHEET = "/worksheet"
_REL_STRINGS = "/sharedStrings"
_REL_STYLES = "/styles"
_XML_CHUNK = 1 << 22
# calamine reads integral numbers as float64: exact only up to 2**53 (openpyxl keeps ints).


@dataclass(frozen=True)
class _XlsxPlan:
    """What calamine reads: the first worksheet's name and, for ``max_rows``, a cut copy."""

    sheet: str
    source: bytes | None  # a workbook holding only the first rows, or None: the file itself
    booleans: bool  # TRUE/FALSE cells (equal to 1/0 as Python values: not factorised)


def _calamine_grid(path: Path, max_rows: int | None) -> pd.DataFrame | None:
    """The grid as calamine reads it, or None when openpyxl must read the file.

    None for every workbook where the two could differ (see :func:`_inspect_xlsx`),
    calamine fails, or the sheet holds no value (openpyxl then reports the used range
    or the error). Rows and columns before the first value are kept, so row ``i`` is
    spreadsheet row ``i + 1``.
    """
    from python_calamine import CalamineWorkbook

    try:
        plan = _inspect_xlsx(path, max_rows)
    except Exception:  # not a workbook we understand: the reference reader decides
        return None
    if plan is None:
        return None
    try:
        book = (CalamineWorkbook.from_filelike(_io.BytesIO(plan.source)) if plan.source is not None
                else CalamineWorkbook.from_path(str(path)))
        with book:
            sheet = book.get_sheet_by_name(plan.sheet)
            rows = sheet.to_python(skip_empty_area=False, nrows=max_rows)
    except Exception:  # python-calamine's errors, or a panic surfaced as another type
        return None
    if not rows:
        return None
    return _texts_of(rows, booleans=plan.booleans)


def _texts_of(rows: list[list[Any]], *, booleans: bool) -> pd.DataFrame | None:
    """calamine values as the text cells :func:`cell_text` gives openpyxl's values.

    Each distinct value is converted once (a survey's cells repeat a few answer
    codes): values are factorised, converted, and gathered back. Booleans compare
    equal to 1 and 0, so a sheet holding any is converted cell by cell.
    """
    width = max(len(r) for r in rows)
    if any(len(r) != width for r in rows):
        rows = [r + [""] * (width - len(r)) for r in rows]
    cells = np.empty((len(rows), width), dtype=object)
    cells[:] = rows
    flat = cells.ravel()
    if booleans:
        texts = np.array([_calamine_text(v) for v in flat], dtype=object)
    else:
        codes, uniques = pd.factorize(flat)
        table = np.array([_calamine_text(v) for v in uniques] + [""], dtype=object)
        texts = table[codes]  # code -1 (a missing value) takes the trailing ""
    texts = texts.reshape(cells.shape)
    del cells, flat
    return pd.DataFrame({c: pd.Series(texts[:, c], dtype=object).astype(str)
                         for c in range(width)})


def _calamine_text(value: Any) -> str:
    """:func:`cell_text` of the value openpyxl reads for the cell calamine read as ``value``."""
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        # long integer literals sent the sheet to openpyxl (_scan_sheet): a large whole
        # float here was written with an exponent or a point, a float for openpyxl too
        return cell_text(value)
    if isinstance(value, date) and not isinstance(value, datetime):
        # A date-formatted number at midnight: openpyxl gives a datetime, calamine a date.
        value = datetime.combine(value, time())
    return cell_text(value)


def _inspect_xlsx(path: Path, max_rows: int | None) -> _XlsxPlan | None:
    """Plan the calamine read of ``path``'s first worksheet, or None to use openpyxl.

    One streaming pass over the sheet's XML (and the shared strings) looks for what
    calamine reads differently from openpyxl: formula elements ``<f>`` (calamine
    gives the cached value), error cells ``t="e"`` (calamine gives ""), ISO date
    cells ``t="d"`` (openpyxl gives a date, not a date-time), and text elements
    without ``xml:space="preserve"`` whose text starts or ends with white space
    (calamine trims it). With ``max_rows`` the XML is read only up to that row and
    the plan carries a copy of the workbook cut there, so detecting a format in a
    200,000-row export reads a few rows, not the whole sheet.
    """
    with zipfile.ZipFile(path) as z:
        book = _office_document(z)
        rels = _relationships(z, book)
        sheet_name, sheet_part = _first_worksheet(z, book, rels)
        strings = next((t for kind, t in rels.values() if kind.endswith(_REL_STRINGS)), None)
        with z.open(sheet_part) as fh:
            scan = _scan_sheet(fh, max_rows)
        if scan is None:
            return None
        head, booleans = scan
        string_bytes = z.read(strings) if strings in z.namelist() else None
        if string_bytes is not None and _untrimmed_text(string_bytes, root=b"sst"):
            return None
        source = None
        if head is not None:
            keep = {"[Content_Types].xml", "_rels/.rels", book, _rels_name(book)}
            keep |= {t for kind, t in rels.values()
                     if kind.endswith((_REL_STRINGS, _REL_STYLES))}
            buf = _io.BytesIO()
            with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as out:
                for name in z.namelist():
                    if name == sheet_part:
                        out.writestr(name, head)
                    elif name == strings and string_bytes is not None:
                        out.writestr(name, string_bytes)
                    elif name in keep:
                        out.writestr(name, z.read(name))
            source = buf.getvalue()
    return _XlsxPlan(sheet=sheet_name, source=source, booleans=booleans)


def _rels_name(part: str) -> str:
    folder, _, name = part.rpartition("/")
    return f"{folder}/_rels/{name}.rels" if folder else f"_rels/{name}.rels"


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _relationships(z: zipfile.ZipFile, part: str) -> dict[str, tuple[str, str]]:
    """Relationship id -> (type, target part) of ``part`` (targets resolved to zip names)."""
    import posixpath
    from xml.etree import ElementTree

    folder = part.rpartition("/")[0]
    out = {}
    for rel in ElementTree.fromstring(z.read(_rels_name(part))):
        if _local(rel.tag) != "Relationship" or rel.get("TargetMode") == "External":
            continue
        target = rel.get("Target", "")
        name = target.lstrip("/") if target.startswith("/") else \
            posixpath.normpath(posixpath.join(folder, target))
        out[rel.get("Id", "")] = (rel.get("Type", ""), name)
    return out


def _office_document(z: zipfile.ZipFile) -> str:
    for kind, target in _relationships(z, "").values():
        if kind.endswith(_REL_DOCUMENT):
            return target
    raise KeyError("no officeDocument relationship")


def _first_worksheet(z: zipfile.ZipFile, book: str,
                     rels: dict[str, tuple[str, str]]) -> tuple[str, str]:
    """(name, part) of the first worksheet in workbook order (chart sheets skipped), as openpyxl."""
    from xml.etree import ElementTree

    root = ElementTree.fromstring(z.read(book))
    for el in root.iter():
        if _local(el.tag) != "sheet":
            continue
        rid = next((v for k, v in el.attrib.items() if _local(k) == "id"), None)
        kind, target = rels.get(rid or "", ("", ""))
        if kind.endswith(_REL_WORKSHEET):
            return el.get("name", ""), target
    raise KeyError("no worksheet")


def _scan_sheet(fh: Any, max_rows: int | None) -> tuple[bytes | None, bool] | None:
    """Stream a worksheet's XML: None when openpyxl must read it, else (head, booleans).

    ``head`` is the sheet cut after row element ``max_rows`` and closed again (None
    without ``max_rows`` or when the sheet is no longer); ``booleans`` says whether
    any ``t="b"`` cell was seen. Only ``<sheetData>`` is looked at: ``<f>`` elsewhere
    (data validations, conditional formats) is no cell formula.
    """
    data = fh.read(_XML_CHUNK)
    root = re.search(rb"<([A-Za-z_][\w.-]*:)?worksheet[\s>]", data[:4096])
    if root is None:
        return None
    p = re.escape(root.group(1) or b"")
    formula = re.compile(rb"<" + p + rb"f[\s>/]")
    typed = re.compile(rb"""t=["']([bde])["']""")
    untrimmed = re.compile(rb"<" + p + rb"t>(?:\s|[^<]*\s</" + p + rb"t>)")
    # an integer literal of 16+ digits: openpyxl reads an exact int, calamine a rounded float
    long_int = re.compile(rb"<" + p + rb"v>\s*-?\d{16,}\s*</" + p + rb"v>")
    name = root.group(1) or b""
    close, empty = b"</" + name + b"sheetData>", re.compile(rb"<" + p + rb"sheetData\s*/>")
    rows = re.compile(rb"<" + p + rb"row[\s>/]")
    head = bytearray() if max_rows is not None else None
    booleans, seen_rows, pending = False, 0, b""
    while True:
        chunk = pending + data
        stop = chunk.find(close)
        if stop < 0 and (m := empty.search(chunk)) is not None:
            stop = m.start()
        done = stop >= 0 or not data
        # Patterns start at "<" or inside a tag: carry from the last "<" to the next read.
        cut = stop if stop >= 0 else len(chunk) if done else max(chunk.rfind(b"<"), 0)
        if head is not None:
            for m in rows.finditer(chunk, 0, cut):
                seen_rows += 1
                if seen_rows > max_rows:  # the row after the last one wanted: cut here
                    cut, done, stop = m.start(), True, -1
                    break
        if formula.search(chunk, 0, cut) or untrimmed.search(chunk, 0, cut) \
                or long_int.search(chunk, 0, cut):
            return None
        for m in typed.finditer(chunk, 0, cut):
            if chunk[m.start() - 1:m.start()].isspace():  # the attribute t, not e.g. fmt
                if m.group(1) != b"b":
                    return None
                booleans = True
        if head is not None:
            head += chunk[:cut]
        if done:
            break
        pending = chunk[cut:]
        data = fh.read(_XML_CHUNK)
    if head is None:
        return None, booleans
    if stop < 0:  # cut after row max_rows: close the elements left open
        head += close + b"</" + name + b"worksheet>"
    else:  # the whole sheet was read: keep what follows sheetData too
        head += chunk[stop:] + fh.read()
    return bytes(head), booleans


def _untrimmed_text(xml: bytes, *, root: bytes) -> bool:
    """Whether a text element without ``xml:space`` starts or ends with white space."""
    m = re.search(rb"<([A-Za-z_][\w.-]*:)?" + root + rb"[\s>]", xml[:4096])
    p = re.escape(m.group(1) or b"") if m else b""
    return re.search(rb"<" + p + rb"t>(?:\s|[^<]*\s</" + p + rb"t>)", xml) is not None


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
