"""Survey-tool export layouts: detect the tool, read its header rows, describe each column.

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

:func:`load_export` turns a file into a :class:`RawExport` (text grid plus a
:class:`SourceColumn` per column, described by every string a user could know
it by); :mod:`culture.ingest.responses` maps those columns onto an instrument.
"""

from __future__ import annotations

import ast
import html
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from culture.errors import ConfigError
from culture.ingest.textgrid import (
    cell_text,
    column_letter,
    fail,
    fold_header,
    is_spss,
    is_xlsx,
    read_grid,
    read_text_grid,
    read_xlsx_grid,
)

FORMATS = ("qualtrics", "surveymonkey", "msforms", "googleforms", "limesurvey", "spss", "csv",
           "xlsx")

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



# --------------------------------------------------------------------------- detection


def _is_import_id(cell: str) -> bool:
    return "importid" in fold_header(cell) and cell.lstrip().startswith("{")


def _sniff_layout(head: pd.DataFrame) -> str:
    """Name the tool from the first (up to three) rows of a grid."""
    rows = [[str(c).strip() for c in head.iloc[i].tolist()] for i in range(min(3, len(head)))]
    first = [fold_header(c) for c in rows[0]] if rows else []
    if len(rows) >= 3 and sum(_is_import_id(c) for c in rows[2]) >= max(1, len(rows[2]) // 3):
        return "qualtrics"
    if len(rows) >= 2 and _is_qualtrics_legacy(head):
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
    against each tool's documented header: a Qualtrics ImportId
    row or legacy ``V1, V2`` row, SurveyMonkey ``Respondent ID, Collector ID``,
    Microsoft Forms ``ID, Start time, Completion time``, Google Forms
    ``Timestamp`` first, LimeSurvey ``id, submitdate, lastpage``. Anything else
    is plain ``csv`` or ``xlsx``.
    """
    path = Path(path)
    if not path.exists():
        raise fail(path, "", "file not found")
    if is_spss(path):
        return "spss"
    if is_xlsx(path):
        return _sniff_layout(read_xlsx_grid(path, max_rows=3)) or "xlsx"
    return _sniff_layout(read_text_grid(path).head(3)) or "csv"


# --------------------------------------------------------------------------- column headers

_GENERIC_SM = {"response", "openendedresponse", "other", "otherpleasespecify"}


def _clean_text(text: str) -> str:
    """Question text without HTML tags/entities and line breaks (Qualtrics may keep both)."""
    text = html.unescape(re.sub(r"<[^>]+>", " ", str(text)))
    return " ".join(text.split())


def _parse_import_id(cell: str) -> dict[str, Any]:
    """``{"ImportId":"QID5_1"}``; 2017-era files used single quotes."""
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
        texts = [question] if fold_header(s) in _GENERIC_SM or not s else [s, f"{question} - {s}"]
        if q and not s:
            texts = [q]
        out.append(SourceColumn(pos=i, header=s if s and fold_header(s) not in _GENERIC_SM else question,
                                keys=(q,) if q else (), texts=tuple(texts)))
    return out


def _is_qualtrics_legacy(grid: pd.DataFrame) -> bool:
    """Rows 1-2 of a legacy Qualtrics export: ``V1, V2, ...`` over ``ResponseID, ResponseSet``."""
    first = [fold_header(c) for c in grid.iloc[0].tolist()[:2]] if len(grid) else []
    second = {fold_header(c) for c in grid.iloc[1].tolist()} if len(grid) > 1 else set()
    return first == ["v1", "v2"] or {"responseid", "responseset"} <= second


def _header_rows(fmt: str, grid: pd.DataFrame) -> int:
    """Header rows of ``fmt`` in ``grid``; 0 when its first rows are not that tool's headers.

    Only rows that carry the tool's own marks are taken as headers (Qualtrics:
    ImportId JSON in row 3, or the legacy ``V1, V2`` / ``ResponseID, ResponseSet``
    rows; SurveyMonkey: row 2 blank under ``Respondent ID, Collector ID``), so a
    format forced on another file never takes a response for a header row.
    """
    if fmt == "qualtrics":
        third = grid.iloc[2].tolist() if len(grid) > 2 else []
        if sum(_is_import_id(str(c)) for c in third) >= 1:
            return 3
        return 2 if _is_qualtrics_legacy(grid) else 0
    if fmt == "surveymonkey" and len(grid) > 1:
        # Current exports: row 2 is blank under the metadata columns.
        first = [fold_header(c) for c in grid.iloc[0].tolist()]
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
        raise fail(path, "", f"not a readable SPSS .sav file ({type(exc).__name__})") from None
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
            text = s.map(cell_text)
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
        raise fail(path, "", "file not found")
    if fmt == "spss" or (fmt is None and is_spss(path)):
        cols, body = _read_spss(path)
        rows = np.arange(1, len(body) + 1)  # SPSS Data View numbers cases from 1
        return RawExport(str(path), "spss", tuple(cols), body, rows)
    grid = read_grid(path, encoding=encoding)
    # Detect from the grid already read rather than reading the file twice.
    fmt = fmt or _sniff_layout(grid.head(3)) or ("xlsx" if is_xlsx(path) else "csv")
    n_head = _header_rows(fmt, grid)
    if n_head == 0:
        raise fail(path, "rows 1-3", f"fmt={fmt!r} (--format {fmt}) expects 3 header rows "
                   "(export tags, question texts, ImportId JSON such as {\"ImportId\":\"QID1\"}) "
                   "or, in the legacy layout, 2 (V1, V2, ... over ResponseID, ResponseSet, "
                   "...); this file's row 3 holds no ImportId and rows 1-2 are not the "
                   "legacy layout, so its row 2 looks like a response, not a header row. "
                   "Nothing was read: leave the format out to detect it, or pass the "
                   "file's own format")
    if len(grid) < n_head:
        raise fail(path, "", f"the {fmt} export needs {n_head} header row(s); the file has "
                    f"{len(grid)} row(s)")
    heads = [[str(c) for c in grid.iloc[i].tolist()] for i in range(n_head)]
    cols = describe_columns(fmt, heads)
    body = grid.iloc[n_head:].reset_index(drop=True)
    body.columns = range(body.shape[1])
    rows = np.arange(n_head + 1, n_head + 1 + len(body))
    return RawExport(str(path), fmt, tuple(cols), body, rows)
