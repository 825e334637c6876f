"""psychometrics: recovery of planted truth, input checks, and the instrument helpers.

Published R outputs are checked in test_psychometrics_reference.py. Here every
expected value is a property of the simulation that generated the data (the
"known truth"), derived from the planted parameters, with a tolerance of about
3 standard errors of the estimate at the simulated sample size.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from culture import measure as ps
from culture.errors import ConfigError

THRESHOLDS = np.array([-1.9, -1.1, -0.35, 1.05])  # 5-point agreement scale, skewed to "agree"


def ordinal_items(n: int, loadings: np.ndarray, rng: np.random.Generator) -> pd.DataFrame:
    """Codes 1..5 cut from a one-factor normal model (latent variances 1)."""
    eta = rng.normal(size=(n, 1))
    latent = eta * loadings + rng.normal(size=(n, len(loadings))) * np.sqrt(1 - loadings**2)
    codes = 1 + (latent[:, :, None] > THRESHOLDS).sum(axis=2)
    return pd.DataFrame(codes.astype("float64"), columns=[f"q{i + 1}" for i in range(len(loadings))])


def population_alpha(loadings: np.ndarray) -> float:
    """Exact alpha of the ordinal items implied by the planted model.

    E[Y] = 1 + sum_a P(Y > t_a); E[Y_i Y_j] = sum_{a,b} P(Y_i >= a, Y_j >= b) (codes are
    positive integers) with bivariate-normal orthant probabilities at r = l_i l_j.
    """
    k = len(loadings)
    up = stats.norm.sf(THRESHOLDS)                    # P(Y >= a+1) for a = 1..4
    mean = 1 + up.sum()
    ey2 = 1 + sum((2 * a + 1) * up[a - 1] for a in range(1, 5))  # E[Y^2] = sum (2a-1) P(Y>=a)
    var = ey2 - mean**2
    cov = np.zeros((k, k))
    for i in range(k):
        for j in range(i):
            rho = loadings[i] * loadings[j]
            mvn = stats.multivariate_normal(mean=[0, 0], cov=[[1, rho], [rho, 1]])
            # P(Y_i >= a, Y_j >= b) = P(Z_i > t, Z_j > u) = Phi2(-t, -u)
            p = sum(mvn.cdf([-t, -u]) for t in THRESHOLDS for u in THRESHOLDS)
            e_xy = 1 + 2 * (mean - 1) + p           # codes start at 1: Y = 1 + sum 1{Y > t}
            cov[i, j] = cov[j, i] = e_xy - mean**2
    np.fill_diagonal(cov, var)
    return k / (k - 1) * (1 - np.trace(cov) / cov.sum())


# --- alpha ---------------------------------------------------------------------------

def test_alpha_recovers_planted_ordinal_reliability():
    rng = np.random.default_rng(20260501)
    loadings = np.array([0.8, 0.75, 0.7, 0.65, 0.6])
    truth = population_alpha(loadings)
    res = ps.alpha(ordinal_items(20000, loadings, rng))
    t = res.total.iloc[0]
    # ase ~ .0025 at n = 20000: 0.01 is about 4 standard errors
    assert t.raw_alpha == pytest.approx(truth, abs=0.01)
    assert t.ci_low < t.raw_alpha < t.ci_high
    # the weakest-loading item is the one whose removal costs least
    assert res.items.loc[res.items.alpha_if_deleted.idxmax(), "item"] == "q5"


def test_alpha_continuous_tau_equivalent_truth():
    # parallel items (equal loadings l, equal error variances): alpha equals the reliability
    # of the sum, k r / (1 + (k - 1) r) with r = l^2 (Spearman-Brown); l = .7, k = 6
    rng = np.random.default_rng(3)
    lam, k = 0.7, 6
    x = rng.normal(size=(30000, 1)) * lam + rng.normal(size=(30000, k)) * np.sqrt(1 - lam**2)
    truth = k * lam**2 / (1 + (k - 1) * lam**2)
    t = ps.alpha(pd.DataFrame(x)).total.iloc[0]
    assert t.raw_alpha == pytest.approx(truth, abs=0.005)  # ase ~ .001
    assert t.std_alpha == pytest.approx(truth, abs=0.005)
    assert t.average_r == pytest.approx(lam**2, abs=0.01)


def test_alpha_drops_flat_item_and_keeps_input():
    rng = np.random.default_rng(5)
    df = ordinal_items(300, np.array([0.7, 0.7, 0.7]), rng)
    df["flat"] = 3.0
    before = df.copy()
    res = ps.alpha(df)
    pd.testing.assert_frame_equal(df, before)
    assert "flat" not in set(res.items["item"]) and any("flat" in n for n in res.notes)
    assert res.total.n_items.iloc[0] == 3
    assert "alpha" in res.summary().lower() and res._repr_html_().startswith("<p>")
    assert "psych::alpha" in res.provenance["agrees_with"]


def test_alpha_two_items_has_no_alpha_if_deleted():
    rng = np.random.default_rng(6)
    res = ps.alpha(ordinal_items(200, np.array([0.7, 0.7]), rng))
    assert res.items.alpha_if_deleted.isna().all()
    assert res.items.r_drop.notna().all()


def test_alpha_validation_is_lazy_and_names_columns():
    df = pd.DataFrame({"a": ["secret-1", "secret-2", "secret-3"], "b": ["1", "2", "3"]})
    with pytest.raises(ps.PsychometricsInputError) as err:
        ps.alpha(df)
    msg = str(err.value)
    assert "'a'" in msg and "'b'" in msg and len(err.value.problems) == 2
    assert "secret" not in msg  # never echoes an answer
    with pytest.raises(ps.PsychometricsInputError):
        ps.alpha(pd.DataFrame({"a": [1.0, 2.0, 3.0]}))
    with pytest.raises(ConfigError):
        ps.alpha(pd.DataFrame({"a": [1.0, 2, 3], "b": [2.0, 1, 3]}), ci_level=95)
    with pytest.raises(ConfigError):
        ps.alpha([[1, 2], [3, 4]])
    # items never answered by the same people: no covariance
    gap = pd.DataFrame({"a": [1.0, 2, 3, np.nan, np.nan, np.nan],
                        "b": [np.nan, np.nan, np.nan, 1.0, 2, 3], "c": [1.0, 2, 3, 1, 2, 3]})
    with pytest.raises(ps.PsychometricsInputError, match="fewer than 2 respondents"):
        ps.alpha(gap)


# --- omega ---------------------------------------------------------------------------

def hierarchical_correlation() -> tuple[np.ndarray, np.ndarray]:
    """Population R of psych::sim.hierarchical's default structure and its g loadings."""
    gload = np.array([0.9, 0.8, 0.7])
    fload = np.array([[0.8, 0.7, 0.6], [0.7, 0.6, 0.5], [0.6, 0.5, 0.4]])
    lam = np.zeros((9, 4))
    for f in range(3):
        rows = slice(3 * f, 3 * f + 3)
        lam[rows, 0] = fload[f] * gload[f]
        lam[rows, f + 1] = fload[f] * np.sqrt(1 - gload[f] ** 2)
    r = lam @ lam.T
    np.fill_diagonal(r, 1.0)
    return r, lam[:, 0]


