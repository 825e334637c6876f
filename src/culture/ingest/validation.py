"""Row and column contracts for survey exports and org / quality files.

:func:`validate_responses` maps the columns of a :class:`culture.io.RawExport`
onto an instrument and checks every cell in one vectorised pass. Every data row
ends up in exactly one of ``accepted``, ``rejected`` (kind ``excluded`` for rows
that are not real responses, ``invalid`` for bad data; one row per problem) or
``duplicates``. Reasons name the column and what is allowed, never the cell's
content. File-level problems (unknown or unmapped columns, an instrument item
missing from the file, nothing accepted) raise one :class:`ValidationError`
listing all of them.

The ``check_*`` functions do the same for the org chart, headcount, quality
registers and exposure files read by :mod:`culture.io`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from culture import frames
from culture.errors import Problem, ValidationError
from culture.frames import SOURCE_ROW, ParsedResponses
from culture.measure.instrument import Demographic, Instrument, fold_label

IGNORE = "ignore"
_EXTRA_TARGETS = ("progress", "status", "channel")
_NUMBER_RE = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)$")
_BRACKET_RE = re.compile(r"^(?P<stem>.*?)\s*\[(?P<inner>[^\[\]]+)\]\s*$")
_SHORT = 48

# Canonical metadata and the normalised header names tools use for it (formats §1-6).
# Normalised = letters and digits only, case-folded (culture.io._norm).
_META_ALIASES: dict[str, frozenset[str]] = {
    frames.RESPONSE_ID: frozenset({"responseid", "recordid", "respondentid", "id"}),
    frames.RESPONDENT: frozenset({"respondent", "employeeid", "employee"}),
    frames.UNIT: frozenset({"unitid"}),
    frames.WAVE: frozenset({"wave"}),
    frames.STARTED: frozenset({"startedat", "startdate", "starttime", "datestarted"}),
    frames.SUBMITTED: frozenset({"submittedat", "enddate", "completiontime", "timestamp",
                                 "submitdate", "datesubmitted", "completed"}),
    frames.DURATION: frozenset({"durations", "durationinseconds", "duration", "interviewtime",
                                "totaltime"}),
    frames.FINISHED: frozenset({"finished"}),
    "progress": frozenset({"progress"}),
    "status": frozenset({"status", "responsetype"}),
    "channel": frozenset({"distributionchannel"}),
}
# Identifying metadata: dropped at the boundary, only the header names are reported.
_IDENTIFYING = frozenset({
    "ipaddress", "ipaddr", "email", "emailaddress", "name", "firstname", "lastname", "fullname",
    "recipientlastname", "recipientfirstname", "recipientemail", "externalreference",
    "externaldatareference", "locationlatitude", "locationlongitude", "locationaccuracy",
    "token", "refurl", "referrerurl", "phone", "phonenumber"})
_IDENTIFYING_PATTERNS = (re.compile(r"^custom\s*data\s*\d+$"),)
# Tool bookkeeping that carries neither answers nor identities.
_TOOL_META = frozenset({
    "recordeddate", "userlanguage", "qrecaptchascore", "responseset", "collectorid",
    "lastmodifiedtime", "totalpoints", "quizfeedback", "score", "lastpage", "lastpageseen",
    "startlanguage", "seed", "datestamp", "datelastaction", "qtotalduration"})
_TOOL_META_PATTERNS = (re.compile(r"^q_"), re.compile(r"_do$"), re.compile(r"^grouptime\d+$"),
                       re.compile(r"^(points|feedback) - "))

# Qualtrics Status: code -> keep?  Labels from a Qualtrics SPSS file (formats §1).
_STATUS_LABELS = {"ip address": 0, "survey preview": 1, "preview": 1, "survey test": 2, "test": 2,
                  "imported": 4, "spam": 8, "survey preview spam": 9, "imported spam": 12,
                  "offline": 16, "offline survey preview": 17, "ex": 32, "ex imported": 36,
                  "ex spam": 40, "ex offline": 48}
_STATUS_EXCLUDED = {1: "a survey preview", 2: "a survey test", 8: "marked as spam",
                    9: "a preview marked as spam", 12: "imported spam",
                    17: "an offline survey preview", 40: "marked as spam"}
_STATUS_KEPT = {0, 4, 16, 32, 36, 48}
_TRUE = {"1", "true", "yes", "y"}
_FALSE = {"0", "false", "no", "n"}
# LimeSurvey writes this date for anonymised surveys (formats §5): not a real time.
_LIME_ANON_DATE = pd.Timestamp("1980-01-01 00:00:00")


def _norm(text: str) -> str:
    return re.sub(r"[\W_]+", "", str(text).casefold())


def _short(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= _SHORT else text[:_SHORT - 3] + "..."


# --------------------------------------------------------------------------- mapping

@dataclass(frozen=True)
class ColumnMapping:
    """A user's mapping for one export.

    ``columns``: folded source header (tag, text, ImportId or variable name) ->
    canonical column or ``ignore``. ``values``: folded answer -> instrument code
    (e.g. LimeSurvey ``A1`` -> 1). ``absent``: items / demographics that this
    export does not contain on purpose.
    """

    columns: Mapping[str, str] = field(default_factory=dict)
    values: Mapping[str, int] = field(default_factory=dict)
    absent: frozenset[str] = frozenset()


def _read_mapping_doc(mapping: Any) -> tuple[Any, str]:
    if isinstance(mapping, Mapping):
        return dict(mapping), "mapping"
    path = Path(mapping)
    if not path.exists():
        raise ValidationError([Problem("", "mapping file not found")], source=str(path))
    if path.suffix.lower() in {".yaml", ".yml"}:
        try:
            return yaml.safe_load(path.read_text(encoding="utf-8-sig")) or {}, str(path)
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise ValidationError([Problem("", f"not valid UTF-8 YAML ({type(exc).__name__})")],
                                  source=str(path)) from None
    if path.suffix.lower() in {".csv", ".tsv", ".txt"}:
        from culture.ingest.readers import read_text_grid

        grid = read_text_grid(path)
        head = [_norm(c) for c in grid.iloc[0].tolist()]
        if head[:2] != ["source", "target"]:
            raise ValidationError([Problem("row 1", "a CSV mapping needs the header "
                                           "'source,target'")], source=str(path))
        body = grid.iloc[1:, :2]
        return {"columns": dict(zip(body[0].str.strip(), body[1].str.strip(), strict=True))}, \
            str(path)
    raise ValidationError([Problem("", "a mapping file must be .yaml, .yml or .csv")],
                          source=str(path))


def load_mapping(mapping: Any, instrument: Instrument) -> ColumnMapping:
    """Load a response mapping from a dict, a YAML file or a ``source,target`` CSV file.

    YAML form::

        columns:                 # source header -> canonical column, or ignore
          Q5_1: LC1
          Team: unit_id
          Q_Extra: ignore
        values: {A1: 1, A2: 2}   # optional: answer text -> instrument code
        absent: [LC6]            # optional: instrument columns this export lacks

    A YAML document without ``columns`` is read as the ``columns`` table itself.
    Targets must be instrument items, comments or demographics, canonical
    metadata names (``response_id``, ``respondent``, ``unit_id``, ``wave``,
    ``started_at``, ``submitted_at``, ``duration_s``, ``finished``, ``progress``,
    ``status``) or ``ignore``; every bad entry is listed in one ValidationError.
    """
    if mapping is None:
        return ColumnMapping()
    if isinstance(mapping, ColumnMapping):
        return mapping
    doc, source = _read_mapping_doc(mapping)
    problems: list[Problem] = []
    if not isinstance(doc, Mapping):
        raise ValidationError([Problem("", "expected a mapping of source column -> target")],
                              source=source)
    known_keys = {"columns", "values", "absent"}
    if "columns" not in doc and not (set(doc) & {"values", "absent"}):
        doc = {"columns": doc}
    for k in sorted(set(doc) - known_keys, key=str):
        problems.append(Problem(str(k), f"unknown key; allowed: {', '.join(sorted(known_keys))}"))
    targets = {*instrument.item_ids, *(c.id for c in instrument.comments),
               *(d.id for d in instrument.demographics), *frames.META_COLUMNS, *_EXTRA_TARGETS}
    columns: dict[str, str] = {}
    raw_cols = doc.get("columns") or {}
    if not isinstance(raw_cols, Mapping):
        problems.append(Problem("columns", "expected a mapping source column -> target"))
        raw_cols = {}
    for src, tgt in raw_cols.items():
        tgt_s = str(tgt).strip() if tgt is not None else ""
        if tgt_s != IGNORE and tgt_s not in targets:
            problems.append(Problem(f"columns[{_short(src)}]",
                                    f"target {_short(tgt_s)!r} is not an instrument column, a "
                                    f"metadata column ({', '.join(frames.META_COLUMNS)}) or "
                                    f"'{IGNORE}'"))
        columns[fold_label(str(src))] = tgt_s
    scale = instrument.scale
    allowed = {*scale.codes, *scale.non_substantive}
    values: dict[str, int] = {}
    raw_vals = doc.get("values") or {}
    if not isinstance(raw_vals, Mapping):
        problems.append(Problem("values", "expected a mapping answer -> code"))
        raw_vals = {}
    for src, code in raw_vals.items():
        if isinstance(code, bool) or not isinstance(code, int) or code not in allowed:
            problems.append(Problem(f"values[{_short(src)}]",
                                    f"code must be one of {sorted(allowed)}"))
        else:
            values[fold_label(str(src))] = code
    absent = doc.get("absent") or []
    if not isinstance(absent, list):
        problems.append(Problem("absent", "expected a list of item or demographic ids"))
        absent = []
    optional = {*instrument.item_ids, *(d.id for d in instrument.demographics)}
    for a in absent:
        if a not in optional:
            problems.append(Problem("absent", f"{_short(a)!r} is not an item or demographic id"))
    if problems:
        raise ValidationError(problems, source=source)
    return ColumnMapping(columns=columns, values=values, absent=frozenset(map(str, absent)))


# --------------------------------------------------------------------------- columns

def _candidates(texts: Iterable[str]) -> list[str]:
    """Header strings plus the parts tools embed them in: ``Stem [Row]``, ``Question - Statement``."""
    out: list[str] = []
    for t in texts:
        t = str(t).strip()
        if not t:
            continue
        out.append(t)
        m = _BRACKET_RE.match(t)
        if m:
            out += [m["inner"].strip()]
        if " - " in t:
            out.append(t.rsplit(" - ", 1)[1].strip())
    return list(dict.fromkeys(out))


@dataclass(frozen=True)
class ColumnPlan:
    """How each source column is used: ``targets`` canonical name -> SourceColumn."""

    targets: Mapping[str, Any]
    dropped: tuple[str, ...]


def plan_columns(raw: Any, instrument: Instrument, mapping: ColumnMapping) -> ColumnPlan:
    """Assign every source column a canonical target, or raise listing every column problem."""
    ids: dict[str, str] = {}
    for name in (*instrument.item_ids, *(c.id for c in instrument.comments),
                 *(d.id for d in instrument.demographics), *frames.META_COLUMNS):
        ids.setdefault(fold_label(name), name)
        ids.setdefault(_norm(name), name)
    texts: dict[str, str] = {}
    for it in instrument.items:
        texts[fold_label(it.text)] = it.id
    for c in instrument.comments:
        texts[fold_label(c.text)] = c.id
    for d in instrument.demographics:
        texts[fold_label(d.name)] = d.id
    aliases = {alias: role for role, names in _META_ALIASES.items() for alias in names}

    targets: dict[str, Any] = {}
    dropped: list[str] = []
    problems: list[Problem] = []
    unknown: list[str] = []
    for col in raw.columns:
        cands = _candidates((*col.keys, *col.texts))
        if not cands:
            if raw.body[col.pos].str.strip().ne("").any():
                unknown.append(f"column {col.letter} (no header)")
            continue
        folded = [fold_label(c) for c in cands]
        normed = [_norm(c) for c in cands]
        target = next((mapping.columns[f] for f in folded if f in mapping.columns), None)
        if target is None:
            target = next((ids.get(f) or ids.get(n) for f, n in zip(folded, normed, strict=True)
                           if f in ids or (n and n in ids)), None)
        if target is None:
            target = next((aliases[n] for n in normed if n in aliases), None)
        if target is None and any(n in _IDENTIFYING or any(p.match(f) for p in
                                  _IDENTIFYING_PATTERNS) for f, n in zip(folded, normed,
                                                                         strict=True)):
            dropped.append(col.header)
            continue
        if target is None:
            target = next((texts[f] for f in folded if f in texts), None)
        if target is None and any(n in _TOOL_META or any(p.search(f) for p in _TOOL_META_PATTERNS)
                                  for f, n in zip(folded, normed, strict=True)):
            target = IGNORE
        if target is None:
            unknown.append(f"column {col.letter} {_short(col.header)!r}")
            continue
        if target == IGNORE:
            continue
        if target in targets:
            first = targets[target]
            problems.append(Problem(f"columns {first.letter} and {col.letter}",
                                    f"both map to {target!r}; map one of them to another "
                                    f"column or to '{IGNORE}'"))
            continue
        targets[target] = col
    if unknown:
        problems.append(Problem("header", f"{len(unknown)} column(s) match no instrument item, "
                                "comment, demographic or known metadata column: "
                                + "; ".join(unknown) + ". Map them in a mapping file "
                                "(source -> item id, or 'ignore')"))
    required = [*instrument.item_ids, *(d.id for d in instrument.demographics)]
    missing = [r for r in required if r not in targets and r not in mapping.absent]
    if missing:
        problems.append(Problem("header", "instrument column(s) not found in the file: "
                                + ", ".join(missing) + ". If a question was renamed, map its "
                                "header to the id; if the export lacks it on purpose, list it "
                                "under 'absent' in the mapping"))
    if frames.UNIT not in targets:
        problems.append(Problem("header", "no unit_id column: every response needs the unit it "
                                "belongs to (an embedded-data / metadata column named unit_id, "
                                "or mapped)"))
    if problems:
        raise ValidationError(problems, source=raw.source)
    return ColumnPlan(targets=targets, dropped=tuple(dropped))


# --------------------------------------------------------------------------- cells

class _Rejects:
    """Collects per-cell problems as small DataFrames (vectorised, no per-row loop)."""

    def __init__(self, rows: np.ndarray) -> None:
        self.rows = rows
        self.parts: list[pd.DataFrame] = []

    def add(self, mask: np.ndarray | pd.Series, column: str, kind: str, reason: str) -> None:
        mask = np.asarray(mask, dtype=bool)
        if mask.any():
            n = int(mask.sum())
            self.parts.append(pd.DataFrame({SOURCE_ROW: self.rows[mask],
                                            "column": [column] * n, "kind": [kind] * n,
                                            "reason": [reason] * n}))

    def frame(self) -> pd.DataFrame:
        if not self.parts:
            return pd.DataFrame({SOURCE_ROW: pd.Series(dtype="int64"),
                                 "column": pd.Series(dtype=object),
                                 "kind": pd.Series(dtype=object),
                                 "reason": pd.Series(dtype=object)})
        out = pd.concat(self.parts, ignore_index=True)
        out[SOURCE_ROW] = out[SOURCE_ROW].astype("int64")
        return out.sort_values(SOURCE_ROW, kind="stable").reset_index(drop=True)


def _where(col: Any) -> str:
    return f"column {col.letter} ({_short(col.header)!r})"


def _scale_text(instrument: Instrument) -> str:
    s = instrument.scale
    text = f"codes {s.min}..{s.max} or their labels"
    if s.non_substantive:
        extra = ", ".join(f"{k} ({v})" for k, v in s.non_substantive.items())
        text += f", or the non-substantive {extra}"
    return text


def _item_codes(cells: pd.Series, instrument: Instrument, mapping: ColumnMapping,
                value_labels: Mapping[str, str]) -> tuple[pd.Series, pd.Series]:
    """Codes (float, NaN = missing) and a problem tag per cell: '', 'out', 'unknown'.

    Work is done once per distinct answer text, then broadcast with ``map``.
    """
    scale = instrument.scale
    labels = scale.label_to_code()
    code_of: dict[str, float] = {}
    tag_of: dict[str, str] = {}
    for u in pd.unique(cells):
        f = fold_label(u)
        value: Any = mapping.values.get(f)
        if value is None and u in value_labels and not _NUMBER_RE.match(u):
            f = fold_label(value_labels[u])
        if value is None and _NUMBER_RE.match(f):
            num = float(f)
            value = int(num) if num.is_integer() else num
        elif value is None and f in labels:
            code_of[u], tag_of[u] = (np.nan if labels[f] is None else float(labels[f])), ""
            continue
        if value is None:
            code_of[u], tag_of[u] = np.nan, "unknown"
        elif isinstance(value, int) and scale.min <= value <= scale.max:
            code_of[u], tag_of[u] = float(value), ""
        elif isinstance(value, int) and value in scale.non_substantive:
            code_of[u], tag_of[u] = np.nan, ""
        else:
            code_of[u], tag_of[u] = np.nan, "out"
    return cells.map(code_of).astype("float64"), cells.map(tag_of)


def _demographic_codes(cells: pd.Series, demo: Demographic,
                       value_labels: Mapping[str, str]) -> pd.Series:
    """Band code per cell; None where the text is no code or label of the codebook."""
    table: dict[str, str | None] = {}
    for code, label in demo.codes.items():
        table[fold_label(code)] = code
        table[fold_label(label)] = code
    if demo.missing_code is not None:
        table[fold_label(demo.missing_code)] = demo.missing_code
        table[fold_label(demo.missing_label or demo.missing_code)] = demo.missing_code
    out: dict[str, str | None] = {}
    for u in pd.unique(cells):
        if not u:
            out[u] = demo.missing_code
            continue
        code = table.get(fold_label(u))
        if code is None and u in value_labels:
            code = table.get(fold_label(value_labels[u]))
        out[u] = code
    return cells.map(out)


def _parse_dates(cells: pd.Series, timezone: str | None) -> pd.Series:
    """Naive-UTC datetimes from tool date text; unparseable text becomes NaT (dates are metadata).

    ISO text is parsed fast; other forms (``3/4/2024 9:12``, Google's
    ``2024/03/04 9:12:44 AM GMT+1``) fall back to pandas' mixed parser. ``GMT+1``
    is rewritten as ``+01:00`` first because dateutil reads POSIX-style ``GMT+1``
    as one hour *behind* UTC. Naive times in a declared zone (Qualtrics
    ``timeZone``) are converted to UTC.
    """
    text = cells.str.strip()
    text = text.str.replace(r"\s*(?:GMT|UTC)\s*([+-])(\d{1,2})(?::?(\d{2}))?$",
                            lambda m: f" {m[1]}{int(m[2]):02d}:{m[3] or '00'}", regex=True)
    text = text.str.replace(r"\s*(?:GMT|UTC)$", " +00:00", regex=True)
    blank = text.eq("")
    aware = text.str.contains(r"(?:[+-]\d{2}:?\d{2}|Z)$", regex=True)
    zone = timezone if timezone and _norm(timezone) not in {"utc", "z", "gmt"} else None
    out = pd.Series(pd.NaT, index=cells.index, dtype="datetime64[ns]")
    for sel, local in ((~blank & aware, False), (~blank & ~aware, True)):
        if not sel.any():
            continue
        part = text[sel]
        parsed = pd.to_datetime(part, format="ISO8601", errors="coerce", utc=not (local and zone))
        redo = parsed.isna()
        if redo.any():
            parsed = parsed.astype(object)
            parsed[redo] = pd.to_datetime(part[redo], format="mixed", errors="coerce",
                                          utc=not (local and zone))
            parsed = pd.to_datetime(parsed, utc=not (local and zone))
        if local and zone:
            try:
                parsed = parsed.dt.tz_localize(zone, ambiguous="NaT", nonexistent="NaT")
            except Exception:  # an unknown zone name: the times cannot be placed
                continue

        out[sel] = parsed.dt.tz_convert("UTC").dt.tz_localize(None).astype("datetime64[ns]")
    return out


def _flags(cells: pd.Series) -> pd.Series:
    """True / False / NA from ``1/0``, ``True/False``, ``yes/no``."""
    f = cells.str.strip().str.casefold()
    out = pd.Series(pd.NA, index=cells.index, dtype="boolean")
    out[f.isin(_TRUE)] = True
    out[f.isin(_FALSE)] = False
    return out


def _status_codes(cells: pd.Series) -> pd.Series:
    """Qualtrics Status as a numeric code (code or label); NaN when unknown, 0 when blank."""
    table: dict[str, float] = {}
    for u in pd.unique(cells):
        f = fold_label(u)
        if not f:
            table[u] = 0.0
        elif _NUMBER_RE.match(f):
            table[u] = float(f)
        else:
            table[u] = float(_STATUS_LABELS.get(f, np.nan))
    return cells.map(table).astype("float64")


def _text_cells(body: pd.DataFrame, col: Any, keep: np.ndarray) -> pd.Series:
    return body[col.pos][keep].astype(str).str.strip().reset_index(drop=True)


def validate_responses(raw: Any, instrument: Instrument, *, mapping: ColumnMapping | None = None,
                       partial: str = "keep") -> ParsedResponses:
    """Check a :class:`culture.io.RawExport` against ``instrument``; see the module doc."""
    mapping = mapping or ColumnMapping()
    plan = plan_columns(raw, instrument, mapping)
    t = plan.targets
    body = raw.body
    # Fully blank lines (exporters add them at the end) are not data rows.
    keep = body.apply(lambda s: s.astype(str).str.strip().ne("")).any(axis=1).to_numpy() \
        if body.shape[1] else np.zeros(len(body), bool)
    rows = np.asarray(raw.rows)[keep]
    n = len(rows)
    if n == 0:
        raise ValidationError([Problem("", "the file has a header but no data rows")],
                              source=raw.source)

    def cells(target: str) -> pd.Series:
        return _text_cells(body, t[target], keep)

    rej = _Rejects(rows)
    excluded = np.zeros(n, bool)

    # -- rows that are not real responses (Qualtrics previews, spam; partial policy)
    if "status" in t:
        col = t["status"]
        code = _status_codes(cells("status"))
        for c, why in _STATUS_EXCLUDED.items():
            m = (code == c).to_numpy() & ~excluded
            rej.add(m, col.header, "excluded", f"Status {c}: the response is {why}, not a "
                    "real response")
            excluded |= m
        bad = (~code.isin(list(_STATUS_KEPT))).to_numpy() & ~excluded
        rej.add(bad, col.header, "invalid", f"{_where(col)}: not a known Qualtrics Status code "
                f"or label; kept codes are {sorted(_STATUS_KEPT)}")
        excluded |= bad
    if "channel" in t:
        col = t["channel"]
        m = cells("channel").str.casefold().isin(["preview", "test"]).to_numpy() & ~excluded
        rej.add(m, col.header, "excluded", "DistributionChannel is preview/test: not a real "
                "response")
        excluded |= m

    finished, unreadable, why_partial = _finished(raw.format, t, cells, n)
    if partial == "reject":
        m = ~finished & ~excluded
        rej.add(m, why_partial[0], "excluded", f"partial response ({why_partial[1]}); "
                "partial='reject' was requested")
        excluded |= m

    live = ~excluded
    bad_row = np.zeros(n, bool)

    def flag(mask: Any, col: Any, reason: str) -> None:
        nonlocal bad_row
        m = np.asarray(mask, bool) & live
        rej.add(m, col.header, "invalid", reason)
        bad_row |= m

    def text_column(target: str) -> pd.Series:
        s = cells(target)
        col = t[target]
        flag(s.str.startswith("=").to_numpy(), col,
             f"{_where(col)}, {target}: the cell holds a spreadsheet formula; export values, "
             "not formulas")
        return s

    if unreadable.any():
        col = t[frames.FINISHED]
        flag(unreadable, col, f"{_where(col)}: Finished must be 1/0 or True/False")
    out: dict[str, Any] = {}
    # -- identity and unit
    if frames.RESPONSE_ID in t:
        rid = text_column(frames.RESPONSE_ID)
        file_ids = rid.where(rid.ne(""), None)
    else:
        file_ids = pd.Series([None] * n, dtype=object)
    row_ids = ("row-" + pd.Series(rows).astype(str)).astype(object)
    out[frames.RESPONSE_ID] = file_ids.astype(object).where(file_ids.notna(), row_ids)
    if frames.RESPONDENT in t:
        resp = text_column(frames.RESPONDENT)
        out[frames.RESPONDENT] = resp.astype(object).where(resp.ne(""), None)
    else:
        out[frames.RESPONDENT] = pd.Series([None] * n, dtype=object)
    if frames.WAVE in t:
        w = text_column(frames.WAVE)
        flag((w.ne("") & ~w.str.match(frames.WAVE_RE.pattern)).to_numpy(), t[frames.WAVE],
             f"{_where(t[frames.WAVE])}: wave must look like 2026Q3 (YYYYQn)")
        out[frames.WAVE] = w.astype(object).where(w.ne(""), None)
    else:
        out[frames.WAVE] = pd.Series([None] * n, dtype=object)
    unit = text_column(frames.UNIT)
    flag(unit.eq("").to_numpy(), t[frames.UNIT],
         f"{_where(t[frames.UNIT])}: unit_id is missing; every response needs its unit")
    out[frames.UNIT] = unit

    # -- demographics
    for d in instrument.demographics:
        if d.id not in t:
            out[d.id] = pd.Series([d.missing_code] * n, dtype=object)
            continue
        col = t[d.id]
        s = text_column(d.id)
        codes = _demographic_codes(s, d, col.value_labels)
        allowed = ", ".join(d.all_codes)
        flag((codes.isna() & s.ne("") & ~s.str.startswith("=")).to_numpy(), col,
             f"{_where(col)}, {d.id}: not one of the codes {allowed} or their labels")
        out[d.id] = codes.astype(object).where(codes.notna(), None)

    # -- metadata
    for target in (frames.STARTED, frames.SUBMITTED):
        if target in t:
            dates = _parse_dates(cells(target), t[target].timezone)
            if raw.format == "limesurvey":
                dates = dates.where(dates != _LIME_ANON_DATE)
            out[target] = dates
        else:
            out[target] = pd.Series(pd.NaT, index=range(n), dtype="datetime64[ns]")
    out[frames.DURATION] = (pd.to_numeric(cells(frames.DURATION), errors="coerce")
                            .astype("float64") if frames.DURATION in t
                            else pd.Series(np.nan, index=range(n)))
    out[frames.FINISHED] = pd.Series(finished, dtype=bool)

    # -- items
    scale_text = _scale_text(instrument)
    for item in instrument.item_ids:
        if item not in t:
            out[item] = pd.Series(np.nan, index=range(n))
            continue
        col = t[item]
        s = text_column(item)
        answered = s.ne("") & ~s.str.startswith("=")
        codes, tag = _item_codes(s.where(answered, ""), instrument, mapping, col.value_labels)
        codes = codes.where(answered)
        flag((answered & tag.eq("out")).to_numpy(), col,
             f"{_where(col)}, item {item}: answer outside the scale; allowed {scale_text} "
             "(values are rejected, never clipped)")
        flag((answered & tag.eq("unknown")).to_numpy(), col,
             f"{_where(col)}, item {item}: answer is not a label of the scale; allowed "
             f"{scale_text}")
        out[item] = codes

    # -- comments (optional columns)
    for c in instrument.comments:
        if c.id in t:
            s = text_column(c.id)
            out[c.id] = s.astype(object).where(s.ne(""), None)
        else:
            out[c.id] = pd.Series([None] * n, dtype=object)

    out[SOURCE_ROW] = pd.Series(rows, dtype="int64")
    good = live & ~bad_row
    # -- duplicates: a response id seen again among otherwise good rows
    dup_frame = pd.DataFrame({SOURCE_ROW: pd.Series(dtype="int64"),
                              "duplicate_of": pd.Series(dtype="int64")})
    ids = file_ids[good]
    has_id = ids.notna()
    if has_id.any():
        g = pd.DataFrame({"id": ids[has_id], "row": rows[good][has_id.to_numpy()]})
        first = g.groupby("id", sort=False)["row"].transform("first")
        dup = g["row"].ne(first)
        dup_frame = pd.DataFrame({SOURCE_ROW: g["row"][dup].astype("int64"),
                                  "duplicate_of": first[dup].astype("int64")}).reset_index(drop=True)
        good_rows = set(g["row"][dup])
        good &= ~np.isin(rows, list(good_rows))
    accepted = _accepted(out, good, instrument)
    del out
    rejected = rej.frame()
    if accepted.empty:
        problems = [Problem(f"row {r}", reason) for r, reason in
                    zip(rejected[SOURCE_ROW], rejected["reason"], strict=True)]
        raise ValidationError([Problem("", f"all {n} data rows were rejected; nothing to "
                                       "import"), *problems], source=raw.source)
    return ParsedResponses(source=raw.source, format=raw.format, accepted=accepted,
                           rejected=rejected, duplicates=dup_frame,
                           dropped_columns=plan.dropped, n_rows=n)


def _finished(fmt: str, t: Mapping[str, Any], cells: Any,
              n: int) -> tuple[np.ndarray, np.ndarray, tuple[str, str]]:
    """The tool's completion flag, cells whose flag is unreadable, and (column, explanation)."""
    unreadable = np.zeros(n, bool)
    prog = pd.to_numeric(cells("progress"), errors="coerce") if "progress" in t else None
    if frames.FINISHED in t:
        col = t[frames.FINISHED]
        raw = cells(frames.FINISHED)
        flags = _flags(raw)
        unreadable = (flags.isna() & raw.ne("")).to_numpy()
        if prog is not None:
            known = prog.notna()
            flags[flags.isna() & known] = (prog >= 100)[flags.isna() & known]
        return flags.fillna(True).to_numpy(bool), unreadable, (col.header, "Finished = 0")
    if prog is not None:
        return (prog.isna() | (prog >= 100)).to_numpy(bool), unreadable, \
            (t["progress"].header, "Progress < 100")
    if fmt == "limesurvey" and frames.SUBMITTED in t:
        return cells(frames.SUBMITTED).ne("").to_numpy(bool), unreadable, \
            (t[frames.SUBMITTED].header, "submitdate is empty")
    return np.ones(n, bool), unreadable, ("", "")


