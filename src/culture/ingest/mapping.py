"""A user's column mapping (YAML, CSV or a dict): one schema for every ``culture ingest`` kind.

The schema is documented for users in ``docs/mapping.md``; :data:`MAPPING_KEYS`
holds its top-level keys with one line each (an unknown key is an error that
shows them). A source column is named by any header text the tool wrote (a
question text, a ``Question [Row]`` or ``Question - Statement`` part, an export
tag, ImportId or variable name) or by the spreadsheet letter that error
messages use (``J``, ``AB``, also ``column J``). A header match wins over a
letter, so a header that happens to read ``ID`` is still matched as a header.

A document without any of the top-level keys is read as the ``columns`` table
itself (``Team: unit_id`` on its own is a valid mapping). Every bad entry is
listed in one :class:`~culture.errors.ValidationError`; messages quote the
mapping's own keys (shortened), never a cell of an export.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from culture import frames
from culture.errors import Problem, ValidationError
from culture.ingest.textgrid import column_letter, fold_header, read_text_grid, short_text
from culture.measure.instrument import Instrument, fold_label

IGNORE = "ignore"
EXTRA_TARGETS = ("progress", "status", "channel")
UNMAPPED_POLICIES = ("error", "ignore")

#: The top-level keys of a mapping file, one line each (shown when a key is unknown).
MAPPING_KEYS: dict[str, str] = {
    "columns": "source column -> target. Source: a header text (question text, 'Question "
               "[Row]', tag, ImportId, variable name) or a spreadsheet letter such as J or "
               "AB. Target: an instrument item, comment or demographic id, a metadata name "
               "(unit_id, response_id, ...) or 'ignore'",
    "values": "answer text -> scale code, for answers that are not the scale's own labels "
              "(e.g. 'Totally agree': 5, LimeSurvey A1: 1); survey responses only",
    "absent": "instrument items and demographics this export lacks on purpose (a list of "
              "ids); survey responses only",
    "unmapped": "columns that neither the mapping nor the automatic matching claims: 'error' "
                "(default for survey responses: listed as problems) or 'ignore' (dropped; "
                "the import summary says how many)",
}
_RESPONSES_ONLY = ("values", "absent")
# A spreadsheet letter: bare upper case (J, AB, XFD) or "column j" in any case.
_LETTER_RE = re.compile(r"^(?:(?i:column)\s+(?P<any>[A-Za-z]{1,3})|(?P<upper>[A-Z]{1,3}))$")


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader with YAML 1.2 booleans: only true/false are booleans, so answer
    labels such as ``Yes``/``No`` and column letters such as ``NO``/``ON`` stay text."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
_Loader.add_implicit_resolver("tag:yaml.org,2002:bool",
                              re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))


def schema_text(indent: str = "      ") -> str:
    """The allowed top-level keys, one line each (for messages and ``--help``)."""
    return "".join(f"\n{indent}{k}: {v}" for k, v in MAPPING_KEYS.items())


def letter_key(key: str) -> str | None:
    """The spreadsheet letter a mapping key names (``J``, ``AB``, ``column j``), else None."""
    m = _LETTER_RE.match(str(key).strip())
    if not m:
        return None
    return (m["any"] or m["upper"]).upper()


@dataclass(frozen=True)
class ColumnMapping:
    """A user's mapping for one file.

    ``columns``: folded source header -> canonical column or ``ignore``.
    ``letters``: folded key -> (spreadsheet letter, target) for keys that read like a
    letter (used only when no header of the file equals the key). ``values``: folded answer ->
    instrument code (e.g. LimeSurvey ``A1`` -> 1). ``absent``: items / demographics the
    export does not contain on purpose. ``unmapped``: ``error`` or ``ignore`` for
    columns nothing claims. ``names``: folded key -> the key as written (messages).
    """

    columns: Mapping[str, str] = field(default_factory=dict)
    values: Mapping[str, int] = field(default_factory=dict)
    absent: frozenset[str] = frozenset()
    letters: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    unmapped: str = "error"
    names: Mapping[str, str] = field(default_factory=dict)
    source: str = "mapping"

    def bind(self, columns: Sequence[tuple[str, Sequence[str]]]) -> tuple[list[str | None],
                                                                           list[Problem]]:
        """The mapped target of each column of a file, and the entries that name no column.

        ``columns`` gives, per column in file order, its letter and its folded names
        (:func:`fold_label` of every header string it is known by). A key equal to a
        name of some column is a header key; otherwise a letter-like key names the
        column at that letter. Entries that match nothing (except ``ignore`` entries,
        harmless in a mapping reused across waves) and a column named twice with two
        targets are returned as problems.
        """
        headers = {f for _, names in columns for f in names}
        by_letter = {letter: i for i, (letter, _) in enumerate(columns)}
        out: list[str | None] = []
        problems: list[Problem] = []
        for letter, names in columns:
            key = next((f for f in names if f in self.columns), None)
            target = self.columns[key] if key is not None else None
            lkey = next((k for k, v in self.letters.items() if v[0] == letter
                         and k not in headers), None) if self.letters else None
            if lkey is not None:
                ltarget = self.letters[lkey][1]
                if target is not None and ltarget != target:
                    problems.append(Problem(
                        f"mapping columns[{self._shown(lkey)}] and columns[{self._shown(key)}]",
                        f"both name column {letter}, with the targets {ltarget!r} and "
                        f"{target!r}; keep one of them"))
                target = target if target is not None else ltarget
            out.append(target)
        last = column_letter(len(columns) - 1) if columns else "A"
        for key, target in self.columns.items():
            if key in headers or target == IGNORE:
                continue
            if key in self.letters:
                if self.letters[key][0] in by_letter:
                    continue
                problems.append(Problem(f"mapping columns[{self._shown(key)}]", f"no column of the "
                                        f"file has this header, and as a letter it is beyond "
                                        f"the file's last column {last}"))
            else:
                problems.append(Problem(f"mapping columns[{self._shown(key)}]", "no column of the file "
                                        "has this header (check the spelling, or name the "
                                        "column by its letter such as J)"))
        return out, problems

    def _shown(self, key: str | None) -> str:
        return short_text(self.names.get(key or "", key or ""))


def read_mapping_doc(mapping: Any) -> tuple[Any, str]:
    """The parsed document of a mapping (dict, YAML file or ``source,target`` CSV) and its name."""
    if isinstance(mapping, Mapping):
        return dict(mapping), "mapping"
    path = Path(mapping)
    if not path.exists():
        raise ValidationError([Problem("", "mapping file not found")], source=str(path))
    if path.suffix.lower() in {".yaml", ".yml"}:
        try:
            return yaml.load(path.read_text(encoding="utf-8-sig"), Loader=_Loader) or {}, \
                str(path)
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"line {mark.line + 1}" if mark else ""
            raise ValidationError([Problem(where, f"not valid UTF-8 YAML ({type(exc).__name__})"
                                           )], source=str(path)) from None
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


def _sections(doc: Any, source: str, problems: list[Problem]) -> dict[str, Any]:
    """The top-level keys of a mapping document (a flat document is the columns table)."""
    if not isinstance(doc, Mapping):
        raise ValidationError([Problem("", "expected a mapping: top-level keys"
                                       + schema_text())], source=source)
    if not set(doc) & set(MAPPING_KEYS):
        return {"columns": dict(doc)}
    unknown = sorted((str(k) for k in doc if k not in MAPPING_KEYS), key=str)
    if unknown:
        problems.append(Problem("", f"unknown top-level key(s) {', '.join(map(repr, map(short_text, unknown)))}"
                                "; a mapping has these keys (put source columns under "
                                "'columns:', or leave out every other key to write the "
                                "columns table on its own):" + schema_text()))
    return {k: doc[k] for k in MAPPING_KEYS if k in doc}


def _columns(raw: Any, targets: set[str], explain: str,
             problems: list[Problem]) -> tuple[dict[str, str], dict[str, tuple[str, str]],
                                               dict[str, str]]:
    columns: dict[str, str] = {}
    letters: dict[str, tuple[str, str]] = {}
    names: dict[str, str] = {}
    if raw is None:
        return columns, letters, names
    if not isinstance(raw, Mapping):
        problems.append(Problem("columns", "expected a table of source column -> target"))
        return columns, letters, names
    for src, tgt in raw.items():
        tgt_s = str(tgt).strip() if tgt is not None and not isinstance(tgt, bool) else ""
        src_s = "" if src is None or isinstance(src, bool) else str(src).strip()
        where = f"columns[{short_text(src_s)}]"
        if not src_s:
            problems.append(Problem(where, "the source column is empty: write a header text or "
                                    "a letter such as J (quote YES, NO, ON and OFF)"))
            continue
        if tgt_s != IGNORE and tgt_s not in targets:
            problems.append(Problem(where, f"target {short_text(tgt_s)!r} is not {explain} or "
                                    f"'{IGNORE}'"))
        key = fold_label(src_s)
        if key in columns and columns[key] != tgt_s:
            problems.append(Problem(where, "this source is listed twice with two targets"))
        columns[key] = tgt_s
        names[key] = src_s
        letter = letter_key(src_s)
        if letter is not None:
            letters[key] = (letter, tgt_s)
    return columns, letters, names


def _unmapped(raw: Any, default: str, problems: list[Problem]) -> str:
    if raw is None:
        return default
    if raw not in UNMAPPED_POLICIES:
        problems.append(Problem("unmapped", f"must be one of {', '.join(UNMAPPED_POLICIES)}"))
        return default
    return str(raw)


def load_mapping(mapping: Any, instrument: Instrument) -> ColumnMapping:
    """Load a response mapping from a dict, a YAML file or a ``source,target`` CSV file.

    YAML form (``docs/mapping.md`` has one per survey tool)::

        columns:                 # source header or letter -> canonical column, or ignore
          Q5_1: LC1
          Team: unit_id
          J: CO2
          Q_Extra: ignore
        values: {A1: 1, A2: 2}   # optional: answer text -> instrument code
        absent: [LC6]            # optional: instrument columns this export lacks
        unmapped: ignore         # optional: drop every column nothing claims

    A YAML document without any of these keys is read as the ``columns`` table.
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
    doc = _sections(doc, source, problems)
    targets = {*instrument.item_ids, *(c.id for c in instrument.comments),
               *(d.id for d in instrument.demographics), *frames.META_COLUMNS, *EXTRA_TARGETS}
    columns, letters, names = _columns(
        doc.get("columns"), targets, "an instrument column, a metadata column "
        f"({', '.join(frames.META_COLUMNS)})", problems)
    scale = instrument.scale
    allowed = {*scale.codes, *scale.non_substantive}
    values: dict[str, int] = {}
    raw_vals = doc.get("values") or {}
    if not isinstance(raw_vals, Mapping):
        problems.append(Problem("values", "expected a table answer -> code"))
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
    unmapped = _unmapped(doc.get("unmapped"), "error", problems)
    if problems:
        raise ValidationError(problems, source=source)
    return ColumnMapping(columns=columns, values=values, absent=frozenset(map(str, absent)),
                         letters=letters, unmapped=unmapped, names=names, source=source)


