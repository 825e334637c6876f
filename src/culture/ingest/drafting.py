"""Drafts from a user's own export: a column mapping onto an instrument (:func:`draft_mapping`).

``culture mapping draft EXPORT`` matches the export's headers to the instrument's
item texts, comment texts and demographic names, writes a mapping (``docs/mapping.md``)
with a score and the matched text beside every entry, and summarises what matched,
what is unsure, what did not match and which instrument columns were not found.

Matching, on text normalised for case, punctuation, white space, accents and HTML,
with the parts tools embed a statement in (``Question [Row]``, ``Question - Statement``)
taken apart first:

* score 100: the header (or a part of it) equals the text or the id;
* otherwise ``difflib.SequenceMatcher`` ratio on the text and on its sorted words,
  whichever is higher (0-99); the standard library is enough for headers, and keeps
  the dependency list as it is;
* the answers back it up or count against it: an item column should hold scale
  labels or codes, a demographic column its codebook's labels, a comment column free
  text (a mismatch costs 15 points; a column whose answers are a demographic's
  codebook scores at least 92 for it);
* :data:`HIGH` and above is *matched*, :data:`LOW` up to :data:`HIGH` is *unsure*
  (written, marked ``check``), below :data:`LOW` is *unmatched*. A column whose two
  best targets score within 3 points is unsure whatever its score.

Answer labels of the item columns that are not the scale's labels (``Totally agree``
for ``Strongly agree``) get a ``values:`` entry only when confident: the label reads
as the same scale point (agree/disagree, satisfied, frequency wording in English,
German or French, read by :func:`scale_position`) or is a near-exact spelling of a
scale label, no two labels land on one code, and the label is used at least twice.
Nothing else of the answers is shown: other labels are counted, never quoted.
"""

from __future__ import annotations

import html
import json
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from pathlib import Path
from typing import Any

import pandas as pd

from culture import frames
from culture.ingest.formats import RawExport, load_export
from culture.ingest.mapping import ColumnMapping
from culture.ingest.responses import (
    candidate_texts,
    check_header_row,
    header_looks_like_data,
    match_columns,
)
from culture.ingest.textgrid import NUMBER_RE, short_text
from culture.measure.instrument import Instrument, fold_label
from culture.results import Result

HIGH = 90   # matched at or above
LOW = 70    # unsure from here up to HIGH; unmatched below
_CLOSE = 3  # a second target this close makes a match unsure
_PENALTY = 15
_MAX_LABELS = 12     # more distinct answers than this is not a label set
_LABEL_CHARS = 40    # a scale label is short
_MIN_USES = 2        # a label used once is not copied anywhere
_BESIDE = 56         # mapping entries up to this long get their note beside them
FIVE = {-3: 1, -2: 2, -1: 2, 0: 3, 1: 4, 2: 4, 3: 5}  # scale position -> code of 5 points


# --------------------------------------------------------------------------- text

def normalise(text: Any) -> str:
    """Text for matching: HTML tags and entities out, accents off, case folded,
    punctuation and underscores as spaces, white space collapsed."""
    text = html.unescape(re.sub(r"<[^>]+>", " ", str(text)))
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c)).casefold()
    return " ".join(re.sub(r"[\W_]+", " ", text).split())


def similarity(a: Any, b: Any) -> int:
    """0-100: 100 when the normalised texts are equal, else the higher difflib ratio of
    the texts and of their sorted words (so reordered wording still scores), capped at 99."""
    a, b = normalise(a), normalise(b)
    if not a or not b:
        return 0
    if a == b:
        return 100
    plain = SequenceMatcher(None, a, b, autojunk=False).ratio()
    words = SequenceMatcher(None, " ".join(sorted(a.split())), " ".join(sorted(b.split())),
                            autojunk=False).ratio()
    return min(99, round(100 * max(plain, words)))


# --------------------------------------------------------------------------- scale wording

_NEUTRAL = ("neither", "neutral", "undecided", "not sure", "weder", "teils", "neutre",
            "ni d accord ni", "mixed", "unentschieden")
_NEGATIVE = ("disagree", "dissatisf", "unsatisf", "unzufrieden", "nicht zu", "nicht zufrieden",
             "pas d accord", "pas du tout", "insatisf", "mecontent", "not agree", "desaccord",
             "lehne")