def _accepted(out: Mapping[str, pd.Series], good: np.ndarray,
              instrument: Instrument) -> pd.DataFrame:
    """The accepted rows in canonical column order, built with one copy of the data."""
    cols = [frames.RESPONSE_ID, frames.RESPONDENT, frames.WAVE, frames.UNIT,
            *(d.id for d in instrument.demographics), frames.STARTED, frames.SUBMITTED,
            frames.DURATION, frames.FINISHED, *instrument.item_ids,
            *(c.id for c in instrument.comments), SOURCE_ROW]
    everything = bool(good.all())
    frame = pd.DataFrame({c: (out[c] if everything else out[c][good]).reset_index(drop=True)
                          for c in cols}, copy=not everything)
    frame[frames.UNIT] = frame[frames.UNIT].astype(str)
    frame[frames.RESPONSE_ID] = frame[frames.RESPONSE_ID].astype(str)
    return frame


# --------------------------------------------------------------------------- tables

_TABLE_ALIASES = {
    "event_id": {"eventid", "id"},
    "unit_id": {"unitid", "unit"},
    "parent_id": {"parentid", "parent", "parentunit", "parentunitid"},
    "name": {"name", "unitname"},
    "wave": {"wave"},
    "invited": {"invited", "headcount"},
    "opened": {"opened", "openedat", "opendate", "dateopened"},
    "closed": {"closed", "closedat", "closedate", "dateclosed"},
    "due": {"due", "duedate", "dueat"},
    "severity": {"severity"},
    "detected": {"detected", "detectedby"},
    "quarter": {"quarter"},
    "exposure": {"exposure"},
    "exposure_kind": {"exposurekind"},
}
_REQUIRED = {"unit_id"}
_REQUIRED_BY = {"parent_id": {"unit_id", "parent_id"}, "invited": {"unit_id", "invited"},
                "opened": {"event_id", "unit_id", "opened"},
                "exposure": {"unit_id", "quarter", "exposure"}}