def load_table_mapping(mapping: Any, canonical: Sequence[str]) -> ColumnMapping:
    """Load the mapping of an org chart, headcount, QMS register or exposure table.

    Same schema as :func:`load_mapping` with the table's canonical columns as targets;
    ``values`` and ``absent`` belong to survey responses and are errors here.
    ``unmapped`` defaults to ``ignore`` (registers carry descriptions and other free
    text that is never ingested); ``error`` lists every column nothing claims.
    """
    if mapping is None:
        return ColumnMapping(unmapped=IGNORE)
    if isinstance(mapping, ColumnMapping):
        return mapping
    doc, source = read_mapping_doc(mapping)
    problems: list[Problem] = []
    doc = _sections(doc, source, problems)
    columns, letters, names = _columns(doc.get("columns"), set(canonical),
                                       f"one of {', '.join(canonical)}", problems)
    for key in _RESPONSES_ONLY:
        if doc.get(key):
            problems.append(Problem(key, f"'{key}' applies to survey responses only; an org, "
                                    "headcount, register or exposure table takes 'columns' "
                                    "and 'unmapped'"))
    unmapped = _unmapped(doc.get("unmapped"), IGNORE, problems)
    if problems:
        raise ValidationError(problems, source=source)
    return ColumnMapping(columns=columns, letters=letters, unmapped=unmapped, names=names,
                         source=source)
