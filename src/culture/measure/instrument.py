"""Survey instrument definitions: load and validate ``surveys/*.yaml``.

An :class:`Instrument` is immutable. Loading checks the whole document and
raises one :class:`~culture.errors.InstrumentError` that lists every problem
(unknown keys, duplicate ids, items in no construct, labels outside the scale,
malformed ISO 9001 clause references, malformed comment themes, ...).

Comment themes (optional). A construct may declare keywords and phrases, per
language, that tie free-text comments to it; the instrument may declare themes of
its own that belong to no construct::

    constructs:
      - id: communication
        ...
        themes: {en: [communication, "kept in the loop"], de: [Kommunikation]}
    themes:
      - id: workload
        name: Workload and pressure
        keywords: {en: [workload, overtime, "too busy"]}

Language codes are ISO 639-1 (two lower-case letters); a keyword is a word or a
phrase (matched as a sequence of words by :mod:`culture.analysis.comment_themes`).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from culture.errors import InstrumentError, Problem
from culture.frames import OUTCOME_LABELS

# ISO 9001:2015 clauses a culture construct can give evidence for, with titles
# used in the evidence table. 5.1.1 has lettered sub-requirements a-j.
ISO9001_CLAUSES: dict[str, str] = {
    "5.1.1": "Leadership and commitment: general",
    "5.1.2": "Customer focus",
    "5.2.1": "Establishing the quality policy",
    "5.2.2": "Communicating the quality policy",
    "5.3": "Organizational roles, responsibilities and authorities",
    "6.1": "Actions to address risks and opportunities",
    "6.2": "Quality objectives and planning to achieve them",
    "7.1": "Resources",
    "7.1.6": "Organizational knowledge",
    "7.2": "Competence",
    "7.3": "Awareness",
    "7.4": "Communication",
    "9.1.2": "Customer satisfaction",
    "9.3": "Management review",
    "10.1": "Improvement: general",
    "10.2": "Nonconformity and corrective action",
    "10.3": "Continual improvement",
}
ISO9001_511_LETTERS: dict[str, str] = {
    "a": "taking accountability for the effectiveness of the QMS",
    "b": "quality policy and objectives compatible with the strategic direction",
    "c": "integrating QMS requirements into business processes",
    "d": "promoting the process approach and risk-based thinking",
    "e": "ensuring the resources needed are available",
    "f": "communicating the importance of effective quality management",
    "g": "ensuring the QMS achieves its intended results",
    "h": "engaging, directing and supporting persons",
    "i": "promoting improvement",
    "j": "supporting other management roles to demonstrate leadership",
}
_CLAUSE_RE = re.compile(r"^(?P<clause>\d+(?:\.\d+){1,2})(?: (?P<letter>[a-z]))?$")
_ID_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")

_TOP_KEYS = {"id", "version", "title", "min_item_share", "scale", "constructs", "items",
             "comments", "demographics", "description", "quality_links", "themes"}
# Quality outcomes an instrument may link constructs to (the quality panel's outcomes).
QUALITY_OUTCOMES = tuple(OUTCOME_LABELS)
_SCALE_KEYS = {"min", "max", "labels", "favourable", "non_substantive"}
_CONSTRUCT_KEYS = {"id", "name", "description", "clauses", "headline", "kind", "min_item_share",
                   "themes"}
_ITEM_KEYS = {"id", "construct", "text", "reverse", "sensitive"}
_COMMENT_KEYS = {"id", "text"}
_DEMO_KEYS = {"id", "name", "codes", "leader_codes", "missing"}
_THEME_KEYS = {"id", "name", "keywords", "description"}
_LANGUAGE_RE = re.compile(r"^[a-z]{2}$")
CONSTRUCT_KINDS = ("culture", "outcome")


def fold_label(text: str) -> str:
    """Normalise an answer label for matching: NFKC, casefold, collapse spaces.

    Curly and straight apostrophes are treated alike, since spreadsheet tools
    swap them freely.
    """
    text = unicodedata.normalize("NFKC", str(text)).replace("\u2019", "'").replace("\u2018", "'")
    return " ".join(text.casefold().split())


@dataclass(frozen=True)
class Scale:
    """The response scale shared by all items."""

    min: int
    max: int
    labels: Mapping[int, str]
    favourable: tuple[int, ...]
    non_substantive: Mapping[int, str] = field(default_factory=dict)

    @property
    def codes(self) -> tuple[int, ...]:
        return tuple(range(self.min, self.max + 1))

    @property
    def midpoint(self) -> float:
        return (self.min + self.max) / 2

    def label_to_code(self) -> dict[str, int | None]:
        """Folded label -> code; non-substantive labels map to ``None`` (missing)."""
        table: dict[str, int | None] = {fold_label(v): k for k, v in self.labels.items()}
        table.update({fold_label(v): None for v in self.non_substantive.values()})
        return table


@dataclass(frozen=True)
class Construct:
    id: str
    name: str
    description: str
    clauses: tuple[str, ...]
    kind: str = "culture"
    headline: bool = False
    min_item_share: float | None = None
    # comment theme keywords and phrases per language (ISO 639-1 code -> keywords)
    themes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Item:
    id: str
    construct: str
    text: str
    reverse: bool = False
    sensitive: bool = False


@dataclass(frozen=True)
class CommentQuestion:
    id: str
    text: str


@dataclass(frozen=True)
class Theme:
    """A comment theme: keywords and phrases per language (ISO 639-1 code -> keywords).

    ``construct`` is the construct the theme belongs to (its id is the construct's id),
    or None for a theme the instrument declares on its own.
    """

    id: str
    name: str
    keywords: Mapping[str, tuple[str, ...]]
    construct: str | None = None
    description: str = ""

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(self.keywords)


@dataclass(frozen=True)
class Demographic:
    """A demographic field with a fixed band codebook.

    ``missing_code`` is the code for "prefer not to say" / unknown; it is a
    group of its own in releases (and takes part in suppression).
    """

    id: str
    name: str
    codes: Mapping[str, str]
    leader_codes: tuple[str, ...] = ()
    missing_code: str | None = None
    missing_label: str | None = None

    @property
    def all_codes(self) -> tuple[str, ...]:
        extra = (self.missing_code,) if self.missing_code else ()
        return (*self.codes, *extra)


@dataclass(frozen=True)
class Instrument:
    """A validated survey instrument. Use :func:`load_instrument` to build one."""

    id: str
    version: str
    title: str
    scale: Scale
    constructs: tuple[Construct, ...]
    items: tuple[Item, ...]
    comments: tuple[CommentQuestion, ...] = ()
    demographics: tuple[Demographic, ...] = ()
    min_item_share: float = 0.5
    source: str = ""
    # outcome -> constructs with a specific, documented link to it (added to the headline
    # constructs as predictors of that outcome)
    quality_links: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # comment themes of the instrument as a whole (construct themes live on the constructs)
    themes: tuple[Theme, ...] = ()

    @property
    def comment_themes(self) -> tuple[Theme, ...]:
        """Every comment theme: one per construct that declares keywords (id and name of
        the construct), then the instrument-wide themes. Empty when none is declared."""
        own = tuple(Theme(c.id, c.name, c.themes, construct=c.id, description=c.description)
                    for c in self.constructs if c.themes)
        return own + tuple(self.themes)

    @property
    def item_ids(self) -> tuple[str, ...]:
        return tuple(i.id for i in self.items)

    @property
    def construct_ids(self) -> tuple[str, ...]:
        return tuple(c.id for c in self.constructs)

    @property
    def culture_constructs(self) -> tuple[Construct, ...]:
        return tuple(c for c in self.constructs if c.kind == "culture")

    @property
    def headline_constructs(self) -> tuple[Construct, ...]:
        """Constructs flagged ``headline``; without any flag, every culture construct."""
        flagged = tuple(c for c in self.constructs if c.headline)
        return flagged or self.culture_constructs

    @property
    def outcome_index(self) -> Construct | None:
        """The outcome index the key-driver analysis explains (a construct of kind
        ``outcome``), or None: an instrument need not have one."""
        return next((c for c in self.constructs if c.kind == "outcome"), None)

    @property
    def leader_demographic(self) -> Demographic | None:
        """The demographic that tells leaders from staff (it declares ``leader_codes``):
        leader-versus-staff gaps need it; an instrument need not have one."""
        return next((d for d in self.demographics if d.leader_codes), None)

    @property
    def has_iso_mapping(self) -> bool:
        return any(c.clauses for c in self.constructs)

    def construct(self, construct_id: str) -> Construct:
        for c in self.constructs:
            if c.id == construct_id:
                return c
        raise KeyError(construct_id)

    def item(self, item_id: str) -> Item:
        for i in self.items:
            if i.id == item_id:
                return i
        raise KeyError(item_id)

    def items_of(self, construct_id: str) -> tuple[Item, ...]:
        return tuple(i for i in self.items if i.construct == construct_id)

    def demographic(self, demographic_id: str) -> Demographic:
        for d in self.demographics:
            if d.id == demographic_id:
                return d
        raise KeyError(demographic_id)

    def min_items(self, construct_id: str) -> int:
        """Smallest number of answered items that still gives a construct score."""
        share = self.construct(construct_id).min_item_share or self.min_item_share
        n = len(self.items_of(construct_id))
        return max(1, int(-(-share * n // 1)))  # ceil without float surprises

    @property
    def reverse_items(self) -> tuple[str, ...]:
        return tuple(i.id for i in self.items if i.reverse)


def load_instrument(path: str | Path) -> Instrument:
    """Load and validate an instrument from a YAML file.

    Raises
    ------
    InstrumentError
        Listing every problem found, each located by its YAML path.
    """
    path = Path(path)
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InstrumentError([Problem(str(path), "file not found")], source=str(path)) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise InstrumentError([Problem(where, f"not valid YAML ({getattr(exc, 'problem', exc)})")],
                              source=str(path)) from None
    return parse_instrument(doc, source=str(path))


def load_default_instrument() -> Instrument:
    """The instrument shipped with the package (:func:`culture.resources.default_instrument_path`)."""
    from culture.resources import default_instrument_path

    return load_instrument(default_instrument_path())


class _Checker:
    """Collects problems while the document is read (lazy validation)."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def add(self, where: str, message: str) -> None:
        self.problems.append(Problem(where, message))

    def keys(self, where: str, obj: Any, allowed: set[str], required: set[str]) -> bool:
        if not isinstance(obj, Mapping):
            self.add(where, f"expected a mapping, got {type(obj).__name__}")
            return False
        for k in sorted(set(obj) - allowed, key=str):
            self.add(where, f"unknown key {k!r}; allowed: {', '.join(sorted(allowed))}")
        for k in sorted(required - set(obj)):
            self.add(where, f"missing required key {k!r}")
        return True

    def ident(self, where: str, value: Any) -> None:
        if not isinstance(value, str) or not _ID_RE.match(value):
            self.add(where, f"id {value!r} must start with a letter and use letters, digits or _")

    def boolean(self, where: str, value: Any) -> bool:
        if not isinstance(value, bool):
            self.add(where, f"expected true or false, got {value!r}")
            return False
        return value

    def unique(self, where: str, ids: list[Any], what: str) -> None:
        seen: set[Any] = set()
        for i in ids:
            if i in seen:
                self.add(where, f"duplicate {what} id {i!r}")
            seen.add(i)


def _check_clause(chk: _Checker, where: str, ref: Any) -> None:
    m = _CLAUSE_RE.match(ref) if isinstance(ref, str) else None
    if not m:
        chk.add(where, f"malformed ISO 9001 clause reference {ref!r}; expected e.g. '5.1.1 a', '7.4', '10.2'")
        return
    clause, letter = m["clause"], m["letter"]
    if clause not in ISO9001_CLAUSES:
        chk.add(where, f"unknown ISO 9001:2015 clause {clause!r}; known: {', '.join(ISO9001_CLAUSES)}")
    elif letter and (clause != "5.1.1" or letter not in ISO9001_511_LETTERS):
        chk.add(where, f"clause {clause} has no item {letter!r} (only 5.1.1 has items a-j)")


def _share(chk: _Checker, where: str, value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 1:
        chk.add(where, f"min_item_share must be a number in (0, 1], got {value!r}")
        return None
    return float(value)


def parse_instrument(doc: Any, *, source: str = "<instrument>") -> Instrument:
    """Validate a parsed YAML document and build an :class:`Instrument`."""
    chk = _Checker()
    if not chk.keys("", doc, _TOP_KEYS, {"id", "version", "title", "scale", "constructs", "items"}):
        raise InstrumentError(chk.problems, source=source)

    ident = doc.get("id")
    if not isinstance(ident, str) or not re.match(r"^[a-z][a-z0-9-]*$", ident):
        chk.add("id", f"instrument id {ident!r} must be lower-case letters, digits and hyphens")
    version = doc.get("version")
    if not isinstance(version, str | int | float) or isinstance(version, bool):
        chk.add("version", f"expected a version string, got {version!r}")
    share = _share(chk, "min_item_share", doc.get("min_item_share", 0.5))

    scale = _parse_scale(chk, doc.get("scale"))
    constructs = _parse_constructs(chk, doc.get("constructs"))
    construct_ids = {c.id for c in constructs}
    items = _parse_items(chk, doc.get("items"), construct_ids)
    comments = _parse_comments(chk, doc.get("comments", []))
    demographics = _parse_demographics(chk, doc.get("demographics", []))

    for c in constructs:
        if not any(i.construct == c.id for i in items):
            chk.add(f"constructs[{c.id}]", "construct has no items")
    links = _parse_links(chk, doc.get("quality_links", {}), construct_ids)
    themes = _parse_themes(chk, doc.get("themes", []), construct_ids)
    all_ids = [i.id for i in items] + [c.id for c in comments] + [d.id for d in demographics]
    chk.unique("items/comments/demographics", all_ids, "column")
    overlap = construct_ids & set(all_ids)
    for o in sorted(overlap):
        chk.add("constructs", f"construct id {o!r} is also used as an item/comment/demographic id")

    if chk.problems:
        raise InstrumentError(chk.problems, source=source)
    return Instrument(id=ident, version=str(version), title=str(doc["title"]), scale=scale,
                      constructs=tuple(constructs), items=tuple(items), comments=tuple(comments),
                      demographics=tuple(demographics), min_item_share=share or 0.5, source=source,
                      quality_links=links, themes=tuple(themes))


def _parse_links(chk: _Checker, raw: Any, construct_ids: set[str]) -> dict[str, tuple[str, ...]]:
    """``quality_links``: outcome -> construct ids with a specific link to it."""
    if not isinstance(raw, Mapping):
        chk.add("quality_links", "expected a mapping outcome -> list of construct ids")
        return {}
    out = {}
    for outcome, ids in raw.items():
        where = f"quality_links[{outcome}]"
        if outcome not in QUALITY_OUTCOMES:
            chk.add(where, f"not a quality outcome; allowed: {', '.join(QUALITY_OUTCOMES)}")
            continue
        ids = _list(chk, where, ids)
        for c in ids:
            if c not in construct_ids:
                chk.add(where, f"{c!r} is not a construct of this instrument")
        out[str(outcome)] = tuple(str(c) for c in ids if c in construct_ids)
    return out


def _parse_scale(chk: _Checker, raw: Any) -> Scale:
    empty = Scale(1, 5, {}, ())
    if not chk.keys("scale", raw, _SCALE_KEYS, {"min", "max", "labels", "favourable"}):
        return empty
    lo, hi = raw.get("min"), raw.get("max")
    if not (isinstance(lo, int) and isinstance(hi, int)) or isinstance(lo, bool) or lo >= hi:
        chk.add("scale", f"min and max must be integers with min < max, got {lo!r} and {hi!r}")
        return empty
    labels: dict[int, str] = {}
    raw_labels = raw.get("labels")
    if not isinstance(raw_labels, Mapping):
        chk.add("scale.labels", "expected a mapping code -> label")
        raw_labels = {}
    for code, label in raw_labels.items():
        if not isinstance(code, int) or not lo <= code <= hi:
            chk.add(f"scale.labels[{code!r}]", f"label code outside the scale {lo}..{hi}")
        elif not isinstance(label, str) or not label.strip():
            chk.add(f"scale.labels[{code}]", "label must be non-empty text")
        else:
            labels[code] = label
    missing_codes = [c for c in range(lo, hi + 1) if c not in labels]
    if raw_labels and missing_codes:
        chk.add("scale.labels", f"codes without a label: {missing_codes}")
    fav = raw.get("favourable")
    if not isinstance(fav, list) or not fav:
        chk.add("scale.favourable", "expected a non-empty list of codes")
        fav = []
    for code in fav:
        if not isinstance(code, int) or not lo <= code <= hi:
            chk.add("scale.favourable", f"favourable code {code!r} outside the scale {lo}..{hi}")
    ns: dict[int, str] = {}
    for code, label in (raw.get("non_substantive") or {}).items():
        if not isinstance(code, int) or lo <= code <= hi:
            chk.add(f"scale.non_substantive[{code!r}]", f"code must be an integer outside {lo}..{hi}")
        elif not isinstance(label, str) or not label.strip():
            chk.add(f"scale.non_substantive[{code}]", "label must be non-empty text")
        else:
            ns[code] = label
    folded = [fold_label(v) for v in [*labels.values(), *ns.values()]]
    if len(set(folded)) != len(folded):
        chk.add("scale", "two labels are equal after case and whitespace folding")
    return Scale(lo, hi, labels, tuple(sorted(c for c in fav if isinstance(c, int))), ns)


def _list(chk: _Checker, where: str, raw: Any) -> list[Any]:
    if not isinstance(raw, list):
        chk.add(where, f"expected a list, got {type(raw).__name__}")
        return []
    return raw


def _parse_constructs(chk: _Checker, raw: Any) -> list[Construct]:
    out: list[Construct] = []
    entries = _list(chk, "constructs", raw)
    if not entries and isinstance(raw, list):
        chk.add("constructs", "at least one construct is required")
    for n, c in enumerate(entries):
        where = f"constructs[{n}]"
        if not chk.keys(where, c, _CONSTRUCT_KEYS, {"id", "name"}):
            continue
        chk.ident(f"{where}.id", c.get("id"))
        where = f"constructs[{c.get('id', n)}]"
        clauses = _list(chk, f"{where}.clauses", c.get("clauses", []))
        for ref in clauses:
            _check_clause(chk, f"{where}.clauses", ref)
        kind = c.get("kind", "culture")
        if kind not in CONSTRUCT_KINDS:
            chk.add(f"{where}.kind", f"kind {kind!r} not one of {', '.join(CONSTRUCT_KINDS)}")
        headline = chk.boolean(f"{where}.headline", c.get("headline", False))
        share = _share(chk, f"{where}.min_item_share", c["min_item_share"]) if "min_item_share" in c else None
        keywords = _parse_keywords(chk, f"{where}.themes", c["themes"]) if "themes" in c else {}
        out.append(Construct(id=str(c.get("id")), name=str(c.get("name")),
                             description=str(c.get("description", "")),
                             clauses=tuple(str(x) for x in clauses), kind=str(kind),
                             headline=headline, min_item_share=share, themes=keywords))
    chk.unique("constructs", [c.id for c in out], "construct")
    return out


def _parse_items(chk: _Checker, raw: Any, construct_ids: set[str]) -> list[Item]:
    out: list[Item] = []
    for n, it in enumerate(_list(chk, "items", raw)):
        where = f"items[{n}]"
        if not chk.keys(where, it, _ITEM_KEYS, {"id", "construct", "text"}):
            continue
        chk.ident(f"{where}.id", it.get("id"))
        where = f"items[{it.get('id', n)}]"
        construct = it.get("construct")
        if construct not in construct_ids:
            chk.add(f"{where}.construct", f"item is in no known construct (got {construct!r}; "
                    f"known: {', '.join(sorted(construct_ids))})")
        text = it.get("text")
        if not isinstance(text, str) or not text.strip():
            chk.add(f"{where}.text", "item text must be non-empty")
        out.append(Item(id=str(it.get("id")), construct=str(construct), text=str(text or ""),
                        reverse=chk.boolean(f"{where}.reverse", it.get("reverse", False)),
                        sensitive=chk.boolean(f"{where}.sensitive", it.get("sensitive", False))))
    chk.unique("items", [i.id for i in out], "item")
    texts = [fold_label(i.text) for i in out]
    for t in {t for t in texts if texts.count(t) > 1}:
        chk.add("items", f"two items have the same text ({texts.count(t)} times); texts must identify items")
    return out


def _parse_comments(chk: _Checker, raw: Any) -> list[CommentQuestion]:
    out = []
    for n, c in enumerate(_list(chk, "comments", raw)):
        where = f"comments[{n}]"
        if chk.keys(where, c, _COMMENT_KEYS, {"id", "text"}):
            chk.ident(f"{where}.id", c.get("id"))
            out.append(CommentQuestion(str(c.get("id")), str(c.get("text"))))
    return out


def _parse_keywords(chk: _Checker, where: str, raw: Any) -> dict[str, tuple[str, ...]]:
    """Theme keywords: ``{language: [keyword or phrase, ...]}``, each list non-empty."""
    if not isinstance(raw, Mapping) or not raw:
        chk.add(where, "expected a non-empty mapping language -> list of keywords, "
                       "e.g. {en: [communication, \"kept in the loop\"]}")
        return {}
    out: dict[str, tuple[str, ...]] = {}
    for lang, words in raw.items():
        here = f"{where}.{lang}"
        if not isinstance(lang, str) or not _LANGUAGE_RE.match(lang):
            chk.add(here, f"language {lang!r} must be an ISO 639-1 code of two lower-case "
                          "letters, e.g. en, de, fr")
            continue
        if not isinstance(words, list) or not words:
            chk.add(here, "expected a non-empty list of keywords or phrases")
            continue
        kept, seen = [], set()
        for n, word in enumerate(words):
            if not isinstance(word, str) or not re.search(r"\w", word):
                chk.add(f"{here}[{n}]", f"keyword {word!r} must be text with at least one letter or digit")
                continue
            folded = fold_label(word)
            if folded in seen:
                chk.add(f"{here}[{n}]", f"keyword {word!r} is listed twice")
                continue
            seen.add(folded)
            kept.append(" ".join(word.split()))
        out[lang] = tuple(kept)
    return out


def _parse_themes(chk: _Checker, raw: Any, construct_ids: set[str]) -> list[Theme]:
    """Instrument-wide comment themes: ``[{id, name, keywords, description?}, ...]``."""
    out: list[Theme] = []
    for n, t in enumerate(_list(chk, "themes", raw)):
        where = f"themes[{n}]"
        if not chk.keys(where, t, _THEME_KEYS, {"id", "name", "keywords"}):
            continue
        chk.ident(f"{where}.id", t.get("id"))
        where = f"themes[{t.get('id', n)}]"
        if t.get("id") in construct_ids:
            chk.add(f"{where}.id", f"theme id {t.get('id')!r} is a construct id; give the construct "
                                   "its keywords under its own 'themes' key instead")
        name = t.get("name")
        if not isinstance(name, str) or not name.strip():
            chk.add(f"{where}.name", "theme name must be non-empty text")
        keywords = _parse_keywords(chk, f"{where}.keywords", t.get("keywords"))
        out.append(Theme(id=str(t.get("id")), name=str(name or ""), keywords=keywords,
                         description=str(t.get("description", ""))))
    chk.unique("themes", [t.id for t in out], "theme")
    return out


def _parse_demographics(chk: _Checker, raw: Any) -> list[Demographic]:
    out = []
    for n, d in enumerate(_list(chk, "demographics", raw)):
        where = f"demographics[{n}]"
        if not chk.keys(where, d, _DEMO_KEYS, {"id", "name", "codes"}):
            continue
        chk.ident(f"{where}.id", d.get("id"))
        where = f"demographics[{d.get('id', n)}]"
        codes = d.get("codes")
        if not isinstance(codes, Mapping) or not codes:
            chk.add(f"{where}.codes", "expected a non-empty mapping code -> label")
            codes = {}
        codes = {str(k): str(v) for k, v in codes.items()}
        leaders = d.get("leader_codes", []) or []
        for code in leaders:
            if str(code) not in codes:
                chk.add(f"{where}.leader_codes", f"leader code {code!r} is not in the codebook")
        missing = d.get("missing")
        m_code = m_label = None
        if missing is not None:
            if not isinstance(missing, Mapping) or set(missing) != {"code", "label"}:
                chk.add(f"{where}.missing", "expected {code: ..., label: ...}")
            else:
                m_code, m_label = str(missing["code"]), str(missing["label"])
                if m_code in codes:
                    chk.add(f"{where}.missing", f"missing code {m_code!r} clashes with a band code")
        out.append(Demographic(id=str(d.get("id")), name=str(d.get("name")), codes=codes,
                               leader_codes=tuple(str(c) for c in leaders),
                               missing_code=m_code, missing_label=m_label))
    return out
