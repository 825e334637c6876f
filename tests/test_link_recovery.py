"""Planted culture -> quality truth is recovered through the whole released-data path.

synth.make_organisation plants (src/culture/synth.py, ``coefficients`` / ``capa`` /
``driver_weights``; exposed as Truth.outcome_coefficients, Truth.capa_days,
Truth.driver_weights):

    log rate ratio per scale point of the TRUE team score one quarter earlier
        nonconformity_customer: ownership -0.5         (rate ratio 0.607)
        nonconformity_internal: speaking_up +0.3       (1.350)
        complaint:              ownership -0.35, communication -0.25   (0.705, 0.779)
        audit_finding:          compliance_risk -0.4   (0.670)
    CAPA days to close: -8 days per point of continuous_improvement
    outcome index quality_engagement: ownership 0.45 > leadership_commitment 0.30 >
        communication 0.15 > every other culture construct 0

Everything below goes responses -> score -> aggregate_wave -> build_release ->
analyse_linkage, so the models see released team means only (about half the teams
are suppressed in a wave), which measure the true scores with error.

How many intervals must cover, and why (from 20 seeds, 1..20, run while writing this):

* between-unit terms (unit averages over ~7 quarters; reliability of a unit average
  ~0.9-1.0): the 5 count coefficients cover in 93 % of seeds, the CAPA slope in 80 % (it
  is diluted to about -6 days because CAPA KPIs are counted in the quarter a CAPA
  *closes*, while synth ties the days to the quarter before it *opened*). Rule: at
  least 16 of the 3 seeds x 6 = 18 intervals, and the CAPA slope in every seed here.
* within-unit terms (quarter-to-quarter changes of a released team mean are mostly
  sampling noise: within reliability 0.2-0.66 against Truth.unit_scores, so estimates
  shrink towards 1): the 5 count coefficients cover in 80 % of seeds. Rule: at least
  10 of 15. The CAPA within slope is NOT recovered (25 % coverage; dilution to about
  -1 day) and is not asserted.
* terms whose planted coefficient is 0 (the other headline constructs): 94 % over the
  20 seeds; cluster-robust CIs with ~45 clusters run a little narrow (Cameron & Miller
  2015) and measurement error leaks part of a true effect into correlated constructs.
  Rule: at least 85 %.
* driver ranking (one row per person, mean over 8 waves, ~650 people): recovered by
  both methods in 19 of 20 seeds. Rule: every seed here.
"""

from __future__ import annotations

import numpy as np
import pytest

from culture.analysis.drivers import analyse_drivers
from culture.analysis.quality import analyse_linkage
from culture.boundary import Thresholds
from culture.measure.scoring import score
from culture.pipeline import synthetic_releases
from culture.synth import SynthConfig, make_organisation

SEEDS = (1, 2, 3)
# synth outcome key -> panel outcome column
OUTCOME = {"nonconformity_customer": "nc_customer", "nonconformity_internal": "nc_internal",
           "complaint": "complaints", "audit_finding": "audit_total"}


def make_releases(org, instrument):
    """One Release per wave, as the pipeline makes them."""
    return synthetic_releases(org, instrument)


@pytest.fixture(scope="module")
def runs(instrument):
    out = {}
    for seed in SEEDS:
        # teams large enough (median 14, ~10 respondents) for speaking up, a construct with
        # sensitive items, to be released per team at the sensitive threshold
        org = make_organisation(instrument, SynthConfig(seed=seed, n_sites=4, team_size_median=14))
        releases = make_releases(org, instrument)
        report = analyse_linkage(releases, org.quality_events, org.exposure,
                                 instrument=instrument, thresholds=Thresholds())
        drivers = analyse_drivers(org.responses, score(org.responses, instrument),
                                  instrument=instrument, thresholds=Thresholds(), n_boot=200,
                                  seed=seed)
        out[seed] = {"org": org, "report": report, "drivers": drivers}
    return out


