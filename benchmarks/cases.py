"""Benchmark cases: the workbench's work against baselines measured in the same run.

Each case returns timings (every repeat kept: the report gives the median and the spread),
peak memory where the target names one, and its ratios, each with the target it is held
to. Sizes are the issue's at full size and small in ``--quick`` (the smoke run of CI).
"""

from __future__ import annotations

import re
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd


@dataclass
class Ratio:
    name: str
    value: float
    target: str
    met: bool


@dataclass
class Outcome:
    case: str
    size: str
    timings: dict[str, list[float]] = field(default_factory=dict)   # label -> seconds per repeat
    memory_mib: dict[str, float] = field(default_factory=dict)
    ratios: list[Ratio] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def time(self, label: str, fn: Callable[[], object], repeat: int) -> float:
        """Run ``fn`` ``repeat`` times; keep every timing; return the median."""
        runs = []
        for _ in range(repeat):
            t = time.perf_counter()
            fn()
            runs.append(time.perf_counter() - t)
        self.timings[label] = runs
        return statistics.median(runs)

    def at_most(self, name: str, value: float, limit: float, unit: str = "x") -> None:
        self.ratios.append(Ratio(name, value, f"<= {limit:g}{unit}", value <= limit))

    def at_least(self, name: str, value: float, limit: float, unit: str = "x") -> None:
        self.ratios.append(Ratio(name, value, f">= {limit:g}{unit}", value >= limit))


def _peak_mib(fn: Callable[[], object]) -> float:
    """Peak Python-and-numpy allocation while ``fn`` runs (tracemalloc sees numpy buffers)."""
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def _instrument_with(n_items: int):
    """The shipped instrument with items added round-robin to its constructs up to ``n_items``
    (the issue's 47-item instrument; the shipped one has fewer)."""
    import yaml

    from culture.measure.instrument import parse_instrument
    from culture.resources import default_instrument_path

    doc = yaml.safe_load(default_instrument_path().read_text(encoding="utf-8"))
    constructs = [c["id"] for c in doc["constructs"]]
    template = next(i for i in doc["items"] if not i.get("reverse"))
    k = 0
    while len(doc["items"]) < n_items:
        doc["items"].append({**template, "id": f"BX{k}", "construct": constructs[k % len(constructs)],
                             "text": f"Benchmark item {k}"})
        k += 1
    return parse_instrument(doc, source="benchmark")


# --------------------------------------------------------------------------- scoring
def scoring(quick: bool, repeat: int) -> Outcome:
    """Score 1,000,000 x 47 items and take pairwise alpha per construct.

    Baselines: one numpy pass that reverse-keys and takes the nan-mean per construct (the
    least any scorer does); ``pingouin.cronbach_alpha`` (pairwise) on the same constructs.
    """
    import pingouin

    from culture.measure.reliability import pairwise_alpha
    from culture.measure.scoring import score

    instrument = _instrument_with(47)
    n = 20_000 if quick else 1_000_000
    rng = np.random.default_rng(1)
    codes = rng.integers(1, 6, (n, len(instrument.item_ids))).astype("float64")
    codes[rng.random(codes.shape) < 0.02] = np.nan
    frame = pd.DataFrame(codes, columns=list(instrument.item_ids))
    frame["duration_s"] = rng.lognormal(6, 0.4, n)
    frame["wave"] = "2026Q1"
    reverse = np.array([instrument.item(i).reverse for i in instrument.item_ids])
    blocks = {c.id: [instrument.item_ids.index(i.id) for i in instrument.items_of(c.id)]
              for c in instrument.constructs}
    out = Outcome("scoring", f"{n:,} respondents x {len(instrument.item_ids)} items, "
                  f"{len(blocks)} constructs")

    def work():
        scored = score(frame, instrument)
        keyed = scored.keyed.to_numpy()
        for cols in blocks.values():
            pairwise_alpha(keyed[:, cols])

    def numpy_pass():
        keyed = np.where(reverse, 6 - codes, codes)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-missing rows: nanmean warns
            for cols in blocks.values():
                np.nanmean(keyed[:, cols], axis=1)

    keyed = pd.DataFrame(np.where(reverse, 6 - codes, codes), columns=list(instrument.item_ids))

    def our_alpha():
        for cols in blocks.values():
            pairwise_alpha(keyed.to_numpy()[:, cols])

    def with_pingouin():
        for c in instrument.constructs:
            pingouin.cronbach_alpha(keyed[[i.id for i in instrument.items_of(c.id)]], nan_policy="pairwise")

    t_work = out.time("score + alpha per construct", work, repeat)
    t_base = out.time("numpy nan-mean pass", numpy_pass, repeat)
    t_alpha = out.time("pairwise alpha per construct (ours)", our_alpha, repeat)
    t_ping = out.time("pingouin.cronbach_alpha per construct", with_pingouin, max(1, repeat - 2))
    matrix = codes.nbytes / 2**20
    out.memory_mib["item matrix"] = matrix
    out.memory_mib["score + alpha peak"] = _peak_mib(work)
    out.at_most("time / numpy pass", t_work / t_base, 3)
    out.at_least("pingouin alpha / our alpha", t_ping / t_alpha, 5)
    out.at_most("peak memory / item matrix", out.memory_mib["score + alpha peak"] / matrix, 3)
    return out


