"""Benchmark cases: the workbench's work against a same-run baseline on the same data."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from culture.instruments import load_default_instrument
from culture.scoring import score


def _best(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


@dataclass(frozen=True)
class Case:
    name: str
    target: str
    setup: Callable[[bool], tuple[str, Callable[[], object], Callable[[], object]]]

    def run(self, *, quick: bool, repeat: int) -> dict:
        size, work, baseline = self.setup(quick)
        t_work, t_base = _best(work, repeat), _best(baseline, repeat)
        return {"name": self.name, "size": size, "seconds": t_work, "baseline_seconds": t_base,
                "ratio": t_work / t_base, "target": self.target}


def _scoring(quick: bool):
    """Score a wave of 1,000,000 respondents x 40 items (the issue's benchmark size).

    Baseline: one numpy pass that reverse-keys and takes the nan-mean per construct
    block, i.e. the least work any scorer must do on the same matrix.
    """
    instrument = load_default_instrument()
    n = 20_000 if quick else 1_000_000
    rng = np.random.default_rng(1)
    codes = rng.integers(1, 6, (n, len(instrument.item_ids))).astype("float64")
    codes[rng.random(codes.shape) < 0.02] = np.nan
    frame = pd.DataFrame(codes, columns=list(instrument.item_ids))
    frame["duration_s"] = rng.lognormal(6, 0.4, n)
    frame["wave"] = "2026Q1"
    reverse = np.array([instrument.item(i).reverse for i in instrument.item_ids])

    def baseline():
        keyed = np.where(reverse, 6 - codes, codes)
        for c in instrument.constructs:
            cols = [instrument.item_ids.index(i.id) for i in instrument.items_of(c.id)]
            np.nanmean(keyed[:, cols], axis=1)

    return f"{n:,} x {len(instrument.item_ids)} items", lambda: score(frame, instrument), baseline


CASES = [
    Case("scoring", "< 10x the bare numpy pass", _scoring),
]
