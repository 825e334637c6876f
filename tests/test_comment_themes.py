"""Comment themes and sentiment: accuracy where it can be measured, the comment threshold
everywhere, and recovery of the themes planted in the synthetic organisation.

Measured numbers (rerun with ``.venv/bin/pytest -q tests/test_comment_themes.py``; the
asserts below hold them with the stated tolerance):

* theme assignment with the shipped instrument's English keywords, micro-averaged over
  (comment, theme) pairs:
  - ``labelled_en.csv`` (62 comments, written before the keyword lists, which were then
    adjusted while reading it, so this is in-sample): precision 0.985, recall 0.917;
  - ``holdout_en.csv`` (30 comments written after the keyword lists were frozen, never
    used to change them): precision 0.667, recall 0.188. Keyword lists catch the words
    their authors foresaw; on new wording most themed comments are missed (they land in
    the emergent topics or "no theme").
* sentiment (VADER 3.3.2, English), three classes, against the mean of 20 human raters
  in the four sets of Hutto & Gilbert (2014), ICWSM-14, shipped in the vaderSentiment
  3.3.2 source distribution on PyPI (``additional_resources/hutto_ICWSM_2014.tar.gz``);
  truth = mean rating / 4 cut at +-0.05 as in the paper: all 23,703 snippets agreement
  0.615, Cohen's kappa 0.370; tweets 0.899 (r = 0.872 with the mean rating; the paper
  reports r = 0.881), movie reviews 0.553, product reviews 0.587, NYT editorials 0.533.
  On our own 92 labelled workplace comments (not a public set): agreement 0.457.
"""

from __future__ import annotations

import copy
import hashlib
import io
import os
import re
import socket
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from culture.analysis import comment_themes as ct
from culture.boundary.bundle import Bundle
from culture.boundary.release import RELEASED, SUPPRESSED, Release, Thresholds
from culture.errors import ConfidentialityError, InstrumentError
from culture.measure.instrument import parse_instrument
from culture.resources import default_instrument_path

FIXTURES = Path(__file__).parent / "fixtures" / "comments"
VADER_SDIST = "vaderSentiment-3.3.2.tar.gz"
VADER_SHA256 = "5d7c06e027fc8b99238edb0d53d970cf97066ef97654009890b83703849632f9"
HUTTO_SETS = ("tweets", "movieReviewSnippets", "amazonReviewSnippets", "nytEditorialSnippets")


@pytest.fixture()
def doc():
    return yaml.safe_load(default_instrument_path().read_text(encoding="utf-8"))


def _labelled(name: str) -> pd.DataFrame:
    return pd.read_csv(FIXTURES / name, keep_default_na=False)


def _precision_recall(instrument, frame: pd.DataFrame) -> tuple[float, float]:
    matcher = ct.ThemeMatcher(instrument.comment_themes)
    tp = fp = fn = 0
    for text, themes in zip(frame["text"], frame["themes"], strict=True):
        truth = {t for t in themes.split(";") if t}
        found = set(matcher.match(text))
        tp, fp, fn = tp + len(truth & found), fp + len(found - truth), fn + len(truth - found)
    return tp / (tp + fp), tp / (tp + fn)


# --------------------------------------------------------------------------- instrument


def test_shipped_themes_parse(instrument):
    themes = {t.id: t for t in instrument.comment_themes}
    culture = {c.id for c in instrument.constructs}
    assert culture <= set(themes), "every construct of the shipped survey has English keywords"
    assert {"workload", "handovers", "safety"} <= set(themes)
    assert themes["communication"].construct == "communication"
    assert themes["communication"].name == instrument.construct("communication").name
    assert themes["workload"].construct is None
    assert all(t.languages == ("en",) and t.keywords["en"] for t in themes.values())


def test_an_instrument_without_themes_stays_valid(doc):
    doc.pop("themes")
    for c in doc["constructs"]:
        c.pop("themes", None)
    inst = parse_instrument(doc, source="plain.yaml")
    assert inst.comment_themes == () and inst.themes == ()


