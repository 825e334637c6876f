"""Survey responses: map an export's columns onto the instrument and check every cell.

:func:`validate_responses` maps the columns of a :class:`~culture.ingest.formats.RawExport`
onto an instrument and checks every cell in one vectorised pass. Every data row
ends up in exactly one of ``accepted``, ``rejected`` (kind ``excluded`` for rows
that are not real responses, ``invalid`` for bad data; one row per problem) or
``duplicates``. Reasons name the column and what is allowed, never the cell's
content. File-level problems (unknown or unmapped columns, an instrument item
missing from the file, nothing accepted) raise one :class:`ValidationError`
listing all of them. :func:`read_responses` is the whole path from a file.
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
from culture.ingest.textgrid import NUMBER_RE, fold_header, short_text
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
        ids.setdefault(fold_header(name), name)
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
        normed = [fold_header(c) for c in cands]
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
            unknown.append(f"column {col.letter} {short_text(col.header)!r}")
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

    Work is done once per distinct answer text, then broadcast with ``map``.
    """
    scale = instrument.scale
    labels = scale.label_to_code()
    code_of: dict[str, float] = {}
    tag_of: dict[str, str] = {}
    for u in pd.unique(cells):
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
    if partial not in PARTIAL_POLICIES:
        raise ConfigError(f"partial={partial!r} is not allowed; use one of "
                          f"{', '.join(PARTIAL_POLICIES)}")
    spec = load_mapping(mapping, instrument)
    raw = load_export(path, fmt=fmt, encoding=encoding)
    return validate_responses(raw, instrument, mapping=spec, partial=partial)