_POSITIVE = ("agree", "satisf", "zufrieden", "stimme", "trifft", "d accord", "content")
_STRONG = ("strongly", "totally", "completely", "fully", "absolutely", "entirely", "very",
           "extremely", "voll", "vollig", "vollkommen", "uberhaupt", "gar nicht", "sehr",
           "tout a fait", "pas du tout", "totalement", "fortement", "entierement", "tres")
_WEAK = ("somewhat", "slightly", "mostly", "rather", "tend to", "partly", "a little", "eher",
         "plutot", "un peu", "moderately", "mildly", "partially", "partiellement")
_FREQUENCY = {"never": -3, "rarely": -2, "seldom": -2, "sometimes": 0, "often": 2,
              "always": 3, "nie": -3, "niemals": -3, "selten": -2, "manchmal": 0, "oft": 2,
              "haufig": 2, "immer": 3, "jamais": -3, "rarement": -2, "parfois": 0,
              "souvent": 2, "toujours": 3}
_NON_SUBSTANTIVE = ("don t know", "dont know", "do not know", "not applicable", "n a",
                    "prefer not to say", "no opinion", "cannot say", "can t say", "cannot judge",
                    "weiss nicht", "weis nicht", "keine angabe", "kann ich nicht beurteilen",
                    "nicht zutreffend", "ne sais pas", "je ne sais pas", "sans objet",
                    "sans opinion", "ne s applique pas", "sans reponse")


def _has(text: str, phrases: Iterable[str]) -> bool:
    """Some phrase starts at a word boundary of ``text`` (a prefix such as ``satisf`` counts)."""
    return any(re.search(r"(?<![a-z0-9])" + re.escape(p), text) for p in phrases)


def is_non_substantive(label: Any) -> bool:
    """``Don't know``, ``N/A``, ``Keine Angabe``, ``Ne sais pas`` and the like."""
    t = normalise(label)
    return t in {"na", "n a", "k a"} or _has(f" {t}", (f" {p}" for p in _NON_SUBSTANTIVE))


def scale_position(label: Any) -> int | None:
    """Where an answer label sits on a bipolar scale, -3 (strongly against) .. 3, or None.

    Agree/disagree and satisfied/dissatisfied wording (English, German ``stimme ... zu``,
    ``trifft ... zu``, French ``d'accord``), intensified (``strongly``, ``voll und ganz``,
    ``tout a fait``: 3), plain (2) or softened (``somewhat``, ``eher``, ``plutot``: 1);
    the middle (``neither``, ``teils/teils``, ``ni ... ni``) is 0. Frequency words
    (never .. always) are read too. Anything else, including long text, is None.
    """
    t = normalise(label)
    if not t or len(t) > _LABEL_CHARS or len(t.split()) > 7 or is_non_substantive(label):
        return None
    if t in _FREQUENCY:
        return _FREQUENCY[t]
    if _has(t, _NEUTRAL):
        return 0
    if _has(t, _NEGATIVE):
        sign = -1
    elif _has(t, _POSITIVE):
        sign = 1
    else:
        return None
    strength = 3 if _has(t, _STRONG) else 1 if _has(t, _WEAK) else 2
    return sign * strength


def scale_slots(positions: Iterable[int]) -> tuple[dict[int, int], int] | None:
    """Codes for the scale positions seen, and the number of points: 5 (1..5) unless both
    a softened and a plain answer were seen on one side (or more than 5 positions), then 7
    (1..7). None when a position is outside -3..3."""
    seen = set(positions)
    if not seen or not seen <= set(range(-3, 4)):
        return None
    if len(seen & {-2, -1}) > 1 or len(seen & {1, 2}) > 1 or len(seen) > 5:
        return {p: p + 4 for p in seen}, 7
    return {p: FIVE[p] for p in seen}, 5


def _slot_codes(instrument: Instrument) -> dict[int, int]:
    """Scale slot (1..5 or 1..7) -> the instrument's code, when every label of its scale
    reads as a distinct scale point; else empty (no answer label is read by position)."""
    positions = {c: scale_position(v) for c, v in instrument.scale.labels.items()}
    if None in positions.values():
        return {}
    found = scale_slots(p for p in positions.values() if p is not None)
    if found is None or len(set(found[0].values())) != len(positions) \
            or found[1] != len(positions):
        return {}
    return {found[0][p]: c for c, p in positions.items() if p is not None}