def test_omega_recovers_planted_hierarchical_structure():
    r, g = hierarchical_correlation()
    names = [f"v{i}" for i in range(9)]
    res = ps.omega(pd.DataFrame(r, index=names, columns=names), n_factors=3, is_correlation=True)
    t = res.total.iloc[0]
    # exact population matrix: omega_h = (sum g)^2 / sum(R); the planted communality of
    # each item is its group-factor loading squared (g^2 + s^2 = f^2), so
    # omega_t = 1 - sum(1 - f^2) / sum(R)
    f2 = np.array([0.8, 0.7, 0.6, 0.7, 0.6, 0.5, 0.6, 0.5, 0.4]) ** 2
    assert t.omega_h == pytest.approx(g.sum() ** 2 / r.sum(), abs=1e-3)
    assert t.omega_total == pytest.approx(1 - (1 - f2).sum() / r.sum(), abs=1e-3)
    assert np.allclose(np.sort(res.loadings.g.to_numpy()), np.sort(g), atol=2e-3)
    assert np.allclose(res.loadings.h2.to_numpy(), f2, atol=2e-3)
    assert not res.loadings.reversed.any()
    assert "omega" in res.summary()


def test_omega_total_one_factor_planted():
    rng = np.random.default_rng(11)
    lam = np.array([0.8, 0.7, 0.6, 0.5, 0.4])
    n = 20000
    x = rng.normal(size=(n, 1)) * lam + rng.normal(size=(n, 5)) * np.sqrt(1 - lam**2)
    truth = lam.sum() ** 2 / (lam.sum() ** 2 + (1 - lam**2).sum())  # McDonald's omega_t
    assert ps.omega_total(pd.DataFrame(x)) == pytest.approx(truth, abs=0.01)


