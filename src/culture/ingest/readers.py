"""Readers for survey exports and for the org / headcount / quality / exposure files.

Every reader turns a file into a grid of *text* cells first (so leading zeros in
ids survive and nothing is guessed from a number format), describes each column
by the strings a user could recognise it by (export tag, question text, import
id), and hands the grid to :mod:`culture.validate`, which maps columns onto the
instrument and checks every cell in one pass.

Formats follow ``/work/shared/reference/export-formats.md`` (sections cited in
the code as "formats §n"):

========== =========================================================== ============
format     layout                                                      header rows
========== =========================================================== ============
qualtrics  tags / question text / ImportId JSON (legacy: V1.. / names)  3 (2)
surveymonkey  question text over the first column / sub-question row    2 (old: 1)
msforms    ``ID, Start time, Completion time, Email, Name``, texts      1
googleforms ``Timestamp``, grid columns ``Question [Row]``              1
limesurvey ``id, submitdate, lastpage, ...``, ``G01Q01[SQ001]`` codes   1
spss       ``.sav``: variable names + labels, value labels             (none)
csv / xlsx headers are item ids, item texts or mapped                   1
========== =========================================================== ============
"""

from __future__ import annotations

import ast
import codecs
import csv
import html
import io as _io
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from culture import frames
from culture.errors import ConfigError, Problem, ValidationError
from culture.frames import ParsedResponses
from culture.measure.instrument import Instrument

FORMATS = ("qualtrics", "surveymonkey", "msforms", "googleforms", "limesurvey", "spss", "csv",
           "xlsx")
PARTIAL_POLICIES = ("keep", "reject")
_XLSX_EXT = {".xlsx", ".xlsm"}
_SPSS_EXT = {".sav", ".zsav"}
# Characters a decoded text file must never contain: their presence means the
# bytes were not text in the encoding we tried (a binary file, wrong codec).
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_DELIMITERS = (",", ";", "\t")
_SNIFF_CHARS = 200_000


@dataclass(frozen=True)
class SourceColumn:
    """One column of an export, described by the strings a user knows it by.

    ``keys`` are machine names (export tag, ImportId, variable name, LimeSurvey
    code); ``texts`` are human labels (question text, sub-question, statement).
    ``header`` is what messages show. ``value_labels`` maps a stored code to its
    label (SPSS); ``timezone`` is the zone naive dates are in (Qualtrics JSON).
    """

    pos: int
    header: str
    keys: tuple[str, ...] = ()
    texts: tuple[str, ...] = ()
    timezone: str | None = None
    value_labels: Mapping[str, str] = field(default_factory=dict)

    @property
    def letter(self) -> str:
        return column_letter(self.pos)


@dataclass(frozen=True)
class RawExport:
    """A response export as a text grid, before it is checked against an instrument.

    ``body`` has one ``str`` column per source column (named by position) and
    ``rows`` gives the spreadsheet row number of each body row.
    """

    source: str
    format: str
    columns: tuple[SourceColumn, ...]
    body: pd.DataFrame
    rows: np.ndarray


def column_letter(pos: int) -> str:
    """0-based column position -> spreadsheet letters (0 -> A, 26 -> AA)."""
    out = ""
    n = pos + 1
    while n:
        n, rem = divmod(n - 1, 26)
        out = chr(65 + rem) + out
    return out


def _fail(path: str | Path, where: str, message: str) -> ValidationError:
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
    raise _fail(source, f"byte {first_error.start if first_error else 0}",
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
        raise _fail(path, "", "file not found") from None
    except IsADirectoryError:
        raise _fail(path, "", "expected a file, got a directory") from None
    if not raw.strip():
        raise _fail(path, "", "the file is empty")
    text, enc, bom = _decode(raw, encoding=encoding, source=str(path))
    if not text.strip():
        raise _fail(path, "", "the file is empty")
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
        raise _fail(path, f"line {m[2]}" if m else "", msg) from None
    grid = grid.fillna("")
    last = grid.columns[-1]
    if not grid[last].str.len().any():
        grid = grid.drop(columns=last)
    return grid


# --------------------------------------------------------------------------- spreadsheets

def _cell_text(value: Any) -> str:
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
        raise _fail(path, "", "file not found")
    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=False)
    except Exception as exc:  # openpyxl raises many types for a damaged zip / not xlsx
        raise _fail(path, "", f"not a readable .xlsx workbook ({type(exc).__name__})") from None
    try:
        ws = wb.worksheets[0]
        rows = [list(r) for r in ws.iter_rows(min_row=1, max_row=max_rows, values_only=True)]
    finally:
        wb.close()
    width = max((len(r) for r in rows), default=0)
    if width == 0:
        raise _fail(path, "", "the workbook's first sheet is empty")
    raw = pd.DataFrame([r + [None] * (width - len(r)) for r in rows], dtype=object)
    grid = pd.DataFrame({c: raw[c].map(_cell_text).astype(str) for c in raw.columns})
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
    if _is_xlsx(path):
        return read_xlsx_grid(path)
    return read_text_grid(path, encoding=encoding)