def test_malformed_themes_are_all_reported_with_their_path(doc):
    bad = copy.deepcopy(doc)
    bad["constructs"][1]["themes"] = {"english": ["talk"], "de": [], "fr": ["ok", 7, "OK"]}
    bad["constructs"][2]["themes"] = ["not", "a", "mapping"]
    bad["themes"] += [
        {"id": "workload", "name": "Again", "keywords": {"en": ["x"]}},       # duplicate id
        {"id": "communication", "name": "Clash", "keywords": {"en": ["y"]}},  # a construct id
        {"id": "3bad", "name": "", "keywords": "busy", "colour": "red"},
    ]
    with pytest.raises(InstrumentError) as err:
        parse_instrument(bad, source="test.yaml")
    found = [(p.where, p.message) for p in err.value.problems]
    text = "\n".join(f"{w}: {m}" for w, m in found)
    expected = [
        "constructs[communication].themes.english: language 'english' must be an ISO 639-1 code",
        "constructs[communication].themes.de: expected a non-empty list",
        "constructs[communication].themes.fr[1]: keyword 7 must be text",
        "constructs[communication].themes.fr[2]: keyword 'OK' is listed twice",
        "constructs[ownership].themes: expected a non-empty mapping language -> list of keywords",
        "themes: duplicate theme id 'workload'",
        "themes[communication].id: theme id 'communication' is a construct id",
        "themes[5]: unknown key 'colour'",
        "themes[5].id: id '3bad' must start with a letter",
        "themes[3bad].name: theme name must be non-empty text",
        "themes[3bad].keywords: expected a non-empty mapping",
    ]
    for fragment in expected:
        assert fragment in text, f"{fragment!r} not in\n{text}"
    assert f"{len(found)} problem(s)" in str(err.value) and "test.yaml" in str(err.value)


# --------------------------------------------------------------------------- matching


def test_theme_assignment_on_the_labelled_fixture(instrument):
    frame = _labelled("labelled_en.csv")
    assert len(frame) >= 60
    precision, recall = _precision_recall(instrument, frame)
    # measured 0.985 and 0.917 (in-sample: the keywords were adjusted while reading it)
    assert precision >= 0.95 and recall >= 0.88, (precision, recall)


def test_theme_assignment_on_held_out_comments(instrument):
    precision, recall = _precision_recall(instrument, _labelled("holdout_en.csv"))
    # measured 0.667 and 0.188 on wording the keyword lists never saw: recall is poor
    assert precision >= 0.6 and recall >= 0.15, (precision, recall)
    assert recall < 0.5, "if recall improved, update the measured numbers in the docs"


def test_keywords_are_stemmed_and_phrases_match_as_stem_sequences():
    from culture.measure.instrument import Theme

    matcher = ct.ThemeMatcher([
        Theme("rc", "Root causes", {"en": ["root cause"]}),
        Theme("train", "Training", {"en": ["training"], "de": ["Schulung"]}),
        Theme("loop", "Kept informed", {"en": ["in the loop"]}),
        Theme("ja", "Japanese", {"ja": ["品質"]}),     # no Snowball stemmer: whole words
    ])
    assert matcher.match("We never look for ROOT-CAUSES.") == ("rc",)
    assert matcher.match("The cause is at the root of it") == ()
    assert matcher.match("Nobody trained me") == ("train",)
    assert matcher.match("Mehr Schulungen für neue Kollegen") == ("train",)
    assert matcher.match("Keep us in the loop, please") == ("loop",)
    assert matcher.match("in loop the") == ()
    assert matcher.match("品質 が 大事") == ("ja",)
    assert "en" in ct.stem_languages() and "de" in ct.stem_languages()


# --------------------------------------------------------------------------- sentiment