def test_omega_parameter_checks():
    r, _ = hierarchical_correlation()
    with pytest.raises(ConfigError):
        ps.omega(pd.DataFrame(r), n_factors=1, is_correlation=True)
    with pytest.raises(ConfigError):
        ps.omega(pd.DataFrame(r), n_factors=2, option="middle", is_correlation=True)
    with pytest.raises(ps.PsychometricsInputError):
        ps.omega(pd.DataFrame(r[:, :8]), is_correlation=True)


# --- CFA and invariance --------------------------------------------------------------

def two_factor_sample(n: int, lam1, lam2, rng: np.random.Generator) -> pd.DataFrame:
    f = rng.multivariate_normal([0, 0], [[1, 0.4], [0.4, 1]], size=n)
    lam = np.zeros((8, 2))
    lam[:4, 0], lam[4:, 1] = lam1, lam2
    e = rng.normal(size=(n, 8)) * np.sqrt(1 - (lam**2).sum(axis=1))
    return pd.DataFrame(f @ lam.T + e, columns=[f"i{j}" for j in range(8)])


MODEL = {"f1": ["i0", "i1", "i2", "i3"], "f2": ["i4", "i5", "i6", "i7"]}
BASE = [0.8, 0.7, 0.7, 0.6]


def test_cfa_recovers_planted_loadings():
    rng = np.random.default_rng(21)
    res = ps.cfa(two_factor_sample(5000, BASE, BASE, rng), MODEL)
    std = res.loadings.set_index("item").std_all
    assert np.allclose(std.to_numpy(), BASE + BASE, atol=0.03)  # se of a std loading ~ .01
    assert res.factor_correlations.correlation.iloc[0] == pytest.approx(0.4, abs=0.04)
    fit = res.fit.iloc[0]
    assert fit.df == 19 and fit.cfi > 0.99 and fit.rmsea < 0.03  # the model is true
    assert "CFI" in res.summary()


def test_metric_invariance_accepts_equal_loadings():
    rng = np.random.default_rng(1)
    data = pd.concat([two_factor_sample(500, BASE, BASE, rng).assign(wave="2025Q1"),
                      two_factor_sample(500, BASE, BASE, rng).assign(wave="2025Q2")],
                     ignore_index=True)
    res = ps.metric_invariance(data, MODEL, group="wave")
    assert res.accepted and res.delta_cfi >= -0.01 and res.df_diff == 6
    assert "holds" in res.verdict and list(res.table.model) == ["configural", "metric"]


def test_metric_invariance_rejects_planted_loading_change():
    rng = np.random.default_rng(1)
    changed = [0.8, 0.3, 0.3, 0.9]  # three loadings of f1 move in the second wave
    data = pd.concat([two_factor_sample(500, BASE, BASE, rng).assign(wave="2025Q1"),
                      two_factor_sample(500, changed, BASE, rng).assign(wave="2025Q2")],
                     ignore_index=True)
    res = ps.metric_invariance(data, MODEL, group="wave")
    assert not res.accepted and res.delta_cfi < -0.01 and res.p_value < 0.001
    assert "not supported" in res.verdict


def test_cfa_model_checks_are_collected():
    data = pd.DataFrame(np.random.default_rng(0).normal(size=(50, 4)), columns=list("abcd"))
    with pytest.raises(ps.PsychometricsInputError) as err:
        ps.cfa(data, {"f": ["a", "b", "zz"], "g": ["b", "c"], "h": ["d"]})
    assert len(err.value.problems) == 3  # unknown column, item used twice, one-item factor
    with pytest.raises(ConfigError):
        ps.cfa(data, {"f": ["a", "b", "c"]}, estimator="WLSMV")
    with pytest.raises(ps.PsychometricsInputError, match="at least 2 groups"):
        ps.metric_invariance(data.assign(w="one"), {"f": ["a", "b", "c"]}, group="w")


# --- ICC and r_wg(j) -------------------------------------------------------------------

def test_icc_recovers_planted_variance_components():
    rng = np.random.default_rng(8)
    j, k, var_b, var_w = 400, 10, 0.25, 1.0
    groups = np.repeat(np.arange(j), k)
    values = rng.normal(0, np.sqrt(var_b), j)[groups] + rng.normal(0, np.sqrt(var_w), j * k)
    out = ps.icc(pd.Series(values), pd.Series(groups)).iloc[0]
    icc1 = var_b / (var_b + var_w)
    assert out.icc1 == pytest.approx(icc1, abs=0.04)                          # se ~ .013
    assert out.icc2 == pytest.approx(k * icc1 / (1 + (k - 1) * icc1), abs=0.04)


