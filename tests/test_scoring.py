"""Scoring: reverse keys, min-items rule, favourability, flags, bad codes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from culture import frames as F
from culture.errors import ScoringError
from culture.measure.scoring import FLAG_COLUMNS, favourability, score


def _blank(instrument, n=3):
    frame = pd.DataFrame({i: np.nan for i in instrument.item_ids}, index=range(n))
    frame[F.WAVE] = "2026Q1"
    frame[F.RESPONDENT] = [f"E{k}" for k in range(n)]
    frame[F.DURATION] = 400.0
    frame[F.FINISHED] = True
    return frame


def test_reverse_keys_and_mean_of_answered_items(instrument):
    r = _blank(instrument, 1)
    # leadership_commitment: LC1..LC6, LC4 and LC6 reverse keyed.
    r.loc[0, ["LC1", "LC2", "LC3", "LC4", "LC5", "LC6"]] = [5, 4, 4, 1, 5, 2]
    s = score(r, instrument)
    assert s.keyed.loc[0, "LC4"] == 5 and s.keyed.loc[0, "LC6"] == 4
    assert s.scores.loc[0, "leadership_commitment"] == pytest.approx((5 + 4 + 4 + 5 + 5 + 4) / 6)
    # favourable = keyed code in {4, 5}: all six are.
    assert s.construct_favourable(instrument).loc[0, "leadership_commitment"] == 1.0


def test_min_items_rule(instrument):
    r = _blank(instrument, 2)
    r.loc[0, ["LC1", "LC2", "LC3"]] = [4, 4, 2]          # 3 of 6 answered: enough (ceil .5*6 = 3)
    r.loc[1, ["LC1", "LC2"]] = [4, 4]                    # 2 of 6: withheld
    s = score(r, instrument)
    assert s.scores.loc[0, "leadership_commitment"] == pytest.approx(10 / 3)
    assert np.isnan(s.scores.loc[1, "leadership_commitment"])
    assert list(s.answered.loc[:, "leadership_commitment"]) == [3, 2]
    strict = score(r, instrument, min_item_share=1.0)
    assert strict.scores["leadership_commitment"].isna().all()


def test_all_missing_gives_nan_not_zero(instrument):
    s = score(_blank(instrument), instrument)
    assert s.scores.isna().all().all()
    assert s.favourable.isna().all().all()
    assert favourability(s, instrument).isna().all().all()


@pytest.mark.parametrize("bad", [0, 6, 99, 3.5, -1])
def test_out_of_range_codes_rejected_without_echo(instrument, bad):
    r = _blank(instrument, 2)
    r.loc[1, "CO2"] = bad
    with pytest.raises(ScoringError) as err:
        score(r, instrument)
    message = str(err.value)
    assert "CO2 (1 cells)" in message and "1..5" in message
    assert f"{bad}" not in message.replace("1..5", "")


def test_missing_item_columns_named(instrument):
    r = _blank(instrument).drop(columns=["OW3"])
    with pytest.raises(ScoringError, match="OW3"):
        score(r, instrument)


def test_inputs_not_mutated(instrument, small_org):
    r = small_org.responses_of(small_org.waves[0])
    before = r.copy()
    score(r, instrument, exclude=["speeder"])
    pd.testing.assert_frame_equal(r, before)


def test_flags_find_the_planted_noise(instrument, small_org):
    """The generator plants straight-liners (all 4s), speeders (1/6 of the duration) and duplicates."""
    r = small_org.responses
    s = score(r, instrument)
    straight = r[list(instrument.item_ids)].nunique(axis=1) == 1
    assert s.flags["straightliner"].sum() >= 1
    assert (s.flags["straightliner"] <= straight).all()
    dup_ids = r[F.RESPONSE_ID].str.endswith("D")
    # Each duplicate submission's earlier twin is flagged (the later one is kept).
    assert s.flags["duplicate"].sum() == dup_ids.sum()
    assert s.flags["speeder"].sum() >= 1
    assert set(s.flags.columns) == set(FLAG_COLUMNS)


def test_exclusion_is_explicit_and_reported(instrument, small_org):
    r = small_org.responses_of(small_org.waves[-1])
    kept = score(r, instrument)
    dropped = score(r, instrument, exclude=["speeder", "duplicate"])
    assert len(dropped.scores) == len(r)                 # nothing disappears
    n_ex = int(dropped.excluded.sum())
    assert n_ex == int((kept.flags["speeder"] | kept.flags["duplicate"]).sum()) > 0
    assert dropped.scores[dropped.excluded].isna().all().all()
    assert any("excluded" in note for note in dropped.notes)
    with pytest.raises(ScoringError, match="allowed flags"):
        score(r, instrument, exclude=["liars"])


def test_favourability_pools_item_answers(instrument):
    r = _blank(instrument, 2)
    r.loc[0, ["OW1", "OW2", "OW3"]] = [5, 4, 3]         # 2 favourable of 3
    r.loc[1, ["OW1", "OW4"]] = [2, 1]                   # OW4 reverse: 1 -> 5 favourable: 1 of 2
    s = score(r, instrument)
    fav = favourability(s, instrument, groups=pd.Series(["a", "a"]))
    assert fav.loc["a", "ownership"] == pytest.approx(3 / 5)


def test_vectorised_scale(instrument):
    """A large wave scores without per-row Python work (sanity of shapes, not a timing)."""
    rng = np.random.default_rng(0)
    n = 20_000
    r = pd.DataFrame(rng.integers(1, 6, (n, len(instrument.item_ids))).astype(float),
                     columns=list(instrument.item_ids))
    s = score(r, instrument)
    assert s.scores.shape == (n, len(instrument.constructs))
    assert s.scores.notna().all().all()
