"""Comment themes and sentiment, computed from released comment cells only.

Every number here is a function of the release's ``comments`` table: the redacted
texts of (unit, question) cells that were shown at the comment threshold and passed
the subtraction checks. Nothing respondent-level is read, so the tables add nothing
that is not already released; they only sort it.

Themes
    The instrument declares keywords and phrases per construct and per language
    (:attr:`culture.measure.instrument.Instrument.comment_themes`). A comment belongs
    to every theme one of whose keywords it contains: text and keywords are
    normalised (NFKC, case-folded, split into words) and stemmed with the Snowball
    stemmer of the keyword's language where ``snowballstemmer`` has one
    (:data:`STEM_LANGUAGES`), else compared as words; a phrase matches as a sequence
    of stems. Keywords of every declared language are tried on every comment.
Emergent topics
    Comments that no theme claims are grouped into topics per question: NMF
    (scikit-learn) on TF-IDF of stems over the texts of the largest shown cells (one
    text per respondent). The vocabulary is restricted to stems used by at least
    ``k`` respondents (``k`` = the comment threshold) and a label word must itself be
    used by at least ``k`` respondents, so a rare word, which could name the one
    person who wrote it, never becomes a label.
Sentiment
    Positive / neutral / negative per comment with VADER (Hutto & Gilbert 2014,
    package ``vaderSentiment``; its lexicon ships inside the wheel, nothing is
    downloaded): compound >= 0.05 positive, <= -0.05 negative, else neutral (the
    authors' cut-offs). English only (:data:`SENTIMENT_LANGUAGES`); comments in other
    languages are "not scored". Agreement with human ratings is modest (see
    :data:`SENTIMENT_NOTE`): shares are a rough guide, not a measurement.

Counts
    A theme count ``n`` is the number of respondents (one comment per respondent and
    question, as the store keeps one response per respondent and wave) whose released
    comment has the theme. A count below the comment threshold is never shown as a
    number: its row has ``status`` = ``suppressed``, ``n``, ``share`` and the sentiment
    shares missing, and people see "fewer than k". Example comments are given only for
    themes whose count is shown. :func:`audit_themes` re-derives every row.

Tables (:func:`analyse_comment_themes`)
``comment_themes``          wave, unit_id, question, theme, theme_name, kind, construct,
                            terms, n, share, positive, neutral, negative, sentiment, status
``comment_theme_examples``  wave, unit_id, question, theme, example, text
``comment_theme_changes``   unit_id, question, theme, theme_name, kind, construct,
                            wave_before, wave, n_before, share_before, n_now, share_now,
                            diff, ci_low, ci_high, p, q, change, status
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache

import numpy as np
import pandas as pd

from culture.boundary.release import RELEASED, SUPPRESSED, Release
from culture.errors import ConfidentialityError, ConfigError
from culture.measure.instrument import Instrument, Theme
from culture.results import Result
from culture.stats.change import benjamini_hochberg, newcombe_diff

ALL = "_all"          # the row of a cell's comments as a whole (theme ids never start with _)
UNTHEMED = "_none"    # comments no theme and no emergent topic claims
EXAMPLES = 3          # example comments per theme
SENTIMENTS = ("positive", "neutral", "negative")
SENTIMENT_LANGUAGES = ("en",)
NOT_SCORED = "not scored"
SCORED = "scored"
# VADER's published cut-offs on the compound score
POSITIVE_CUT, NEGATIVE_CUT = 0.05, -0.05
# ISO 639-1 -> Snowball algorithm (only those the installed snowballstemmer has are used)
_SNOWBALL = {"ar": "arabic", "hy": "armenian", "eu": "basque", "ca": "catalan", "cs": "czech",
             "da": "danish", "nl": "dutch", "en": "english", "eo": "esperanto", "et": "estonian",
             "fi": "finnish", "fr": "french", "de": "german", "el": "greek", "hi": "hindi",
             "hu": "hungarian", "id": "indonesian", "ga": "irish", "it": "italian",
             "lt": "lithuanian", "ne": "nepali", "no": "norwegian", "nb": "norwegian",
             "fa": "persian", "pl": "polish", "pt": "portuguese", "ro": "romanian",
             "ru": "russian", "sr": "serbian", "st": "sesotho", "es": "spanish", "sv": "swedish",
             "ta": "tamil", "tr": "turkish", "yi": "yiddish"}
# Measured by tests/test_comment_themes.py: test_sentiment_agreement_with_human_ratings on
# the human-rated snippets of Hutto & Gilbert (2014), shipped in the vaderSentiment 3.3.2
# source distribution (additional_resources/hutto_ICWSM_2014.tar.gz; the raters' mean on
# -4..4, divided by 4, cut at +-0.05 as in the paper), and test_sentiment_on_workplace_comments
# on tests/fixtures/comments/*.csv (our own labels, not a public set).
SENTIMENT_NOTE = (
    "Sentiment is VADER (Hutto & Gilbert 2014), English only; other languages are not scored. "
    "Against the human ratings its authors published (23,703 snippets: tweets, movie and "
    "product reviews, newspaper editorials) it gives the raters' three-way label for 62% of "
    "snippets (Cohen's kappa 0.37): 90% on tweets, 53-59% on reviews and editorials. On 92 "
    "workplace comments labelled by this project's developers it agreed for 46%, calling many "
    "plain complaints neutral. Read sentiment shares as a rough guide, not a measurement.")
_WORD = re.compile(r"[^\W_]+")
_DROP = frozenset({"redacted"})   # the redaction marker is not a word anyone wrote

THEME_COLUMNS = ["wave", "unit_id", "question", "theme", "theme_name", "kind", "construct", "terms",
                 "n", "share", *SENTIMENTS, "sentiment", "status"]
EXAMPLE_COLUMNS = ["wave", "unit_id", "question", "theme", "example", "text"]
CHANGE_COLUMNS = ["unit_id", "question", "theme", "theme_name", "kind", "construct", "wave_before",
                  "wave", "n_before", "share_before", "n_now", "share_now", "diff", "ci_low",
                  "ci_high", "p", "q", "change", "status"]


# --------------------------------------------------------------------------- text


def normalise(text: str) -> str:
    """NFKC, case-folded, curly apostrophes straightened, spaces collapsed."""
    text = unicodedata.normalize("NFKC", str(text)).replace("\u2019", "'").replace("\u2018", "'")
    return " ".join(text.casefold().split())


def words(text: str) -> list[str]:
    """The words of a normalised text (letters and digits; hyphens and apostrophes split)."""
    return _WORD.findall(normalise(text))


@cache
def _stemmer(language: str):
    name = _SNOWBALL.get(language)
    if name is None:
        return None
    import snowballstemmer

    return snowballstemmer.stemmer(name) if name in snowballstemmer.algorithms() else None


def stem_languages() -> tuple[str, ...]:
    """ISO 639-1 codes stemmed with Snowball here; other languages match whole words."""
    return tuple(code for code in sorted(_SNOWBALL) if _stemmer(code) is not None)


def stems(tokens: Sequence[str], language: str) -> list[str]:
    """Snowball stems of words in ``language``; the words themselves where it has no stemmer."""
    stemmer = _stemmer(language)
    return list(stemmer.stemWords(list(tokens))) if stemmer is not None else list(tokens)


class ThemeMatcher:
    """Assigns texts to the instrument's themes by stemmed keywords and phrases."""

    def __init__(self, themes: Sequence[Theme]) -> None:
        self.themes = tuple(themes)
        self.languages = sorted({lang for t in self.themes for lang in t.keywords})
        # language -> [(theme id, single stems, phrases as stem tuples)]
        self._keys: dict[str, list[tuple[str, frozenset[str], tuple[tuple[str, ...], ...]]]] = {}
        for lang in self.languages:
            entries = []
            for t in self.themes:
                seqs = [tuple(stems(words(k), lang)) for k in t.keywords.get(lang, ())]
                seqs = [s for s in seqs if s]
                entries.append((t.id, frozenset(s[0] for s in seqs if len(s) == 1),
                                tuple(s for s in seqs if len(s) > 1)))
            self._keys[lang] = entries

    def match(self, text: str) -> tuple[str, ...]:
        """Ids of the themes ``text`` belongs to, in the instrument's order."""
        tokens = words(text)
        hit: set[str] = set()
        for lang, entries in self._keys.items():
            seq = stems(tokens, lang)
            present = set(seq)
            for theme, singles, phrases in entries:
                if theme in hit:
                    continue
                if singles & present or any(_contains(seq, p) for p in phrases):
                    hit.add(theme)
        return tuple(t.id for t in self.themes if t.id in hit)


