"""Parameter checks for the report notebooks.

Papermill only *warns* about parameters a notebook does not declare, and it
injects any value it is given. The report notebooks declare their parameters
with type annotations in the cell tagged ``parameters``::

    wave: str = "2026Q4"      # survey wave to report
    bundle: str = "bundle"    # path to the release bundle (never the store)

and call :func:`check_parameters` in the next cell, which refuses unknown names,
values of the wrong type and anything that is not a plain scalar. The same
rules are applied before execution by :func:`validate_parameters`, so a bad
run fails before a kernel starts.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from culture.errors import ConfigError

SCALARS = (str, int, float, bool)
_TYPE_NAMES = {"str": str, "int": int, "float": float, "bool": bool}
# Names IPython puts in a kernel's namespace that are not parameters.
_KERNEL_NAMES = {"In", "Out", "get_ipython", "exit", "quit", "open"}


def _type_ok(value: Any, expected: type) -> bool:
    if expected is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if expected is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, expected)


def _check(declared: Mapping[str, type], given: Mapping[str, Any], where: str) -> None:
    problems = []
    for name in sorted(set(given) - set(declared)):
        problems.append(f"unknown parameter {name!r}; allowed: {', '.join(sorted(declared))}")
    for name in sorted(set(given) & set(declared)):
        value, expected = given[name], declared[name]
        if not isinstance(value, SCALARS):
            problems.append(f"parameter {name!r} must be a plain {expected.__name__}, "
                            f"got a {type(value).__name__}")
        elif not _type_ok(value, expected):
            problems.append(f"parameter {name!r} must be {expected.__name__}, "
                            f"got {type(value).__name__}")
    if problems:
        raise ConfigError(f"{where}: " + "; ".join(problems))


def check_parameters(namespace: Mapping[str, Any]) -> dict[str, Any]:
    """Check a notebook's globals against the annotated parameters cell.

    Returns the parameters as a dict. Raises :class:`ConfigError` naming every
    unknown or ill-typed parameter.
    """
    declared_raw = namespace.get("__annotations__", {})
    declared = {}
    for name, ann in declared_raw.items():
        typ = _TYPE_NAMES.get(ann, ann) if isinstance(ann, str) else ann
        if typ not in SCALARS:
            raise ConfigError(f"parameters cell: {name!r} must be annotated str, int, float or bool")
        declared[name] = typ
    given = {k: v for k, v in namespace.items()
             if not k.startswith("_") and k not in _KERNEL_NAMES and k != "check_parameters"
             and not callable(v) and type(v).__name__ != "module"}
    _check(declared, given, "notebook parameters")
    return {k: namespace[k] for k in declared}


def declared_parameters(notebook: str | Path) -> dict[str, type]:
    """Names and types declared in a notebook's ``parameters`` cell.

    Parsed with :mod:`ast` (papermill's own inspector silently skips lines whose
    comments contain brackets or quotes): every statement must be an annotated
    assignment ``name: str|int|float|bool = <literal>``.
    """
    import nbformat

    nb = nbformat.read(str(notebook), as_version=4)
    cells = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    name = Path(notebook).name
    if len(cells) != 1:
        raise ConfigError(f"{name}: expected exactly one cell tagged 'parameters', found {len(cells)}")
    out = {}
    for stmt in ast.parse(cells[0].source).body:
        ok = (isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)
              and isinstance(stmt.annotation, ast.Name) and stmt.annotation.id in _TYPE_NAMES
              and isinstance(stmt.value, ast.Constant))
        if not ok:
            raise ConfigError(f"{name}: parameters cell line {stmt.lineno} is not of the form "
                              "'name: str|int|float|bool = <literal>  # comment'")
        out[stmt.target.id] = _TYPE_NAMES[stmt.annotation.id]
    return out


def validate_parameters(notebook: str | Path, params: Mapping[str, Any]) -> None:
    """Refuse unknown, ill-typed or non-scalar parameters before a notebook runs."""
    _check(declared_parameters(notebook), params, Path(notebook).name)