def test_vader_lexicon_ships_in_the_wheel_and_nothing_is_fetched(monkeypatch):
    from importlib.resources import files

    assert files("vaderSentiment").joinpath("vader_lexicon.txt").is_file()

    def no_network(*args, **kwargs):
        raise AssertionError("sentiment tried to open a network connection")

    ct._vader.cache_clear()
    monkeypatch.setattr(socket, "socket", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    assert ct.sentiment_labels(["Great support from my manager.", "The tools are terrible.",
                                "The form has three pages."]) == ["positive", "negative", "neutral"]


def test_other_languages_are_not_scored():
    assert ct.sentiment_labels(["Sehr gut", "schlecht"], language="de") == [None, None]
    assert ct.SENTIMENT_LANGUAGES == ("en",)


def test_sentiment_on_workplace_comments():
    """Our own labels (not a public set): how VADER reads employee comments."""
    frame = pd.concat([_labelled("labelled_en.csv"), _labelled("holdout_en.csv")])
    agree = float(np.mean(np.array(ct.sentiment_labels(frame["text"])) == frame["sentiment"]))
    assert len(frame) == 92
    assert agree == pytest.approx(0.457, abs=0.03)   # measured 42/92
    assert "46%" in ct.SENTIMENT_NOTE


def _hutto_sdist() -> Path:
    cache = Path(os.environ.get("CULTURE_TEST_DATA", Path.home() / ".cache" / "culture-test-data"))
    path = cache / VADER_SDIST
    if not path.exists():
        cache.mkdir(parents=True, exist_ok=True)
        run = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary",
                              ":all:", "vaderSentiment==3.3.2", "-d", str(cache)],
                             capture_output=True, text=True, timeout=600)
        if run.returncode != 0 or not path.exists():
            pytest.skip("the vaderSentiment 3.3.2 source distribution (with the human-rated sets) "
                        f"could not be fetched from PyPI: {run.stderr.strip()[-300:]}")
    assert hashlib.sha256(path.read_bytes()).hexdigest() == VADER_SHA256
    return path


def _hutto_ratings() -> dict[str, pd.DataFrame]:
    with tarfile.open(_hutto_sdist()) as outer:
        blob = outer.extractfile("vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014.tar.gz")
        inner = tarfile.open(fileobj=io.BytesIO(blob.read()))
    out = {}
    for name in HUTTO_SETS:
        raw = inner.extractfile(f"hutto_ICWSM_2014/{name}_GroundTruth.txt").read()
        rows = [line.split("\t", 2) for line in raw.decode("utf-8", errors="replace").splitlines()
                if line.strip()]
        out[name] = pd.DataFrame(rows, columns=["id", "rating", "text"]).astype({"rating": float})
    return out


def _classes(score: np.ndarray) -> np.ndarray:
    return np.select([score >= 0.05, score <= -0.05], ["positive", "negative"], "neutral")


@pytest.mark.slow
def test_sentiment_agreement_with_human_ratings():
    """Hutto & Gilbert (2014): 20 raters per snippet on -4..4; three classes as in the paper."""
    from sklearn.metrics import cohen_kappa_score

    sets = _hutto_ratings()
    truth, found, measured = [], [], {}
    for name, frame in sets.items():
        score = ct.sentiment_scores(frame["text"])
        t, f = _classes(frame["rating"].to_numpy() / 4), _classes(score)
        measured[name] = (float(np.mean(t == f)), float(np.corrcoef(score, frame["rating"])[0, 1]))
        truth += list(t)
        found += list(f)
    truth, found = np.array(truth), np.array(found)
    assert len(truth) == 23703
    assert float(np.mean(truth == found)) == pytest.approx(0.615, abs=0.01)
    assert cohen_kappa_score(truth, found) == pytest.approx(0.370, abs=0.01)
    assert measured["tweets"][0] == pytest.approx(0.899, abs=0.01)
    assert measured["tweets"][1] == pytest.approx(0.881, abs=0.015)     # the paper's r
    for name, acc in (("movieReviewSnippets", 0.553), ("amazonReviewSnippets", 0.587),
                      ("nytEditorialSnippets", 0.533)):
        assert measured[name][0] == pytest.approx(acc, abs=0.01), name
    assert "62%" in ct.SENTIMENT_NOTE and "kappa 0.37" in ct.SENTIMENT_NOTE


# --------------------------------------------------------------------------- rare words


def test_a_rare_word_never_becomes_a_topic_label():
    k = 5
    texts = ([f"Parking spaces are full again ({i})" for i in range(12)]
             + [f"The canteen closes early on Fridays ({i})" for i in range(k)]       # k people
             + [f"My locker is broken ({i})" for i in range(k - 1)]                 # k-1 people
             + ["Zeppelin zeppelin zeppelin zeppelin zeppelin zeppelin!"])           # one person
    topics, ids = ct.emergent_topics(texts, k=k, max_topics=5)
    words = {w for t in topics for w in t.terms}
    assert "zeppelin" not in words and "locker" not in words
    assert "canteen" in words, "a word k respondents used may label a topic"
    assert "parking" in words
    assert ids[-1] is None, "a comment made only of rare words joins no topic"
    assert len(ids) == len(texts)


def test_emergent_topics_need_k_texts():
    assert ct.emergent_topics(["Parking is full"] * 4, k=5) == ([], [None] * 4)