# --------------------------------------------------------------------------- ingest
def _export_frame(instrument, n: int) -> pd.DataFrame:
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
    return frame


def _fresh_process_peak_mib(path: Path, fmt: str) -> float:
    """VmHWM of a fresh process reading the export (ru_maxrss would carry this process's peak)."""
    probe = ("import re; from culture.ingest import read_responses; "
             "from culture.measure.instrument import load_default_instrument; "
             f"p = read_responses({str(path)!r}, load_default_instrument(), fmt={fmt!r}); "
             "print(re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read())[1])")
    done = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True)
    return int(done.stdout.split()[-1]) / 1024


def ingest(quick: bool, repeat: int) -> Outcome:
    """Read and validate a 200,000-row Qualtrics export, and the same rows as XLSX.

    Baselines: ``pyarrow.csv.read_csv`` of the same file (parsing alone); the CSV ingest
    for the XLSX one.
    """
    import pyarrow.csv

    from benchmarks.xlsx_writer import write_grid_xlsx
    from culture.ingest import read_responses
    from culture.ingest.textgrid import read_text_grid
    from culture.measure.instrument import load_default_instrument
    from culture.synth import write_export

    instrument = load_default_instrument()
    n = 5_000 if quick else 200_000
    folder = Path(tempfile.mkdtemp(prefix="culture-bench-"))
    frame = _export_frame(instrument, n)
    qualtrics = write_export(frame, instrument, folder / "qualtrics.csv", fmt="qualtrics")
    plain = write_export(frame, instrument, folder / "plain.csv", fmt="csv")
    xlsx = write_grid_xlsx(read_text_grid(plain), folder / "plain.xlsx")
    out = Outcome("ingest", f"{n:,} rows x {len(instrument.item_ids)} items")
    t_csv = out.time("ingest Qualtrics CSV", lambda: read_responses(qualtrics, instrument,
                                                                    fmt="qualtrics"), repeat)
    t_arrow = out.time("pyarrow.csv.read_csv", lambda: pyarrow.csv.read_csv(qualtrics), repeat)
    t_plain = out.time("ingest plain CSV", lambda: read_responses(plain, instrument), repeat)
    t_xlsx = out.time("ingest the same rows as XLSX", lambda: read_responses(xlsx, instrument), repeat)
    out.memory_mib["ingest peak RSS (fresh process)"] = _fresh_process_peak_mib(qualtrics, "qualtrics")
    out.at_most("CSV ingest / pyarrow read", t_csv / t_arrow, 3)
    out.at_most("peak RSS", out.memory_mib["ingest peak RSS (fresh process)"], 1024, " MiB")
    out.at_most("XLSX ingest / CSV ingest", t_xlsx / t_plain, 3)
    return out


# --------------------------------------------------------------------------- release
def _org_of(n_units: int, levels: int, rng) -> pd.DataFrame:
    """A random tree of ``n_units`` units at most ``levels`` deep."""
    depth = np.zeros(n_units, dtype=int)
    parents: list[int | None] = [None]
    for i in range(1, n_units):
        p = int(rng.integers(0, i))
        while depth[p] >= levels - 1:
            p = int(rng.integers(0, i))
        parents.append(p)
        depth[i] = depth[p] + 1
    ids = [f"U{k:05d}" for k in range(n_units)]
    return pd.DataFrame({"unit_id": ids, "parent_id": [None if p is None else ids[p] for p in parents],
                         "name": [f"Unit {k}" for k in range(n_units)], "level": depth,
                         "wave": "2026Q1"})


