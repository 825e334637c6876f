"""The whole quarterly pack at a given organisation size, stage by stage.

``python -m benchmarks.pack_scale --people 5000`` builds a synthetic organisation of about
that many employees (8 quarterly waves, units of ~15 people in a site / department / team
tree), writes its exports in the survey tools' layouts, ingests them into a fresh
workspace and runs ``culture report`` on the latest wave with a brief per unit, timing each
stage and sampling the peak memory of the whole process tree (kernels included). The run
is cold: every wave is released and audited for the first time.

``--brief-sample N`` writes the briefs of N units drawn at random (the other documents in
full) and projects the notebook stage to every released unit from the measured seconds
per brief: how the 100,000-person pack is measured within a working session.

Prints one JSON document (stages in seconds, peak RSS in MiB, counts).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from pathlib import Path

import psutil


class PeakMemory:
    """Peak resident memory of this process and its children, sampled twice a second."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            total = 0
            for p in [me, *me.children(recursive=True)]:
                try:
                    total += p.memory_info().rss
                except psutil.Error:
                    pass
            self.peak = max(self.peak, total)
            self._stop.wait(0.5)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def shape(people: int) -> dict:
    """Sites / departments / teams giving about ``people`` employees in units of ~15."""
    per_site = 8 * 11 * 16
    if people >= per_site:
        return {"n_sites": max(1, round(people / per_site)), "depts_per_site": (8, 8),
                "teams_per_dept": (11, 11), "team_size_median": 15.0}
    depts = max(2, round(people / (11 * 16)))
    return {"n_sites": 1, "depts_per_site": (depts, depts), "teams_per_dept": (11, 11),
            "team_size_median": 15.0}


def run(people: int, *, waves: int = 8, workers: int = 2, executor: str = "local",
        scheduler: str | None = None, root: Path | None = None,
        brief_sample: int | None = None) -> dict:
    from culture.demo import ingest_demo_files, write_demo_files
    from culture.measure.instrument import load_default_instrument
    from culture.pipeline import run_report
    from culture.store.workspace import Workspace
    from culture.synth import SynthConfig, make_organisation

    root = root or Path(tempfile.mkdtemp(prefix="culture-scale-"))
    instrument = load_default_instrument()
    stages: dict[str, float] = {}
    with PeakMemory() as memory:
        t = time.perf_counter()
        org = make_organisation(instrument, SynthConfig(seed=3, n_waves=waves, **shape(people)))
        files = write_demo_files(org, root / "exports")
        stages["synthesise_and_write_exports"] = time.perf_counter() - t
        t = time.perf_counter()
        ws = Workspace.init(root / "workspace")
        ingest_demo_files(ws, files, instrument, lambda _msg: None)
        stages["ingest_all_waves"] = time.perf_counter() - t
        sample = None
        if brief_sample:
            import numpy as np

            ids = org.org_of(org.waves[-1])["unit_id"].astype(str).to_numpy()
            sample = set(np.random.default_rng(0).choice(ids, min(brief_sample, len(ids)), replace=False))
        t = time.perf_counter()
        result = run_report(ws, instrument, org.waves[-1], reports_dir=root / "reports",
                            workers=workers, executor=executor, scheduler=scheduler, units=sample)
        stages["report_total"] = time.perf_counter() - t
    bundle_timings = result.manifest.get("analysis_timings_s") or {}
    stages.update({f"bundle_{k}": v for k, v in bundle_timings.items()})
    stages.update({f"pack_{k}": v for k, v in result.stages_s.items()})
    briefs = [d for d in result.manifest["documents"] if d["page"].startswith("units/")]
    cells = [d["timings_s"]["cells_s"] for d in briefs]
    totals = [d["timings_s"]["total_s"] + d["timings_s"].get("html_s", 0) for d in briefs]
    latest = org.responses_of(org.waves[-1])
    projection = {}
    if brief_sample:
        from culture.boundary.bundle import Bundle

        units = Bundle.load(ws.root / "bundles" / org.waves[-1]).release.table("units")
        released_units = int((units["status"] == "released").sum())
        others = stages["pack_notebooks"] - sum(totals) / workers
        per_brief = sum(totals) / max(1, len(totals)) / workers  # wall seconds per brief
        notebooks = others + per_brief * released_units
        projection = {"released_units": released_units, "wall_s_per_brief": round(per_brief, 3),
                      "pack_notebooks_projected": round(notebooks, 1),
                      "report_total_projected": round(stages["report_total"]
                                                      - stages["pack_notebooks"] + notebooks, 1)}
    return {
        "people": int(org.people[org.people["wave"] == org.waves[-1]].shape[0]),
        "respondents_latest_wave": int(len(latest)),
        "units": int(len(org.org_of(org.waves[-1]))),
        "waves": waves, "workers": workers, "executor": executor,
        "briefs": len(briefs),
        "brief_cells_s_median": sorted(cells)[len(cells) // 2] if cells else None,
        "brief_total_s_median": sorted(totals)[len(totals) // 2] if totals else None,
        "stages_s": {k: round(v, 2) for k, v in stages.items()},
        "peak_rss_mib": round(memory.peak / 2**20),
        **({"projection": projection} if projection else {}),
        "pack": str(result.folder),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="benchmarks.pack_scale")
    p.add_argument("--people", type=int, default=5000)
    p.add_argument("--waves", type=int, default=8)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--executor", choices=("local", "dask"), default="local")
    p.add_argument("--scheduler", help="Dask scheduler address (default: a LocalCluster here)")
    p.add_argument("--brief-sample", type=int, help="write only N random units' briefs and "
                   "project the notebook stage to all")
    p.add_argument("--out", type=Path, help="write the JSON here too")
    args = p.parse_args(argv)
    cluster = None
    scheduler = args.scheduler
    if args.executor == "dask" and not scheduler:
        from distributed import LocalCluster

        cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1, host="127.0.0.1",
                               dashboard_address=None)
        scheduler = cluster.scheduler_address
    try:
        doc = run(args.people, waves=args.waves, workers=args.workers, executor=args.executor,
                  scheduler=scheduler, brief_sample=args.brief_sample)
    finally:
        if cluster is not None:
            cluster.close()
    text = json.dumps(doc, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
