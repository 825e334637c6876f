"""Survey responses: map an export's columns onto the instrument and check every cell.

:func:`validate_responses` maps the columns of a :class:`~culture.ingest.formats.RawExport`
onto an instrument and checks every cell in one vectorised pass. Every data row
ends up in exactly one of ``accepted``, ``rejected`` (kind ``excluded`` for rows
that are not real responses, ``invalid`` for bad data; one row per problem) or
``duplicates``. Reasons name the column and what is allowed, never the cell's
content. File-level problems (a file without its header row, unknown or unmapped
columns, an instrument item missing from the file, nothing accepted) raise one
:class:`ValidationError` listing all of them; a header cell that looks like a
respondent's value is never quoted in one. :func:`read_responses` is the whole path from a file.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from culture import frames
from culture.errors import ConfigError, Problem, ValidationError
from culture.frames import SOURCE_ROW, ParsedResponses
from culture.ingest.formats import load_export
from culture.ingest.mapping import IGNORE, ColumnMapping, load_mapping
from culture.ingest.textgrid import NUMBER_RE, SHORT, fold_header, short_text
from culture.measure.instrument import Demographic, Instrument, fold_label

PARTIAL_POLICIES = ("keep", "reject")
_BRACKET_RE = re.compile(r"^(?P<stem>.*?)\s*\[(?P<inner>[^\[\]]+)\]\s*$")


# Canonical metadata and the normalised header names tools use for it.
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

# Qualtrics Status: code -> keep?  Labels from a Qualtrics SPSS file.
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
# LimeSurvey writes this date for anonymised surveys: not a real time.
_LIME_ANON_DATE = pd.Timestamp("1980-01-01 00:00:00")



# --------------------------------------------------------------------------- columns

# Header cells that look like a respondent's data: such text is never put in a message.
_DATE_RE = re.compile(r"^\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}(?:\D|$)|^\d{1,2}:\d{2}")
_EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_IP_RE = re.compile(r"^\d{1,3}(?:\.\d{1,3}){3}$")
_DIGITS_RE = re.compile(r"\d{4,}")  # ids, phone numbers, years: data in a header row


def _answer_values(instrument: Instrument) -> frozenset[str]:
    """Folded answer labels and codes of the instrument (scale, demographics)."""
    values = set(instrument.scale.label_to_code())
    for d in instrument.demographics:
        values |= {fold_label(v) for v in (*d.codes, *d.codes.values(), d.missing_code,
                                           d.missing_label) if v}
    return frozenset(values)


def _looks_like_data(text: str, answers: frozenset[str]) -> bool:
    """A header cell that reads like a respondent's value: a number, date, e-mail, IP,
    long digit run (an id) or one of the instrument's answer labels or codes."""
    t = " ".join(str(text).split())
    return bool(t) and bool(NUMBER_RE.match(t) or _DATE_RE.match(t) or _EMAIL_RE.search(t)
                            or _IP_RE.match(t) or _DIGITS_RE.search(t)
                            or fold_label(t) in answers)


def _column_name(col: Any, answers: frozenset[str]) -> str:
    """An unknown column for a message: its letter, plus its header only when it is short
    and reads like a header (a header that looks like data or free text is never quoted)."""
    text = " ".join(str(col.header).split())
    if len(text) <= SHORT and not _looks_like_data(text, answers):
        return f"column {col.letter} {text!r}"
    return f"column {col.letter} (header not shown: long text or a value)"


def _no_header_row(raw: Any, unknown: list[Any], answers: frozenset[str]) -> Problem | None:
    """The problem "row 1 is data, not a header", when the unmatched header cells say so.

    Row 1 is taken for data when at least two of its unmatched cells, and at least
    a third of its non-empty cells, look like values (:func:`_looks_like_data`).
    The message counts cells and quotes none.
    """
    filled = sum(1 for c in raw.columns if str(c.header).strip())
    datalike = sum(1 for c in unknown if _looks_like_data(c.header, answers))
    if datalike < 2 or 3 * datalike < filled:
        return None
    return Problem("row 1", f"the file seems to have no header row: {datalike} of its {filled} "
                   "cells look like answers, codes, numbers, dates or e-mail addresses, not "
                   "column names. Export the file again with its header row (column names "
                   "or question texts); no cell is shown here")


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
    """How each source column is used: ``targets`` canonical name -> SourceColumn.

    ``dropped``: headers of identifying columns dropped at the boundary; ``ignored``:
    letters of the columns nothing claimed, dropped because the mapping says
    ``unmapped: ignore``.
    """

    targets: Mapping[str, Any]
    dropped: tuple[str, ...]
    ignored: tuple[str, ...] = ()