def table_columns(header: list[str], *, canonical: tuple[str, ...], mapping: Any,
                  source: str) -> list[str | None]:
    """Canonical name (or None = not used) per header cell of an org / register table.

    Columns outside ``canonical`` are ignored: registers carry descriptions and
    other free text that the workbench must not ingest.
    """
    user: dict[str, str] = {}
    if mapping is not None:
        doc, msource = _read_mapping_doc(mapping)
        doc = doc.get("columns", doc) if isinstance(doc, Mapping) else {}
        bad = [Problem(f"columns[{_short(k)}]", f"target {_short(v)!r} not one of "
                       f"{', '.join(canonical)} or '{IGNORE}'")
               for k, v in doc.items() if str(v) not in {*canonical, IGNORE}]
        if bad:
            raise ValidationError(bad, source=msource)
        user = {fold_label(str(k)): str(v) for k, v in doc.items()}
    names: list[str | None] = []
    for h in header:
        target = user.get(fold_label(h))
        if target is None:
            target = next((c for c in canonical if _norm(h) in _TABLE_ALIASES.get(c, {c})), None)
        names.append(None if target in (None, IGNORE) else target)
    problems = []
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        if name is None:
            continue
        if name in seen:
            problems.append(Problem(f"header, columns {seen[name] + 1} and {i + 1}",
                                    f"both map to {name!r}"))
        seen.setdefault(name, i)
    required = next((v for k, v in _REQUIRED_BY.items() if k in canonical), _REQUIRED)
    for r in sorted(required - set(seen)):
        problems.append(Problem("header", f"required column {r!r} not found (map it with "
                                "mapping={'<your header>': '" + r + "'})"))
    if problems:
        raise ValidationError(problems, source=source)
    return names