def _is_xlsx(path: Path) -> bool:
    if path.suffix.lower() in _XLSX_EXT:
        return True
    try:
        with path.open("rb") as fh:
            return fh.read(4) == b"PK\x03\x04"
    except OSError:
        return False


def _is_spss(path: Path) -> bool:
    if path.suffix.lower() in _SPSS_EXT:
        return True
    try:
        with path.open("rb") as fh:
            return fh.read(4) in (b"$FL2", b"$FL3")
    except OSError:
        return False


# --------------------------------------------------------------------------- detection

def _norm(text: str) -> str:
    """Letters and digits only, case-folded: ``Duration (in seconds)`` == ``Duration__in_seconds_``."""
    return re.sub(r"[\W_]+", "", str(text).casefold())


def _is_import_id(cell: str) -> bool:
    return "importid" in _norm(cell) and cell.lstrip().startswith("{")


def _sniff_layout(head: pd.DataFrame) -> str:
    """Name the tool from the first (up to three) rows of a grid."""
    rows = [[str(c).strip() for c in head.iloc[i].tolist()] for i in range(min(3, len(head)))]
    first = [_norm(c) for c in rows[0]] if rows else []
    if len(rows) >= 3 and sum(_is_import_id(c) for c in rows[2]) >= max(1, len(rows[2]) // 3):
        return "qualtrics"
    if len(rows) >= 2:
        second = {_norm(c) for c in rows[1]}
        if first[:2] == ["v1", "v2"] or {"responseid", "responseset"} <= second:
            return "qualtrics"
    names = set(first)
    if {"respondentid", "collectorid"} <= names:
        return "surveymonkey"
    if {"id", "starttime", "completiontime"} <= names:
        return "msforms"
    if first and first[0] == "timestamp":
        return "googleforms"
    if "submitdate" in names and ({"id", "lastpage"} & names) or \
            {"responseid", "datesubmitted"} <= names:
        return "limesurvey"
    return ""


def detect_format(path: str | Path) -> str:
    """Name the export format of ``path`` (one of :data:`FORMATS`).

    ``.sav`` -> ``spss``; otherwise the first rows are read as text and matched
    against each tool's documented header (formats §1-5): a Qualtrics ImportId
    row or legacy ``V1, V2`` row, SurveyMonkey ``Respondent ID, Collector ID``,
    Microsoft Forms ``ID, Start time, Completion time``, Google Forms
    ``Timestamp`` first, LimeSurvey ``id, submitdate, lastpage``. Anything else
    is plain ``csv`` or ``xlsx``.
    """
    path = Path(path)
    if not path.exists():
        raise _fail(path, "", "file not found")
    if _is_spss(path):
        return "spss"
    if _is_xlsx(path):
        return _sniff_layout(read_xlsx_grid(path, max_rows=3)) or "xlsx"
    return _sniff_layout(read_text_grid(path).head(3)) or "csv"


# --------------------------------------------------------------------------- column headers

_GENERIC_SM = {"response", "openendedresponse", "other", "otherpleasespecify"}


def _clean_text(text: str) -> str:
    """Question text without HTML tags/entities and line breaks (Qualtrics may keep both)."""
    text = html.unescape(re.sub(r"<[^>]+>", " ", str(text)))
    return " ".join(text.split())


def _parse_import_id(cell: str) -> dict[str, Any]:
    """``{"ImportId":"QID5_1"}``; 2017-era files used single quotes (formats §1)."""
    cell = cell.strip()
    if not cell.startswith("{"):
        return {}
    for parse in (json.loads, ast.literal_eval):
        try:
            value = parse(cell)
        except (ValueError, SyntaxError):
            continue
        if isinstance(value, dict):
            return value
    return {}


def _columns_one_row(header: list[str]) -> list[SourceColumn]:
    return [SourceColumn(pos=i, header=_clean_text(h), keys=(h.strip(),), texts=(_clean_text(h),))
            for i, h in enumerate(header)]


def _columns_qualtrics(rows: list[list[str]]) -> list[SourceColumn]:
    tags, texts = rows[0], rows[1]
    ids = rows[2] if len(rows) > 2 else [""] * len(tags)
    out = []
    for i, (tag, text, imp) in enumerate(zip(tags, texts, ids, strict=True)):
        meta = _parse_import_id(imp)
        import_id = str(meta.get("ImportId", "")).strip()
        zone = meta.get("timeZone")
        keys = tuple(k for k in (tag.strip(), import_id) if k)
        # Legacy files put metadata names (ResponseID, Status, ...) in row 2 under V1..V10.
        legacy_meta = re.fullmatch(r"V\d+", tag.strip()) is not None
        if legacy_meta:
            keys = (text.strip(), *keys)
        out.append(SourceColumn(pos=i, header=(text.strip() if legacy_meta else tag.strip()),
                                keys=keys, texts=(_clean_text(text),),
                                timezone=str(zone) if zone else None))
    return out


def _columns_surveymonkey(rows: list[list[str]]) -> list[SourceColumn]:
    top, sub = rows[0], rows[1]
    out, question = [], ""
    for i, (q, s) in enumerate(zip(top, sub, strict=True)):
        q, s = _clean_text(q), _clean_text(s)
        # The question text is written over the first column of a multi-column question.
        question = q or question
        texts = [question] if _norm(s) in _GENERIC_SM or not s else [s, f"{question} - {s}"]
        if q and not s:
            texts = [q]
        out.append(SourceColumn(pos=i, header=s if s and _norm(s) not in _GENERIC_SM else question,
                                keys=(q,) if q else (), texts=tuple(texts)))
    return out


def _header_rows(fmt: str, grid: pd.DataFrame) -> int:
    if fmt == "qualtrics":
        third = grid.iloc[2].tolist() if len(grid) > 2 else []
        return 3 if sum(_is_import_id(str(c)) for c in third) >= 1 else 2
    if fmt == "surveymonkey" and len(grid) > 1:
        # Current exports: row 2 is blank under the metadata columns (formats §2).
        first = [_norm(c) for c in grid.iloc[0].tolist()]
        second = grid.iloc[1].tolist()
        meta = [i for i, c in enumerate(first) if c in {"respondentid", "collectorid"}]
        return 2 if meta and all(not str(second[i]).strip() for i in meta) else 1
    return 1


def describe_columns(fmt: str, header_rows: list[list[str]]) -> list[SourceColumn]:
    """Build the :class:`SourceColumn` list of a text-grid format from its header rows."""
    if fmt == "qualtrics":
        return _columns_qualtrics(header_rows)
    if fmt == "surveymonkey" and len(header_rows) == 2:
        return _columns_surveymonkey(header_rows)
    return _columns_one_row(header_rows[0])


# --------------------------------------------------------------------------- SPSS

def _read_spss(path: Path) -> tuple[list[SourceColumn], pd.DataFrame]:
    import pyreadstat

    try:
        df, meta = pyreadstat.read_sav(str(path), user_missing=True)
    except Exception as exc:  # pyreadstat.ReadstatError and OSError variants
        raise _fail(path, "", f"not a readable SPSS .sav file ({type(exc).__name__})") from None
    labels = meta.column_names_to_labels or {}
    value_labels = meta.variable_value_labels or {}
    missing = meta.missing_ranges or {}
    cols, body = [], {}
    for i, name in enumerate(df.columns):
        s = df[name]
        if pd.api.types.is_numeric_dtype(s):
            values = s.to_numpy(dtype="float64")
            # Declared user-missing codes are the file's own statement "this is missing".
            is_missing = np.isnan(values)
            for rng in missing.get(name, []):
                is_missing |= (values >= float(rng["lo"])) & (values <= float(rng["hi"]))
            whole = np.isfinite(values) & (np.mod(values, 1) == 0)
            text = pd.Series(values.astype(object)).astype(str)
            text[whole] = pd.Series(values[whole].astype("int64")).astype(str).to_numpy()
            text = text.where(~is_missing, "")
        else:
            text = s.map(_cell_text)
        body[i] = text.astype(str).reset_index(drop=True)
        vl = {(str(int(k)) if isinstance(k, float) and k.is_integer() else str(k)): str(v)
              for k, v in value_labels.get(name, {}).items()}
        label = labels.get(name) or ""
        cols.append(SourceColumn(pos=i, header=name, keys=(name,),
                                 texts=(_clean_text(label),) if label else (), value_labels=vl))
    return cols, pd.DataFrame(body)


# --------------------------------------------------------------------------- responses

def load_export(path: str | Path, *, fmt: str | None = None,
                encoding: str | None = None) -> RawExport:
    """Read an export into a :class:`RawExport` (text grid + column descriptions), unchecked."""
    path = Path(path)
    if fmt is not None and fmt not in FORMATS:
        raise ConfigError(f"fmt={fmt!r} is not a known export format; allowed: "
                          f"{', '.join(FORMATS)} (or None to detect)")
    if not path.exists():
        raise _fail(path, "", "file not found")
    if fmt == "spss" or (fmt is None and _is_spss(path)):
        cols, body = _read_spss(path)
        rows = np.arange(1, len(body) + 1)  # SPSS Data View numbers cases from 1
        return RawExport(str(path), "spss", tuple(cols), body, rows)
    grid = read_grid(path, encoding=encoding)
    # Detect from the grid already read rather than reading the file twice.
    fmt = fmt or _sniff_layout(grid.head(3)) or ("xlsx" if _is_xlsx(path) else "csv")
    n_head = _header_rows(fmt, grid)
    if len(grid) < n_head:
        raise _fail(path, "", f"the {fmt} export needs {n_head} header row(s); the file has "
                    f"{len(grid)} row(s)")
    heads = [[str(c) for c in grid.iloc[i].tolist()] for i in range(n_head)]
    cols = describe_columns(fmt, heads)
    body = grid.iloc[n_head:].reset_index(drop=True)
    body.columns = range(body.shape[1])
    rows = np.arange(n_head + 1, n_head + 1 + len(body))
    return RawExport(str(path), fmt, tuple(cols), body, rows)


def read_responses(path: str | Path, instrument: Instrument, *, fmt: str | None = None,
                   mapping: Any = None, partial: str = "keep",
                   encoding: str | None = None) -> ParsedResponses:
    """Read and validate one survey export.

    Parameters
    ----------
    path : the export file (CSV/TSV/TXT, XLSX or SAV).
    instrument : the survey instrument the export answers.
    fmt : one of :data:`FORMATS`; ``None`` detects it with :func:`detect_format`.
    mapping : a YAML or CSV mapping file, or a dict (see :func:`culture.validate.load_mapping`):
        source column -> canonical column or ``ignore``, optional answer ``values`` and
        ``absent`` items.
    partial : ``keep`` (flagged ``finished=False``) or ``reject`` (rows go to ``rejected``
        with kind ``excluded``) for Qualtrics ``Finished=0`` / LimeSurvey empty ``submitdate``.
    encoding : declared text encoding; by default a BOM, UTF-8, UTF-16 or cp1252 is detected.

    Returns
    -------
    ParsedResponses
        ``accepted`` in the canonical shape of :mod:`culture.frames` plus ``source_row``
        (the row number seen in a spreadsheet, header rows counted).

    Raises
    ------
    ValidationError
        File-level problems (unreadable, empty, unknown or unmapped columns, every row
        rejected), all listed at once.
    ConfigError
        An unknown ``fmt``, ``partial`` or ``encoding``.
    """
    from culture.ingest.validation import load_mapping, validate_responses

    if partial not in PARTIAL_POLICIES:
        raise ConfigError(f"partial={partial!r} is not allowed; use one of "
                          f"{', '.join(PARTIAL_POLICIES)}")
    spec = load_mapping(mapping, instrument)
    raw = load_export(path, fmt=fmt, encoding=encoding)
    return validate_responses(raw, instrument, mapping=spec, partial=partial)


# --------------------------------------------------------------------------- org and registers

def _read_table(path: str | Path, *, encoding: str | None, mapping: Any,
                canonical: tuple[str, ...]) -> tuple[pd.DataFrame, np.ndarray]:
    """A one-header-row table with columns renamed to canonical names (mapping first)."""
    from culture.ingest.validation import table_columns

    if _is_spss(Path(path)):
        raise _fail(path, "", "expected a CSV or XLSX table, got an SPSS file")
    grid = read_grid(path, encoding=encoding)
    header = [str(c).strip() for c in grid.iloc[0].tolist()]
    names = table_columns(header, canonical=canonical, mapping=mapping, source=str(path))
    body = grid.iloc[1:].reset_index(drop=True)
    keep = [i for i, n in enumerate(names) if n is not None]
    body = body.iloc[:, keep]
    body.columns = [names[i] for i in keep]
    rows = np.arange(2, 2 + len(body))
    filled = body.apply(lambda s: s.str.strip().ne("")).any(axis=1).to_numpy() if keep else \
        np.zeros(len(body), bool)
    return body.loc[filled].reset_index(drop=True), rows[filled]


def read_org(path: str | Path, *, wave: str | None = None, mapping: Any = None,
             encoding: str | None = None) -> pd.DataFrame:
    """Read an org chart: ``unit_id, parent_id, name`` [, ``wave``] (one row per unit).

    Checks (all reported together): required columns, blank or duplicate unit ids,
    exactly one root (blank ``parent_id``) per wave, parents that are not units,
    and cycles. Returns columns ``wave, unit_id, parent_id, name, level`` with
    ``parent_id`` None for the root and ``level`` 0 at the root.
    """
    from culture.ingest.validation import check_org

    body, rows = _read_table(path, encoding=encoding, mapping=mapping,
                             canonical=("unit_id", "parent_id", "name", "wave"))
    return check_org(body, rows, wave=wave, source=str(path))


def read_headcount(path: str | Path, *, wave: str | None = None, org: pd.DataFrame | None = None,
                   mapping: Any = None, encoding: str | None = None) -> pd.DataFrame:
    """Read invited headcounts: ``unit_id, invited`` [, ``wave``].

    ``invited`` must be a whole number >= 0; (wave, unit) pairs must be unique;
    with ``org`` every unit must be in the org tree. Returns ``wave, unit_id, invited``.
    """
    from culture.ingest.validation import check_headcount

    body, rows = _read_table(path, encoding=encoding, mapping=mapping,
                             canonical=("unit_id", "invited", "wave"))
    return check_headcount(body, rows, wave=wave, org=org, source=str(path))


def read_quality(path: str | Path, *, kind: str, org: pd.DataFrame | None = None,
                 mapping: Any = None, encoding: str | None = None) -> pd.DataFrame:
    """Read a QMS register (nonconformities, audit findings, complaints or CAPAs).

    Documented columns: ``id`` (or ``event_id``), ``unit_id``, ``opened``, ``closed``,
    ``due``, ``severity`` (minor/major/critical), ``detected`` (internal/customer);
    other headers are mapped with ``mapping``. Dates are ISO ``YYYY-MM-DD`` (or Excel
    dates); unparseable dates, ``closed`` or ``due`` before ``opened``, duplicate ids,
    unknown severities and (with ``org``) unknown units are all listed in one
    :class:`ValidationError`. Returns the quality-events frame of :mod:`culture.frames`.
    """
    from culture.ingest.validation import check_quality

    if kind not in frames.QUALITY_KINDS:
        raise ConfigError(f"kind={kind!r} is not a quality register kind; allowed: "
                          f"{', '.join(frames.QUALITY_KINDS)}")
    body, rows = _read_table(path, encoding=encoding, mapping=mapping,
                             canonical=("event_id", "unit_id", "opened", "closed", "due",
                                        "severity", "detected"))
    return check_quality(body, rows, kind=kind, org=org, source=str(path))


def read_exposure(path: str | Path, *, org: pd.DataFrame | None = None,
                  exposure_kind: str = "units", mapping: Any = None,
                  encoding: str | None = None) -> pd.DataFrame:
    """Read exposure per unit and quarter: ``unit_id, quarter, exposure`` [, ``exposure_kind``].

    ``quarter`` must be ``YYYYQn``; ``exposure`` a positive number (it enters
    a log offset); (unit, quarter) pairs unique; with ``org`` units must exist.
    """
    from culture.ingest.validation import check_exposure

    body, rows = _read_table(path, encoding=encoding, mapping=mapping,
                             canonical=("unit_id", "quarter", "exposure", "exposure_kind"))
    return check_exposure(body, rows, org=org, exposure_kind=exposure_kind, source=str(path))