@dataclass(frozen=True)
class ColumnMatch:
    """Every column of an export sorted by how it was claimed, before any check.

    ``how`` maps a column position to ``mapping``, ``id`` (header is an id or metadata
    name), ``alias`` (a tool's metadata header), ``text`` (an item text, comment text
    or demographic name), ``identifying`` (dropped) or ``tool`` (bookkeeping, ignored).
    ``problems`` are clashes (two columns, one target) and mapping entries that name
    no column.
    """

    targets: Mapping[str, Any]
    dropped: tuple[str, ...]
    unknown: tuple[Any, ...]
    how: Mapping[int, str]
    problems: tuple[Problem, ...]


def candidate_texts(col: Any) -> list[str]:
    """Every header string a column is known by, with the parts tools embed statements in."""
    return _candidates((*col.keys, *col.texts))


def column_names(col: Any) -> list[str]:
    """Every folded name a column is known by (what mapping keys are compared with)."""
    return [fold_label(c) for c in candidate_texts(col)]


def metadata_kind(col: Any) -> str | None:
    """What a column is without any instrument: a canonical metadata name (``unit_id``,
    ``submitted_at``, ...), ``identifying`` (dropped on import), ``tool`` (bookkeeping,
    ignored) or None (a question, or something the user must map)."""
    cands = candidate_texts(col)
    pairs = [(fold_label(c), fold_header(c)) for c in cands]
    meta = {fold_header(m): m for m in frames.META_COLUMNS}
    aliases = {alias: role for role, names in _META_ALIASES.items() for alias in names}
    normed = [n for _, n in pairs]
    if any(n in meta for n in normed):
        return next(meta[n] for n in normed if n in meta)
    if any(n in aliases for n in normed):
        return next(aliases[n] for n in normed if n in aliases)
    if any(n in _IDENTIFYING or any(p.match(f) for p in _IDENTIFYING_PATTERNS) for f, n in pairs):
        return "identifying"
    if any(n in _TOOL_META or any(p.search(f) for p in _TOOL_META_PATTERNS) for f, n in pairs):
        return "tool"
    return None


def header_looks_like_data(text: str, instrument: Instrument | None = None) -> bool:
    """A header cell that reads like a respondent's value (never quoted in messages or drafts)."""
    return _looks_like_data(text, _answer_values(instrument) if instrument else frozenset())


def check_header_row(raw: Any, instrument: Instrument | None = None) -> None:
    """Raise the "no header row" problem when row 1 of ``raw`` reads like data."""
    answers = _answer_values(instrument) if instrument else frozenset()
    problem = _no_header_row(raw, list(raw.columns), answers)
    if problem is not None:
        raise ValidationError([problem], source=raw.source)