def _blank(s: pd.Series) -> np.ndarray:
    return s.str.strip().eq("").to_numpy()


def _row_problems(mask: np.ndarray, rows: np.ndarray, column: str, message: str) -> list[Problem]:
    return [Problem(f"row {r}, column {column}", message) for r in rows[mask]]


def _duplicates(keys: pd.DataFrame, rows: np.ndarray, column: str, what: str) -> list[Problem]:
    dup = keys.duplicated(keep=False).to_numpy()
    if not dup.any():
        return []
    first = pd.Series(rows).groupby([keys[c].to_numpy() for c in keys.columns],
                                    sort=False).transform("first").to_numpy()
    later = dup & (first != rows)
    return [Problem(f"row {r}, column {column}", f"duplicate {what} (first at row {f})")
            for r, f in zip(rows[later], first[later], strict=True)]


def _org_units(org: pd.DataFrame | None) -> set[str] | None:
    return None if org is None else set(org[frames.UNIT].astype(str))


def _unknown_units(units: pd.Series, rows: np.ndarray, org: pd.DataFrame | None) -> list[Problem]:
    known = _org_units(org)
    if known is None:
        return []
    bad = (~units.isin(list(known)) & units.ne("")).to_numpy()
    return _row_problems(bad, rows, "unit_id", "unit is not in the org tree")


