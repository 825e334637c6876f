"""Planted-truth simulations for culture.trends.

Respondent-level scores are simulated for many unit x construct cells over two waves
with one planted drop; the summaries go through welch_change -> benjamini_hochberg ->
classify_change exactly as a release would. The truth is known, so recovery and the
false-discovery share can be checked against stated bounds.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from culture.stats import (
    benjamini_hochberg,
    classify_change,
    mixed_trend,
    welch_change,
)

N_UNITS, N_CONSTRUCTS = 20, 5          # 100 comparisons per release
N_RESP = 50                            # respondents per cell and wave
SD = 0.8                               # respondent-level SD of a construct score
DROP = -0.8                            # planted change in one cell
PLANTED = 7 * N_CONSTRUCTS + 2         # unit 7, construct 2
ALPHA = 0.05
REPS = 200


def _simulate(rng: np.random.Generator, reps: int) -> pd.DataFrame:
    """Welch comparisons (wave 2 minus wave 1) for every cell of every replicate."""
    cells = N_UNITS * N_CONSTRUCTS
    true_mean = rng.uniform(3.0, 4.2, size=cells)          # stable culture level per cell
    shift = np.zeros(cells)
    shift[PLANTED] = DROP
    w1 = true_mean[None, :, None] + SD * rng.standard_normal((reps, cells, N_RESP))
    w2 = (true_mean + shift)[None, :, None] + SD * rng.standard_normal((reps, cells, N_RESP))
    res = welch_change(w2.mean(-1).ravel(), w2.std(-1, ddof=1).ravel(), N_RESP,
                       w1.mean(-1).ravel(), w1.std(-1, ddof=1).ravel(), N_RESP)
    res["rep"] = np.repeat(np.arange(reps), cells)
    res["cell"] = np.tile(np.arange(cells), reps)
    # BH over every comparison of one release (= one replicate).
    res["q"] = np.concatenate([benjamini_hochberg(g["p"].to_numpy())
                               for _, g in res.groupby("rep", sort=True)])
    return res


@pytest.fixture(scope="module")
def sims() -> pd.DataFrame:
    return _simulate(np.random.default_rng(20240611), REPS)


def test_planted_drop_is_flagged_in_a_single_release(sims):
    one = sims[sims["rep"] == 0].set_index("cell")
    verdict = classify_change(one["diff"], one["q"], min_change=0.2, alpha=ALPHA)
    assert verdict.loc[PLANTED] == "significant and meaningful"
    assert one.loc[PLANTED, "ci_low"] <= DROP <= one.loc[PLANTED, "ci_high"]
    assert one.loc[PLANTED, "hedges_g"] < -0.5      # true standardised drop is -1.0


def test_planted_drop_recovered_in_most_releases(sims):
    planted = sims[sims["cell"] == PLANTED]
    # Noncentrality |DROP| / (SD sqrt(2/N_RESP)) = 5; with BH over 100 tests the expected
    # power is about 0.93. Bound: at least 0.85 (Monte Carlo SE about 0.02 for 200 reps).
    assert (planted["q"] < ALPHA).mean() >= 0.85
    # The estimate is unbiased for the planted change (SE of the mean about 0.011).
    assert planted["diff"].mean() == pytest.approx(DROP, abs=0.04)


def test_false_discovery_share_stays_below_the_bh_bound(sims):
    flagged = sims["q"] < ALPHA
    null = sims["cell"] != PLANTED
    per_rep = pd.DataFrame({"false": flagged & null, "all": flagged}).groupby(sims["rep"]).sum()
    fdp = per_rep["false"] / per_rep["all"].clip(lower=1)
    # Benjamini & Hochberg (1995): FDR <= alpha * m0 / m = 0.05 * 99/100 for independent
    # tests. Stated bound: mean false-discovery proportion <= 0.05 + 0.03 Monte Carlo
    # allowance (about 3 SE for 200 releases).
    assert fdp.mean() <= ALPHA + 0.03
    # Without adjustment about 5% of the 99 stable cells would be "significant" in every
    # release - the reason for BH. Welch p values are calibrated under the null:
    naive = ((sims["p"] < ALPHA) & null).groupby(sims["rep"]).sum()
    assert naive.mean() == pytest.approx(ALPHA * 99, abs=0.8)


def test_mixed_trend_recovers_a_planted_slope():
    rng = np.random.default_rng(7)
    units, waves, slope = 40, 8, -0.05
    u = np.repeat(np.arange(units), waves)
    t = np.tile(np.arange(waves, dtype=float), units)
    intercepts = rng.normal(3.6, 0.3, units)
    slopes = rng.normal(slope, 0.02, units)
    y = intercepts[u] + slopes[u] * t + rng.normal(0, 0.1, u.size)
    fit = mixed_trend(pd.DataFrame({"score": y, "wave": t, "unit": u}),
                      value="score", time="wave", group="unit")
    row = fit.table.set_index("term").loc["time"]
    assert row["ci_low"] <= slope <= row["ci_high"]
    assert abs(row["estimate"] - slope) < 3 * row["se"]
    sd_slope = fit.random.set_index("component").loc["sd_slope", "estimate"]
    assert sd_slope == pytest.approx(0.02, abs=0.01)