def match_columns(raw: Any, instrument: Instrument, mapping: ColumnMapping) -> ColumnMatch:
    """Claim the columns of ``raw``: mapping first, then ids, tool aliases and texts."""
    ids: dict[str, str] = {}
    for name in (*instrument.item_ids, *(c.id for c in instrument.comments),
                 *(d.id for d in instrument.demographics), *frames.META_COLUMNS):
        ids.setdefault(fold_label(name), name)
        ids.setdefault(fold_header(name), name)
    texts: dict[str, str] = {}
    for it in instrument.items:
        texts[fold_label(it.text)] = it.id
    for c in instrument.comments:
        texts[fold_label(c.text)] = c.id
    for d in instrument.demographics:
        texts[fold_label(d.name)] = d.id
    aliases = {alias: role for role, names in _META_ALIASES.items() for alias in names}
    mapped, problems = mapping.bind([(col.letter, column_names(col)) for col in raw.columns])

    targets: dict[str, Any] = {}
    dropped: list[str] = []
    unknown: list[Any] = []
    how: dict[int, str] = {}
    for col, target in zip(raw.columns, mapped, strict=True):
        cands = _candidates((*col.keys, *col.texts))
        folded = [fold_label(c) for c in cands]
        normed = [fold_header(c) for c in cands]
        pairs = list(zip(folded, normed, strict=True))
        kind = "mapping"
        if target is None and not cands:
            if raw.body[col.pos].str.strip().ne("").any():
                unknown.append(col)
            continue
        if target is None:
            kind, target = "id", next((ids.get(f) or ids.get(n) for f, n in pairs
                                       if f in ids or (n and n in ids)), None)
        if target is None:
            kind, target = "alias", next((aliases[n] for n in normed if n in aliases), None)
        if target is None and any(n in _IDENTIFYING or any(p.match(f) for p in
                                  _IDENTIFYING_PATTERNS) for f, n in pairs):
            dropped.append(col.header)
            how[col.pos] = "identifying"
            continue
        if target is None:
            kind, target = "text", next((texts[f] for f in folded if f in texts), None)
        if target is None and any(n in _TOOL_META or any(p.search(f) for p in _TOOL_META_PATTERNS)
                                  for f, n in pairs):
            kind, target = "tool", IGNORE
        if target is None:
            unknown.append(col)
            continue
        how[col.pos] = kind
        if target == IGNORE:
            continue
        if target in targets:
            first = targets[target]
            problems.append(Problem(f"columns {first.letter} and {col.letter}",
                                    f"both map to {target!r}; map one of them to another "
                                    f"column or to '{IGNORE}'"))
            continue
        targets[target] = col
    return ColumnMatch(targets=targets, dropped=tuple(dropped), unknown=tuple(unknown), how=how,
                       problems=tuple(problems))


def plan_columns(raw: Any, instrument: Instrument, mapping: ColumnMapping) -> ColumnPlan:
    """Assign every source column a canonical target, or raise listing every column problem.

    Columns nothing claims are problems, unless the mapping says ``unmapped: ignore``:
    then they are dropped and their letters returned in :attr:`ColumnPlan.ignored`.
    A file whose first row reads like data is reported as such either way.
    """
    match = match_columns(raw, instrument, mapping)
    targets, unknown = match.targets, list(match.unknown)
    problems = list(match.problems)
    answers = _answer_values(instrument)
    no_header = _no_header_row(raw, unknown, answers)
    if no_header is not None:
        raise ValidationError([no_header], source=raw.source)
    ignored: tuple[str, ...] = ()
    if unknown and mapping.unmapped == IGNORE:
        ignored, unknown = tuple(c.letter for c in unknown), []
    if unknown:
        names = [_column_name(c, answers) if str(c.header).strip() else
                 f"column {c.letter} (no header)" for c in unknown]
        problems.append(Problem("header", f"{len(unknown)} column(s) match no instrument item, "
                                "comment, demographic or known metadata column: "
                                + "; ".join(names) + ". Map them in a mapping file "
                                "(source header or letter -> item id, or 'ignore'; "
                                "'unmapped: ignore' drops every column nothing claims)"))
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
    return ColumnPlan(targets=targets, dropped=match.dropped, ignored=ignored)


@dataclass(frozen=True)
class MappedResponses(ParsedResponses):
    """:class:`~culture.frames.ParsedResponses` plus what the mapping dropped.

    ``ignored_columns``: letters of the columns that neither the mapping nor the
    automatic matching claimed, dropped because the mapping says ``unmapped: ignore``
    (letters only: a header may be a long question text).
    """

    ignored_columns: tuple[str, ...] = ()
    id_columns: tuple[tuple[str, str | None], ...] = ()


def id_columns(targets: Mapping[str, Any]) -> tuple[tuple[str, str | None], ...]:
    """Which export column became the response id and the respondent id (letter and
    header), or None: what an import summary tells the user about linking and counting."""
    from culture.ingest.textgrid import column_letter

    def name(key: str) -> str | None:
        col = targets.get(key)
        return None if col is None else f"{column_letter(col.pos)} ({col.header})"

    return (("response id", name(frames.RESPONSE_ID)), ("respondent id", name(frames.RESPONDENT)))


