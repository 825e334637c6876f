"""A user's column mapping for a response export (YAML, CSV or a dict)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from culture import frames
from culture.errors import Problem, ValidationError
from culture.ingest.textgrid import fold_header, read_text_grid, short_text
from culture.measure.instrument import Instrument, fold_label

IGNORE = "ignore"
EXTRA_TARGETS = ("progress", "status", "channel")



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


def read_mapping_doc(mapping: Any) -> tuple[Any, str]:
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
        grid = read_text_grid(path)
        head = [fold_header(c) for c in grid.iloc[0].tolist()]
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
    doc, source = read_mapping_doc(mapping)
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
               *(d.id for d in instrument.demographics), *frames.META_COLUMNS, *EXTRA_TARGETS}
    columns: dict[str, str] = {}
    raw_cols = doc.get("columns") or {}
    if not isinstance(raw_cols, Mapping):
        problems.append(Problem("columns", "expected a mapping source column -> target"))
        raw_cols = {}
    for src, tgt in raw_cols.items():
        tgt_s = str(tgt).strip() if tgt is not None else ""
        if tgt_s != IGNORE and tgt_s not in targets:
            problems.append(Problem(f"columns[{short_text(src)}]",
                                    f"target {short_text(tgt_s)!r} is not an instrument column, a "
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
            problems.append(Problem(f"values[{short_text(src)}]",
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
            problems.append(Problem("absent", f"{short_text(a)!r} is not an item or demographic id"))
    if problems:
        raise ValidationError(problems, source=source)
    return ColumnMapping(columns=columns, values=values, absent=frozenset(map(str, absent)))