def _wave_column(body: pd.DataFrame, rows: np.ndarray, wave: str | None,
                 problems: list[Problem]) -> pd.Series:
    if wave is not None and not frames.WAVE_RE.match(wave):
        problems.append(Problem("wave", "wave= must look like 2026Q3 (YYYYQn)"))
    if "wave" in body:
        w = body["wave"].str.strip()
        w = w.where(w.ne(""), wave if wave is not None else "")
        bad = (w.ne("") & ~w.str.match(frames.WAVE_RE.pattern)).to_numpy()
        problems += _row_problems(bad, rows, "wave", "wave must look like 2026Q3 (YYYYQn)")
        return w.astype(object).where(w.ne(""), None)
    return pd.Series([wave] * len(body), dtype=object)


def check_org(body: pd.DataFrame, rows: np.ndarray, *, wave: str | None,
              source: str) -> pd.DataFrame:
    """Validate an org chart table (see :func:`culture.io.read_org`)."""
    problems: list[Problem] = []
    unit = body["unit_id"].str.strip()
    parent = body["parent_id"].str.strip()
    name = body["name"].str.strip() if "name" in body else unit
    waves = _wave_column(body, rows, wave, problems)
    problems += _row_problems(_blank(unit), rows, "unit_id", "unit id is blank")
    key = pd.DataFrame({"w": waves.fillna(""), "u": unit})
    problems += _duplicates(key, rows, "unit_id", "unit id")
    levels = pd.Series(0, index=body.index, dtype="int64")
    for w, idx in key.groupby("w", sort=False).groups.items():
        sub_rows = rows[idx]
        u, p = unit[idx], parent[idx]
        where = f" in wave {w}" if w else ""
        roots = p.eq("").to_numpy()
        if roots.sum() != 1:
            listed = ", ".join(str(r) for r in sub_rows[roots]) or "none"
            problems.append(Problem("parent_id", f"the org tree needs exactly one root (a unit "
                                    f"with blank parent_id){where}; found {int(roots.sum())} "
                                    f"(rows: {listed})"))
        known = set(u)
        orphan = (~roots) & ~p.isin(list(known)).to_numpy()
        problems += [Problem(f"row {r}, column parent_id", f"parent {pid!r} is not a unit in "
                             f"the file{where}") for r, pid in zip(sub_rows[orphan],
                                                                   p[orphan], strict=True)]
        parent_of = dict(zip(u, p, strict=True))
        depth, cyclic = _depths(parent_of)
        for c in sorted(cyclic):
            problems.append(Problem(f"unit {c!r}", f"is part of a parent cycle{where}"))
        levels[idx] = u.map(depth).fillna(0).astype("int64").to_numpy()
    if problems:
        raise ValidationError(problems, source=source)
    return pd.DataFrame({"wave": waves, "unit_id": unit.astype(str),
                         "parent_id": parent.astype(object).where(parent.ne(""), None),
                         "name": name.astype(str), "level": levels})


