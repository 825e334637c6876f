"""The synthetic organisation looks like a real one and is deterministic."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from culture import frames as F
from culture.synth import SynthConfig, make_organisation
from culture.synth.organisation import expected_code


def test_deterministic_for_a_seed(instrument):
    cfg = SynthConfig(seed=3, n_sites=1, n_waves=3)
    a, b = make_organisation(instrument, cfg), make_organisation(instrument, cfg)
    pd.testing.assert_frame_equal(a.responses, b.responses)
    pd.testing.assert_frame_equal(a.quality_events, b.quality_events)
    c = make_organisation(instrument, SynthConfig(seed=4, n_sites=1, n_waves=3))
    assert not a.responses[list(instrument.item_ids)].equals(c.responses[list(instrument.item_ids)])


def test_org_tree_shape(small_org):
    first = small_org.org_of(small_org.waves[0])
    assert (first[F.PARENT].isna()).sum() == 1
    assert set(first["level"]) == {"organisation", "site", "department", "team"}
    team_sizes = small_org.headcount.merge(first[[F.UNIT, "level"]], on=F.UNIT)
    sizes = team_sizes[(team_sizes["level"] == "team") & (team_sizes[F.WAVE] == small_org.waves[0])]
    assert (sizes["invited"] < 5).any(), "some teams must be below the confidentiality threshold"
    assert sizes["invited"].max() >= 10
    # Leaders attached directly to departments make parent remainders.
    direct = team_sizes[(team_sizes["level"] == "department") & (team_sizes[F.WAVE] == small_org.waves[0])]
    assert (direct["invited"] > 0).all()


def test_reorganisation_versions(small_org):
    (unit, (wave, old, new)), = small_org.truth.renamed.items()
    before = small_org.org_of(small_org.waves[0]).set_index(F.UNIT)
    after = small_org.org_of(wave).set_index(F.UNIT)
    assert before.at[unit, "name"] == old and after.at[unit, "name"] == new
    (team, (mwave, old_parent, new_parent)), = small_org.truth.moved.items()
    assert before.at[team, F.PARENT] == old_parent
    assert small_org.org_of(mwave).set_index(F.UNIT).at[team, F.PARENT] == new_parent


def test_people_join_and_leave(small_org):
    ids = small_org.people.groupby(F.WAVE)["employee_id"].apply(set)
    w0, w1 = small_org.waves[:2]
    left, joined = ids[w0] - ids[w1], ids[w1] - ids[w0]
    assert left and joined
    assert len(left) == len(joined)


def test_response_rates_vary_by_unit(small_org):
    w = small_org.waves[0]
    n = small_org.responses_of(w).groupby(F.UNIT)[F.RESPONDENT].nunique()
    rate = (n / small_org.headcount[small_org.headcount[F.WAVE] == w].set_index(F.UNIT)["invited"]).dropna()
    big = small_org.headcount.query("wave == @w and invited >= 8")[F.UNIT]
    assert rate[rate.index.isin(big)].std() > 0.05
    assert 0.5 < rate.mean() < 0.9


def test_answers_skew_towards_agreement(instrument, small_org):
    r = small_org.responses
    keyed_pos = [i.id for i in instrument.items if not i.reverse]
    codes = r[keyed_pos].stack()
    share = codes.value_counts(normalize=True)
    assert share[4] > share[2] and share[4] > share[1]
    assert 3.3 < codes.mean() < 4.1


def test_reverse_items_answered_consistently(instrument, small_org):
    r = small_org.responses
    # LC4 is reverse keyed: it must correlate negatively with LC1.
    assert r["LC1"].corr(r["LC4"]) < -0.2
    assert r["LC1"].corr(r["LC2"]) > 0.2


def test_data_quality_noise_planted(instrument, small_org):
    r = small_org.responses
    items = list(instrument.item_ids)
    assert r[items].isna().to_numpy().mean() > 0.01            # item non-response
    assert (~r[F.FINISHED]).sum() > 0                             # partial responses
    assert (r[items].nunique(axis=1) == 1).sum() > 0             # straight-liners
    assert r[F.RESPONSE_ID].str.endswith("D").sum() == 2 * len(small_org.waves)  # duplicates
    assert (r.groupby(F.WAVE)[F.DURATION].transform("median") / r[F.DURATION] > 3).any()  # speeders


def test_truth_is_complete(small_org):
    t = small_org.truth
    assert {e.construct for e in t.events} == {"communication", "ownership"}
    for e in t.events:
        assert abs(e.expected_score_shift) > 0.3
        assert np.sign(e.expected_score_shift) == np.sign(e.latent_shift)
    assert max(t.driver_weights, key=t.driver_weights.get) == "ownership"
    assert set(t.unit_scores.columns) == {F.WAVE, F.UNIT, "construct", "true_score"}
    assert all(0.75 <= a <= 0.95 for c, a in t.expected_alpha.items() if c != "quality_engagement")


def test_planted_event_visible_in_true_scores(small_org):
    ev = next(e for e in small_org.truth.events if e.construct == "communication")
    us = small_org.truth.unit_scores
    s = us[(us[F.UNIT] == ev.unit_id) & (us["construct"] == ev.construct)].set_index(F.WAVE)["true_score"]
    before = s[F.shift_wave(ev.wave, -1)]
    assert s[ev.wave] - before == pytest.approx(ev.expected_score_shift, abs=0.15)


def test_quality_outcomes_with_exposure(small_org):
    q, e = small_org.quality_events, small_org.exposure
    assert set(q["kind"]) == set(F.QUALITY_KINDS)
    assert set(q["detected"]) == {"internal", "customer"}
    capa = q[q["kind"] == "capa"]
    assert (capa["closed"] > capa["opened"]).all()
    assert set(q[F.UNIT]) <= set(e[F.UNIT])
    assert (e["exposure"] > 0).all()


def test_expected_code_is_monotone():
    eta = np.linspace(-3, 3, 50)
    ec = expected_code(eta, 0.78)
    assert np.all(np.diff(ec) > 0) and 1 < ec.min() and ec.max() < 5


def test_planted_reliability_recovered(instrument, demo_org):
    """Alpha of clean responses matches the exact population alpha of the planted ordinal model.

    Truth: ``synth.ordinal_alpha`` (bivariate-normal orthant probabilities of the threshold
    model). Constructs without planted events or leader gaps, whose latent variance is exactly
    the planted one. Tolerance 0.03: about 3 standard errors of alpha at n ~ 3,000.
    """
    from culture.measure.reliability import alpha
    from culture.measure.scoring import score

    r = demo_org.responses
    s = score(r, instrument)
    clean = ~s.flags.any(axis=1)
    for construct in ("resources", "quality_culture", "continuous_improvement", "compliance_risk",
                      "speaking_up"):
        cols = [i.id for i in instrument.items_of(construct)]
        got = alpha(s.keyed.loc[clean, cols]).total.iloc[0]["raw_alpha"]
        assert got == pytest.approx(demo_org.truth.expected_alpha[construct], abs=0.03), construct
