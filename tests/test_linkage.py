"""culture.linkage: the unit x quarter panel, the models over it, planted-truth recovery."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from culture import frames
from culture.errors import ConfigError, InsufficientDataError, ValidationError
from culture.stats import (
    COUNT_OUTCOMES,
    ModelFitError,
    build_panel,
    continuous_model,
    count_model,
    cross_lagged,
    fit_negbin,
)

Q0 = frames.wave_index("2024Q1")


# --------------------------------------------------------------------------------------
# simulation helpers (vectorised over units; loops only over the few quarters)
# --------------------------------------------------------------------------------------

def _quarter_start(qi: np.ndarray) -> pd.Series:
    qi = np.asarray(qi)
    return pd.to_datetime(pd.DataFrame({"year": qi // 4, "month": (qi % 4) * 3 + 1, "day": 1}))


def _frames(units, qis, scores_by_q, counts, exposure):
    """scores (units x quarters), counts / exposure (units x quarters) -> input frames."""
    u = np.repeat(units, len(qis))
    q = np.tile(qis, len(units))
    quarter = [frames.wave_from_index(int(i)) for i in q]
    scores = pd.DataFrame({"unit_id": u, "quarter": quarter,
                           "leadership": scores_by_q.ravel()})
    expo = pd.DataFrame({"unit_id": u, "quarter": quarter, "exposure": exposure.ravel()})
    n = counts.ravel().astype(int)
    opened = _quarter_start(np.repeat(q, n)) + pd.Timedelta(days=5)
    events = pd.DataFrame({
        "event_id": np.arange(n.sum()), "kind": "nonconformity", "unit_id": np.repeat(u, n),
        "opened": opened.to_numpy(), "closed": pd.NaT, "due": pd.NaT, "severity": None,
        "detected": "customer"})
    return scores, events, expo


def planted_count_panel(seed, *, n_units=60, n_quarters=8, rr_within=0.8, rr_between=0.5,
                        alpha=0.3):
    """log mu_it = b0 + bw (x_i,t-1 - xbar_i) + bb xbar_i + log(exposure_it), NB2 noise."""
    b_within, b_between = np.log(rr_within), np.log(rr_between)
    rng = np.random.default_rng(seed)
    units = np.array([f"U{i:03d}" for i in range(n_units)])
    m = rng.normal(3.6, 0.35, n_units)
    x = m[:, None] + rng.normal(0.0, 0.35, (n_units, n_quarters + 1))  # quarters 0..n
    x_lag = x[:, :-1]                       # drives the counts of quarters 1..n
    xbar = x_lag.mean(axis=1, keepdims=True)
    expo = rng.uniform(400, 1200, (n_units, n_quarters + 1))
    mu = np.exp(np.log(0.03) + b_within * (x_lag - xbar) + b_between * (xbar - 3.6)) * expo[:, 1:]
    counts = np.zeros((n_units, n_quarters + 1))
    counts[:, 1:] = rng.negative_binomial(1 / alpha, (1 / alpha) / (1 / alpha + mu))
    expo[:, 0] = np.nan                     # quarter 0: culture only, no outcome yet
    qis = np.arange(Q0, Q0 + n_quarters + 1)
    scores, events, exposure = _frames(units, qis, x, counts, expo)
    exposure = exposure.dropna()
    return build_panel(scores, events, exposure, lags=(1, 2))


# --------------------------------------------------------------------------------------
# build_panel
# --------------------------------------------------------------------------------------

@pytest.fixture()
def small_inputs():
    scores = pd.DataFrame({
        "unit_id": ["U1", "U1", "U1", "U2", "U2", "U2"],
        "quarter": ["2025Q1", "2025Q2", "2025Q4", "2025Q1", "2025Q2", "2025Q3"],
        "leadership": [3.0, 3.5, 4.0, 2.0, np.nan, 2.5],   # U2 2025Q2 suppressed
    })
    exposure = pd.DataFrame({
        "unit_id": ["U1", "U1", "U1", "U2", "U2", "U2"],   # U1 has no 2025Q3 at all (gap)
        "quarter": ["2025Q1", "2025Q2", "2025Q4", "2025Q1", "2025Q2", "2025Q3"],
        "exposure": [100.0, 110.0, 130.0, 50.0, 60.0, 0.0],
    })
    d = pd.to_datetime
    events = pd.DataFrame({
        "event_id": [f"e{i}" for i in range(1, 10)],
        "kind": ["nonconformity", "nonconformity", "audit_finding", "audit_finding",
                 "complaint", "capa", "capa", "capa", "complaint"],
        "unit_id": ["U1", "U1", "U1", "U1", "U2", "U1", "U1", "U2", "U3"],
        "opened": d(["2025-03-31", "2025-04-01", "2025-04-15", "2025-05-01", "2025-02-01",
                     "2025-01-10", "2025-02-01", "2025-06-01", "2025-07-01"]),
        "closed": d([None, None, None, None, None, "2025-02-09", "2025-03-13", None, None]),
        "due": d([None, None, None, None, None, "2025-02-28", "2025-03-01", "2025-07-01",
                  None]),
        "severity": [None, None, "major", "minor", None, None, None, None, None],
        "detected": ["internal", "customer", None, None, None, None, None, None, None],
    })
    return scores, events, exposure


def test_build_panel_counts_kpis_and_lags(small_inputs):
    panel = build_panel(*small_inputs)
    p = panel.set_index(["unit_id", "quarter"])
    # one row per unit x quarter seen anywhere; U3 only appears in the register
    assert list(p.index) == [("U1", "2025Q1"), ("U1", "2025Q2"), ("U1", "2025Q4"),
                             ("U2", "2025Q1"), ("U2", "2025Q2"), ("U2", "2025Q3"),
                             ("U3", "2025Q3")]
    # 2025-03-31 is Q1 and 2025-04-01 is Q2 (frames.wave_index convention)
    assert p.loc[("U1", "2025Q1"), "nc_internal"] == 1
    assert p.loc[("U1", "2025Q2"), ["nc_internal", "nc_customer", "nc_total"]].tolist() == [0, 1, 1]
    assert p.loc[("U1", "2025Q2"), ["audit_minor", "audit_major", "audit_critical",
                                    "audit_total"]].tolist() == [1, 1, 0, 2]
    assert p.loc[("U2", "2025Q1"), "complaints"] == 1
    assert p.loc[("U3", "2025Q3"), "complaints"] == 1 and np.isnan(p.loc[("U3", "2025Q3"),
                                                                         "exposure"])
    # CAPA KPIs in the quarter closed: 30 and 40 days, one of two on time; open CAPA ignored
    assert p.loc[("U1", "2025Q1"), "capa_closed"] == 2
    assert p.loc[("U1", "2025Q1"), "capa_days_to_close_mean"] == pytest.approx(35.0)
    assert p.loc[("U1", "2025Q1"), "capa_on_time_share"] == pytest.approx(0.5)
    assert p["capa_closed"].sum() == 2 and np.isnan(p.loc[("U2", "2025Q2"),
                                                          "capa_on_time_share"])
    # counts are zero-filled integers, never missing
    assert (panel[list(COUNT_OUTCOMES)].dtypes == "int64").all()
    # lags: same unit, exactly k quarters back; a gap or a suppressed score is not bridged
    assert p.loc[("U1", "2025Q2"), "leadership_lag1"] == 3.0
    assert np.isnan(p.loc[("U1", "2025Q4"), "leadership_lag1"])   # 2025Q3 absent
    assert p.loc[("U1", "2025Q4"), "leadership_lag2"] == 3.5
    assert np.isnan(p.loc[("U2", "2025Q3"), "leadership_lag1"])   # 2025Q2 suppressed
    assert p.loc[("U2", "2025Q3"), "leadership_lag2"] == 2.0
    assert np.isnan(p.loc[("U2", "2025Q1"), "leadership_lag1"])   # no other unit leaks in
    assert p["quarter_index"].tolist() == [frames.wave_index(q) for _, q in p.index]


def test_build_panel_does_not_mutate_inputs(small_inputs):
    copies = [df.copy(deep=True) for df in small_inputs]
    build_panel(*small_inputs, lags=(1,))
    for before, after in zip(copies, small_inputs, strict=True):
        pd.testing.assert_frame_equal(before, after)


def test_build_panel_collects_every_problem_without_echoing_values(small_inputs):
    scores, events, exposure = (df.copy() for df in small_inputs)
    scores.loc[0, "quarter"] = "2025-Q1"
    exposure.loc[1, "exposure"] = -5.0
    events["kind"] = events["kind"].astype(object)
    events.loc[0, "kind"] = "SECRET-free-text"
    events.loc[1, "detected"] = None
    events.loc[2, "severity"] = "blocker"
    events["opened"] = events["opened"].astype(object)
    events.loc[3, "opened"] = "CONFIDENTIAL-99"
    with pytest.raises(ValidationError) as err:
        build_panel(scores, events, exposure)
    text = str(err.value)
    assert len(err.value.problems) == 6
    for where in ("scores, column 'quarter', row(s) 1", "exposure, column 'exposure', row(s) 2",
                  "events, column 'kind', row(s) 1", "events, column 'detected', row(s) 2",
                  "events, column 'severity', row(s) 3", "events, column 'opened', row(s) 4"):
        assert where in text
    assert "SECRET" not in text and "blocker" not in text and "CONFIDENTIAL" not in text


def test_build_panel_rejects_bad_lags(small_inputs):
    with pytest.raises(ConfigError, match="lags"):
        build_panel(*small_inputs, lags=(0, 1))


def test_build_panel_with_empty_register(small_inputs):
    scores, events, exposure = small_inputs
    panel = build_panel(scores, events.iloc[0:0], exposure)
    assert len(panel) == 6 and panel[list(COUNT_OUTCOMES)].to_numpy().sum() == 0
    assert panel["capa_days_to_close_mean"].isna().all()


# --------------------------------------------------------------------------------------
# count_model: planted truth, accounting, guards
# --------------------------------------------------------------------------------------

SEEDS = tuple(range(1, 21))


@pytest.fixture(scope="module")
def planted_panels():
    return {seed: planted_count_panel(seed) for seed in SEEDS}


def test_count_model_recovers_planted_within_and_between(planted_panels):
    """Planted rate ratios 0.8 per point within a unit and 0.5 per point between units.

    20 seeds; at least 16 of the 20 95 % CIs must contain the truth. Cluster-robust SEs are
    known to run slightly small with few clusters (Cameron & Miller 2015, J. Human
    Resources 50(2), section VI): a 200-seed run of this design gave 94 % coverage within
    and 91.5 % between. With 91.5 % coverage, fewer than 16 hits has probability 2.3 %
    (binomial; 0.26 % at 95 %), so a failure means real under-coverage. Estimates must
    also be unbiased on average.
    """
    hits = {"within": 0, "between": 0}
    est = {"within": [], "between": []}
    for seed in SEEDS:
        res = count_model(planted_panels[seed], outcome="nc_customer", predictors=["leadership"])
        t = res.table.set_index("component")
        for comp, truth in (("within", 0.8), ("between", 0.5)):
            hits[comp] += bool(t.loc[comp, "ci_low"] <= truth <= t.loc[comp, "ci_high"])
            est[comp].append(t.loc[comp, "estimate"])
            assert t.loc[comp, "ci_low"] < t.loc[comp, "rate_ratio"] < t.loc[comp, "ci_high"]
        # within and between are estimated separately: each CI excludes the other's truth
        assert not t.loc["within", "ci_low"] <= 0.5 <= t.loc["within", "ci_high"], seed
        assert not t.loc["between", "ci_low"] <= 0.8 <= t.loc["between", "ci_high"], seed
        assert res.n_units == 60 and res.n_obs == 480
        # dispersion: planted alpha 0.3
        alpha = res.params.set_index("parameter").loc["alpha"]
        assert abs(alpha["estimate"] - 0.3) < 4 * alpha["se"], seed
    assert hits["within"] >= 16 and hits["between"] >= 16, hits
    for comp, truth in (("within", np.log(0.8)), ("between", np.log(0.5))):
        e = np.asarray(est[comp])  # mean of 20 estimates within 3 Monte-Carlo SEs of truth
        assert abs(e.mean() - truth) < 3 * e.std(ddof=1) / np.sqrt(len(e)), comp


def test_count_model_accounts_for_every_row(planted_panels):
    panel = planted_panels[1].copy()
    # suppress two released scores: the following quarter loses its lag-1 predictor
    hit = panel.index[(panel["quarter_index"] == Q0 + 3)][:2]
    nxt = panel.index[(panel["quarter_index"] == Q0 + 4)][:2]
    panel.loc[nxt, "leadership_lag1"] = np.nan
    panel.loc[hit, "leadership"] = np.nan
    res = count_model(panel, outcome="nc_customer", predictors=["leadership"], lag=1)
    reasons = res.dropped.set_index("reason")["n_rows"]
    assert reasons["exposure missing or zero (log offset undefined)"] == 60  # quarter 0
    assert reasons["score at quarter t-1 suppressed or not released"] == 2
    assert res.n_obs + res.dropped["n_rows"].sum() == len(panel)
    assert res.n_obs == 478
    # lag 2: the first usable quarter has no row two quarters back
    res2 = count_model(planted_panels[1], outcome="nc_customer", predictors=["leadership"], lag=2)
    r2 = res2.dropped.set_index("reason")["n_rows"]
    assert r2["no panel row for quarter t-2 (start of the unit's series or a gap)"] == 60
    assert res2.n_obs == 420


def test_count_model_guards_and_notes(planted_panels):
    panel = planted_panels[2]
    few = panel[panel["unit_id"].isin([f"U{i:03d}" for i in range(8)])]
    with pytest.raises(InsufficientDataError, match="8 unit"):
        count_model(few, outcome="nc_customer", predictors=["leadership"])
    short = panel[panel["quarter_index"] <= Q0 + 2]          # 60 units x 2 usable quarters
    with pytest.raises(InsufficientDataError):
        count_model(short, outcome="nc_customer", predictors=["leadership"], min_obs=200)
    twelve = panel[panel["unit_id"].isin([f"U{i:03d}" for i in range(12)])]
    res = count_model(twelve, outcome="nc_customer", predictors=["leadership"])
    assert res.n_units == 12 and any("Small sample" in n for n in res.notes)


def test_count_model_wording_is_associational(planted_panels):
    res = count_model(planted_panels[3], outcome="nc_customer", predictors=["leadership"])
    text = res.summary()
    assert "is associated with" in text and "Within units" in text and "Between units" in text
    # "not evidence of cause and effect" is allowed; causal claims are not
    assert not re.search(r"\b(causes|caused|causing|leads? to|drives)\b", text, re.I)
    assert "is associated with" in res._repr_html_()
    assert list(res.table.columns) == ["term", "component", "estimate", "se", "rate_ratio",
                                       "ci_low", "ci_high", "p", "n_obs", "n_units"]


def test_count_model_config_errors(planted_panels):
    panel = planted_panels[1]
    with pytest.raises(ConfigError, match="'nope'"):
        count_model(panel, outcome="nc_customer", predictors=["nope"])
    with pytest.raises(ConfigError, match="leadership_lag3"):
        count_model(panel, outcome="nc_customer", predictors=["leadership"], lag=3)
    with pytest.raises(ConfigError, match="counts"):
        bad = panel.assign(nc_customer=panel["nc_customer"] + 0.5)
        count_model(bad, outcome="nc_customer", predictors=["leadership"])


def test_count_model_refuses_predictor_without_within_variation(planted_panels):
    panel = planted_panels[1].copy()
    panel["flat"] = panel.groupby("unit_id")["leadership_lag1"].transform("mean")
    panel["flat_lag1"] = panel["flat"]
    with pytest.raises(InsufficientDataError, match="within units"):
        count_model(panel, outcome="nc_customer", predictors=["flat"])


# --------------------------------------------------------------------------------------
# continuous_model: planted truth
# --------------------------------------------------------------------------------------

def test_continuous_model_recovers_planted_within_and_between(planted_panels):
    """days-to-close = 30 - 4 (x - xbar) - 12 (xbar - 3.6) + u_unit + e, sd(u)=3, sd(e)=5.

    Same 20-seed coverage rule as the count model (>= 17 of 20 CIs contain the truth).
    """
    hits = {"within": 0, "between": 0}
    for seed in SEEDS:
        rng = np.random.default_rng(1000 + seed)
        panel = planted_panels[seed].copy()
        x = panel["leadership_lag1"]
        xbar = x.groupby(panel["unit_id"]).transform("mean")   # over rows with a lag
        units = panel["unit_id"].unique()
        u = panel["unit_id"].map(dict(zip(units, rng.normal(0, 3, len(units)), strict=True)))
        panel["capa_days_to_close_mean"] = (30 - 4 * (x - xbar) - 12 * (xbar - 3.6) + u
                                            + rng.normal(0, 5, len(panel)))
        res = continuous_model(panel, outcome="capa_days_to_close_mean",
                               predictors=["leadership"])
        t = res.table.set_index("component")
        for comp, truth in (("within", -4.0), ("between", -12.0)):
            hits[comp] += bool(t.loc[comp, "ci_low"] <= truth <= t.loc[comp, "ci_high"])
        assert np.isnan(t["rate_ratio"]).all()
        sds = res.params.set_index("parameter")["estimate"]
        assert sds["sd_residual"] == pytest.approx(5.0, rel=0.15)
    assert hits["within"] >= 17 and hits["between"] >= 17, hits
    assert "is associated with" in res.summary()


# --------------------------------------------------------------------------------------
# cross_lagged: planted direction
# --------------------------------------------------------------------------------------

def planted_cross_lagged(seed, direction, *, n_units=60, n_quarters=10):
    rng = np.random.default_rng(seed)
    units = np.array([f"U{i:03d}" for i in range(n_units)])
    m = rng.normal(3.6, 0.4, n_units)          # stable unit culture level
    g = rng.normal(0.0, 0.4, n_units)          # stable unit defect level
    w = np.zeros((n_units, n_quarters))        # within-unit culture
    h = np.zeros((n_units, n_quarters))        # within-unit log defect rate
    w[:, 0] = rng.normal(0, 0.3, n_units)
    h[:, 0] = rng.normal(0, 0.3, n_units)
    for t in range(1, n_quarters):             # time loop; vectorised over units
        if direction == "culture -> outcome":
            w[:, t] = 0.4 * w[:, t - 1] + rng.normal(0, 0.3, n_units)
            h[:, t] = 0.3 * h[:, t - 1] - 0.8 * w[:, t - 1] + rng.normal(0, 0.15, n_units)
        else:
            h[:, t] = 0.4 * h[:, t - 1] + rng.normal(0, 0.3, n_units)
            w[:, t] = 0.3 * w[:, t - 1] - 0.8 * h[:, t - 1] + rng.normal(0, 0.15, n_units)
    expo = np.full((n_units, n_quarters), 5000.0)
    counts = rng.poisson(expo * 0.02 * np.exp(g[:, None] + h))
    qis = np.arange(Q0, Q0 + n_quarters)
    return build_panel(*_frames(units, qis, m[:, None] + w, counts, expo), lags=(1,))


@pytest.mark.parametrize("direction", ["culture -> outcome", "outcome -> culture"])
def test_cross_lagged_finds_planted_direction(direction):
    panel = planted_cross_lagged(7, direction)
    res = cross_lagged(panel, construct="leadership", outcome="nc_customer")
    t = res.table.set_index("path")
    assert res.dominant == direction
    other = "outcome -> culture" if direction == "culture -> outcome" else "culture -> outcome"
    assert t.loc[direction, "ci_high"] < 0           # planted negative path (-0.8 per unit)
    # the planted-zero path is small but not exactly 0: feedback through the unit means
    # biases it away from zero (Nickell 1981), which the notes warn about
    assert abs(t.loc[other, "estimate"]) < 0.25 * abs(t.loc[direction, "estimate"])
    assert res.difference_p < 0.001
    assert res.n_obs == 60 * 9 and res.n_units == 60
    text = res.summary()
    assert "not proof of cause" in text
    assert not re.search(r"\b(causes|caused)\b", text)


def test_cross_lagged_respects_gaps_and_guards():
    panel = planted_cross_lagged(8, "culture -> outcome")
    gap = panel[panel["quarter_index"] != Q0 + 5]              # every unit loses one quarter
    res = cross_lagged(gap, construct="leadership", outcome="nc_customer")
    reasons = res.dropped.set_index("reason")["n_rows"]
    # the start row and the row after the gap have no t-1 row: never bridged
    assert reasons["no panel row for quarter t-1 (start of the unit's series or a gap)"] == 120
    assert res.n_obs == 60 * 7
    few = panel[panel["unit_id"].isin([f"U{i:03d}" for i in range(5)])]
    with pytest.raises(InsufficientDataError):
        cross_lagged(few, construct="leadership", outcome="nc_customer")


# --------------------------------------------------------------------------------------
# fit_negbin edge cases
# --------------------------------------------------------------------------------------

def test_fit_negbin_without_overdispersion_is_the_poisson_fit():
    # binomial counts are underdispersed: the ML alpha is on the boundary 0, where NB2 is
    # Poisson; the Poisson MLE solves X'(y - mu) = 0 exactly (the score equations)
    rng = np.random.default_rng(11)
    x = rng.normal(size=300)
    y = rng.binomial(20, 1 / (1 + np.exp(-(-1.0 + 0.3 * x))))
    X = pd.DataFrame({"const": 1.0, "x": x})
    fit = fit_negbin(y, X, groups=np.arange(300) // 10)
    assert fit.alpha == 0.0 and np.isnan(fit.alpha_se)
    mu = np.exp(X.to_numpy() @ fit.params.to_numpy())
    np.testing.assert_allclose(X.to_numpy().T @ (y - mu), 0.0, atol=1e-6)
    assert np.isfinite(fit.bse).all() and fit.cov_type == "cluster" and fit.n_groups == 30


def test_fit_negbin_refuses_a_singular_design():
    X = pd.DataFrame({"const": 1.0, "a": np.arange(10.0), "b": 2 * np.arange(10.0)})
    with pytest.raises(ModelFitError, match="singular"):
        fit_negbin(np.arange(10), X)