def _depths(parent_of: Mapping[str, str]) -> tuple[dict[str, int], set[str]]:
    """Depth of each unit (root 0) and the units on a cycle. Org trees are small."""
    depth: dict[str, int] = {}
    cyclic: set[str] = set()
    for start in parent_of:
        path: list[str] = []
        node = start
        while node in parent_of and node not in depth and node not in path:
            path.append(node)
            node = parent_of[node]
        if node in path:  # walked into our own path: a cycle
            cyclic.update(path[path.index(node):])
            base = None
        elif node in depth:
            base = depth[node]
        else:  # reached the root's blank parent or an unknown parent
            base = -1
        for k, p in enumerate(reversed(path)):
            if p in cyclic or base is None:
                depth[p] = 0
            else:
                depth[p] = base + 1 + k
    return depth, cyclic


def _whole_numbers(s: pd.Series) -> pd.Series:
    num = pd.to_numeric(s.str.strip().where(s.str.match(_NUMBER_RE.pattern)), errors="coerce")
    return num.where(num.notna() & (num % 1 == 0))


def check_headcount(body: pd.DataFrame, rows: np.ndarray, *, wave: str | None,
                    org: pd.DataFrame | None, source: str) -> pd.DataFrame:
    """Validate a headcount table (see :func:`culture.io.read_headcount`)."""
    problems: list[Problem] = []
    unit = body["unit_id"].str.strip()
    waves = _wave_column(body, rows, wave, problems)
    problems += _row_problems(_blank(unit), rows, "unit_id", "unit id is blank")
    invited = _whole_numbers(body["invited"])
    problems += _row_problems((invited.isna() | (invited < 0)).to_numpy(), rows, "invited",
                              "invited must be a whole number >= 0")
    problems += _duplicates(pd.DataFrame({"w": waves.fillna(""), "u": unit}), rows, "unit_id",
                            "unit (per wave)")
    problems += _unknown_units(unit, rows, org)
    if problems:
        raise ValidationError(problems, source=source)
    return pd.DataFrame({"wave": waves, "unit_id": unit.astype(str),
                         "invited": invited.astype("int64")})


