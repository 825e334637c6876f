"""Growth exponents of the pack's stages from ``pack_scale`` runs at several sizes.

``python -m benchmarks.growth results/pack-500.json results/pack-5000.json ...`` prints, per
stage, the seconds at each size and the exponent b of a least-squares fit of
``seconds = a x people^b`` on log scales (b = 1: linear; b = 2: doubling the people
quadruples the time). Where a run wrote a sample of the briefs, the projected notebook
stage and total are used.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

STAGES = ("ingest_all_waves", "bundle_release_and_audit", "bundle_analysis", "pack_notebooks",
          "pack_exports", "pack_deck", "pack_leak_gate", "report_total")


def stage_seconds(doc: dict) -> dict[str, float]:
    out = {s: doc["stages_s"].get(s) for s in STAGES}
    projected = doc.get("projection") or {}
    if projected:
        out["pack_notebooks"] = projected["pack_notebooks_projected"]
        out["report_total"] = projected["report_total_projected"]
    return out


def exponent(sizes: list[float], seconds: list[float]) -> float:
    """Slope of log(seconds) on log(size) by least squares."""
    xs, ys = [math.log(s) for s in sizes], [math.log(max(t, 1e-3)) for t in seconds]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum((x - mx) ** 2 for x in xs)


def table(docs: list[dict]) -> str:
    docs = sorted(docs, key=lambda d: d["people"])
    sizes = [d["people"] for d in docs]
    head = "| stage | " + " | ".join(f"{n:,} people" for n in sizes) + " | exponent |"
    lines = [head, "|---|" + "---:|" * (len(sizes) + 1)]
    for stage in STAGES:
        secs = [stage_seconds(d)[stage] for d in docs]
        if any(s is None for s in secs):
            continue
        lines.append(f"| {stage} | " + " | ".join(f"{s:,.1f} s" for s in secs)
                     + f" | {exponent(sizes, secs):.2f} |")
    return "\n".join(lines)


def section(docs: list[dict]) -> str:
    """The whole-pack section of RESULTS.md: the stages, their exponents and the target."""
    big = max(docs, key=lambda d: d["people"])
    projected = big.get("projection") or {}
    total = projected.get("report_total_projected", big["stages_s"]["report_total"])
    lines = ["## The whole quarterly pack (benchmarks.pack_scale)", "",
             "Cold runs (8 waves released and audited for the first time), 2 workers; where "
             "a run wrote a random sample of the briefs the notebook stage is projected to every "
             "released unit from the measured wall seconds per brief. Runs: "
             "`benchmarks/pack_runs/*.json`.", "", table(docs), "",
             "| target | measured | |", "|---|---:|---|",
             f"| {big['people']:,} people, {big['units']:,} units, a brief per released unit "
             f"({projected.get('released_units', big['briefs'])}): under 60 min | "
             f"{total / 60:.0f} min | {'met' if total <= 3600 else '**missed**'} |",
             f"| peak memory of the process tree under 8 GiB | {big['peak_rss_mib'] / 1024:.1f} GiB | "
             f"{'met' if big['peak_rss_mib'] <= 8192 else '**missed**'} |", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="benchmarks.growth")
    p.add_argument("runs", nargs="+", type=Path, help="JSON files written by benchmarks.pack_scale")
    p.add_argument("--section", action="store_true", help="the RESULTS.md section, not only the table")
    args = p.parse_args(argv)
    docs = [json.loads(path.read_text(encoding="utf-8")) for path in args.runs]
    print(section(docs) if args.section else table(docs))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