# --------------------------------------------------------------------------- releases


def _release(comments: pd.DataFrame, *, wave: str = "2025Q1", units: pd.DataFrame | None = None,
             k: int = 5) -> Release:
    if units is None:
        units = pd.DataFrame({"unit_id": ["ORG", "A", "B"], "name": ["Org", "A", "B"],
                              "parent_id": [None, "ORG", "ORG"], "level": ["organisation", "site", "site"],
                              "status": [RELEASED] * 3})
    empty = pd.DataFrame()
    th = Thresholds(comments=k, distributions=max(k, 10))
    return Release(wave=wave, instrument_id="leadership-quality-culture", instrument_version="1",
                   thresholds=th, demographic=None,
                   _tables={"units": units, "scores": empty, "items": empty, "response_rates": empty,
                            "cuts": empty, "comments": comments})


def _cells(rows: dict[tuple[str, str], list[str]]) -> pd.DataFrame:
    out = []
    for (unit, q), texts in rows.items():
        out += [{"unit_id": unit, "question": q, "position": i + 1, "text": t} for i, t in enumerate(texts)]
    return pd.DataFrame(out, columns=["unit_id", "question", "position", "text"])


COMM = "Nobody explains why the targets changed."
TOOLS = "We need better tools for the job."
OTHER = "The weather was fine."


@pytest.fixture()
def hand_release():
    # A shown with 6 comments (k = 5): 5 about communication, 1 about tools; B withheld;
    # ORG shows A's comments and 5 more of B's people (who are not shown on their own).
    a = [COMM] * 5 + [TOOLS]
    org = a + [TOOLS, TOOLS, TOOLS, OTHER, "<script>alert('x')</script> tools are bad"]
    return _release(_cells({("A", "Q1"): a, ("ORG", "Q1"): org}))


def test_theme_rows_only_for_shown_cells_and_small_counts_withheld(instrument, hand_release):
    assigned = ct.assign_comments(hand_release, instrument)
    themes = ct.theme_table(assigned)
    assert set(themes["unit_id"]) == {"A", "ORG"}, "no theme row for the withheld unit B"
    a = themes[themes["unit_id"] == "A"].set_index("theme")
    assert a.at[ct.ALL, "n"] == 6
    assert a.at["communication", "n"] == 5 and a.at["communication", "share"] == pytest.approx(5 / 6)
    assert a.at["resources", "status"] == SUPPRESSED
    assert a.loc["resources", ["n", "share", "positive", "neutral", "negative"]].isna().all()
    org = themes[themes["unit_id"] == "ORG"].set_index("theme")
    assert org.at["resources", "n"] == 5 and org.at["resources", "status"] == RELEASED
    examples = ct.theme_examples(assigned, themes)
    assert set(zip(examples["unit_id"], examples["theme"], strict=True)) == {
        ("A", "communication"), ("ORG", "communication"), ("ORG", "resources")}
    assert examples.groupby(["unit_id", "theme"]).size().max() <= ct.EXAMPLES
    assert ct.audit_themes(themes, hand_release, instrument, examples=examples).passed


def test_the_audit_catches_forged_rows(instrument, hand_release):
    assigned = ct.assign_comments(hand_release, instrument)
    themes = ct.theme_table(assigned)
    examples = ct.theme_examples(assigned, themes)

    def problems(t=themes, e=examples):
        result = ct.audit_themes(t, hand_release, instrument, examples=e)
        assert not result.passed
        with pytest.raises(ConfidentialityError):
            result.require_pass()
        return "\n".join(result.problems)

    withheld = themes[themes["unit_id"] == "A"].assign(unit_id="B")   # B's cell is not shown
    assert "no comment cell is shown" in problems(pd.concat([themes, withheld]))
    wrong = themes.copy()
    wrong.loc[(wrong["unit_id"] == "ORG") & (wrong["theme"] == "communication"), "n"] = 7.0
    assert "count does not match the released texts" in problems(wrong)
    small = themes.copy()
    row = (small["unit_id"] == "A") & (small["theme"] == "resources")
    small.loc[row, ["n", "share", "status"]] = [1.0, 1 / 6, RELEASED]
    assert "below the comment threshold" in problems(small)
    invented = themes.copy()
    invented.loc[row, "theme"] = "safety"                   # no released text is about safety
    assert "do not give 1 to k-1" in problems(invented)
    fake = pd.concat([examples, examples.head(1).assign(text="Someone else's words entirely")])
    assert "not a released text" in problems(e=fake)
    hidden = pd.concat([examples, pd.DataFrame([{"wave": "2025Q1", "unit_id": "A", "question": "Q1",
                                                  "theme": "resources", "example": 1, "text": TOOLS}])])
    assert "whose count is not shown" in problems(e=hidden)