def _dates(s: pd.Series) -> tuple[pd.Series, np.ndarray]:
    text = s.str.strip()
    parsed = pd.to_datetime(text, format="ISO8601", errors="coerce").astype("datetime64[ns]")
    return parsed, (text.ne("") & parsed.isna()).to_numpy()


def check_quality(body: pd.DataFrame, rows: np.ndarray, *, kind: str, org: pd.DataFrame | None,
                  source: str) -> pd.DataFrame:
    """Validate a quality register (see :func:`culture.io.read_quality`)."""
    problems: list[Problem] = []
    eid = body["event_id"].str.strip()
    unit = body["unit_id"].str.strip()
    problems += _row_problems(_blank(eid), rows, "id", "register id is blank")
    problems += _duplicates(pd.DataFrame({"e": eid}), rows, "id", "register id")
    problems += _row_problems(_blank(unit), rows, "unit_id", "unit id is blank")
    problems += _unknown_units(unit, rows, org)
    out = {"event_id": eid.astype(str), "kind": pd.Series([kind] * len(body), dtype=str),
           "unit_id": unit.astype(str)}
    for col in ("opened", "closed", "due"):
        if col not in body:
            out[col] = pd.Series(pd.NaT, index=body.index, dtype="datetime64[ns]")
            continue
        out[col], bad = _dates(body[col])
        problems += _row_problems(bad, rows, col, "not a date; use YYYY-MM-DD (an impossible "
                                  "date such as 2024-02-30 is also reported here)")
    problems += _row_problems(out["opened"].isna().to_numpy() & _blank(body["opened"]), rows,
                              "opened", "opened date is blank")
    for col in ("closed", "due"):
        before = (out[col] < out["opened"]).to_numpy()
        problems += _row_problems(before, rows, col, f"{col} date is before the opened date")
    for col, allowed in (("severity", frames.SEVERITIES), ("detected", ("internal", "customer"))):
        s = body[col].str.strip().str.casefold() if col in body else \
            pd.Series([""] * len(body), index=body.index)
        bad = (s.ne("") & ~s.isin(list(allowed))).to_numpy()
        problems += _row_problems(bad, rows, col, f"must be one of {', '.join(allowed)} or blank")
        default = "customer" if col == "detected" and kind == "complaint" else None
        out[col] = s.astype(object).where(s.ne(""), default)
    if problems:
        raise ValidationError(problems, source=source)
    return pd.DataFrame(out)[["event_id", "kind", "unit_id", "opened", "closed", "due",
                              "severity", "detected"]]