def _contains(seq: Sequence[str], phrase: tuple[str, ...]) -> bool:
    n = len(phrase)
    return any(tuple(seq[i:i + n]) == phrase for i in range(len(seq) - n + 1)
               if seq[i] == phrase[0])


# --------------------------------------------------------------------------- sentiment


@cache
def _vader():
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


def sentiment_scores(texts: Iterable[str]) -> np.ndarray:
    """VADER compound scores in [-1, 1] (English)."""
    analyser = _vader()
    return np.array([analyser.polarity_scores(str(t))["compound"] for t in texts], dtype=float)


def sentiment_labels(texts: Iterable[str], *, language: str = "en") -> list[str | None]:
    """``positive`` / ``neutral`` / ``negative`` per text; None for every text when
    ``language`` is not one of :data:`SENTIMENT_LANGUAGES` (not scored rather than guessed)."""
    texts = list(texts)
    if language not in SENTIMENT_LANGUAGES:
        return [None] * len(texts)
    score = sentiment_scores(texts)
    return np.select([score >= POSITIVE_CUT, score <= NEGATIVE_CUT], ["positive", "negative"],
                     "neutral").tolist()


# --------------------------------------------------------------------------- emergent topics


@dataclass(frozen=True)
class Topic:
    id: str
    terms: tuple[str, ...]

    @property
    def name(self) -> str:
        return ", ".join(self.terms)