def test_rwg_j_planted_agreement():
    rng = np.random.default_rng(9)
    n = 4000
    # group A: every item answered 2/3/4 with probabilities .25/.5/.25 (variance .5)
    a = rng.choice([2.0, 3.0, 4.0], p=[0.25, 0.5, 0.25], size=(n, 4))
    # group B: uniform over 1..5, the null distribution (variance 2)
    b = rng.integers(1, 6, size=(n, 4)).astype("float64")
    items = pd.DataFrame(np.vstack([a, b]), columns=list("abcd"))
    groups = pd.Series(["A"] * n + ["B"] * n)
    out = ps.rwg_j(items, groups, n_options=5).set_index("group")
    ratio = 0.5 / 2.0
    assert out.loc["A", "rwg_j"] == pytest.approx(4 * (1 - ratio) / (4 * (1 - ratio) + ratio), abs=0.01)
    assert out.loc["B", "rwg_j"] < 0.15  # no agreement beyond the uniform null
    assert out.loc["A", "n"] == n


def test_rwg_j_truncation_and_singletons():
    items = pd.DataFrame({"a": [1.0, 5, 1, 5, 3], "b": [5.0, 1, 1, 5, 3]})
    groups = pd.Series(["wide", "wide", "wide", "wide", "solo"])
    out = ps.rwg_j(items, groups, n_options=5).set_index("group")
    assert out.loc["wide", "rwg_j"] == 0.0   # variance above the null: set to 0 (multilevel)
    assert np.isnan(out.loc["solo", "rwg_j"])
    with pytest.raises(ConfigError):
        ps.rwg_j(items, groups, n_options=1)


# --- instrument helpers -----------------------------------------------------------------

@pytest.fixture(scope="module")
def wave(small_org):
    r = small_org.responses
    return r[r["wave"] == r["wave"].iloc[0]]


def test_instrument_reliability_table(wave, instrument):
    before = wave.copy()
    rel = ps.instrument_reliability(wave, instrument)
    pd.testing.assert_frame_equal(wave, before)
    assert list(rel.construct) == list(instrument.construct_ids)
    assert rel.n_items.tolist() == [len(instrument.items_of(c)) for c in instrument.construct_ids]
    assert (rel.ci_low < rel.alpha).all() and (rel.alpha < rel.ci_high).all()
    assert rel.alpha.between(0.5, 1).all() and rel.omega_total.between(0.5, 1).all()
    assert rel.worst_item.notna().all() and (rel.alpha_if_worst_deleted >= rel.alpha - 0.2).all()
    # the row is alpha() of the construct's items after keying code -> 1 + 5 - code
    lc = [i.id for i in instrument.items_of("leadership_commitment")]
    keyed = wave[lc].copy()
    for item in instrument.items_of("leadership_commitment"):
        if item.reverse:
            keyed[item.id] = 6 - keyed[item.id]
    keyed = keyed[keyed.notna().any(axis=1)]
    row = rel.set_index("construct").loc["leadership_commitment"]
    assert row.alpha == pytest.approx(ps.alpha(keyed).raw_alpha, abs=1e-12)
    assert row.n_respondents == len(keyed)


def test_item_statistics_keys_reverse_items_and_flags_noise(wave, instrument):
    stats_ = ps.item_statistics(wave, instrument)
    rev = stats_[stats_.reverse]
    assert len(rev) == len(instrument.reverse_items)
    assert (rev.r_drop > 0.2).all()  # keyed reverse items correlate positively with the rest
    assert (stats_[["floor", "ceiling"]].to_numpy() <= 1).all()
    assert ps.flag_items(stats_).columns.tolist() == ["construct", "item", "flag", "value", "threshold"]

    noisy = wave.copy()
    noisy["LC1"] = np.random.default_rng(4).integers(1, 6, len(noisy)).astype("float64")
    flags = ps.flag_items(ps.item_statistics(noisy, instrument))
    lc1 = set(flags.loc[flags.item == "LC1", "flag"])
    assert {"low_item_total", "alpha_rises"} <= lc1


def test_instrument_checks_codes_without_echoing(wave, instrument):
    bad = wave.copy()
    bad.loc[bad.index[:3], "CO2"] = 7.0
    bad = bad.drop(columns=["RS1"])
    with pytest.raises(ps.PsychometricsInputError) as err:
        ps.instrument_reliability(bad, instrument)
    msg = str(err.value)
    assert "'CO2'" in msg and "3 value(s)" in msg and "'RS1'" in msg
    assert all("7" not in str(p) for p in err.value.problems)  # the bad code is not echoed
    # declared non-substantive codes (9) count as missing, not as errors
    dk = wave.copy()
    dk.loc[dk.index[:5], "CO2"] = 9.0
    assert ps.item_statistics(dk, instrument).set_index("item").loc["CO2", "n"] \
        == wave["CO2"].iloc[5:].notna().sum()
