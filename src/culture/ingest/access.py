"""The access list: who receives which part of the report pack.

One row per person and unit (a person may have several rows, and a ``unit_id`` cell
may list several units separated by ``;``):

==============  ==================================================================
``person_id``   the person's id (names their folder); headers ``person``, ``id``,
                ``employee_id`` are recognised too
``email``       where their pack goes (``e-mail``, ``mail``)
``role``        ``leader`` (the briefs of their units), ``executive`` (the whole
                organisation) or ``hr`` (everything, instrument review and exports too)
``unit_id``     the unit(s) they lead; required for a leader, optional otherwise
``scope``       ``subtree`` (default: the unit and every unit below it) or ``unit``
                (the named unit only)
==============  ==================================================================

Other headers are mapped with a mapping file (``docs/mapping.md``, the same schema as
org charts and registers). Checked together and reported in one
:class:`~culture.errors.ValidationError` by row and column, never quoting a cell (an
e-mail address is staff contact data; messages name its row, not the address):
blank or malformed cells, a person listed with two addresses or two roles, one address
for two people, repeated rows, and, against the wave's org chart, unknown units, a
leader without a unit, and units that no leader covers (a unit whose brief nobody
would receive).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from culture import frames
from culture.errors import Problem, ValidationError

ROLES = ("leader", "executive", "hr")
SCOPES = ("subtree", "unit")
ACCESS_COLUMNS = ("person_id", "email", "role", "unit_id", "scope")
REQUIRED = ("person_id", "email", "role")
_ALIASES = {
    "person_id": {"personid", "person", "id", "employeeid", "staffid", "userid"},
    "email": {"email", "emailaddress", "mail"},
    "role": {"role"},
    "unit_id": {"unitid", "unit", "units", "unitids"},
    "scope": {"scope"},
}
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")
UNIT_SEPARATOR = ";"


def access_columns(header: list[str], *, mapping: Any, source: str) -> list[str | None]:
    """Canonical column (or None = not read) per header cell: the user's mapping first,
    then the aliases of the module doc (:func:`culture.ingest.registers.table_columns`)."""
    from culture.ingest.registers import table_columns

    return table_columns(header, canonical=ACCESS_COLUMNS, mapping=mapping, source=source,
                         required=set(REQUIRED), aliases=_ALIASES)


def read_access(path: str | Path, *, org: pd.DataFrame | None = None, mapping: Any = None,
                encoding: str | None = None) -> pd.DataFrame:
    """Read and check an access list (see the module doc); ``org`` is the wave's org chart.

    Returns one row per person and unit: ``person_id, email, role, unit_id`` (None for an
    executive or HR person listed without a unit), ``scope``, ``source_row``.
    """
    from culture.ingest.registers import read_named_table

    body, rows = read_named_table(
        path, lambda header: access_columns(header, mapping=mapping, source=str(path)),
        encoding=encoding)
    return check_access(body, rows, org=org, source=str(path))


def check_access(body: pd.DataFrame, rows: np.ndarray, *, org: pd.DataFrame | None,
                 source: str) -> pd.DataFrame:
    """Validate an access table whose columns are already canonical (text cells)."""
    problems: list[Problem] = []

    def text(col: str, fold: bool = False) -> pd.Series:
        s = body[col].fillna("").astype(str).str.strip() if col in body else \
            pd.Series("", index=body.index, dtype=object)
        return s.str.casefold() if fold else s

    def at(mask: Any, col: str, message: str) -> None:
        problems.extend(Problem(f"row {r}, column {col}", message)
                        for r in rows[np.asarray(mask, dtype=bool)])

    person, email, role = text("person_id"), text("email"), text("role", fold=True)
    scope = text("scope", fold=True).replace("", "subtree")
    units = text("unit_id").map(lambda s: [u.strip() for u in s.split(UNIT_SEPARATOR) if u.strip()])
    at(person.eq(""), "person_id", "person id is blank")
    at(email.eq(""), "email", "e-mail address is blank")
    at(email.ne("") & ~email.str.match(EMAIL_RE.pattern), "email", "not an e-mail address")
    at(role.eq(""), "role", f"role is blank; one of {', '.join(ROLES)}")
    at(role.ne("") & ~role.isin(ROLES), "role", f"must be one of {', '.join(ROLES)}")
    at(~scope.isin(SCOPES), "scope", f"must be one of {', '.join(SCOPES)} or blank (subtree)")
    first: dict[str, tuple[int, str, str]] = {}
    owner: dict[str, tuple[int, str]] = {}
    for r, p, e, ro in zip(rows, person, email.str.casefold(), role, strict=True):
        if not p:
            continue
        f = first.setdefault(p, (r, e, ro))
        if e and f[1] and e != f[1]:
            problems.append(Problem(f"row {r}, column email", f"another address than row {f[0]} "
                                    "for the same person"))
        if ro and f[2] and ro != f[2]:
            problems.append(Problem(f"row {r}, column role", f"another role than row {f[0]} for "
                                    "the same person"))
        o = owner.setdefault(e, (r, p)) if e else None
        if o is not None and o[1] != p:
            problems.append(Problem(f"row {r}, column email", f"the same address as row {o[0]}, "
                                    "which is another person"))
    long = pd.DataFrame({"row": rows, "person_id": person, "unit_id": units}).explode("unit_id")
    dup = long.dropna(subset=["unit_id"]).duplicated(["person_id", "unit_id"], keep=False)
    if dup.any():
        d = long.dropna(subset=["unit_id"])[dup]
        firsts = d.groupby(["person_id", "unit_id"])["row"].transform("min")
        problems += [Problem(f"row {r}, column unit_id", f"this person and unit are listed "
                             f"already (row {f})") for r, f in zip(d["row"], firsts, strict=True)
                     if r != f]
    leaders = person[role.eq("leader")]
    has_unit = set(person[units.map(bool)])
    for p in dict.fromkeys(leaders):
        if p and p not in has_unit:
            problems.append(Problem(f"row {first[p][0]}, column unit_id",
                                    "a leader needs a unit: their briefs come from it"))
    out = pd.DataFrame({"person_id": person, "email": email, "role": role, "unit_id": units,
                        "scope": scope, "source_row": rows}).explode("unit_id")
    out["unit_id"] = out["unit_id"].astype(object).where(out["unit_id"].notna(), None)
    out = out.reset_index(drop=True)
    if org is not None:
        problems += org_problems(out, org)
    if problems:
        raise ValidationError(sorted(problems, key=_row_of), source=source)
    return out


def org_problems(access: pd.DataFrame, org: pd.DataFrame) -> list[Problem]:
    """An access list (as :func:`read_access` returns it) against a wave's org chart: units
    not in the chart (by row) and units that no leader covers (by unit id)."""
    known = set(org[frames.UNIT].astype(str))
    named = access[access["unit_id"].notna()]
    problems = [Problem(f"row {int(r)}, column unit_id", f"unit {u!r} is not in the org chart"
                        + _org_wave(org))
                for r, u in zip(named["source_row"], named["unit_id"], strict=True)
                if u not in known]
    leads = named[named["role"] == "leader"]
    return problems + uncovered_units(org, [([u], s) for u, s in zip(leads["unit_id"],
                                                                     leads["scope"], strict=True)])


def _org_wave(org: pd.DataFrame) -> str:
    wave = org.attrs.get("org_wave")
    return f" of {wave}" if wave else ""


def _row_of(p: Problem) -> tuple[int, str]:
    m = re.match(r"row (\d+)", p.where)
    return (int(m.group(1)) if m else 1 << 30, p.where)


def subtree(org: pd.DataFrame, unit: str) -> set[str]:
    """A unit and every unit below it in the org chart."""
    children: dict[str, list[str]] = {}
    for u, p in zip(org[frames.UNIT].astype(str), org[frames.PARENT], strict=True):
        if p is not None and not pd.isna(p):
            children.setdefault(str(p), []).append(u)
    out, todo = set(), [unit]
    while todo:
        u = todo.pop()
        if u not in out:
            out.add(u)
            todo.extend(children.get(u, ()))
    return out


def uncovered_units(org: pd.DataFrame, leaders: Iterable[tuple[list[str], str]]) -> list[Problem]:
    """Units of ``org`` that no leader covers (their own unit, or a unit above it with scope
    ``subtree``): a brief for them would reach nobody but executives and HR."""
    covered: set[str] = set()
    for units, scope in leaders:
        for u in units:
            covered |= subtree(org, u) if scope == "subtree" else {u}
    missing = [u for u in org[frames.UNIT].astype(str) if u not in covered]
    return [Problem(f"unit {u!r}", "no leader in the access list covers this unit (name its "
                    "leader, or a leader above it with scope subtree)") for u in missing]
