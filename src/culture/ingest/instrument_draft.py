"""A starter instrument from a team's own export (``culture instrument draft``).

For a questionnaire that is not the shipped one, :func:`draft_instrument` reads an
export (any format :func:`~culture.ingest.formats.load_export` reads) and proposes
an instrument YAML that :func:`culture.measure.instrument.parse_instrument` accepts:

* **items**: columns whose answers are Likert-like, either answer labels that read
  as points of one scale (:func:`~culture.ingest.drafting.scale_position`: agree /
  disagree, satisfied, frequency wording in English, German or French) or whole
  numbers within 1..5 / 1..7;
* **scale**: 5 points, or 7 when the answers use both a softened and a plain label
  on one side; labels ordered from the least to the most favourable; a point no
  answer used gets a placeholder label to fill in; ``Don't know``-style answers
  become the non-substantive code 9;
* **constructs**: one per question group (Google Forms / LimeSurvey ``Stem [Row]``,
  SurveyMonkey question over sub-questions, Qualtrics ``Stem - Statement`` or tags
  ``Q5_1``); items without a group go to ``construct_N`` for the user to sort out;
* **comments**: columns of long, varied answers (the header becomes the text);
* **demographics**: columns with few distinct short answers; an answer becomes a
  code only when at least two respondents gave it (a rarer one could point at a
  person, and is counted, never copied); ``Prefer not to say``-style answers become
  the missing code ``X``;
* the unit column and respondent-id columns are named in comments, by letter and
  header; metadata, identifying and tool columns are left out.

No answer text is copied except scale labels and demographic categories that pass
those checks. The YAML says in comments what the user must check.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from culture import frames
from culture.errors import Problem, ValidationError
from culture.ingest.drafting import (
    Profile,
    comment_text,
    free_text_like,
    header_role,
    is_non_substantive,
    normalise,
    profile,
    scale_position,
    scale_slots,
    shown,
    yaml_str,
)
from culture.ingest.formats import RawExport, load_export
from culture.ingest.responses import candidate_texts, check_header_row, header_looks_like_data
from culture.ingest.responses import metadata_kind as _metadata_kind
from culture.ingest.textgrid import fold_header
from culture.measure.instrument import Instrument, fold_label, parse_instrument
from culture.results import Result

NON_SUBSTANTIVE_CODE = 9
MISSING_CODE = "X"
_MAX_CATEGORIES = 12
_CATEGORY_CHARS = 60
_BRACKET_RE = re.compile(r"^(?P<stem>.*?)\s*\[(?P<inner>[^\[\]]+)\]\s*$")
_TAG_RE = re.compile(r"^(?P<stem>[A-Za-z][\w.]*?)_(?P<row>\d+)$")
_NS_CODES = frozenset({9, 98, 99, -9, -99})


@dataclass(frozen=True)
class InstrumentDraft(Result):
    """A proposed instrument. ``table``: one row per export column: ``column`` (letter),
    ``label`` (letter and header when it reads like one), ``role`` (item, comment,
    demographic, metadata, identifying, tool, unit candidate, id candidate, not used),
    ``id`` and ``construct``. ``instrument``: the draft parsed and validated."""

    source: str
    format: str
    table: pd.DataFrame
    instrument: Instrument
    scale_from: str
    notes: tuple[str, ...]
    yaml: str = field(repr=False)

    def summary(self) -> str:
        t, inst = self.table, self.instrument
        lines = [f"Instrument draft from {self.source} ({self.format}, {len(t)} columns):",
                 f"  items: {len(inst.items)} in {len(inst.constructs)} construct(s): "
                 + ", ".join(f"{c.id} ({len(inst.items_of(c.id))})" for c in inst.constructs),
                 f"  scale: {inst.scale.min}..{inst.scale.max} from {self.scale_from}",
                 f"  comment questions: {len(inst.comments)}",
                 f"  demographics: {len(inst.demographics)}"
                 + (": " + ", ".join(d.id for d in inst.demographics) if inst.demographics
                    else "")]
        for role in ("unit candidate", "id candidate"):
            part = t[t["role"] == role]
            if len(part):
                lines.append(f"  {role}s: " + "; ".join(f"column {x}" for x in part["label"]))
        unused = t[t["role"] == "not used"]
        lines.append(f"  columns not used: {len(unused)}" + (
            ": " + ", ".join(unused["column"]) if len(unused) else ""))
        auto = t[t["role"].isin(["metadata", "identifying", "tool"])]
        lines.append(f"  metadata, identifying and tool columns (read or dropped on import): "
                     f"{len(auto)}")
        lines += [f"  check: {n}" for n in self.notes]
        lines.append("  review the YAML's comments (scale order, constructs and ISO clauses, "
                     "reverse-keyed items, demographic options, the unit column) before use")
        return "\n".join(lines)


# Question words left out of drafted ids ("Which shift do you work?" -> which_shift... is noise).
_STOPWORDS = frozenset("""
    a an and are at by can do does for from have how in is it my of on or our the this to
    what which who you your
    bei bitte das der die ein eine erleben für ihr ihre ihrem ihren ihrer im in ist mit sie
    und wie welche welcher welches
    de des du est la le les quel quelle quels vous votre vos
    """.split())


def _slug(text: str, limit: int = 30, *, drop: int = 0) -> str:
    """An id from text: the first words (after ``drop`` words, stop words left out)."""
    words = normalise(text).split()[drop:]
    words = [w for w in words if w not in _STOPWORDS] or words
    out = ""
    for w in words:
        if len(out) + len(w) + 1 > limit:
            break
        out = f"{out}_{w}" if out else w
    out = re.sub(r"[^a-z0-9_]", "", out)
    if out in _YAML_WORDS:  # "How true is this?" -> true: YAML would read a boolean
        out = f"{out}_q"
    return out if out[:1].isalpha() else ""


# Plain words YAML 1.1 reads as booleans or null when unquoted.
_YAML_WORDS = frozenset({"true", "false", "yes", "no", "on", "off", "y", "n", "null"})


def _shared_words(stems: list[str]) -> int:
    """How many leading words all the question groups share ("How do you see ...")."""
    if len(stems) < 2:
        return 0
    words = [normalise(s).split() for s in stems]
    n = 0
    while all(len(w) > n + 1 and w[n] == words[0][n] for w in words):
        n += 1
    return n


def _question_text(col: Any) -> str:
    """The human text of a column: its question text when the tool wrote one (Qualtrics row
    2, an SPSS variable label), else its header."""
    texts = [" ".join(str(t).split()) for t in col.texts if str(t).strip()]
    return texts[0] if texts else " ".join(str(col.header).split())


def _stem_statement(col: Any) -> tuple[str | None, str]:
    """The question group of a column and its own statement."""
    header = " ".join(str(col.header).split())
    for text in (header, *col.texts):
        m = _BRACKET_RE.match(str(text))
        if m and m["stem"].strip():
            return m["stem"].strip(), m["inner"].strip()
    for text in col.texts:
        if " - " in str(text):
            stem, statement = str(text).rsplit(" - ", 1)
            if stem.strip() and statement.strip():
                return stem.strip(), statement.strip()
    for key in col.keys:
        m = _TAG_RE.match(str(key).strip())
        if m:
            return m["stem"], _question_text(col)
    return None, _question_text(col)


def _numeric_codes(p: Profile) -> tuple[list[int], list[int]] | None:
    """(scale codes, non-substantive codes) of a column of whole numbers: scale codes within
    1..7, plus the usual "don't know" codes (9, 98, 99, -9, -99); None otherwise."""
    if not p.numbers:
        return None
    values = sorted({int(float(f)) for f in p.counts})
    ns = [v for v in values if v in _NS_CODES]
    codes = [v for v in values if v not in _NS_CODES]
    if not codes or min(codes) < 1 or max(codes) > 7:
        return None
    return codes, ns


def _likert(plain: Profile, labelled: Profile) -> str | None:
    """``numbers`` (whole numbers within 1..7, :func:`_numeric_codes`), ``labels`` (95% of
    the answers, and every label used twice or more, read as scale points or "don't know")
    or None."""
    if not plain.n:
        return None
    coded = plain.counts != labelled.counts  # SPSS codes with value labels
    if _numeric_codes(plain) is not None and not coded:
        return "numbers"
    placed = {f for f, t in labelled.texts.items()
              if scale_position(t) is not None or is_non_substantive(t)}
    share = sum(labelled.counts[f] for f in placed) / labelled.n
    substantive = [f for f in placed if scale_position(labelled.texts[f]) is not None]
    if share >= 0.95 and substantive and all(f in placed for f in labelled.labels()):
        return "numbers" if coded and _numeric_codes(plain) is not None else "labels"
    return None


def _categories(p: Profile) -> tuple[list[str], int] | None:
    """Category labels of a demographic-like column (used at least twice, short) and the
    number of answers left out, or None when the column is not categorical."""
    if p.n < 5 or p.numbers or p.distinct > _MAX_CATEGORIES or p.distinct > 0.5 * p.n \
            or free_text_like(p):
        return None
    keep = [p.texts[f] for f in p.labels() if len(p.texts[f]) <= _CATEGORY_CHARS]
    if len(keep) < 2:
        return None
    return keep, p.distinct - len(keep)


def _natural(text: str) -> list[Any]:
    return [int(x) if x.isdigit() else x.casefold() for x in re.split(r"(\d+)", text)]


@dataclass
class _Plan:
    items: list[tuple[Any, str | None, str]] = field(default_factory=list)  # col, stem, text
    comments: list[Any] = field(default_factory=list)
    demographics: list[tuple[Any, list[str], int]] = field(default_factory=list)
    roles: dict[int, str] = field(default_factory=dict)


def _build_scale(raw: RawExport, cols: list[Any], kind: str,
                 notes: list[str]) -> tuple[dict[str, Any], str, list[Any]]:
    """The scale block, what it was read from, and the item columns it fits."""
    if kind == "unordered":
        names = sorted({profile(raw, c).texts[f] for c in cols for f in profile(raw, c).labels()},
                       key=_natural)
        hi = len(names)
        notes.append(f"ORDER THE SCALE: the {hi} answer labels were not recognised as an "
                     "agree/disagree or frequency scale, so they are listed alphabetically. Put "
                     "them in order from the least to the most favourable answer (point 1 "
                     "first), then check 'favourable' and which items are reverse-worded.")
        block = {"min": 1, "max": hi, "labels": {k: t for k, t in enumerate(names, start=1)},
                 "favourable": list(range(max(hi - 1, 2), hi + 1))}
        return block, f"{hi} answer labels shared by {len(cols)} columns (order unknown)", cols
    if kind == "numbers":
        found = [_numeric_codes(profile(raw, c, labelled=False)) or ([], []) for c in cols]
        top = max(max(codes) for codes, _ in found)
        hi = 5 if top <= 5 else 7
        labels: dict[int, str] = {}
        for c in cols:  # SPSS value labels name the points
            for code, label in c.value_labels.items():
                if code.isdigit() and 1 <= int(code) <= hi and label.strip():
                    labels.setdefault(int(code), label.strip())
        for k in range(1, hi + 1):
            labels.setdefault(k, f"{k} (write the wording of this point)")
        block: dict[str, Any] = {"min": 1, "max": hi, "labels": dict(sorted(labels.items())),
                                 "favourable": [4, 5] if hi == 5 else [5, 6, 7]}
        ns_codes = sorted({v for _, ns in found for v in ns if v > hi or v < 1})
        named = {int(k): v.strip() for c in cols for k, v in c.value_labels.items()
                 if re.fullmatch(r"-?\d+", k) and v.strip()}
        if ns_codes:
            block["non_substantive"] = {v: named.get(v, f"Don't know / not applicable (code "
                                                        f"{v}: check)") for v in ns_codes}
        return block, f"whole-number answers 1..{hi}", cols
    by_position: dict[int, Counter[str]] = {}
    ns: Counter[str] = Counter()
    for c in cols:
        p = profile(raw, c)
        for f, text in p.texts.items():  # scale wording, even when used once
            pos = scale_position(text)
            if pos is not None:
                by_position.setdefault(pos, Counter())[text] += p.counts[f]
            elif is_non_substantive(text):
                ns[text] += p.counts[f]
    slots, hi = scale_slots(by_position) or ({}, 5)
    labels = {}
    for pos, counter in sorted(by_position.items()):
        slot = slots[pos]
        (text, _), *others = counter.most_common()
        labels[slot] = text
        if others:
            notes.append(f"scale point {slot}: {len(others)} other label(s) read as it; add them "
                         "under 'values:' in a mapping")
    missing = [k for k in range(1, hi + 1) if k not in labels]
    for k in missing:
        labels[k] = f"(point {k}: no answer used it; write its label)"
    if missing:
        notes.append(f"scale points {', '.join(map(str, missing))} were never answered: write "
                     "their labels")
    block = {"min": 1, "max": hi, "labels": dict(sorted(labels.items())),
             "favourable": [4, 5] if hi == 5 else [5, 6, 7]}
    if ns:
        block["non_substantive"] = {NON_SUBSTANTIVE_CODE: ns.most_common(1)[0][0]}
    return block, f"{len(by_position)} answer labels read as scale points", cols


def _shared_label_columns(raw: RawExport, plan: _Plan) -> list[Any]:
    """The largest group (3 or more) of columns answered with the same 3 to 11 short labels:
    a rating scale in words no list here knows (its order is left to the user)."""
    groups: dict[frozenset[str], list[Any]] = {}
    for col in raw.columns:
        if plan.roles.get(col.pos) not in ("demographic", "not used"):
            continue
        p = profile(raw, col)
        labels = frozenset(p.texts[f] for f in p.labels())
        if 3 <= len(labels) <= 11 and all(len(t) <= 40 for t in labels) and not p.numbers:
            groups.setdefault(labels, []).append(col)
    # columns whose labels are a subset of a larger group's belong to it (a point nobody chose)
    merged: dict[frozenset[str], list[Any]] = {}
    for labels in sorted(groups, key=len, reverse=True):
        home = next((big for big in merged if labels <= big), None)
        merged.setdefault(home or labels, []).extend(groups[labels])
    best = max(merged.values(), key=len, default=[])
    return sorted(best, key=lambda c: c.pos) if len(best) >= 3 else []


def draft_instrument(path: str | Path, *, fmt: str | None = None,
                     encoding: str | None = None) -> InstrumentDraft:
    """Propose a starter instrument from the export at ``path`` (see the module doc).

    Raises ValidationError when the file has no header row or no Likert-like column.
    """
    raw = load_export(path, fmt=fmt, encoding=encoding)
    check_header_row(raw)
    plan = _Plan()
    likert: dict[str, list[Any]] = {"numbers": [], "labels": []}
    for col in raw.columns:
        meta = _metadata_kind(col)
        if meta is not None:
            plan.roles[col.pos] = meta if meta in ("identifying", "tool") else "metadata"
            continue
        role = header_role(col)
        if role is not None:
            plan.roles[col.pos] = "unit candidate" if role == frames.UNIT else "id candidate"
            continue
        plain, labelled = profile(raw, col, labelled=False), profile(raw, col)
        kind = _likert(plain, labelled)
        if kind is not None:
            likert[kind].append(col)
            continue
        if labelled.n >= 3 and free_text_like(labelled):
            plan.comments.append(col)
            plan.roles[col.pos] = "comment"
            continue
        cats = _categories(labelled)
        if cats is not None and sum(not is_non_substantive(x) for x in cats[0]) >= 2 \
                and str(col.header).strip() \
                and not header_looks_like_data(col.header):
            plan.demographics.append((col, *cats))
            plan.roles[col.pos] = "demographic"
            continue
        if plain.n and plain.distinct == plain.n and plain.n >= 5 and labelled.mean_length <= 20:
            plan.roles[col.pos] = "id candidate"
            continue
        plan.roles[col.pos] = "not used"
    kind = "labels" if likert["labels"] else "numbers"
    if not likert[kind]:  # labels no word list knows: a scale whose order the user gives
        shared = _shared_label_columns(raw, plan)
        if shared:
            kind, likert["unordered"] = "unordered", shared
            plan.demographics = [d for d in plan.demographics if d[0] not in shared]
    if not likert[kind]:
        raise ValidationError([Problem("", "no column has Likert-like answers (labels of one "
                                       "agree/disagree-style scale, or whole numbers 1..5 or "
                                       "1..7): nothing to draft an instrument from")],
                              source=str(path))
    notes: list[str] = []
    scale, scale_from, item_cols = _build_scale(raw, likert[kind], kind, notes)
    if kind == "labels" and likert["numbers"]:  # numbers within the scale are codes
        extra = [c for c in likert["numbers"]
                 if max((_numeric_codes(profile(raw, c, labelled=False)) or ([99], []))[0])
                 <= scale["max"]]
        item_cols = sorted([*item_cols, *extra], key=lambda c: c.pos)
    for col in [*likert["labels"], *likert["numbers"], *likert.get("unordered", [])]:
        plan.roles[col.pos] = "item" if col in item_cols else "not used"
    for col in item_cols:
        stem, text = _stem_statement(col)
        if not text or header_looks_like_data(text):
            text = f"Question in column {col.letter} (write its text)"
        plan.items.append((col, stem, text))
    text_yaml, ids = _instrument_yaml(raw, plan, scale, notes)
    try:
        instrument = parse_instrument(yaml.safe_load(text_yaml), source=f"draft of {path}")
    except Exception as exc:  # a draft that does not load is a bug here, not in the file
        raise RuntimeError(f"the instrument draft does not validate ({type(exc).__name__})") \
            from exc
    table = pd.DataFrame([{"column": c.letter, "label": shown(c), "role": plan.roles.get(c.pos, ""),
                           "id": ids.get(c.pos, ("", ""))[0],
                           "construct": ids.get(c.pos, ("", ""))[1]} for c in raw.columns])
    return InstrumentDraft(source=str(path), format=raw.format, table=table,
                           instrument=instrument, scale_from=scale_from, notes=tuple(notes),
                           yaml=text_yaml)


def _unique(base: str, taken: dict[str, Any], owner: Any) -> str:
    """``base``, or ``base_2``, ... : an id no other column's header or id reads as (the
    reader matches a header equal to an id), unless it is ``owner``'s own header."""
    out, n = base, 2
    while taken.get(fold_header(out), owner) != owner:
        out, n = f"{base}_{n}", n + 1
    taken[fold_header(out)] = owner
    return out