def _release_once(n_people: int, n_units: int, levels: int, seed: int):
    from culture.boundary.audit import audit_release
    from culture.boundary.exclusion import excluding_units
    from culture.boundary.release import Thresholds
    from culture.measure.instrument import load_default_instrument
    from culture.measure.scoring import score
    from culture.pipeline.waves import (
        WaveData,
        build_wave_release,
        default_cut,
        membership,
        parts_of,
        reported_data,
    )

    instrument = load_default_instrument()
    rng = np.random.default_rng(seed)
    org = _org_of(n_units, levels, rng)
    codes = rng.integers(1, 6, (n_people, len(instrument.item_ids))).astype("float64")
    codes[rng.random(codes.shape) < 0.02] = np.nan
    responses = pd.DataFrame(codes, columns=list(instrument.item_ids))
    responses.insert(0, "respondent", [f"P{k}" for k in range(n_people)])
    responses["wave"] = "2026Q1"
    responses["unit_id"] = org["unit_id"].to_numpy()[rng.integers(0, n_units, n_people)]
    responses["role_level"] = rng.choice(["staff", "lead", "manager"], n_people, p=[0.8, 0.15, 0.05])
    responses["tenure"] = "T2"
    scored = score(responses, instrument)
    head = responses.groupby("unit_id").size().rename("invited").reset_index()
    head["invited"] = (head["invited"] * 1.3).round().astype(int)
    data = WaveData("2026Q1", responses, scored, org, head)
    cut = default_cut(instrument)

    def work():
        release = build_wave_release(data, instrument, thresholds=Thresholds(), demographic=cut)
        members = membership(reported_data(data, excluding_units(release.units)), instrument, cut)
        audit_release(members, org, release, parts=parts_of(instrument)).require_pass()

    def baseline():
        scored.scores.groupby(responses["unit_id"].to_numpy()).mean()

    return work, baseline


def release(quick: bool, repeat: int) -> Outcome:
    """Release 100,000 respondents in 5,000 units over 6 levels: aggregate, suppress, audit.

    Baseline: one pandas groupby-mean of the construct scores by direct unit. Scaling: the
    same with the units doubled (people per unit halved: the tree is what grows).
    """
    n, units = (10_000, 500) if quick else (100_000, 5_000)
    out = Outcome("release", f"{n:,} respondents, {units:,} units over 6 levels (and {2 * units:,})")
    work, baseline = _release_once(n, units, 6, seed=5)
    work2, _ = _release_once(n, 2 * units, 6, seed=5)
    t_work = out.time(f"release {units:,} units", work, repeat)
    t_base = out.time("pandas groupby-mean", baseline, repeat)
    t_double = out.time(f"release {2 * units:,} units", work2, repeat)
    out.at_most("release / groupby-mean", t_work / t_base, 20)
    out.at_most("time with the units doubled", t_double / t_work, 2.3)
    return out


# --------------------------------------------------------------------------- briefs
def briefs(quick: bool, repeat: int, bundle: Path | None = None) -> Outcome:
    """Unit briefs on warm kernels: the marginal cost of one brief against its own cells,
    and 2 workers against 1 on the same briefs.

    Uses the demo's bundle (``make demo``) unless given one.
    """
    from culture.boundary.bundle import Bundle
    from culture.report.execute import run_all
    from culture.report.pack import plan_jobs
    from culture.resources import notebook_dir

    if bundle is None:
        bundle = next(iter(sorted(Path("data/demo/workspace/bundles").glob("*"))), None)
        if bundle is None:
            raise SystemExit("the briefs benchmark needs the demo bundle: run `make demo` first")
    bundle = Path(bundle).resolve()
    jobs = [j for j in plan_jobs(Bundle.load(bundle), bundle) if j.warm]
    units = len(jobs)
    n = 6 if quick else 24
    jobs = (jobs * (1 + n // max(1, len(jobs))))[:n]
    jobs = [j.__class__(f"units/b{i}.html", j.notebook, j.title, j.params, warm=True)
            for i, j in enumerate(jobs)]
    out = Outcome("briefs", f"{n} unit briefs of a bundle with {units:,} released units")
    work = Path(tempfile.mkdtemp(prefix="culture-bench-"))
    runs: dict[int, dict] = {}

    def fan_out(workers: int, subset):
        runs[workers] = run_all(subset, work, notebook_dir(), workers)

    t_one = out.time("1 brief, 1 worker (kernel start included)", lambda: fan_out(1, jobs[:1]), 1)
    t_1 = out.time(f"{n} briefs, 1 worker", lambda: fan_out(1, jobs), repeat)
    cells = statistics.median(p.timings["cells_s"] for p in runs[1].values())
    out.timings["one brief's cells in the warm kernel (median)"] = [cells]
    t_2 = out.time(f"{n} briefs, 2 workers", lambda: fan_out(2, jobs), repeat)
    marginal = (t_1 - t_one) / (n - 1)
    out.timings["marginal brief"] = [marginal]
    out.at_most("marginal brief / its cells", marginal / cells, 1.5)
    out.at_least("1 worker / 2 workers", t_1 / t_2, 1.7)
    return out


CASES: dict[str, Callable[[bool, int], Outcome]] = {
    "scoring": scoring, "ingest": ingest, "release": release, "briefs": briefs,
}


def machine() -> dict[str, str]:
    import platform

    import numpy
    import pandas

    import culture

    mem = re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text())
    return {"machine": f"{platform.machine()}, {__import__('os').cpu_count()} CPUs, "
                       f"{int(mem[1]) / 2**20:.0f} GiB" if mem else platform.machine(),
            "python": platform.python_version(), "numpy": numpy.__version__,
            "pandas": pandas.__version__, "culture": culture.__version__}