# --------------------------------------------------------------------------- column profiles

@dataclass(frozen=True)
class Profile:
    """What a column's answers look like. ``counts`` holds folded answers and how often
    each was given: it stays in memory; drafts copy only labels that pass the label
    checks (short, used at least twice, read as scale points or categories)."""

    n: int
    counts: Mapping[str, int]
    texts: Mapping[str, str]
    numbers: bool
    top: float | None
    mean_length: float

    @property
    def distinct(self) -> int:
        return len(self.counts)

    def labels(self) -> list[str]:
        """Answers that may be shown as labels: short, used at least twice."""
        return [f for f, k in self.counts.items()
                if k >= _MIN_USES and len(self.texts[f]) <= _LABEL_CHARS]


def profile(raw: RawExport, col: Any, *, labelled: bool = True) -> Profile:
    """The answers of one column; ``labelled``: SPSS codes read as their value labels."""
    cells = raw.body[col.pos].astype(str).str.strip() if col.pos in raw.body else pd.Series([])
    cells = cells[cells.ne("")]
    if labelled and col.value_labels:  # SPSS: a labelled code reads as its label
        cells = cells.map(lambda v: col.value_labels.get(v, v))
    counts: Counter[str] = Counter()
    texts: dict[str, str] = {}
    for value, k in cells.value_counts(sort=False).items():
        f = fold_label(value)
        counts[f] += int(k)
        texts.setdefault(f, str(value))
    numeric = [float(f) for f in counts if NUMBER_RE.match(f)]
    numbers = bool(counts) and len(numeric) == len(counts) and all(x.is_integer() for x in numeric)
    return Profile(n=int(len(cells)), counts=dict(counts), texts=texts, numbers=numbers,
                   top=max(numeric) if numbers else None,
                   mean_length=float(cells.str.len().mean()) if len(cells) else 0.0)


def scale_like(p: Profile, known: Iterable[str] = ()) -> float:
    """Share of the answered cells that are scale answers: a known label or code, small
    whole numbers, a label read by :func:`scale_position` or a non-substantive answer."""
    if not p.n:
        return 0.0
    known = set(known)
    hits = sum(k for f, k in p.counts.items()
               if f in known or (NUMBER_RE.match(f) and 0 <= float(f) <= 10)
               or scale_position(p.texts[f]) is not None or is_non_substantive(p.texts[f]))
    return hits / p.n


def free_text_like(p: Profile) -> bool:
    """Long, varied answers: a comment question (sentences repeat when people copy a
    common complaint, so long answers with more variants than any label set count too)."""
    varied = p.distinct >= 0.6 * p.n or (p.mean_length >= 25 and p.distinct > _MAX_LABELS)
    return p.n >= 2 and varied and p.mean_length >= 12 and not p.numbers


def shown(col: Any, instrument: Instrument | None = None) -> str:
    """A column for people: its letter and, when it reads like a header, its header."""
    text = " ".join(str(col.header).split())
    if text and not header_looks_like_data(text, instrument):
        return f"{col.letter} {short_text(text)!r}"
    return f"{col.letter} (header not shown)" if text else f"{col.letter} (no header)"


def yaml_str(text: Any) -> str:
    """A YAML double-quoted scalar (JSON string syntax is valid YAML)."""
    return json.dumps(str(text), ensure_ascii=False)