def plan_export(path: str | Path, instrument: Instrument, *, fmt: str | None = None,
                mapping: Any = None, encoding: str | None = None) -> ColumnPlan:
    """How ``mapping`` places the columns of one export (raises like :func:`read_responses`)."""
    spec = load_mapping(mapping, instrument)
    return plan_columns(load_export(path, fmt=fmt, encoding=encoding), instrument, spec)


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
    return f"column {col.letter} ({short_text(col.header)!r})"


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

    Work is done once per distinct answer text, then broadcast by position.
    """
    scale = instrument.scale
    labels = scale.label_to_code()
    code_of: dict[str, float] = {}
    tag_of: dict[str, str] = {}
    position, uniques = pd.factorize(cells, use_na_sentinel=False)
    for u in uniques:
        f = fold_label(u)
        value: Any = mapping.values.get(f)
        if value is None and u in value_labels and not NUMBER_RE.match(u):
            f = fold_label(value_labels[u])
        if value is None and NUMBER_RE.match(f):
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
    codes = np.array([code_of[u] for u in uniques], dtype="float64")[position]
    tags = np.array([tag_of[u] for u in uniques], dtype=object)[position]
    return pd.Series(codes, index=cells.index), pd.Series(tags, index=cells.index)


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
    named = text.str.contains("GMT|UTC", regex=True)  # rewrite only the few that name a zone
    if named.any():
        part = text[named].str.replace(r"\s*(?:GMT|UTC)\s*([+-])(\d{1,2})(?::?(\d{2}))?$",
                                       lambda m: f" {m[1]}{int(m[2]):02d}:{m[3] or '00'}", regex=True)
        text = text.where(~named, part.str.replace(r"\s*(?:GMT|UTC)$", " +00:00", regex=True))
    blank = text.eq("")
    aware = text.str.contains(r"(?:[+-]\d{2}:?\d{2}|Z)$", regex=True)
    zone = timezone if timezone and fold_header(timezone) not in {"utc", "z", "gmt"} else None
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
        elif NUMBER_RE.match(f):
            table[u] = float(f)
        else:
            table[u] = float(_STATUS_LABELS.get(f, np.nan))
    return cells.map(table).astype("float64")


def _text_cells(body: pd.DataFrame, col: Any, keep: np.ndarray) -> pd.Series:
    return body[col.pos][keep].astype(str).str.strip().reset_index(drop=True)


def validate_responses(raw: Any, instrument: Instrument, *, mapping: ColumnMapping | None = None,
                       partial: str = "keep") -> MappedResponses:
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
    return MappedResponses(source=raw.source, format=raw.format, accepted=accepted,
                           rejected=rejected, duplicates=dup_frame,
                           dropped_columns=plan.dropped, n_rows=n,
                           ignored_columns=plan.ignored, id_columns=id_columns(plan.targets))


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



def read_responses(path: str | Path, instrument: Instrument, *, fmt: str | None = None,
                   mapping: Any = None, partial: str = "keep",
                   encoding: str | None = None) -> MappedResponses:
    """Read and validate one survey export.

    Parameters
    ----------
    path : the export file (CSV/TSV/TXT, XLSX or SAV).
    instrument : the survey instrument the export answers.
    fmt : one of :data:`FORMATS`; ``None`` detects it with :func:`detect_format`.
    mapping : a YAML or CSV mapping file, or a dict (see
        :func:`culture.ingest.mapping.load_mapping` and ``docs/mapping.md``): source
        column (header text or letter) -> canonical column or ``ignore``, optional
        answer ``values``, ``absent`` items and ``unmapped: ignore``.
    partial : ``keep`` (flagged ``finished=False``) or ``reject`` (rows go to ``rejected``
        with kind ``excluded``) for Qualtrics ``Finished=0`` / LimeSurvey empty ``submitdate``.
    encoding : declared text encoding; by default a BOM, UTF-8, UTF-16 or cp1252 is detected.

    Returns
    -------
    MappedResponses
        A :class:`~culture.frames.ParsedResponses`: ``accepted`` in the canonical shape
        of :mod:`culture.frames` plus ``source_row`` (the row number seen in a
        spreadsheet, header rows counted); ``ignored_columns`` lists the letters of
        the columns ``unmapped: ignore`` dropped.

    Raises
    ------
    ValidationError
        File-level problems (unreadable, empty, unknown or unmapped columns, every row
        rejected), all listed at once.
    ConfigError
        An unknown ``fmt``, ``partial`` or ``encoding``.
    """
    if partial not in PARTIAL_POLICIES:
        raise ConfigError(f"partial={partial!r} is not allowed; use one of "
                          f"{', '.join(PARTIAL_POLICIES)}")
    spec = load_mapping(mapping, instrument)
    raw = load_export(path, fmt=fmt, encoding=encoding)
    return validate_responses(raw, instrument, mapping=spec, partial=partial)