def _planted(runs):
    """One row per seed x planted coefficient x component: truth, CI, covered."""
    rows = []
    for seed, run in runs.items():
        truth = run["org"].truth
        models = run["report"].models.set_index(["outcome", "term", "component"])
        for key, coefs in truth.outcome_coefficients.items():
            for construct, beta in coefs.items():
                for comp in ("within", "between"):
                    r = models.loc[(OUTCOME[key], construct, comp)]
                    rows.append((seed, OUTCOME[key], construct, comp, float(np.exp(beta)),
                                 r.ci_low, r.ci_high, r.n_units))
        slope = truth.capa_days["continuous_improvement"]
        for comp in ("within", "between"):
            r = models.loc[("capa_days_to_close_mean", "continuous_improvement", comp)]
            rows.append((seed, "capa_days_to_close_mean", "continuous_improvement", comp,
                         slope, r.ci_low, r.ci_high, r.n_units))
    return [dict(zip(("seed", "outcome", "term", "component", "truth", "lo", "hi", "n_units"),
                     r, strict=True)) | {"covered": r[5] <= r[4] <= r[6]} for r in rows]


def test_enough_teams_are_released_for_every_model(runs):
    for seed, run in runs.items():
        fits = run["report"].fits
        linked = fits[fits["model"] != "cross_lagged"]
        assert (linked["status"] == "fitted").all(), seed
        assert (linked["n_units"] >= 30).all(), (seed, linked[["scope", "n_units"]])


def test_between_unit_associations_cover_the_planted_coefficients(runs):
    rows = [r for r in _planted(runs) if r["component"] == "between"]
    assert len(rows) == 18
    covered = sum(r["covered"] for r in rows)
    assert covered >= 16, [r for r in rows if not r["covered"]]


def test_capa_slope_is_inside_the_between_unit_ci_in_every_seed(runs):
    # Truth.capa_days["continuous_improvement"] = -8 days per scale point
    rows = [r for r in _planted(runs)
            if r["outcome"] == "capa_days_to_close_mean" and r["component"] == "between"]
    assert len(rows) == len(SEEDS)
    for r in rows:
        assert r["truth"] == -8.0
        assert r["lo"] <= -8.0 <= r["hi"], r
        assert r["hi"] < 0   # and the interval excludes "no association"


def test_within_unit_associations_cover_most_planted_coefficients(runs):
    rows = [r for r in _planted(runs)
            if r["component"] == "within" and r["outcome"] != "capa_days_to_close_mean"]
    assert len(rows) == 15
    assert sum(r["covered"] for r in rows) >= 10, [r for r in rows if not r["covered"]]


def test_constructs_without_a_planted_association_cover_one(runs):
    hits = []
    for run in runs.values():
        truth = {OUTCOME[k]: v for k, v in run["org"].truth.outcome_coefficients.items()}
        m = run["report"].models
        for outcome, planted in truth.items():
            zero = m[(m["outcome"] == outcome) & ~m["term"].isin(planted)]
            hits += ((zero["ci_low"] <= 1.0) & (1.0 <= zero["ci_high"])).tolist()
    assert len(hits) == 54   # 3 seeds x 9 zero terms x 2 components
    assert np.mean(hits) >= 0.85


def test_planted_driver_ranking_is_recovered(runs):
    planted = ["ownership", "leadership_commitment", "communication"]
    for seed, run in runs.items():
        weights = run["org"].truth.driver_weights
        assert sorted(weights, key=weights.get, reverse=True)[:3] == planted
        t = run["drivers"].table
        assert run["drivers"].n >= 500
        assert t.sort_values("rank")["construct"].head(3).tolist() == planted, seed
        assert t.sort_values("dominance_rank")["construct"].head(3).tolist() == planted, seed
        # the planted leader carries clearly more than any construct with weight 0
        zero = t[t["construct"].map(weights).eq(0.0)]
        top = t.set_index("construct").loc["ownership"]
        assert top["ci_low"] > zero["ci_high"].max(), seed