def test_changes_show_no_count_below_k(instrument):
    before = _release(_cells({("A", "Q1"): [OTHER] * 9 + [COMM], ("ORG", "Q1"): [OTHER] * 9 + [COMM]}),
                      wave="2024Q4")
    now = _release(_cells({("A", "Q1"): [OTHER] * 3 + [COMM] * 7, ("ORG", "Q1"): [OTHER] * 3 + [COMM] * 7}))
    tables, notes = ct.analyse_comment_themes({"2024Q4": before, "2025Q1": now}, instrument,
                                              wave="2025Q1", change_units=["A"])
    ch = tables["comment_theme_changes"].set_index("theme")
    row = ch.loc["communication"]
    assert pd.isna(row["n_before"]) and row["n_now"] == 7
    assert row[["share_before", "diff", "ci_low", "ci_high", "p", "q"]].isna().all()
    assert row["change"] == "grew" and row["status"] == SUPPRESSED
    assert ct.audit_themes(tables["comment_themes"], now, instrument,
                           examples=tables["comment_theme_examples"],
                           changes=tables["comment_theme_changes"]).passed
    forged = tables["comment_theme_changes"].assign(n_before=1.0)
    result = ct.audit_themes(tables["comment_themes"], now, instrument, changes=forged)
    assert any("n_before below" in p for p in result.problems)
    assert ct.SENTIMENT_NOTE in notes


# --------------------------------------------------------------------------- synthetic truth


@pytest.fixture(scope="module")
def small_releases(small_org, instrument):
    from culture.pipeline.waves import synthetic_releases

    waves = sorted({e.wave for e in small_org.truth.events}
                   | {small_org.waves[small_org.waves.index(e.wave) - k]
                      for e in small_org.truth.events for k in (1, 2)})
    return synthetic_releases(small_org, instrument, waves=waves, comments=True)


def test_synthetic_comments_carry_the_planted_themes(small_org):
    from culture.synth.organisation import PLANTED_COMMENTS

    texts = set(small_org.responses[["COMMENT_IMPROVE", "COMMENT_LEADERS"]].stack().dropna())
    for event in small_org.truth.events:
        bank = PLANTED_COMMENTS[(event.construct, int(np.sign(event.latent_shift)))]
        assert set(bank) & texts, event


def test_the_planted_theme_grows_where_and_when_it_was_planted(small_org, small_releases, instrument):
    event = next(e for e in small_org.truth.events if e.construct == "communication")
    i = small_org.waves.index(event.wave)
    prev, prev2 = small_org.waves[i - 1], small_org.waves[i - 2]
    tables, _ = ct.analyse_comment_themes({w: small_releases[w] for w in (prev, event.wave)},
                                          instrument, wave=event.wave, change_units=[event.unit_id])
    ch = tables["comment_theme_changes"]
    mine = ch[ch["theme"] == "communication"]
    # a few dozen comments per question: the growth is clear in at least one question
    assert (mine["change"] == "grew").any() and not (mine["change"] == "shrank").any(), mine
    themes = tables["comment_themes"]
    now = themes[(themes["unit_id"] == event.unit_id) & (themes["theme"] == "communication")]
    assert (now["status"] == RELEASED).all() and (now["share"] > 0.4).all(), now
    # sentiment of the planted complaints leans negative
    assert (now["negative"] > now["positive"]).all(), now
    # placebo: the wave before the event shows no growth of communication comments there
    before, _ = ct.analyse_comment_themes({w: small_releases[w] for w in (prev2, prev)}, instrument,
                                          wave=prev, change_units=[event.unit_id])
    placebo = before["comment_theme_changes"]
    assert not ((placebo["theme"] == "communication") & (placebo["change"] == "grew")).any()
    for wave in (prev, event.wave):
        t, _ = ct.analyse_comment_themes({wave: small_releases[wave]}, instrument, wave=wave)
        assert ct.audit_themes(t["comment_themes"], small_releases[wave], instrument,
                               examples=t["comment_theme_examples"]).passed