def check_exposure(body: pd.DataFrame, rows: np.ndarray, *, org: pd.DataFrame | None,
                   exposure_kind: str, source: str) -> pd.DataFrame:
    """Validate an exposure table (see :func:`culture.io.read_exposure`)."""
    problems: list[Problem] = []
    unit = body["unit_id"].str.strip()
    quarter = body["quarter"].str.strip()
    problems += _row_problems(_blank(unit), rows, "unit_id", "unit id is blank")
    problems += _row_problems((~quarter.str.match(frames.WAVE_RE.pattern)).to_numpy(), rows,
                              "quarter", "quarter must look like 2026Q3 (YYYYQn)")
    text = body["exposure"].str.strip()
    value = pd.to_numeric(text.where(text.str.match(_NUMBER_RE.pattern)), errors="coerce")
    problems += _row_problems((value.isna() | (value <= 0)).to_numpy(), rows, "exposure",
                              "exposure must be a number > 0 (it enters a log offset)")
    problems += _duplicates(pd.DataFrame({"u": unit, "q": quarter}), rows, "unit_id",
                            "unit and quarter")
    problems += _unknown_units(unit, rows, org)
    if problems:
        raise ValidationError(problems, source=source)
    kind = body["exposure_kind"].str.strip() if "exposure_kind" in body else \
        pd.Series([""] * len(body), index=body.index)
    return pd.DataFrame({"unit_id": unit.astype(str), "quarter": quarter.astype(str),
                         "exposure": value.astype("float64"),
                         "exposure_kind": kind.where(kind.ne(""), exposure_kind).astype(str)})