def comment_text(text: Any, limit: int = 70) -> str:
    """Text for a YAML comment: one line, shortened."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


# --------------------------------------------------------------------------- mapping draft

_UNIT_WORDS = ("unit", "unit id", "team", "department", "dept", "site", "org unit",
               "organisational unit", "organizational unit", "abteilung", "bereich", "standort",
               "equipe", "service", "cost centre", "cost center", "kostenstelle")
_RESPONDENT_WORDS = ("employee id", "employee number", "personnel number", "staff id",
                     "staff number", "personalnummer", "matricule", "participant id")


def header_role(col: Any) -> str | None:
    """``unit_id`` or ``respondent`` when a header reads like one (``Team``, ``Abteilung``,
    ``Personalnummer``), else None."""
    names = {normalise(t) for t in candidate_texts(col)}
    if names & {normalise(w) for w in _UNIT_WORDS}:
        return frames.UNIT
    if names & {normalise(w) for w in _RESPONDENT_WORDS}:
        return frames.RESPONDENT
    return None


@dataclass(frozen=True)
class _Target:
    id: str
    kind: str       # item, comment, demographic, unit_id, respondent
    text: str


@dataclass(frozen=True)
class MappingDraft(Result):
    """A proposed mapping of one export onto an instrument.

    ``table``: one row per column: ``column`` (letter), ``header`` (shown only when it
    reads like a header), ``status`` (matched, unsure, unmatched, automatic,
    identifying, tool), ``target``, ``score``, ``matched`` (the instrument text).
    ``not_found``: items and demographics no column matched; ``values``: proposed
    answer label -> code; ``unrecognised``: other distinct answers of the item columns
    (a count: they are never shown). ``yaml``: the mapping file text.
    """

    source: str
    format: str
    instrument: str
    table: pd.DataFrame
    not_found: tuple[str, ...]
    comments_not_found: tuple[str, ...]
    values: Mapping[str, int]
    unrecognised: int
    notes: tuple[str, ...]
    yaml: str = field(repr=False)

    def count(self, status: str) -> int:
        return int((self.table["status"] == status).sum())

    def summary(self) -> str:
        t = self.table
        lines = [f"Mapping draft for {self.source} ({self.format}, {len(t)} columns) onto "
                 f"{self.instrument}:",
                 f"  matched (score >= {HIGH}): {self.count('matched')}",
                 f"  unsure (score {LOW}-{HIGH - 1}, written and marked 'check'): "
                 f"{self.count('unsure')}"]
        for r in t[t["status"] == "unsure"].itertuples():
            lines.append(f"    - column {r.column} -> {r.target} ({r.score}): {r.why}")
        unmatched = t[t["status"] == "unmatched"]
        lines.append(f"  unmatched columns (not written; map them or ignore them): "
                     f"{len(unmatched)}" + (": " + "; ".join(
                         f"column {r.label}" for r in unmatched.itertuples()) if len(unmatched)
                         else ""))
        auto = t[t["status"].isin(["automatic", "identifying", "tool"])]
        lines.append(f"  recognised without an entry (metadata, identifying, tool columns): "
                     f"{len(auto)}")
        lines.append(f"  instrument columns not found (put under 'absent:' if the export "
                     f"lacks them on purpose): {len(self.not_found)}"
                     + (": " + ", ".join(self.not_found) if self.not_found else ""))
        if self.comments_not_found:
            lines.append(f"  comment questions not found (optional): "
                         f"{', '.join(self.comments_not_found)}")
        if self.values:
            lines.append("  proposed answer values: " + ", ".join(
                f"{k!r} -> {v}" for k, v in self.values.items()))
        if self.unrecognised:
            lines.append(f"  {self.unrecognised} other distinct answer(s) in the item columns "
                         "are not scale labels or codes (not shown); add them under 'values:' "
                         "if they are labels of your scale")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


def _targets(instrument: Instrument) -> list[_Target]:
    return [*(_Target(i.id, "item", i.text) for i in instrument.items),
            *(_Target(c.id, "comment", c.text) for c in instrument.comments),
            *(_Target(d.id, "demographic", d.name) for d in instrument.demographics)]


def _codebook(instrument: Instrument) -> dict[str, set[str]]:
    out = {}
    for d in instrument.demographics:
        words = {*d.codes, *d.codes.values(), d.missing_code or "", d.missing_label or ""}
        out[d.id] = {fold_label(w) for w in words if w}
    return out


def _scale_known(instrument: Instrument) -> set[str]:
    s = instrument.scale
    return {*s.label_to_code(), *(str(c) for c in (*s.codes, *s.non_substantive))}


def _score(col: Any, target: _Target, prof: Profile, likert: float,
           book: set[str]) -> tuple[int, str]:
    """Score of ``col`` for ``target`` and why (see the module doc)."""
    texts = candidate_texts(col)
    if any(normalise(t) == normalise(target.id) for t in texts):
        return 100, "exact"
    score = max((similarity(t, target.text) for t in texts), default=0)
    if score == 100:
        return 100, "exact"
    why = "similar wording"
    if not prof.n:
        return score, why + " (no answers to check)"
    if target.kind == "item" and likert < 0.8:
        score, why = score - _PENALTY, why + ", but the answers are not scale answers"
    elif target.kind == "comment" and (likert >= 0.8 or not free_text_like(prof)):
        score, why = score - _PENALTY, why + ", but the answers are not free text"
    elif target.kind == "demographic":
        matched = [f for f in prof.counts if f in book]
        share = sum(prof.counts[f] for f in matched) / prof.n
        named = set(normalise(target.text).split()) <= {
            w for t in texts for w in normalise(t).split()}
        if share >= 0.8 and len(matched) >= 2 and score < 92:
            score, why = 92, "the answers are its codebook's labels"
        elif share < 0.5:
            score, why = score - _PENALTY, why + ", but the answers are not its codebook's"
        elif named and score < 80:
            score, why = 80, "the header contains its name"
    return max(score, 0), why


def _assign(candidates: list[tuple[int, int, str]]) -> dict[int, tuple[str, int]]:
    """Greedy one-to-one assignment by score (column position -> (target, score))."""
    taken: set[str] = set()
    out: dict[int, tuple[str, int]] = {}
    for score, pos, target in sorted(candidates, key=lambda x: (-x[0], x[1], x[2])):
        if score < LOW or pos in out or target in taken:
            continue
        out[pos] = (target, score)
        taken.add(target)
    return out


def _propose_values(raw: RawExport, cols: list[Any],
                    instrument: Instrument) -> tuple[dict[str, int], int, list[str]]:
    """Label -> code for item answers that are not the scale's own labels (confident only),
    the number of other distinct answers, and notes."""
    scale = instrument.scale
    known = scale.label_to_code()
    counts: Counter[str] = Counter()
    texts: dict[str, str] = {}
    tops: list[float] = []
    for col in cols:
        p = profile(raw, col)
        counts.update(p.counts)
        for f, t in p.texts.items():
            texts.setdefault(f, t)
        if p.numbers and p.top is not None:
            tops.append(p.top)
    notes = []
    if tops and max(tops) > scale.max and max(tops) not in scale.non_substantive:
        notes.append(f"item columns hold numbers up to {max(tops):g} but the scale is "
                     f"{scale.min}..{scale.max}: recode them under 'values:' or check the scale")
    codes = {str(c) for c in (*scale.codes, *scale.non_substantive)}
    unknown = [f for f in counts if f not in known and f not in codes
               and not (NUMBER_RE.match(f) and float(f) in {*scale.codes, *scale.non_substantive})]
    if not unknown:
        return {}, 0, notes
    if len(counts) > _MAX_LABELS:
        notes.append(f"the item columns hold {len(counts)} distinct answers: not a set of scale "
                     "labels, so no values were proposed")
        return {}, len(unknown), notes
    slot_code = _slot_codes(instrument)
    five = len(slot_code) == 5
    ns = list(scale.non_substantive)
    used = {known[f] for f in counts if f in known and known[f] is not None}
    proposal: dict[str, int] = {}
    for f in unknown:
        label = texts[f]
        if counts[f] < _MIN_USES or len(label) > _LABEL_CHARS:
            continue
        best = max(scale.labels, key=lambda c: similarity(label, scale.labels[c]))
        if similarity(label, scale.labels[best]) >= HIGH:
            code: int | None = best
        elif is_non_substantive(label):
            code = ns[0] if len(ns) == 1 else None
        else:
            pos = scale_position(label)
            code = None if pos is None else slot_code.get(FIVE[pos] if five else pos + 4)
        if code is not None:
            proposal[label] = code
    clash = Counter(c for c in proposal.values() if c not in scale.non_substantive)
    proposal = {k: v for k, v in proposal.items()
                if v in scale.non_substantive or (clash[v] == 1 and v not in used)}
    return proposal, len(unknown) - len(proposal), notes


def _key_for(col: Any, instrument: Instrument, uses: Counter[str]) -> str:
    """The mapping key of a column: its header when that names it alone and reads like a
    header, else its letter (``column J`` when a header of the file reads ``J``)."""
    header = str(col.header).strip()
    f = fold_label(header)
    if (header and uses[f] == 1 and len(header) <= 200 and f in {fold_label(t) for t in
                                                               candidate_texts(col)}
            and not header_looks_like_data(header, instrument)):
        return header
    return _letter(col, uses)


def _letter(col: Any, uses: Counter[str]) -> str:
    """A column's letter as a mapping key; ``column J`` when a header of the file reads ``J``
    (a bare ``J`` would name that column: headers win over letters)."""
    return col.letter if not uses[fold_label(col.letter)] else f"column {col.letter}"


def draft_mapping(path: str | Path, instrument: Instrument, *, fmt: str | None = None,
                  encoding: str | None = None) -> MappingDraft:
    """Propose a mapping of the export at ``path`` onto ``instrument`` (see the module doc)."""
    raw = load_export(path, fmt=fmt, encoding=encoding)
    check_header_row(raw, instrument)
    auto = match_columns(raw, instrument, ColumnMapping())
    auto_of = {col.pos: t for t, col in auto.targets.items()}
    targets = {t.id: t for t in _targets(instrument)}
    books = _codebook(instrument)
    known = _scale_known(instrument)
    profiles = {col.pos: profile(raw, col) for col in raw.columns}
    likert = {pos: scale_like(p, known) for pos, p in profiles.items()}
    scores: dict[int, list[tuple[int, str]]] = {}
    reasons: dict[tuple[int, str], str] = {}
    candidates: list[tuple[int, int, str]] = []
    has_meta = {t for t in auto.targets if t in (frames.UNIT, frames.RESPONDENT)}
    free = [c for c in raw.columns if auto.how.get(c.pos) not in ("identifying", "tool")
            and (c.pos not in auto_of or auto_of[c.pos] in targets)]
    for col in free:
        prof = profiles[col.pos]
        row = []
        for t in targets.values():
            score, why = _score(col, t, prof, likert[col.pos], books.get(t.id, set()))
            row.append((score, t.id))
            reasons[col.pos, t.id] = why
        role = header_role(col)
        if role is not None and role not in has_meta:
            row.append((85, role))
            reasons[col.pos, role] = f"the header reads like a {role} column"
        if col.pos in auto_of:  # the reader matches it exactly already
            row.append((100, auto_of[col.pos]))
            reasons[col.pos, auto_of[col.pos]] = "exact"
        scores[col.pos] = sorted(row, reverse=True)
        candidates += [(s, col.pos, t) for s, t in row]
    chosen = _assign(candidates)

    rows = []
    for col in raw.columns:
        how = auto.how.get(col.pos)
        label = shown(col, instrument)
        header = label.split(" ", 1)[1] if " " in label else ""
        base = {"column": col.letter, "label": label, "header": header, "target": "",
                "score": None, "matched": "", "why": ""}
        if how in ("identifying", "tool") or (col.pos in auto_of and auto_of[col.pos]
                                              not in targets):
            status = {"identifying": "identifying", "tool": "tool"}.get(how or "", "automatic")
            rows.append({**base, "status": status, "target": auto_of.get(col.pos, "")})
            continue
        if col.pos not in chosen:
            rows.append({**base, "status": "unmatched"})
            continue
        target, score = chosen[col.pos]
        rival_score, rival = next(((s, t2) for s, t2 in scores[col.pos] if t2 != target),
                                  (0, ""))
        close = score < 100 and rival_score >= score - _CLOSE
        t = targets.get(target)
        matched = t.text if t is not None else ""
        why = reasons[col.pos, target] + (f"; {rival} scores {rival_score}" if close else "")
        status = "matched" if score >= HIGH and not close else "unsure"
        rows.append({**base, "status": status, "target": target, "score": score,
                     "matched": matched, "why": why})
    table = pd.DataFrame(rows, columns=["column", "label", "header", "status", "target", "score",
                                        "matched", "why"])
    table["score"] = table["score"].astype("Int64")
    found = set(table["target"])
    not_found = tuple(x for x in (*instrument.item_ids, *(d.id for d in instrument.demographics))
                      if x not in found)
    comments_missing = tuple(c.id for c in instrument.comments if c.id not in found)
    item_cols = [c for c in raw.columns
                 if table.loc[c.pos, "target"] in set(instrument.item_ids)]
    values, unrecognised, notes = _propose_values(raw, item_cols, instrument)
    if frames.UNIT not in found:
        notes.append("no unit_id column was found: map the column that holds each "
                     "response's unit to unit_id")
    draft_yaml = _mapping_yaml(raw, instrument, table, not_found, values)
    return MappingDraft(source=str(path), format=raw.format,
                        instrument=f"{instrument.id} {instrument.version}", table=table,
                        not_found=not_found, comments_not_found=comments_missing,
                        values=values, unrecognised=unrecognised, notes=tuple(notes),
                        yaml=draft_yaml)


def _mapping_yaml(raw: RawExport, instrument: Instrument, table: pd.DataFrame,
                  not_found: tuple[str, ...], values: Mapping[str, int]) -> str:
    uses: Counter[str] = Counter(f for col in raw.columns
                                 for f in {fold_label(t) for t in candidate_texts(col)})
    name = Path(raw.source).name
    out = [f"# Mapping draft for {comment_text(name)} ({raw.format}) onto the instrument "
           f"{instrument.id} {instrument.version}.",
           "# Written by `culture mapping draft`: check every entry before importing with",
           "#   culture ingest responses EXPORT --wave W --mapping THIS_FILE",
           f"# Scores: 100 exact, {HIGH}-99 matched, {LOW}-{HIGH - 1} unsure (marked 'check'). "
           "Each entry names the instrument text it matched.",
           "# The schema (columns, values, absent, unmapped) is explained in docs/mapping.md."]
    auto = table[table["status"].isin(["automatic", "identifying", "tool"])]
    if len(auto):
        out.append("#")
        out.append("# Recognised without an entry:")
        for r in auto.itertuples():
            what = {"identifying": "identifying: dropped on import, never stored",
                    "tool": "survey-tool bookkeeping: ignored"}.get(r.status, r.target)
            out.append(f"#   column {comment_text(r.label, 60)} -> {what}")
    entries = []
    for r in table.itertuples():
        if r.status not in ("matched", "unsure"):
            continue
        col = raw.columns[r.Index]
        key = _key_for(col, instrument, uses)
        mark = "check: " if r.status == "unsure" else ""
        note = f"{r.score} {mark}{r.why}" + (f": {comment_text(r.matched, 60)}" if r.matched
                                             else "")
        entries.append((yaml_str(key), r.target, note))
    out.append("columns:" if entries else "columns: {}")
    width = max((len(k) + len(t) + 4 for k, t, _ in entries if len(k) + len(t) <= _BESIDE),
                default=0)
    for k, t, note in entries:
        if len(k) + len(t) <= _BESIDE:
            out.append(f"  {k}: {t}".ljust(width) + f"  # {note}")
        else:  # a long header: the note goes on its own line above the entry
            out += [f"  # {note}", f"  {k}: {t}"]
    unmatched = table[table["status"] == "unmatched"]
    if len(unmatched):
        out.append("  # Unmatched columns: map each one to an id, or to ignore (or uncomment")
        out.append("  # 'unmapped: ignore' below to drop every column this file does not claim).")
        for r in unmatched.itertuples():
            key = _letter(raw.columns[r.Index], uses)
            out.append(f"  # {key}: ignore".ljust(20) + f"  # {comment_text(r.label, 60)}")
    if values:
        out.append("values:   # answer labels that are not the scale's own, read as scale points")
        for label, code in values.items():
            name_ = instrument.scale.labels.get(code) or instrument.scale.non_substantive.get(code)
            out.append(f"  {yaml_str(label)}: {code}".ljust(width)
                       + f"  # check: read as {comment_text(name_, 50)!r}")
    if not_found:
        out.append("# Instrument columns not found in the export: if it lacks them on purpose,")
        out.append("# uncomment this line (an item that is there under another header should be")
        out.append("# mapped above instead).")
        out.append(f"# absent: [{', '.join(not_found)}]")
    out.append("# unmapped: ignore   # uncomment to drop every column nothing claims (counted "
               "on import)")
    return "\n".join(out) + "\n"
