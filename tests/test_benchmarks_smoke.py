"""`make bench` at the smoke size: every case runs, measures each ratio the issue sets and
writes the report. Speeds are not asserted here (they live in benchmarks/RESULTS.md,
measured as ratios in one run); what is checked is that each case measures what it says.
"""

from __future__ import annotations

import math

import pytest
from benchmarks.__main__ import render
from benchmarks.cases import CASES, briefs, machine

TARGETS = {  # case -> the ratios the issue names
    "scoring": {"time / numpy pass", "pingouin alpha / our alpha", "peak memory / item matrix"},
    "ingest": {"CSV ingest / pyarrow read", "peak RSS", "XLSX ingest / CSV ingest"},
    "release": {"release / groupby-mean", "time with the units doubled"},
    "briefs": {"marginal brief / its cells", "1 worker / 2 workers"},
}


@pytest.mark.parametrize("name", ["scoring", "ingest", "release"])
def test_each_case_measures_its_ratios(name):
    outcome = CASES[name](True, 1)
    assert {r.name for r in outcome.ratios} == TARGETS[name]
    assert all(math.isfinite(r.value) and r.value > 0 for r in outcome.ratios)
    assert all(len(runs) == 1 and runs[0] > 0 for runs in outcome.timings.values())


def test_the_briefs_case_runs_on_a_bundle_and_the_report_marks_each_target(small_pack):
    result, ws, _ = small_pack
    outcome = briefs(True, 1, bundle=ws.root / "bundles" / result.manifest["wave"])
    assert {r.name for r in outcome.ratios} == TARGETS["briefs"]
    text = render([outcome], quick=True, info=machine())
    for ratio in outcome.ratios:
        line = next(line for line in text.splitlines() if line.startswith(f"| {ratio.name} |"))
        assert line.endswith("| met |" if ratio.met else "| **missed** |")
    assert f"of {len(outcome.ratios)} targets met" in text


def test_growth_exponent_recovers_a_planted_power_law():
    from benchmarks.growth import exponent, table

    sizes = [500, 5_000, 20_000, 100_000]
    # known truth: seconds = 0.002 x people^1.5 and 0.01 x people (exponents 1.5 and 1.0)
    assert exponent(sizes, [0.002 * n ** 1.5 for n in sizes]) == pytest.approx(1.5, abs=1e-9)
    docs = [{"people": n, "stages_s": {"pack_exports": 0.01 * n}} for n in sizes]
    assert table(docs).splitlines()[-1].endswith("| 1.00 |")