def _topic_words(text: str, language: str) -> list[tuple[str, str]]:
    """(stem, word) pairs a topic may be built from: no stop words, no digits, 3+ letters."""
    stop = _stop_words(language)
    toks = [w for w in words(text) if w.isalpha() and len(w) >= 3 and w not in stop and w not in _DROP]
    return list(zip(stems(toks, language), toks, strict=True))


@cache
def _stop_words(language: str) -> frozenset[str]:
    if language != "en":
        return frozenset()
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return frozenset(ENGLISH_STOP_WORDS)


def emergent_topics(texts: Sequence[str], *, k: int, language: str = "en", max_topics: int = 5,
                    top_terms: int = 3, seed: int = 0) -> tuple[list[Topic], list[str | None]]:
    """Topics of texts no theme claims (one text per respondent); each text's topic id.

    NMF (``init="nndsvda"``, deterministic for ``seed``) on TF-IDF of stems. Only stems
    used by at least ``k`` respondents enter the vocabulary, and a label word (the most
    used surface form of a stem) must itself be used by at least ``k`` respondents, so
    no label can come from a word fewer than ``k`` people wrote. A text is given its
    dominant topic (None when it has no vocabulary word). At most
    ``min(max_topics, len(texts) // k)`` topics.
    """
    texts = [str(t) for t in texts]
    none: list[str | None] = [None] * len(texts)
    if k < 1 or len(texts) < k or max_topics < 1:
        return [], none
    pairs = [_topic_words(t, language) for t in texts]
    stem_df = Counter(s for p in pairs for s in {s for s, _ in p})
    word_df = Counter(w for p in pairs for w in {w for _, w in p})
    vocab = sorted(s for s, c in stem_df.items() if c >= k and c < len(texts))
    n_topics = min(max_topics, len(texts) // k, len(vocab))
    if n_topics < 1:
        return [], none
    from sklearn.decomposition import NMF
    from sklearn.feature_extraction.text import TfidfVectorizer

    docs = [[s for s, _ in p] for p in pairs]
    x = TfidfVectorizer(analyzer=lambda doc: doc, vocabulary=vocab).fit_transform(docs)
    model = NMF(n_components=n_topics, init="nndsvda", random_state=seed, max_iter=1000)
    weights = model.fit_transform(x)
    surface: dict[str, Counter] = defaultdict(Counter)
    for p in pairs:
        for s, w in set(p):
            surface[s][w] += 1
    labels: dict[int, tuple[str, ...]] = {}
    for j, comp in enumerate(model.components_):
        terms: list[str] = []
        for i in np.argsort(-comp, kind="stable"):
            if comp[i] <= 0 or len(terms) == top_terms:
                break
            word, _ = max(surface[vocab[i]].items(), key=lambda kv: (kv[1], -len(kv[0]), kv[0]))
            if word_df[word] >= k and word not in terms:
                terms.append(word)
        if terms:
            labels[j] = tuple(terms)
    # components labelled by the same words are one topic to a reader: merge them
    first: dict[frozenset[str], int] = {}
    same = {j: first.setdefault(frozenset(t), j) for j, t in labels.items()}
    dominant = [int(np.argmax(row)) if row.size and row.max() > 1e-12 else -1 for row in weights]
    merged = [same.get(j, -1) for j in dominant]
    ids = {j: f"topic_{n + 1}" for n, j in enumerate(sorted({j for j in merged if j >= 0}))}
    topics = [Topic(ids[j], labels[j]) for j in sorted(ids)]
    return topics, [ids.get(j) for j in merged]


# --------------------------------------------------------------------------- assignment


def _ancestors(units: pd.DataFrame) -> dict[str, list[str]]:
    parent = dict(zip(units["unit_id"].astype(str), units["parent_id"], strict=True))
    out = {}
    for u in parent:
        chain, p = [], parent[u]
        while p is not None and not pd.isna(p) and str(p) in parent and len(chain) <= len(parent):
            chain.append(str(p))
            p = parent[str(p)]
        out[u] = chain
    return out


def outermost_cells(release: Release) -> pd.DataFrame:
    """Shown comment cells with no shown ancestor (per question): disjoint subtrees, so
    their texts are each respondent's comment once (``unit_id``, ``question``)."""
    comments = release.table("comments")
    anc = _ancestors(release.table("units"))
    shown = comments[["unit_id", "question"]].drop_duplicates()
    cells = set(zip(shown["unit_id"].astype(str), shown["question"].astype(str), strict=True))
    keep = [(u, q) for u, q in sorted(cells) if not any((a, q) in cells for a in anc.get(u, []))]
    return pd.DataFrame(keep, columns=["unit_id", "question"])


@dataclass(frozen=True)
class Assignments:
    """Every released comment row with its themes and sentiment, and the theme catalogue."""

    wave: str
    comments: pd.DataFrame          # unit_id, question, position, text, themes (tuple), sentiment
    catalogue: pd.DataFrame         # question, theme, theme_name, kind, construct, terms
    sentiment: str                  # SCORED or NOT_SCORED
    k: int


def assign_comments(release: Release, instrument: Instrument, *, language: str = "en",
                    max_topics: int = 5, seed: int = 0, emergent: bool = True) -> Assignments:
    """Themes (declared, then emergent topics) and sentiment of every released comment.

    Each is a function of the text alone (and, for topics, of the question's released
    texts), so a text gets the same themes in every cell that shows it.
    """
    k = int(release.thresholds.comments)
    comments = release.table("comments")
    comments = comments.assign(unit_id=comments["unit_id"].astype(str),
                               question=comments["question"].astype(str),
                               text=comments["text"].astype(str))
    matcher = ThemeMatcher(instrument.comment_themes)
    texts = pd.unique(comments["text"]).tolist()
    declared = {t: matcher.match(t) for t in texts}
    labels = dict(zip(texts, sentiment_labels(texts, language=language), strict=True))

    catalogue = [{"question": q, "theme": t.id, "theme_name": t.name,
                  "kind": "construct" if t.construct else "instrument", "construct": t.construct,
                  "terms": ""} for q in sorted(comments["question"].unique()) for t in matcher.themes]
    topic_of: dict[tuple[str, str], str | None] = {}
    if emergent:
        outer = outermost_cells(release).merge(comments, on=["unit_id", "question"])
        for q, part in outer.groupby("question", sort=True):
            corpus = [t for t in part["text"] if not declared[t]]
            topics, ids = emergent_topics(corpus, k=k, language=language, max_topics=max_topics,
                                          seed=seed)
            topic_of.update({(q, t): i for t, i in zip(corpus, ids, strict=True)})
            catalogue += [{"question": q, "theme": tp.id, "theme_name": tp.name, "kind": "emergent",
                           "construct": None, "terms": tp.name} for tp in topics]

    def themes_of(q: str, t: str) -> tuple[str, ...]:
        if declared[t]:
            return declared[t]
        topic = topic_of.get((q, t))
        return (topic,) if topic else (UNTHEMED,)

    comments["themes"] = [themes_of(q, t) for q, t in zip(comments["question"], comments["text"],
                                                          strict=True)]
    comments["sentiment"] = comments["text"].map(labels)
    cat = pd.DataFrame(catalogue, columns=["question", "theme", "theme_name", "kind", "construct",
                                           "terms"])
    return Assignments(release.wave, comments, cat,
                       SCORED if language in SENTIMENT_LANGUAGES else NOT_SCORED, k)


# --------------------------------------------------------------------------- tables


def _shares(sent: pd.Series) -> dict[str, float]:
    known = sent.dropna()
    if known.empty:
        return dict.fromkeys(SENTIMENTS, np.nan)
    return {s: float((known == s).mean()) for s in SENTIMENTS}


def theme_table(assigned: Assignments) -> pd.DataFrame:
    """``comment_themes`` of one wave: per shown comment cell its comments as a whole
    (theme ``_all``) and each theme at least one of its comments has; counts below the
    comment threshold withheld (``status`` suppressed, no numbers)."""
    c = assigned.comments
    meta = {(r.question, r.theme): r for r in assigned.catalogue.itertuples()}
    rows = []
    for (unit, q), cell in c.groupby(["unit_id", "question"], sort=True):
        total = len(cell)
        rows.append({"unit_id": unit, "question": q, "theme": ALL, "theme_name": "All comments",
                     "kind": "all", "construct": None, "terms": "", "n": float(total), "share": 1.0,
                     **_shares(cell["sentiment"]), "status": RELEASED})
        exploded = cell.explode("themes")
        order = {t: i for i, t in enumerate(assigned.catalogue.loc[
            assigned.catalogue["question"] == q, "theme"])}
        for theme, part in sorted(exploded.groupby("themes"), key=lambda g: order.get(g[0], 1e9)):
            m = meta.get((q, theme))
            count = len(part)
            shown = count >= assigned.k
            rows.append({"unit_id": unit, "question": q, "theme": theme,
                         "theme_name": m.theme_name if m else "No theme",
                         "kind": m.kind if m else "none", "construct": m.construct if m else None,
                         "terms": m.terms if m else "",
                         "n": float(count) if shown else np.nan,
                         "share": count / total if shown else np.nan,
                         **(_shares(part["sentiment"]) if shown else dict.fromkeys(SENTIMENTS, np.nan)),
                         "status": RELEASED if shown else SUPPRESSED})
    out = pd.DataFrame(rows, columns=[c for c in THEME_COLUMNS if c != "wave"])
    out.insert(0, "wave", assigned.wave)
    out["sentiment"] = assigned.sentiment
    return out


def _shuffle_key(*parts: object) -> str:
    return hashlib.sha256("|".join(map(str, parts)).encode("utf-8")).hexdigest()


def theme_examples(assigned: Assignments, themes: pd.DataFrame, *, per_theme: int = EXAMPLES
                   ) -> pd.DataFrame:
    """Up to ``per_theme`` released texts per shown theme row, in a stable shuffled order
    (a hash of wave, cell, theme and the comment's released position); none for ``_all``
    or for a theme whose count is withheld."""
    shown = themes[(themes["status"] == RELEASED) & (themes["theme"] != ALL)]
    keys = set(zip(shown["unit_id"], shown["question"], shown["theme"], strict=True))
    ex = assigned.comments.explode("themes")
    ex = ex[np.array([(u, q, t) in keys for u, q, t in zip(ex["unit_id"], ex["question"],
                                                            ex["themes"], strict=True)], dtype=bool)]
    rows = []
    for (unit, q, theme), part in ex.groupby(["unit_id", "question", "themes"], sort=True):
        part = part.assign(key=[_shuffle_key(assigned.wave, unit, q, theme, p) for p in part["position"]])
        seen: set[str] = set()
        for text in part.sort_values("key")["text"]:
            if normalise(text) in seen:
                continue
            seen.add(normalise(text))
            rows.append({"wave": assigned.wave, "unit_id": unit, "question": q, "theme": theme,
                         "example": len(seen), "text": text})
            if len(seen) == per_theme:
                break
    return pd.DataFrame(rows, columns=EXAMPLE_COLUMNS)


def _counts(assigned: Assignments) -> tuple[pd.DataFrame, pd.Series]:
    ex = assigned.comments.explode("themes")
    counts = ex.groupby(["unit_id", "question", "themes"]).size().rename("x").reset_index()
    totals = assigned.comments.groupby(["unit_id", "question"]).size().rename("total")
    return counts.rename(columns={"themes": "theme"}), totals


def theme_changes(now: Assignments, before: Assignments, *, units: Sequence[str] | None = None,
                  alpha: float = 0.05) -> pd.DataFrame:
    """Declared themes that grew or shrank between two waves, per unit and question.

    Share of a cell's comments with the theme now minus before, Newcombe's hybrid score
    interval and the pooled two-proportion test (:func:`culture.stats.change.newcombe_diff`,
    R ``prop.test(correct = FALSE)``), Benjamini-Hochberg across the themes of each unit
    and question.
    Only cells shown in both waves. Both waves largely ask the same people, so the
    samples are not independent; the test ignores that. Emergent topics are fitted per
    wave and are not compared.

    A count below the comment threshold is never shown: its ``n`` and share are
    missing, and so are ``diff``, the interval, ``p`` and ``q`` (they would give it
    back); ``change`` (grew / shrank / no clear change, at ``q < alpha``) is still said.
    """
    k = now.k
    x_now, t_now = _counts(now)
    x_before, t_before = _counts(before)
    declared = now.catalogue[now.catalogue["kind"].isin(["construct", "instrument"])]
    cells = t_now.index.intersection(t_before.index)
    if units is not None:
        cells = cells[cells.get_level_values(0).isin([str(u) for u in units])]
    grid = pd.DataFrame(list(cells), columns=["unit_id", "question"]).merge(declared, on="question")
    grid = (grid.merge(x_now.rename(columns={"x": "x_now"}), how="left",
                       on=["unit_id", "question", "theme"])
                .merge(x_before.rename(columns={"x": "x_before"}), how="left",
                       on=["unit_id", "question", "theme"]))
    grid[["x_now", "x_before"]] = grid[["x_now", "x_before"]].fillna(0)
    grid = grid[(grid["x_now"] + grid["x_before"]) > 0].reset_index(drop=True)
    if grid.empty:
        return pd.DataFrame(columns=CHANGE_COLUMNS)
    key = pd.MultiIndex.from_frame(grid[["unit_id", "question"]])
    n_now, n_before = t_now.reindex(key).to_numpy(float), t_before.reindex(key).to_numpy(float)
    test = newcombe_diff(grid["x_now"].to_numpy(float), n_now, grid["x_before"].to_numpy(float),
                         n_before)
    # the family is a cell's themes: each unit's brief reads its own question's themes
    q = np.full(len(grid), np.nan)
    for rows in grid.groupby(["unit_id", "question"]).indices.values():
        q[rows] = np.asarray(benjamini_hochberg(test["p"].to_numpy()[rows]))
    diff = test["diff"].to_numpy()
    change = np.where(q < alpha, np.where(diff > 0, "grew", "shrank"), "no clear change")
    shown_now, shown_before = grid["x_now"] >= k, grid["x_before"] >= k
    both = (shown_now & shown_before).to_numpy()
    out = pd.DataFrame({
        "unit_id": grid["unit_id"], "question": grid["question"], "theme": grid["theme"],
        "theme_name": grid["theme_name"], "kind": grid["kind"], "construct": grid["construct"],
        "wave_before": before.wave, "wave": now.wave,
        "n_before": grid["x_before"].where(shown_before), "share_before":
            (grid["x_before"] / n_before).where(shown_before),
        "n_now": grid["x_now"].where(shown_now), "share_now": (grid["x_now"] / n_now).where(shown_now),
        "diff": np.where(both, diff, np.nan), "ci_low": np.where(both, test["ci_low"], np.nan),
        "ci_high": np.where(both, test["ci_high"], np.nan),
        "p": np.where(both, test["p"], np.nan), "q": np.where(both, q, np.nan),
        "change": change, "status": np.where(both, RELEASED, SUPPRESSED)})
    return out[CHANGE_COLUMNS].astype({"n_before": float, "n_now": float})


def _root(release: Release) -> str:
    units = release.table("units")
    return str(units.loc[units["parent_id"].isna(), "unit_id"].iloc[0])


def analyse_comment_themes(releases: Mapping[str, Release], instrument: Instrument, *, wave: str,
                           language: str = "en", max_topics: int = 5, seed: int = 0,
                           change_units: Sequence[str] | None = None
                           ) -> tuple[dict[str, pd.DataFrame], list[str]]:
    """The comment tables of the pack for ``wave`` from released comment cells only.

    Returns ``({"comment_themes", "comment_theme_examples", "comment_theme_changes"},
    notes)``. Changes compare with the latest earlier wave in ``releases``, for the
    organisation (the root unit) unless ``change_units`` names others.
    """
    if wave not in releases:
        raise ConfigError(f"wave {wave!r} is not among the released waves {', '.join(sorted(releases))}")
    opts = {"language": language, "max_topics": max_topics, "seed": seed}
    now = assign_comments(releases[wave], instrument, **opts)
    themes = theme_table(now)
    tables = {"comment_themes": themes, "comment_theme_examples": theme_examples(now, themes)}
    notes = []
    if not instrument.comment_themes:
        notes.append("The instrument declares no comment themes: comments are grouped into "
                     "emergent topics only.")
    earlier = sorted(w for w in releases if w < wave)
    if earlier:
        before = assign_comments(releases[earlier[-1]], instrument, **{**opts, "emergent": False})
        units = list(change_units) if change_units is not None else [_root(releases[wave])]
        tables["comment_theme_changes"] = theme_changes(now, before, units=units)
    else:
        tables["comment_theme_changes"] = pd.DataFrame(columns=CHANGE_COLUMNS)
        notes.append(f"No wave before {wave}: comment themes are not compared over time.")
    if language in SENTIMENT_LANGUAGES:
        notes.append(SENTIMENT_NOTE)
    else:
        notes.append(f"Comment sentiment is not scored for language {language!r}: only "
                     f"{', '.join(SENTIMENT_LANGUAGES)} is supported.")
    return tables, notes


# --------------------------------------------------------------------------- audit


@dataclass(frozen=True)
class ThemeAudit(Result):
    """Result of :func:`audit_themes`: ``problems`` (one sentence each) and rows checked."""

    problems: tuple[str, ...]
    rows_checked: int
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def passed(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        if self.passed:
            return f"comment theme audit passed: {self.rows_checked} row(s) checked"
        return (f"comment theme audit FAILED: {len(self.problems)} problem(s) in "
                f"{self.rows_checked} row(s)")

    def require_pass(self) -> None:
        if not self.passed:
            raise ConfidentialityError(self.summary() + "\n  - " + "\n  - ".join(self.problems[:100]))


def audit_themes(themes: pd.DataFrame, release: Release, instrument: Instrument, *,
                 examples: pd.DataFrame | None = None, changes: pd.DataFrame | None = None,
                 language: str = "en", max_topics: int = 5, seed: int = 0) -> ThemeAudit:
    """Check comment theme tables against the release they claim to come from.

    Re-derives each text's themes from the release's ``comments`` table and checks that
    every row of ``themes`` names a shown comment cell of this wave, that a shown count
    is at least the comment threshold and equals the number of that cell's released
    texts with the theme (its share and the cell total agree), that a withheld row
    carries no number and stands for 1..k-1 texts, that every example is a released
    text of its cell with its theme (at most :data:`EXAMPLES`, only for shown rows), and
    that ``changes`` shows no count below the threshold.
    """
    k = int(release.thresholds.comments)
    problems: list[str] = []
    texts = release.table("comments")
    cells = set(zip(texts["unit_id"].astype(str), texts["question"].astype(str), strict=True))
    assigned = assign_comments(release, instrument, language=language, max_topics=max_topics,
                               seed=seed)
    counts, totals = _counts(assigned)
    expect = {(r.unit_id, r.question, r.theme): int(r.x) for r in counts.itertuples()}
    expect.update({(u, q, ALL): int(n) for (u, q), n in totals.items()})
    checked = 0
    for r in themes.itertuples(index=False):
        checked += 1
        cell = (str(r.unit_id), str(r.question))
        where = f"comment_themes unit {cell[0]}, question {cell[1]}, theme {r.theme}"
        if "wave" in themes.columns and str(r.wave) != release.wave:
            problems.append(f"{where}: wave {r.wave} is not the release's wave {release.wave}")
        if cell not in cells:
            problems.append(f"{where}: no comment cell is shown for this unit and question")
            continue
        true = expect.get((*cell, str(r.theme)), 0)
        n = pd.to_numeric(pd.Series([r.n]), errors="coerce").iloc[0]
        if pd.notna(n):
            if n < k:
                problems.append(f"{where}: a count below the comment threshold k = {k} is shown")
            if int(n) != true or r.status != RELEASED:
                problems.append(f"{where}: the count does not match the released texts")
            total = expect[(*cell, ALL)]
            if pd.isna(r.share) or abs(float(r.share) - true / total) > 1e-9:
                problems.append(f"{where}: the share does not match the released texts")
        else:
            if not 0 < true < k:
                problems.append(f"{where}: withheld, but the released texts do not give 1 to k-1 "
                                "comments with this theme")
            if any(pd.notna(getattr(r, c)) for c in ("share", *SENTIMENTS)):
                problems.append(f"{where}: a withheld row carries numbers")
    if examples is not None and not examples.empty:
        shown = themes[(themes["status"] == RELEASED) & (themes["theme"] != ALL)]
        keys = set(zip(shown["unit_id"].astype(str), shown["question"].astype(str),
                       shown["theme"].astype(str), strict=True))
        per = assigned.comments.explode("themes")
        texts_of = per.groupby(["unit_id", "question", "themes"])["text"].agg(lambda s: set(s.map(normalise)))
        for (u, q, t), part in examples.groupby(["unit_id", "question", "theme"]):
            checked += len(part)
            key = (str(u), str(q), str(t))
            where = f"comment_theme_examples unit {u}, question {q}, theme {t}"
            if key not in keys:
                problems.append(f"{where}: examples of a theme whose count is not shown")
            if len(part) > EXAMPLES:
                problems.append(f"{where}: more than {EXAMPLES} examples")
            allowed = texts_of.get(key, set())
            if any(normalise(x) not in allowed for x in part["text"]):
                problems.append(f"{where}: an example is not a released text of this cell and theme")
    if changes is not None and not changes.empty:
        for col in ("n_before", "n_now"):
            small = pd.to_numeric(changes[col], errors="coerce") < k
            checked += len(changes)
            if small.any():
                problems.append(f"comment_theme_changes: {int(small.sum())} row(s) show {col} below "
                                f"the comment threshold k = {k}")
        partial = changes[["n_before", "n_now"]].isna().any(axis=1)
        leaks = partial & changes[["diff", "ci_low", "ci_high", "p", "q"]].notna().any(axis=1)
        if leaks.any():
            problems.append(f"comment_theme_changes: {int(leaks.sum())} row(s) with a withheld count "
                            "show a difference, interval or p value that would give it back")
    return ThemeAudit(tuple(problems), checked)
