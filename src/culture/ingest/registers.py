"""Org charts, headcounts, QMS registers and exposure: one-header-row tables.

Each reader maps the header onto canonical names (aliases, or a user's mapping),
checks every row and raises one :class:`ValidationError` listing every problem
by row and column, never quoting a cell.

QMS registers are checked for what the culture -> quality models need
(:func:`culture.stats.panel.build_panel`) when the file comes in, not when a
model first runs. Per kind (:data:`QUALITY_REQUIRED`; blank = the cell may be empty):

=================  ==========================================================================
every kind         ``event_id`` (header ``id``), ``unit_id``, ``opened``: column and every cell
                   (an event is counted in the unit and quarter it was opened)
``nonconformity``  ``detected`` (internal/customer), column and every cell: it splits
                   ``nc_internal`` from ``nc_customer``. ``severity`` optional (no model uses it)
``audit_finding``  ``severity`` (minor/major/critical), column and every cell: it splits
                   ``audit_minor/major/critical``. ``detected`` optional
``complaint``      nothing more: ``detected`` defaults to customer (complaints come from
                   customers by definition); ``severity`` optional
``capa``           ``closed`` column (a blank cell = still open); ``due`` column, and a due
                   date on every closed CAPA (on-time share); an open CAPA may lack one
=================  ==========================================================================

``closed`` and ``due`` are optional for the other kinds (no model uses them there).
Optional columns are still checked when present (dates, allowed values).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from culture import frames
from culture.errors import ConfigError, Problem, ValidationError
from culture.ingest.mapping import IGNORE, load_table_mapping
from culture.ingest.textgrid import (
    NUMBER_RE,
    column_letter,
    fail,
    fold_header,
    is_spss,
    read_grid,
)
from culture.measure.instrument import fold_label

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
#: The canonical columns of each table kind (what a mapping may target).
TABLE_COLUMNS: dict[str, tuple[str, ...]] = {
    "org": ("unit_id", "parent_id", "name", "wave"),
    "headcount": ("unit_id", "invited", "wave"),
    "quality": ("event_id", "unit_id", "opened", "closed", "due", "severity", "detected"),
    "exposure": ("unit_id", "quarter", "exposure", "exposure_kind"),
}
_REQUIRED = {"unit_id"}
_REQUIRED_BY = {"parent_id": {"unit_id", "parent_id"}, "invited": {"unit_id", "invited"},
                "opened": {"event_id", "unit_id", "opened"},
                "exposure": {"unit_id", "quarter", "exposure"}}
_MAP_HINT = ("if your file names it differently, map your header to it in a mapping file "
             "(--mapping)")


def table_columns(header: list[str], *, canonical: tuple[str, ...], mapping: Any,
                  source: str, required: set[str] | None = None,
                  aliases: Mapping[str, set[str]] | None = None) -> list[str | None]:
    """Canonical name (or None = not used) per header cell of an org / register table.

    ``mapping`` follows ``docs/mapping.md`` (:func:`culture.ingest.mapping.load_table_mapping`):
    a column is named by its header text or its letter (``C``). Columns outside
    ``canonical`` are ignored unless the mapping says ``unmapped: error``: registers
    carry descriptions and other free text that the workbench must not ingest.
    ``required`` (default: by the kind of table ``canonical`` describes) are the
    columns whose absence is an error here; pass an empty set to leave that check
    to the caller. ``aliases`` (folded headers per canonical name) replace the register
    aliases for other kinds of table (access lists, action registers).
    """
    aliases = _TABLE_ALIASES if aliases is None else aliases
    spec = load_table_mapping(mapping, canonical)
    user, problems = spec.bind([(column_letter(i), [fold_label(h)] if str(h).strip() else [])
                                for i, h in enumerate(header)])
    if problems:
        raise ValidationError(problems, source=spec.source)
    names: list[str | None] = []
    unclaimed: list[str] = []
    for i, h in enumerate(header):
        target = user[i]
        if target is None:
            target = next((c for c in canonical if fold_header(h) in aliases.get(c, {c})), None)
            if target is None and str(h).strip():
                unclaimed.append(column_letter(i))
        names.append(None if target in (None, IGNORE) else target)
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        if name is None:
            continue
        if name in seen:
            problems.append(Problem(f"header, columns {column_letter(seen[name])} and "
                                    f"{column_letter(i)}", f"both map to {name!r}"))
        seen.setdefault(name, i)
    if required is None:
        required = next((v for k, v in _REQUIRED_BY.items() if k in canonical), _REQUIRED)
    for r in sorted(required - set(seen)):
        problems.append(Problem("header", f"required column {r!r} not found; {_MAP_HINT}"))
    if unclaimed and spec.unmapped != IGNORE:
        problems.append(Problem("header", f"{len(unclaimed)} column(s) match no column of this "
                                f"table ({', '.join(canonical)}): {', '.join(unclaimed)}; the "
                                "mapping says 'unmapped: error' (leave it out to ignore them)"))
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
    num = pd.to_numeric(s.str.strip().where(s.str.match(NUMBER_RE.pattern)), errors="coerce")
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


_DETECTED = ("internal", "customer")
_ALLOWED = {"severity": frames.SEVERITIES, "detected": _DETECTED}
_DATES = ("opened", "closed", "due")
_SHOWN = {"event_id": "id"}  # the column name a register user sees in messages

#: Columns each register kind must have (see the module docstring for the cells).
QUALITY_REQUIRED: dict[str, tuple[str, ...]] = {
    "nonconformity": ("event_id", "unit_id", "opened", "detected"),
    "audit_finding": ("event_id", "unit_id", "opened", "severity"),
    "complaint": ("event_id", "unit_id", "opened"),
    "capa": ("event_id", "unit_id", "opened", "closed", "due"),
}
#: What the culture -> quality models (culture.stats.panel) use each column for.
QUALITY_PURPOSE = {
    "event_id": "needed to tell register entries apart, so a re-imported register updates "
                "an entry instead of counting it twice",
    "unit_id": "needed to attribute each entry to an org unit",
    "opened": "needed to place each entry in the quarter it was opened",
    "closed": "needed to count the CAPAs closed per quarter and their days to close "
              "(leave the cell blank while a CAPA is open)",
    "due": "needed for the share of CAPAs closed on time",
    "severity": "needed to count audit findings by severity",
    "detected": "needed to tell internally found from customer-found nonconformities",
}


_KIND_LABEL = {"nonconformity": "nonconformity", "audit_finding": "audit finding",
               "complaint": "complaint", "capa": "CAPA"}
_HINT = {"event_id": "one id per register entry", "unit_id": "the unit ids of the org chart"}


def _values_hint(column: str) -> str:
    if column in _ALLOWED:
        return f"allowed values: {', '.join(_ALLOWED[column])}"
    if column in _DATES:
        return "dates as YYYY-MM-DD"
    return _HINT[column]


def _row_of(problem: Problem) -> int:
    """Sort key: header and column problems first, then by row (stable within a row)."""
    head = problem.where.split(",", 1)[0]
    return int(head[4:]) if head.startswith("row ") and head[4:].isdigit() else 0


def _check_kind(kind: str) -> None:
    if kind not in frames.QUALITY_KINDS:
        raise ConfigError(f"kind={kind!r} is not a quality register kind; allowed: "
                          f"{', '.join(frames.QUALITY_KINDS)}")


def _blank_cells(mask: np.ndarray, rows: np.ndarray, column: str,
                 message: str) -> list[Problem]:
    """Rows whose required cell is blank; one problem when the column is blank throughout."""
    if len(rows) > 1 and mask.all():
        return [Problem(f"column {column}", f"blank on all {len(rows)} rows; {message}")]
    return _row_problems(mask, rows, column, message)


def check_quality(body: pd.DataFrame, rows: np.ndarray, *, kind: str, org: pd.DataFrame | None,
                  source: str) -> pd.DataFrame:
    """Validate a quality register (see :func:`culture.io.read_quality`).

    ``body`` holds text cells under canonical names (any of ``event_id, unit_id,
    opened, closed, due, severity, detected``); a column :data:`QUALITY_REQUIRED`
    lists for ``kind`` but ``body`` lacks is reported with what it is needed for,
    together with every problem in the rows.
    """
    _check_kind(kind)
    required = QUALITY_REQUIRED[kind]
    problems = [Problem("header", f"required column {c!r} not found in this "
                        f"{_KIND_LABEL[kind]} register; {QUALITY_PURPOSE[c]} "
                        f"({_values_hint(c)}); {_MAP_HINT}") for c in required if c not in body]

    def text(col: str) -> pd.Series:
        if col in body:
            return body[col].str.strip()
        return pd.Series("", index=body.index, dtype=object)

    def blank_required(col: str, blank: np.ndarray, message: str) -> None:
        if col in body:
            hint = f" ({_values_hint(col)})" if col in _ALLOWED else ""
            problems.extend(_blank_cells(blank, rows, _SHOWN.get(col, col),
                                         f"{message}; {QUALITY_PURPOSE[col]}{hint}"))

    eid, unit = text("event_id"), text("unit_id")
    blank_required("event_id", _blank(eid), "register id is blank")
    if "event_id" in body:
        problems += _duplicates(pd.DataFrame({"e": eid}), rows, "id", "register id")
    blank_required("unit_id", _blank(unit), "unit id is blank")
    if "unit_id" in body:
        problems += _unknown_units(unit, rows, org)
    out = {"event_id": eid.astype(str), "kind": pd.Series([kind] * len(body), dtype=str),
           "unit_id": unit.astype(str)}
    for col in _DATES:
        out[col], bad = _dates(text(col))
        problems += _row_problems(bad, rows, col, "not a date; use YYYY-MM-DD (an impossible "
                                  "date such as 2024-02-30 is also reported here)")
    blank_required("opened", _blank(text("opened")), "opened date is blank")
    if kind == "capa":  # an open CAPA may have no due date yet; a closed one is measured
        blank_required("due", _blank(text("due")) & ~_blank(text("closed")),
                       "due date is blank on a closed CAPA")
    for col in ("closed", "due"):
        before = (out[col] < out["opened"]).to_numpy()
        problems += _row_problems(before, rows, col, f"{col} date is before the opened date")
    for col, allowed in _ALLOWED.items():
        s = text(col).str.casefold()
        needed = col in required
        bad = (s.ne("") & ~s.isin(list(allowed))).to_numpy()
        problems += _row_problems(bad, rows, col, f"must be one of {', '.join(allowed)}"
                                  + ("" if needed else " or blank"))
        if needed:
            blank_required(col, _blank(s), f"{col} is blank")
        default = "customer" if col == "detected" and kind == "complaint" else None
        out[col] = s.astype(object).where(s.ne(""), default)
    if problems:
        raise ValidationError(sorted(problems, key=_row_of), source=source)
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
    value = pd.to_numeric(text.where(text.str.match(NUMBER_RE.pattern)), errors="coerce")
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

# --------------------------------------------------------------------------- org and registers

IGNORED = "ignored_columns"  # frame.attrs key: letters of the table columns not read


def read_named_table(path: str | Path, namer: Callable[[list[str]], list[str | None]], *,
                     encoding: str | None = None) -> tuple[pd.DataFrame, np.ndarray]:
    """A one-header-row table (CSV/TSV/XLSX) with its columns renamed by ``namer`` (header
    -> canonical name or None = not read) and its blank rows left out; returns the body
    and each row's line in the file. ``body.attrs[IGNORED]`` lists the letters of the
    named columns left out."""
    if is_spss(Path(path)):
        raise fail(path, "", "expected a CSV or XLSX table, got an SPSS file")
    grid = read_grid(path, encoding=encoding)
    header = [str(c).strip() for c in grid.iloc[0].tolist()]
    names = namer(header)
    keep = [i for i, n in enumerate(names) if n is not None]
    body = grid.iloc[1:, keep].reset_index(drop=True)
    body.columns = [names[i] for i in keep]
    rows = np.arange(2, 2 + len(body))
    filled = body.apply(lambda s: s.str.strip().ne("")).any(axis=1).to_numpy() if keep else \
        np.zeros(len(body), bool)
    body = body.loc[filled].reset_index(drop=True)
    body.attrs[IGNORED] = tuple(column_letter(i) for i, (h, n) in enumerate(zip(header, names,
                                                                                strict=True))
                                if n is None and h)
    return body, rows[filled]


def _read_table(path: str | Path, *, encoding: str | None, mapping: Any,
                canonical: tuple[str, ...],
                required: set[str] | None = None) -> tuple[pd.DataFrame, np.ndarray]:
    """A register table with columns renamed to canonical names (mapping first)."""
    return read_named_table(path, lambda header: table_columns(
        header, canonical=canonical, mapping=mapping, source=str(path), required=required),
        encoding=encoding)


def _ignored(frame: pd.DataFrame, body: pd.DataFrame) -> pd.DataFrame:
    """``frame`` carrying the letters of the columns its file had but the reader left out."""
    frame.attrs[IGNORED] = body.attrs.get(IGNORED, ())
    return frame


def read_org(path: str | Path, *, wave: str | None = None, mapping: Any = None,
             encoding: str | None = None) -> pd.DataFrame:
    """Read an org chart: ``unit_id, parent_id, name`` [, ``wave``] (one row per unit).

    Checks (all reported together): required columns, blank or duplicate unit ids,
    exactly one root (blank ``parent_id``) per wave, parents that are not units,
    and cycles. Returns columns ``wave, unit_id, parent_id, name, level`` with
    ``parent_id`` None for the root and ``level`` 0 at the root.
    """
    body, rows = _read_table(path, encoding=encoding, mapping=mapping,
                             canonical=TABLE_COLUMNS["org"])
    return _ignored(check_org(body, rows, wave=wave, source=str(path)), body)


def read_headcount(path: str | Path, *, wave: str | None = None, org: pd.DataFrame | None = None,
                   mapping: Any = None, encoding: str | None = None) -> pd.DataFrame:
    """Read invited headcounts: ``unit_id, invited`` [, ``wave``].

    ``invited`` must be a whole number >= 0; (wave, unit) pairs must be unique;
    with ``org`` every unit must be in the org tree. Returns ``wave, unit_id, invited``.
    """
    body, rows = _read_table(path, encoding=encoding, mapping=mapping,
                             canonical=TABLE_COLUMNS["headcount"])
    return _ignored(check_headcount(body, rows, wave=wave, org=org, source=str(path)), body)


def read_quality(path: str | Path, *, kind: str, org: pd.DataFrame | None = None,
                 mapping: Any = None, encoding: str | None = None) -> pd.DataFrame:
    """Read a QMS register (nonconformities, audit findings, complaints or CAPAs).

    Documented columns: ``id`` (or ``event_id``), ``unit_id``, ``opened``, ``closed``,
    ``due``, ``severity`` (minor/major/critical), ``detected`` (internal/customer);
    other headers are mapped with ``mapping``. Dates are ISO ``YYYY-MM-DD`` (or Excel
    dates).

    What ``kind`` requires is what the culture -> quality models use
    (:data:`QUALITY_REQUIRED`, table in the module docstring): every kind needs
    ``id``, ``unit_id`` and ``opened`` on every row; a nonconformity needs
    ``detected`` and an audit finding ``severity`` on every row; a CAPA register
    needs the ``closed`` column (blank = still open) and the ``due`` column, with a
    due date on every closed CAPA. Everything else is optional: a complaint is
    customer-detected unless it says otherwise, and no model uses the severity of a
    nonconformity, complaint or CAPA or the closed/due dates of non-CAPA entries.

    Missing required columns (named with what they are needed for), blank required
    cells, unparseable or impossible dates, ``closed`` or ``due`` before ``opened``,
    duplicate ids, values outside the allowed ones and (with ``org``) unknown units
    are all listed in one :class:`ValidationError` by row and column, never quoting
    a cell. Returns the quality-events frame of :mod:`culture.frames`.
    """
    _check_kind(kind)
    body, rows = _read_table(path, encoding=encoding, mapping=mapping,
                             canonical=TABLE_COLUMNS["quality"], required=set())
    return _ignored(check_quality(body, rows, kind=kind, org=org, source=str(path)), body)


def read_exposure(path: str | Path, *, org: pd.DataFrame | None = None,
                  exposure_kind: str = "units", mapping: Any = None,
                  encoding: str | None = None) -> pd.DataFrame:
    """Read exposure per unit and quarter: ``unit_id, quarter, exposure`` [, ``exposure_kind``].

    ``quarter`` must be ``YYYYQn``; ``exposure`` a positive number (it enters
    a log offset); (unit, quarter) pairs unique; with ``org`` units must exist.
    """
    body, rows = _read_table(path, encoding=encoding, mapping=mapping,
                             canonical=TABLE_COLUMNS["exposure"])
    return _ignored(check_exposure(body, rows, org=org, exposure_kind=exposure_kind,
                                   source=str(path)), body)
