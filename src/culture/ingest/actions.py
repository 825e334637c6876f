"""Improvement actions: a QMS's CAPA export or a plain action list, checked cell by cell.

One row per action. Canonical columns (:data:`culture.frames.ACTION_COLUMNS`), with the
headers recognised without a mapping (compared letters and digits only, any case):

==============  ===============================================================================
``action_id``   required, unique in the file. ``CAPA No.``, ``CAPA ID``, ``Action ID``,
                ``Action No.``, ``Ref``, ``Reference``, ``ID``
``unit_id``     required: a unit of the org chart (any stored wave). ``Unit``, ``Department``,
                ``Dept``, ``Team``, ``Org unit``, ``Area``
``construct``   required: a construct id or name of the instrument, or an item id.
                ``Construct``, ``Topic``, ``Survey topic``, ``Focus area``, ``Item``, ``Measure``
``finding_id``  optional: the finding that prompted the action. ``Finding``, ``Finding ID``,
                ``Source ref.``, ``Source reference``
``clause``      optional ISO 9001 clause (``10.2``, ``10.3``, ``5.1.1``, ``5.1.1 a``; a prefix
                ``ISO 9001[:2015]`` or ``clause`` is dropped). Blank: :func:`default_clause`.
                ``Clause``, ``ISO clause``, ``ISO 9001 clause``, ``Standard clause``
``owner``       required. ``Owner``, ``Responsible``, ``Responsible person``, ``Assigned to``,
                ``Action owner``
``opened``      required date. ``Opened``, ``Raised``, ``Raised on``, ``Date raised``,
                ``Created``, ``Created on``, ``Open date``, ``Start date``
``due``         date, required unless cancelled, not before ``opened``. ``Due``,
                ``Due date``, ``Target date``, ``Deadline``, ``Due by``
``status``      required: ``open``, ``closed`` or ``cancelled`` (:data:`STATUS_WORDS` lists the
                words QMS exports use for them, e.g. ``In progress``, ``Completed``)
                ``Status``, ``State``
``closed``      date, required iff the status is closed (a cancelled action may carry the date
                it was cancelled), not before ``opened``. ``Closed``, ``Date closed``,
                ``Closed on``, ``Completed on``, ``Completion date``
==============  ===============================================================================

Other headers are mapped with ``--mapping`` (``docs/mapping.md``, the same schema as org
charts and registers); columns nothing claims (descriptions, root causes) are not read.
Dates are ISO ``YYYY-MM-DD`` or Excel date cells. Every problem is reported at once in
one :class:`~culture.errors.ValidationError` by row and column, never quoting a cell.

Public API: :func:`read_actions` (a file), :func:`check_actions` (text cells already
under canonical names), :func:`check_action_fields` (one action typed on the command
line), :func:`default_clause`, :func:`parse_clause`, :func:`construct_lookup`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from culture import frames as F
from culture.errors import Problem, ValidationError
from culture.measure.instrument import Instrument, fold_label

COLUMNS = F.ACTION_COLUMNS
REQUIRED = ("action_id", "unit_id", "construct", "owner", "opened", "due", "status")
_ALIASES = {
    "action_id": {"actionid", "capano", "capaid", "capanumber", "capa", "actionno",
                  "actionnumber", "ref", "reference", "id"},
    "unit_id": {"unitid", "unit", "department", "dept", "team", "orgunit", "area"},
    "construct": {"construct", "topic", "surveytopic", "focusarea", "item", "measure"},
    "finding_id": {"findingid", "finding", "sourceref", "sourcereference"},
    "clause": {"clause", "isoclause", "iso9001clause", "standardclause"},
    "owner": {"owner", "responsible", "responsibleperson", "assignedto", "actionowner"},
    "opened": {"opened", "raised", "raisedon", "dateraised", "created", "createdon",
               "opendate", "dateopened", "startdate"},
    "due": {"due", "duedate", "targetdate", "deadline", "dueby"},
    "status": {"status", "state"},
    "closed": {"closed", "dateclosed", "closedon", "closedate", "completedon",
               "completiondate", "datecompleted"},
}
#: The words accepted for each status (folded: case and spaces do not matter).
STATUS_WORDS: dict[str, tuple[str, ...]] = {
    "open": ("open", "in progress", "ongoing", "planned", "new", "overdue"),
    "closed": ("closed", "done", "completed", "complete", "verified"),
    "cancelled": ("cancelled", "canceled", "withdrawn", "rejected"),
}
_STATUS = {w: s for s, words in STATUS_WORDS.items() for w in words}
CORRECTIVE, IMPROVEMENT = "10.2", "10.3"
# ISO 9001 clauses are 4-10 with up to three sub-levels and an optional list letter.
_CLAUSE_RE = re.compile(r"^(?:iso\s*9001(?::\s*2015)?\s*)?(?:clause\s*)?"
                        r"(?P<num>(?:10|[4-9])(?:\.\d{1,2}){0,3})\s*(?P<letter>[a-j])?$",
                        re.IGNORECASE)
_MAP_HINT = ("if your file names it differently, map your header to it in a mapping file "
             "(--mapping)")


def default_clause(finding_id: str | None) -> str:
    """The clause of an action whose register left it blank.

    A survey finding that prompts an action is a shortfall (a drop, or a focus area below
    the target): a corrective action, ISO 9001 10.2. An action without a finding is
    improvement on the team's own initiative: 10.3.
    """
    return CORRECTIVE if finding_id else IMPROVEMENT


def parse_clause(text: str) -> str | None:
    """``10.2``, ``ISO 9001:2015 10.2``, ``clause 5.1.1a`` -> ``10.2`` / ``5.1.1 a``; None if
    the text is not an ISO 9001 clause number."""
    m = _CLAUSE_RE.match(" ".join(str(text).split()))
    if not m:
        return None
    return m["num"] + (f" {m['letter'].lower()}" if m["letter"] else "")


def construct_lookup(instrument: Instrument) -> dict[str, str]:
    """Folded construct id, full name and short name (before ``" ("``), and item id -> id."""
    out: dict[str, str] = {}
    for c in instrument.constructs:
        for key in (c.id, c.name, c.name.split(" (")[0]):
            out.setdefault(fold_label(key), c.id)
    for i in instrument.items:
        out.setdefault(fold_label(i.id), i.id)
    return out


def action_columns(header: list[str], *, mapping: Any, source: str) -> list[str | None]:
    """Canonical column (or None = not read) per header cell: the user's mapping first,
    then the aliases of the module doc (:func:`culture.ingest.registers.table_columns`)."""
    from culture.ingest.registers import table_columns

    return table_columns(header, canonical=COLUMNS, mapping=mapping, source=source,
                         required=set(REQUIRED), aliases=_ALIASES)


def read_actions(path: str | Path, *, instrument: Instrument,
                 org_units: Iterable[str] | None = None, mapping: Any = None,
                 encoding: str | None = None) -> pd.DataFrame:
    """Read and check an actions register (see the module doc).

    ``org_units``: the unit ids an action may name (every stored org chart); None skips
    that check. Returns :data:`culture.frames.ACTION_COLUMNS` plus ``source_row``.
    """
    from culture.ingest.registers import read_named_table

    body, rows = read_named_table(
        path, lambda header: action_columns(header, mapping=mapping, source=str(path)),
        encoding=encoding)
    return check_actions(body, rows, instrument=instrument, org_units=org_units,
                         source=str(path))


def check_actions(body: pd.DataFrame, rows: np.ndarray, *, instrument: Instrument,
                  org_units: Iterable[str] | None, source: str) -> pd.DataFrame:
    """Validate an actions table whose columns are already canonical (text cells)."""
    problems: list[Problem] = []

    def text(col: str) -> pd.Series:
        if col in body:
            return body[col].fillna("").astype(str).str.strip()
        return pd.Series("", index=body.index, dtype=object)

    def at(mask: Any, col: str, message: str) -> None:
        problems.extend(Problem(f"row {r}, column {col}", message)
                        for r in rows[np.asarray(mask, dtype=bool)])

    action_id, unit, owner, finding = (text(c) for c in ("action_id", "unit_id", "owner",
                                                          "finding_id"))
    at(action_id.eq(""), "action_id", "action id is blank")
    dup = action_id.ne("") & action_id.duplicated(keep=False)
    first = pd.Series(rows, index=body.index).groupby(action_id).transform("min")
    at(dup & (first != rows), "action_id", "duplicate action id (an action is one row)")
    at(unit.eq(""), "unit_id", "unit id is blank")
    if org_units is not None:
        at(unit.ne("") & ~unit.isin(set(org_units)), "unit_id",
           "unit is not in any stored org chart")
    lookup = construct_lookup(instrument)
    raw_construct = text("construct")
    construct = raw_construct.map(lambda s: lookup.get(fold_label(s)))
    at(raw_construct.eq(""), "construct", "construct is blank; name a construct (id or name) "
       "or an item id of the instrument")
    at(raw_construct.ne("") & construct.isna(), "construct", "not a construct or item of the "
       f"instrument {instrument.id} (use a construct id or name, or an item id)")
    at(owner.eq(""), "owner", "owner is blank; every action needs someone responsible")
    raw_clause = text("clause")
    clause = raw_clause.map(lambda s: parse_clause(s) if s else None)
    at(raw_clause.ne("") & clause.isna(), "clause", "not an ISO 9001 clause number such as "
       "10.2, 10.3 or 5.1.1")
    clause = clause.where(raw_clause.ne(""), finding.map(lambda f: default_clause(f or None)))
    raw_status = text("status")
    status = raw_status.map(lambda s: _STATUS.get(fold_label(s)))
    at(raw_status.eq(""), "status", f"status is blank; one of {', '.join(F.ACTION_STATUSES)}")
    at(raw_status.ne("") & status.isna(), "status", "not a status; one of "
       + "; ".join(f"{s} ({', '.join(w)})" for s, w in STATUS_WORDS.items()))
    dates = {}
    for col in ("opened", "due", "closed"):
        raw = text(col)
        dates[col] = pd.to_datetime(raw, format="ISO8601", errors="coerce").astype(
            "datetime64[ns]")
        at(raw.ne("") & dates[col].isna(), col, "not a date; use YYYY-MM-DD (an impossible "
           "date such as 2024-02-30 is also reported here)")
        if col != "opened":
            at(dates[col] < dates["opened"], col, f"{col} date is before the opened date")
    at(text("opened").eq(""), "opened", "opened date is blank")
    at(text("due").eq("") & status.ne("cancelled"), "due", "due date is blank")
    closed_blank = text("closed").eq("")
    at(status.eq("closed") & closed_blank, "closed", "a closed action needs its closing date")
    at(status.eq("open") & ~closed_blank, "closed", "an open action has a closing date; set its "
       "status to closed, or clear the date")
    if problems:
        raise ValidationError(sorted(problems, key=_row_of), source=source)
    out = pd.DataFrame({
        "action_id": action_id, "unit_id": unit, "construct": construct.astype(object),
        "finding_id": finding.astype(object).where(finding.ne(""), None),
        "clause": clause.astype(object), "owner": owner, "opened": dates["opened"],
        "due": dates["due"], "status": status.astype(object), "closed": dates["closed"],
        F.SOURCE_ROW: np.asarray(rows, dtype="int64")})
    return out.reset_index(drop=True)


def check_action_fields(values: Mapping[str, Any], *, instrument: Instrument,
                        org_units: Iterable[str] | None, source: str) -> dict[str, Any]:
    """One action given field by field (``culture actions add``): the same checks as a
    register row, problems named by field (``unit_id: unit is not in ...``)."""
    body = pd.DataFrame({c: ["" if values.get(c) is None else str(values[c])]
                         for c in COLUMNS})
    try:
        frame = check_actions(body, np.array([1]), instrument=instrument, org_units=org_units,
                              source=source)
    except ValidationError as exc:
        raise ValidationError([Problem(p.where.removeprefix("row 1, column "), p.message)
                               for p in exc.problems], source=source) from None
    return frame.drop(columns=F.SOURCE_ROW).iloc[0].to_dict()


def _row_of(p: Problem) -> tuple[int, str]:
    m = re.match(r"row (\d+)", p.where)
    return (int(m.group(1)) if m else 0, p.where)
