"""Benchmark cases: the workbench's work against a same-run baseline on the same data."""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from culture.measure.instrument import load_default_instrument
from culture.measure.scoring import score


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
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-missing rows: nanmean warns
            for c in instrument.constructs:
                cols = [instrument.item_ids.index(i.id) for i in instrument.items_of(c.id)]
                np.nanmean(keyed[:, cols], axis=1)

    return f"{n:,} x {len(instrument.item_ids)} items", lambda: score(frame, instrument), baseline


CASES = [
    Case("scoring", "< 10x the bare numpy pass", _scoring),
]


def _aggregation(quick: bool):
    """Aggregate a wave over an org of 5,000 units (the issue's target: seconds).

    Baseline: pandas groupby of the same construct scores by direct unit (no hierarchy),
    the least any aggregation must do.
    """
    from culture.boundary.aggregate import aggregate_wave

    instrument = load_default_instrument()
    rng = np.random.default_rng(2)
    n_units = 500 if quick else 5_000
    parents = [None] + [f"U{rng.integers(0, max(1, k // 4)):05d}" for k in range(1, n_units)]
    org = pd.DataFrame({"unit_id": [f"U{k:05d}" for k in range(n_units)], "parent_id": parents,
                        "name": [f"Unit {k}" for k in range(n_units)], "level": 0})
    n = n_units * 12
    codes = rng.integers(1, 6, (n, len(instrument.item_ids))).astype("float64")
    responses = pd.DataFrame(codes, columns=list(instrument.item_ids))
    responses["respondent"] = [f"P{k}" for k in range(n)]
    responses["wave"] = "2026Q1"
    responses["unit_id"] = org["unit_id"].to_numpy()[rng.integers(0, n_units, n)]
    responses["role_level"] = rng.choice(["staff", "lead", "manager"], n)
    scored = score(responses, instrument)

    def work():
        aggregate_wave(responses, scored, org, instrument=instrument, by=("role_level",))

    def baseline():
        scored.scores.groupby(responses["unit_id"].to_numpy()).agg(["count", "mean", "std"])

    return f"{n_units:,} units, {n:,} respondents", work, baseline


def _notebook(quick: bool):
    """One report notebook under papermill vs an empty notebook (the kernel start alone).

    The ratio is the notebook's own work in units of kernel start-up: the fan-out's
    cost per brief. Uses the demo bundle if present (make demo), else skips itself.
    """
    import tempfile
    from pathlib import Path

    import nbformat
    import papermill

    from culture.boundary.bundle import Bundle
    from culture.resources import notebook_dir

    bundle_dir = next(iter(sorted(Path("data/demo/workspace/bundles").glob("*"))), None)
    if bundle_dir is None:
        raise SystemExit("notebook benchmark needs the demo bundle: run `make demo` first")
    bundle = Bundle.load(bundle_dir)
    units = bundle.release.table("units")
    unit = units[(units["status"] == "released") & (units["level"] == 2)]["unit_id"].iloc[0]
    tmp = Path(tempfile.mkdtemp())
    empty = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "language": "python",
                                                              "display_name": "Python 3"}})
    empty.cells = [nbformat.v4.new_code_cell("1")]
    nbformat.write(empty, tmp / "empty.ipynb")
    params = {"bundle": str(bundle_dir.resolve()), "wave": bundle.wave, "unit_id": str(unit)}

    def work():
        papermill.execute_notebook(str(notebook_dir() / "unit_brief.ipynb"), str(tmp / "out.ipynb"),
                                   parameters=params, kernel_name="python3", progress_bar=False)

    def baseline():
        papermill.execute_notebook(str(tmp / "empty.ipynb"), str(tmp / "e.ipynb"),
                                   kernel_name="python3", progress_bar=False)

    return "unit_brief vs empty notebook", work, baseline


CASES += [
    Case("aggregation", "< 100x a flat groupby (the hierarchy of 5,000 units in seconds)", _aggregation),
    Case("unit_brief_notebook", "< 4x a kernel start per brief", _notebook),
]


def _ingest(quick: bool):
    """Read and validate a 200,000-row plain CSV export (the issue's memory question).

    Baseline: pandas reading the same file as text (no validation). Peak memory of a
    fresh process doing the read is printed separately (it is not a ratio).
    """
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    from culture.ingest import read_responses
    from culture.synth import write_export

    instrument = load_default_instrument()
    n = 5_000 if quick else 200_000
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(rng.integers(1, 6, (n, len(instrument.item_ids))).astype("float64"),
                         columns=list(instrument.item_ids))
    frame.insert(0, "response_id", [f"R{k:07d}" for k in range(n)])
    frame.insert(1, "respondent", [f"E{k:06d}" for k in range(n)])
    frame.insert(2, "wave", "2026Q1")
    frame.insert(3, "unit_id", rng.choice(["S1-D1", "S1-D2", "S2-D1"], n))
    frame["tenure"], frame["role_level"] = "T2", "staff"
    frame["started_at"] = pd.Timestamp("2026-01-15 09:00")
    frame["submitted_at"] = pd.Timestamp("2026-01-15 09:08")
    frame["duration_s"], frame["finished"] = 480.0, True
    for q in instrument.comments:
        frame[q.id] = None
    path = Path(tempfile.mkdtemp()) / "export.csv"
    write_export(frame, instrument, path, fmt="csv")
    # VmHWM (peak resident set) of a fresh process: ru_maxrss would carry over the peak of
    # this benchmark process across fork+exec.
    probe = ("import re; from culture.ingest import read_responses; "
             "from culture.measure.instrument import load_default_instrument; "
             "hwm = lambda: int(re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read())[1]); "
             "before = hwm(); "
             f"p = read_responses({str(path)!r}, load_default_instrument()); "
             "after = hwm(); "
             "print(f'  ingest peak RSS {after / 1024:.0f} MiB ({(after - before) / 1024:.0f} MiB above "
             "start-up), {len(p.accepted):,} rows accepted')")
    subprocess.run([sys.executable, "-c", probe], check=True)

    def work():
        read_responses(path, instrument)

    def baseline():
        pd.read_csv(path, dtype=str)

    return f"{n:,} rows x {len(instrument.item_ids)} items", work, baseline


CASES.append(Case("ingest_csv", "< 20x pandas reading the file as text", _ingest))