def test_theme_tables_pass_the_leak_gate(small_releases, instrument, tmp_path):
    from culture.boundary.leakgate import scan_outputs

    wave = max(small_releases)
    tables, _ = ct.analyse_comment_themes(small_releases, instrument, wave=wave)
    for name, frame in tables.items():
        frame.to_parquet(tmp_path / f"{name}.parquet", index=False)
    k = small_releases[wave].thresholds.comments
    themes = tables["comment_themes"]
    assert (themes.loc[themes["status"] == RELEASED, "n"] >= k).all()
    assert themes.loc[themes["status"] == SUPPRESSED, "n"].isna().all()
    assert scan_outputs(tmp_path, pseudonyms=[], unreleased_texts=[], k=k).passed


# --------------------------------------------------------------------------- views


def _bundle(tmp_path, releases: dict[str, Release], instrument, **kw) -> Bundle:
    wave = max(releases)
    tables, _ = ct.analyse_comment_themes(releases, instrument, wave=wave, **kw)
    tables = {n: t for n, t in tables.items() if not t.empty}
    tables["comment_questions"] = pd.DataFrame({"question": ["Q1"], "text": ["What <one> thing?"]})
    Bundle(wave=wave, releases=releases, tables=tables).save(tmp_path / "bundle")
    return Bundle.load(tmp_path / "bundle")


def _counts_in(html_text: str) -> list[int]:
    return [int(m) for m in re.findall(r"n\s*=\s*(\d+)", html_text)]


def test_views_show_themes_escape_text_and_never_a_small_count(tmp_path, instrument, hand_release):
    from culture.report import comment_views as cv

    bundle = _bundle(tmp_path, {"2025Q1": hand_release}, instrument)
    page = cv.themes_html(bundle, "ORG").data
    assert "What &lt;one&gt; thing?" in page and "<script>" not in page
    assert min(_counts_in(page)) >= 5
    unit_a = cv.themes_html(bundle, "A").data
    assert "fewer than 5" in unit_a and "Resources and support" in unit_a
    assert min(_counts_in(unit_a)) >= 5
    table = cv.themes_table(bundle, "A", "Q1").set_index("theme")
    assert table.at["Resources and support", "respondents"] == "fewer than 5"
    assert table.at["Resources and support", "share"] == ""
    assert "No comments are shown for this unit" in cv.themes_html(bundle, "B").data
    wide = cv.themes_by_unit(bundle)
    assert list(wide["unit"]) == ["Org", "A"]
    assert "fewer than 5" in set(wide.iloc[1])
    assert "no earlier wave" in cv.theme_changes_html(bundle).data


def test_views_say_why_when_there_is_nothing(tmp_path, instrument):
    from culture.report import comment_views as cv

    rel = _release(_cells({}))
    Bundle(wave="2025Q1", releases={"2025Q1": rel}, tables={}).save(tmp_path / "b")
    bundle = Bundle.load(tmp_path / "b")
    assert "not computed" in cv.themes_html(bundle, "A").data
    assert "not computed" in cv.theme_changes_html(bundle).data
    tables, _ = ct.analyse_comment_themes({"2025Q1": rel}, instrument, wave="2025Q1")
    assert all(t.empty for t in tables.values())


def test_views_of_changes(tmp_path, instrument):
    from culture.report import comment_views as cv

    before = _release(_cells({("A", "Q1"): [OTHER] * 12 + [COMM] * 6}), wave="2024Q4")
    now = _release(_cells({("A", "Q1"): [OTHER] * 4 + [COMM] * 14}))
    bundle = _bundle(tmp_path, {"2024Q4": before, "2025Q1": now}, instrument, change_units=["A"])
    table = cv.theme_changes_table(bundle)
    assert list(table["verdict"]) == ["grew"]
    assert table.iloc[0]["before"] == "33% (n = 6)" and table.iloc[0]["now"] == "78% (n = 14)"
    assert "grew" in cv.theme_changes_html(bundle).data
    same = _release(_cells({("A", "Q1"): [OTHER] * 12 + [COMM] * 6}))
    steady = _bundle(tmp_path / "s", {"2024Q4": before, "2025Q1": same}, instrument,
                     change_units=["A"])
    assert "No comment theme grew or shrank" in cv.theme_changes_html(steady).data
