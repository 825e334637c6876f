"""Primary and complementary suppression (culture.anonymity.build_release).

Reference values are the vendors' published worked examples, cited beside each
test; the expected pattern is what the cited page states. Every release is also
re-checked by the independent audit (culture.audit), which shares no code with
build_release.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from culture.boundary import Thresholds, build_release, comments_long, redact, suppress
from culture.boundary.aggregate import aggregate_wave
from culture.boundary.audit import audit_release
from culture.errors import ConfigError
from culture.measure.instrument import parse_instrument

WAVE = "2026Q1"

SMALL_INSTRUMENT = parse_instrument({
    "id": "mini", "version": "1", "title": "Mini",
    "scale": {"min": 1, "max": 5, "labels": {1: "a", 2: "b", 3: "c", 4: "d", 5: "e"}, "favourable": [4, 5]},
    "constructs": [{"id": "lead", "name": "Leadership", "clauses": ["5.1.1 a"]},
                   {"id": "speak", "name": "Speaking up", "clauses": ["7.4"]}],
    "items": [{"id": "L1", "construct": "lead", "text": "one"},
              {"id": "L2", "construct": "lead", "text": "two", "reverse": True},
              {"id": "S1", "construct": "speak", "text": "three"},
              {"id": "S2", "construct": "speak", "text": "four", "sensitive": True}],
    "comments": [{"id": "C1", "text": "Anything else?"}],
    "demographics": [{"id": "role_level", "name": "Role", "codes": {"staff": "Staff", "lead": "Lead",
                                                                      "manager": "Manager"},
                      "missing": {"code": "X", "label": "Prefer not to say"}}],
}, source="test")


def score_inline(responses: pd.DataFrame, instrument=SMALL_INSTRUMENT) -> SimpleNamespace:
    """Minimal stand-in for culture.scoring.score: reverse keys, construct means, favourable 0/1."""
    lo, hi = instrument.scale.min, instrument.scale.max
    keyed = pd.DataFrame({i.id: (lo + hi - responses[i.id]) if i.reverse else responses[i.id]
                          for i in instrument.items}, index=responses.index)
    fav = keyed.isin(instrument.scale.favourable).astype(float).where(keyed.notna())
    scores = pd.DataFrame({c.id: keyed[[i.id for i in instrument.items_of(c.id)]].mean(axis=1)
                           for c in instrument.constructs}, index=responses.index)
    return SimpleNamespace(scores=scores, keyed=keyed, favourable=fav)


def make_wave(tree: dict[str, tuple[str | None, int | dict[str, int]]], *, seed: int = 0,
              instrument=SMALL_INSTRUMENT, comment_share: float = 1.0):
    """Org + responses from ``{unit: (parent, direct respondents)}``.

    ``direct`` is a count (all 'staff') or ``{band: count}``. Answers are random:
    suppression must not depend on them.
    """
    rng = np.random.default_rng(seed)
    org = pd.DataFrame({"wave": WAVE, "unit_id": list(tree), "parent_id": [p for p, _ in tree.values()],
                        "name": [f"Unit {u}" for u in tree], "level": 0})
    units, bands = [], []
    for unit, (_, direct) in tree.items():
        spec = direct if isinstance(direct, dict) else {"staff": direct}
        for band, count in spec.items():
            units += [unit] * count
            bands += [band] * count
    n = len(units)
    responses = pd.DataFrame({"respondent": [f"R{i:05d}" for i in range(n)], "wave": WAVE, "unit_id": units,
                              "role_level": bands})
    for item in instrument.item_ids:
        responses[item] = rng.integers(1, 6, n).astype(float)
    texts = [f"comment number {i} about the process" for i in range(n)]
    responses["C1"] = [t if rng.random() < comment_share else None for t in texts]
    return org, responses


def release_of(tree, *, by=(), thresholds=None, seed=0, comments=False):
    org, responses = make_wave(tree, seed=seed)
    agg = aggregate_wave(responses, score_inline(responses), org, instrument=SMALL_INSTRUMENT, by=by)
    long = comments_long(responses, ["C1"]) if comments else None
    rel = build_release(agg, thresholds=thresholds or Thresholds(), comments=long)
    return rel, org, responses


def audit_frame(responses: pd.DataFrame) -> pd.DataFrame:
    """Respondent-level frame for the audit: who has a value for which measure."""
    scored = score_inline(responses)
    has = pd.concat([scored.scores.notna(), scored.keyed.notna()], axis=1)
    has["C1"] = responses["C1"].notna()
    return pd.concat([responses[["respondent", "unit_id", "role_level"]], has], axis=1)


def status(rel, unit, *, table="response_rates", **where) -> str:
    df = rel.table(table)
    mask = df["unit_id"] == unit
    for col, value in where.items():
        mask &= df[col] == value
    values = df.loc[mask, "status"].unique()
    assert len(values) == 1, (unit, where, values)
    return values[0]


def assert_audit_passes(rel, org, responses):
    result = audit_release(audit_frame(responses), org, rel)
    assert result.passed, result.breaches.to_string()


# ---------------------------------------------------------------- thresholds


def test_threshold_defaults_and_floors_from_design():
    # DESIGN.md "Confidentiality rules" table: defaults 5/5/10/10/30, floors 3/3/5/5/20
    th = Thresholds()
    assert (th.scores, th.complements, th.distributions, th.comments, th.models, th.sensitive) == \
        (5, 5, 10, 10, 30, 10)
    Thresholds(scores=3, complements=3, distributions=5, comments=5, models=20, sensitive=3)


def test_k_below_floor_is_config_error_naming_parameter_floor_and_value():
    with pytest.raises(ConfigError) as err:
        Thresholds(scores=2, comments=4, models=19)
    msg = str(err.value)
    assert "thresholds.scores = 2 is below its floor of 3" in msg
    assert "thresholds.comments = 4 is below its floor of 5" in msg
    assert "thresholds.models = 19 is below its floor of 20" in msg


def test_thresholds_reject_non_integers_and_inconsistent_levels():
    with pytest.raises(ConfigError, match=r"thresholds.scores must be a whole number"):
        Thresholds(scores=5.5)
    with pytest.raises(ConfigError, match=r"thresholds.distributions = 6 must be at least thresholds.scores = 8"):
        Thresholds(scores=8, distributions=6)


# ---------------------------------------------------------------- vendor worked examples


def test_company_13_sales_4_tech_9_both_children_hidden():
    # PeopleCues "Anonymity protection" (docs.xto10x.com/peoplecues/.../anonymity-protection):
    # company = two departments, one below the minimum; "hide an additional group, usually the next
    # smallest" so the company total cannot be used to recover the small one. Issue numbers: 13 = 4 + 9.
    rel, org, resp = release_of({"CO": (None, 0), "SALES": ("CO", 4), "TECH": ("CO", 9)})
    assert status(rel, "CO") == "released"
    assert status(rel, "SALES") == "suppressed"
    assert status(rel, "TECH") == "suppressed"
    assert_audit_passes(rel, org, resp)


def test_remainder_of_6_lets_tech_be_shown():
    # Same structure with 2 people attached to the company directly: company 15 - Tech 9 = 6 >= 5
    # (Sales 4 + 2 direct), so Tech can be shown (issue: "remainder of 6 (Tech shown)").
    rel, org, resp = release_of({"CO": (None, 2), "SALES": ("CO", 4), "TECH": ("CO", 9)})
    assert [status(rel, u) for u in ("CO", "SALES", "TECH")] == ["released", "suppressed", "released"]
    assert_audit_passes(rel, org, resp)


def test_dialog_example_1_parent_9_children_3_and_6_both_hidden():
    # Dialog, "How is the anonymity of engagement results ensured?", Example 1
    # (support.dialog.nl/hc/en-gb/articles/5421568752274): team X 9 = A 3 + B 6; A hidden,
    # B hidden too ("could potentially reveal the survey results of team A"), X shown.
    rel, org, resp = release_of({"X": (None, 0), "A": ("X", 3), "B": ("X", 6)})
    assert [status(rel, u) for u in ("X", "A", "B")] == ["released", "suppressed", "suppressed"]
    assert_audit_passes(rel, org, resp)


def test_dialog_example_2_parent_13_with_4_direct_members_shows_b():
    # Dialog Example 2 (same page): X 13 = A 3 + B 6 + 4 direct members; X shown, B shown
    # because A + direct members = 7 respondents cannot be traced back.
    rel, org, resp = release_of({"X": (None, 4), "A": ("X", 3), "B": ("X", 6)})
    assert [status(rel, u) for u in ("X", "A", "B")] == ["released", "suppressed", "released"]
    assert_audit_passes(rel, org, resp)


def test_single_child_one_person_smaller_than_parent_is_hidden():
    # Issue example: a child that is its parent minus one person (parent 10 = child 9 + 1 direct).
    rel, org, resp = release_of({"P": (None, 1), "C": ("P", 9)})
    assert [status(rel, u) for u in ("P", "C")] == ["released", "suppressed"]
    assert_audit_passes(rel, org, resp)


def test_single_child_covering_the_whole_parent_is_shown():
    # Parent and child with the same people differ by 0: nothing new is revealed, both are shown.
    rel, org, resp = release_of({"P": (None, 0), "C": ("P", 9)})
    assert [status(rel, u) for u in ("P", "C")] == ["released", "released"]


def test_unit_of_12_with_2_managers_and_10_staff_hides_the_cut():
    # Zef "Anonymity in surveys" (zammad.zef.fi/help/en-gb/24-setup/43-anonymity-in-surveys): a team of
    # 4 men and 1 woman would reveal the woman's answers; issue example 12 = 2 + 10 with role_level.
    # The 2 are hidden, and so are the 10 (unit 12 - 10 = 2); the unit itself is shown.
    rel, org, resp = release_of({"U": (None, {"manager": 2, "staff": 10})}, by=("role_level",))
    assert status(rel, "U") == "released"
    cuts = rel.cuts
    band = cuts[(cuts["unit_id"] == "U") & (cuts["kind"] == "respondents")].set_index("band")
    assert (band["status"] == "suppressed").all()
    assert band["n"].isna().all()
    assert_audit_passes(rel, org, resp)


def test_unit_of_11_with_5_5_and_1_missing_hides_whole_cut():
    # Issue example: 5 staff + 5 leads + 1 prefer-not-to-say. The missing group takes part in
    # suppression: showing both 5s reveals the 1; showing one 5 would leave a merged "rest" that
    # other units' rests can be subtracted from, so the cut is shown whole or not at all.
    rel, org, resp = release_of({"U": (None, {"staff": 5, "lead": 5, "X": 1})}, by=("role_level",))
    cuts = rel.cuts
    assert (cuts.loc[cuts["unit_id"] == "U", "status"] == "suppressed").all()
    assert status(rel, "U") == "released"
    assert_audit_passes(rel, org, resp)


def test_cut_with_all_bands_large_enough_is_shown_and_empty_band_looks_suppressed():
    rel, org, resp = release_of({"U": (None, {"staff": 6, "lead": 5})}, by=("role_level",))
    cuts = rel.cuts
    row = cuts[(cuts["unit_id"] == "U") & (cuts["kind"] == "respondents")].set_index("band")
    assert row.loc["staff", "status"] == row.loc["lead", "status"] == "released"
    # n = 0 (no managers, nobody missing) looks exactly like a suppressed cell
    assert row.loc["manager", "status"] == row.loc["X", "status"] == "suppressed"
    assert pd.isna(row.loc["manager", "n"]) and pd.isna(row.loc["X", "n"])
    assert_audit_passes(rel, org, resp)


def test_three_level_cascade_suppressed_team_creates_small_remainder_one_level_up():
    # Company 14 = dept X (team a 3 + team b 7) + dept Y 4.  Team a is below k, so team b would reveal
    # it (X - b = 3): b is hidden.  Y is below k, so X would reveal it (company - X = 4): X is hidden
    # too, and the company is shown alone. Needs several fixpoint rounds across levels.
    tree = {"CO": (None, 0), "X": ("CO", 0), "Y": ("CO", 4), "a": ("X", 3), "b": ("X", 7)}
    rel, org, resp = release_of(tree)
    assert {u: status(rel, u) for u in tree} == {"CO": "released", "X": "suppressed", "Y": "suppressed",
                                                 "a": "suppressed", "b": "suppressed"}
    assert_audit_passes(rel, org, resp)


def test_cascade_through_a_hidden_middle_level():
    # Dept D is hidden (4 people directly); its team T (8) is shown only if the company minus
    # everything shown leaves 0 or >= 5: company 20 = D(4 + T 8) + E 8 -> remainder 4 -> hide one more.
    tree = {"CO": (None, 0), "D": ("CO", 4), "T": ("D", 8), "E": ("CO", 8)}
    rel, org, resp = release_of(tree)
    shown = {u for u in tree if status(rel, u) == "released"}
    assert "CO" in shown
    assert_audit_passes(rel, org, resp)


# ---------------------------------------------------------------- statistics of a cell


def test_item_cells_use_the_people_who_answered_the_item():
    org, resp = make_wave({"P": (None, 0), "A": ("P", 8), "B": ("P", 8)})
    resp.loc[resp["unit_id"] == "A", "L1"] = np.where(np.arange(8) < 4, np.nan, 3.0)  # 4 answered L1 in A
    agg = aggregate_wave(resp, score_inline(resp), org, instrument=SMALL_INSTRUMENT)
    rel = build_release(agg, thresholds=Thresholds())
    items = rel.items.set_index(["unit_id", "measure"])
    assert items.loc[("A", "L1"), "status"] == "suppressed"
    assert items.loc[("B", "L1"), "status"] == "suppressed"  # P - B = A's 4 answers to L1
    assert items.loc[("P", "L1"), "status"] == "released" and items.loc[("P", "L1"), "n"] == 12
    assert items.loc[("A", "L2"), "status"] == "released"
    assert_audit_passes(rel, org, resp)


def test_sensitive_items_and_spread_use_their_own_thresholds():
    rel, org, resp = release_of({"U": (None, 8)})
    items = rel.items.set_index("measure")
    assert items.loc["S2", "status"] == "suppressed"  # sensitive, 8 < 10
    assert items.loc["S1", "status"] == "released"
    assert pd.notna(items.loc["S1", "mean"])
    # SD and CI reveal the spread: they need the distribution threshold (8 < 10)
    assert items.loc["S1", ["sd", "se", "ci_low", "ci_high"]].isna().all()
    rel, *_ = release_of({"U": (None, 12)})
    items = rel.items.set_index("measure")
    assert items.loc["S2", "status"] == "released" and items.loc[["S1", "S2"], "sd"].notna().all()


def test_released_statistics_equal_the_aggregates_and_suppressed_rows_are_empty():
    org, resp = make_wave({"P": (None, 3), "A": ("P", 12)})
    agg = aggregate_wave(resp, score_inline(resp), org, instrument=SMALL_INSTRUMENT)
    rel = build_release(agg, thresholds=Thresholds())
    scores = rel.scores.set_index(["unit_id", "measure"])
    raw = agg.table[agg.table["demographic"] == "all"].set_index(["unit_id", "measure"])
    shown = scores[scores["status"] == "released"]
    assert len(shown) == 2  # P is shown; A is 3 smaller than P -> hidden
    np.testing.assert_allclose(shown["mean"], raw.loc[shown.index, "mean"], rtol=0, atol=0)
    hidden = scores[scores["status"] == "suppressed"]
    assert hidden[["n", "mean", "sd", "pct_favourable"]].isna().all().all()


def test_comments_released_at_comment_threshold_redacted_and_in_stable_order():
    tree = {"P": (None, 0), "A": ("P", 12), "B": ("P", 6)}
    org, resp = make_wave(tree)
    resp.loc[0, "C1"] = "Call me on +44 20 7946 0958 or mail jo.bloggs@example.com, I am E012345"
    long = comments_long(resp, ["C1"])
    agg = aggregate_wave(resp, score_inline(resp), org, instrument=SMALL_INSTRUMENT)
    rel = build_release(agg, thresholds=Thresholds(), comments=long)
    com = rel.comments
    assert set(com["unit_id"]) == {"P"}  # A (12) would leave B's 6 < 10 comments derivable
    assert len(com) == 18
    assert list(com.columns) == ["unit_id", "question", "position", "text"]
    joined = " ".join(com["text"])
    assert "example.com" not in joined and "7946" not in joined and "E012345" not in joined
    assert "Call me on [redacted] or mail [redacted], I am [redacted]" in joined
    rel2 = build_release(agg, thresholds=Thresholds(), comments=long.sample(frac=1, random_state=3))
    assert rel2.comments["text"].tolist() == com["text"].tolist()  # input order does not matter
    assert com["text"].tolist() != sorted(com["text"])  # shuffled, not alphabetical
    assert_audit_passes(rel, org, resp)


def test_redact_patterns():
    assert redact("mail a.b+c@firm.co.uk now") == "mail [redacted] now"
    assert redact("ring 0151 496 0000") == "ring [redacted]"
    assert redact("badge e012345 and AB-1234") == "badge [redacted] and [redacted]"
    assert redact("we scored 4 of 5 in 2024") == "we scored 4 of 5 in 2024"


# ---------------------------------------------------------------- engine properties


def test_suppress_is_deterministic_and_breaks_ties_by_unit_id():
    # root with two equal children of 6 and 2 direct members: remainder 2 -> hide one child; the
    # tie (6 vs 6) goes to the first unit id, so re-runs give the same pattern.
    counts = np.array([14, 6, 6]).reshape(3, 1, 1)
    kwargs = {"parent": np.array([-1, 0, 0]), "depth": np.array([0, 1, 1]), "k_primary": np.array([5]),
              "k_complement": np.array([5])}
    first = suppress(counts, **kwargs)[:, 0, 0]
    assert first.tolist() == [True, False, True]
    assert all(np.array_equal(first, suppress(counts, **kwargs)[:, 0, 0]) for _ in range(3))


def test_more_than_one_demographic_is_refused():
    org, resp = make_wave({"U": (None, 10)})
    resp["tenure"] = "T1"
    inst = parse_instrument({**_doc_with_tenure()}, source="test")
    agg = aggregate_wave(resp, score_inline(resp, inst), org, instrument=inst, by=("role_level", "tenure"))
    with pytest.raises(ConfigError, match="at most one demographic cut"):
        build_release(agg, thresholds=Thresholds())


def _doc_with_tenure() -> dict:
    doc = {"id": "mini", "version": "1", "title": "Mini",
           "scale": {"min": 1, "max": 5, "labels": {1: "a", 2: "b", 3: "c", 4: "d", 5: "e"},
                     "favourable": [4, 5]},
           "constructs": [{"id": "lead", "name": "L", "clauses": ["5.1.1 a"]},
                          {"id": "speak", "name": "S", "clauses": ["7.4"]}],
           "items": [{"id": i.id, "construct": i.construct, "text": i.text, "reverse": i.reverse,
                      "sensitive": i.sensitive} for i in SMALL_INSTRUMENT.items],
           "demographics": [{"id": "role_level", "name": "Role", "codes": {"staff": "s", "lead": "l"}},
                            {"id": "tenure", "name": "Tenure", "codes": {"T1": "new", "T2": "old"}}]}
    return doc