def _instrument_yaml(raw: RawExport, plan: _Plan, scale: Mapping[str, Any],
                     notes: list[str]) -> tuple[str, dict[int, tuple[str, str]]]:
    taken: dict[str, Any] = {fold_header(t): col.pos for col in raw.columns
                             for t in candidate_texts(col)}
    groups: dict[str | None, list[tuple[Any, str]]] = {}
    for col, stem, text in plan.items:
        groups.setdefault(stem, []).append((col, text))
    constructs: list[tuple[str, str, list[tuple[Any, str]]]] = []
    shared = _shared_words([s for s in groups if s])
    for n, (stem, members) in enumerate(groups.items(), start=1):
        base = (_slug(stem, drop=shared) if stem else "") or f"construct_{n}"
        constructs.append((_unique(base, taken, f"construct {n}"), stem or "", members))
    ids: dict[int, tuple[str, str]] = {}
    name = Path(raw.source).name
    stem_id = re.sub(r"[^a-z0-9-]+", "-", Path(raw.source).stem.casefold()).strip("-")
    inst_id = stem_id if re.match(r"^[a-z][a-z0-9-]*$", stem_id or "") else "draft-instrument"
    out = [f"# Instrument draft from {comment_text(name)} ({raw.format}, {len(raw.columns)} "
           "columns), written by `culture instrument draft`.",
           "# A starting point, not a finished instrument. Check and edit before use:",
           "#   1. scale: labels run from the least (min) to the most favourable (max); check",
           "#      the order, the wording of every point and which codes are favourable;",
           "#   2. constructs: one per question group found in the export; rename them, merge",
           "#      or split them, describe them, and list the ISO 9001:2015 clauses each gives",
           "#      evidence for (clauses: [\"7.4\"]); 'kind: outcome' marks an outcome index and",
           "#      'headline: true' the headline constructs;",
           "#   3. items: set 'reverse: true' on negatively worded items; ids may be renamed",
           "#      (also in your mapping);",
           "#   4. demographics: codes were taken from answers given at least twice; add the",
           "#      options nobody or only one person chose, and list leaders' codes under",
           "#      leader_codes;",
           "#   5. the unit column: every response needs one (see the notes at the end).",
           "# Load it with `culture --instrument THIS_FILE ...`; every problem is listed at once.",
           f"id: {inst_id}",
           'version: "0.1"',
           f"title: {yaml_str('Draft instrument from ' + name)}",
           "",
           "scale:",
           f"  min: {scale['min']}",
           f"  max: {scale['max']}",
           "  labels:"]
    out += [f"    {k}: {yaml_str(v)}" for k, v in scale["labels"].items()]
    out.append(f"  favourable: [{', '.join(map(str, scale['favourable']))}]   # check")
    if scale.get("non_substantive"):
        out.append("  non_substantive:   # valid answers without a position: stored as missing")
        out += [f"    {k}: {yaml_str(v)}" for k, v in scale["non_substantive"].items()]
    out += ["", "constructs:"]
    for cid, stem, members in constructs:
        letters = f"{members[0][0].letter}-{members[-1][0].letter}" if len(members) > 1 \
            else members[0][0].letter
        name_ = stem if stem and not header_looks_like_data(stem) else \
            f"{cid} (write its name)"
        out += [f"  - id: {cid}",
                f"    name: {yaml_str(name_)}",
                f"    description: {yaml_str(f'Drafted from columns {letters}: describe it.')}",
                "    clauses: []   # add the ISO 9001:2015 clauses it gives evidence for"]
    out += ["", "items:"]
    texts: set[str] = set()
    for k, (cid, _, members) in enumerate(constructs, start=1):
        for j, (col, text) in enumerate(members, start=1):
            iid = _unique(f"C{k}_{j}", taken, col.pos)
            if fold_label(text) in texts:
                text = f"{text} ({col.letter})"
                notes.append(f"column {col.letter} repeats another item's text: its text was "
                             "made unique, so map the column in a mapping")
            texts.add(fold_label(text))
            ids[col.pos] = (iid, cid)
            out.append(f"  - {{id: {iid}, construct: {cid}, text: {yaml_str(text)}}}"
                       f"   # column {col.letter}")
    if plan.comments:
        out += ["", "comments:   # free-text questions (the header is the text)"]
        for n, col in enumerate(plan.comments, start=1):
            cid = _unique(f"COMMENT_{n}", taken, col.pos)
            text = _question_text(col)
            if not text or header_looks_like_data(text):
                text = f"Comment question in column {col.letter} (write its text)"
            ids[col.pos] = (cid, "")
            out.append(f"  - {{id: {cid}, text: {yaml_str(text)}}}   # column {col.letter}")
    if plan.demographics:
        out += ["", "demographics:"]
        for col, labels, rare in plan.demographics:
            header = _question_text(col)
            did = _unique(_slug(header, 24) or f"demographic_{col.letter.lower()}", taken,
                          col.pos)
            ids[col.pos] = (did, "")
            missing = [x for x in labels if is_non_substantive(x)]
            options = sorted((x for x in labels if x not in missing), key=_natural)
            prefix = did[0].upper()
            out += [f"  - id: {did}   # column {col.letter}",
                    f"    name: {yaml_str(header)}",
                    "    codes:" + (f"   # {rare} answer(s) given once or too long were not "
                                    "copied: add the missing options" if rare else "")]
            out += [f"      {prefix}{i}: {yaml_str(x)}" for i, x in enumerate(options, start=1)]
            if missing:
                out.append(f"    missing: {{code: {MISSING_CODE}, label: {yaml_str(missing[0])}}}")
    out += ["", "# Notes on the other columns:"]
    out += _column_notes(raw, plan)
    return "\n".join(out) + "\n", ids


def _column_notes(raw: RawExport, plan: _Plan) -> list[str]:
    lines = []
    by_role: dict[str, list[Any]] = {}
    for col in raw.columns:
        by_role.setdefault(plan.roles.get(col.pos, ""), []).append(col)
    units = by_role.get("unit candidate", [])
    unit_meta = [c for c in by_role.get("metadata", []) if _metadata_kind(c) == frames.UNIT]
    if unit_meta:
        lines.append(f"#   unit: column {shown(unit_meta[0])} is read as unit_id automatically.")
    elif units:
        lines.append("#   unit: " + "; ".join(f"column {shown(c)}" for c in units)
                     + " looks like the unit column: map it to unit_id (culture mapping draft"
                     " proposes it) or rename its header to unit_id.")
    else:
        lines.append("#   unit: no unit column found. Every response needs the unit it belongs "
                     "to: add a unit_id column (embedded data) or map one.")
    ids = by_role.get("id candidate", [])
    if ids:
        lines.append("#   ids: " + "; ".join(f"column {shown(c)}" for c in ids)
                     + (" looks like a respondent or response id" if len(ids) == 1 else
                        " look like respondent or response ids")
                     + ": map it to respondent or response_id (stored only as keyed "
                     "pseudonyms), or to ignore.")
    unused = by_role.get("not used", [])
    if unused:
        lines.append("#   not used by this draft (map to ignore, or 'unmapped: ignore'): "
                     + ", ".join(c.letter for c in unused))
    return lines
