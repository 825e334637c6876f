"""Run the benchmark suite: ``python -m benchmarks [--quick] [--only NAME ...]``.

Full size writes ``benchmarks/RESULTS.md`` (the file kept on main); ``--quick`` (the smoke
size CI runs) writes ``benchmarks/results/quick.md``. Both also keep a JSON record in
``benchmarks/results/``. The whole pack at scale is ``python -m benchmarks.pack_scale``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import time
from pathlib import Path

from .cases import CASES, Outcome, machine


def render(outcomes: list[Outcome], *, quick: bool, info: dict[str, str]) -> str:
    lines = ["# Benchmark results", "",
             f"Written by `{'make bench QUICK=1' if quick else 'make bench'}` on "
             f"{time.strftime('%Y-%m-%d')}: {info['machine']}; Python {info['python']}, "
             f"numpy {info['numpy']}, pandas {info['pandas']}, culture {info['culture']}.",
             "Every ratio compares work and baseline timed in the same run on the same data "
             "(median of the repeats; spread = fastest to slowest).", ""]
    met = sum(r.met for o in outcomes for r in o.ratios)
    total = sum(len(o.ratios) for o in outcomes)
    lines += [f"**{met} of {total} targets met.**", ""]
    for o in outcomes:
        lines += [f"## {o.case}: {o.size}", "", "| timing | median s | spread s | repeats |",
                  "|---|---:|---:|---:|"]
        for label, runs in o.timings.items():
            lines.append(f"| {label} | {statistics.median(runs):.3f} | {min(runs):.3f} to "
                         f"{max(runs):.3f} | {len(runs)} |")
        if o.memory_mib:
            lines += ["", "| memory | MiB |", "|---|---:|"]
            lines += [f"| {k} | {v:.0f} |" for k, v in o.memory_mib.items()]
        lines += ["", "| ratio | measured | target | |", "|---|---:|---|---|"]
        lines += [f"| {r.name} | {r.value:.2f} | {r.target} | {'met' if r.met else '**missed**'} |"
                  for r in o.ratios]
        lines += [f"- {n}" for n in o.notes]
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="benchmarks")
    p.add_argument("--quick", action="store_true", help="small sizes (the smoke run of CI)")
    p.add_argument("--only", nargs="*", choices=sorted(CASES), help="run only these cases")
    p.add_argument("--repeat", type=int, default=3, help="repeats per timing (median reported)")
    p.add_argument("--out", type=Path, help="where to write the Markdown report")
    p.add_argument("--bundle", type=Path, help="the bundle the briefs case runs on "
                   "(default: the demo's, from make demo)")
    p.add_argument("--merge", nargs="+", type=Path, metavar="JSON",
                   help="write the report from earlier runs' JSON records instead of running "
                   "(cases run at different times, e.g. the briefs case after make demo)")
    args = p.parse_args(argv)
    if args.merge:
        return _merge(args.merge, args.out or Path("benchmarks/RESULTS.md"))
    outcomes = []
    for name, case in CASES.items():
        if args.only and name not in args.only:
            continue
        print(f"running {name} ...", file=sys.stderr, flush=True)
        o = (case(args.quick, args.repeat, bundle=args.bundle) if name == "briefs"
             else case(args.quick, args.repeat))
        outcomes.append(o)
        for r in o.ratios:
            print(f"  {r.name:<32} {r.value:8.2f}  target {r.target:<12} "
                  f"{'met' if r.met else 'MISSED'}", file=sys.stderr, flush=True)
    info = machine()
    results = Path("benchmarks/results")
    results.mkdir(parents=True, exist_ok=True)
    out = args.out or (results / "quick.md" if args.quick else Path("benchmarks/RESULTS.md"))
    out.write_text(render(outcomes, quick=args.quick, info=info) + "\n", encoding="utf-8")
    (results / f"{time.strftime('%Y%m%dT%H%M%S')}.json").write_text(json.dumps(
        {"quick": args.quick, **info, "cases": [dataclasses.asdict(o) for o in outcomes]}, indent=2))
    print(out)
    return 0


def _merge(paths: list[Path], out: Path) -> int:
    from .cases import Ratio

    outcomes, info, quick = [], {}, False
    for path in paths:
        doc = json.loads(path.read_text(encoding="utf-8"))
        info, quick = {k: doc[k] for k in ("machine", "python", "numpy", "pandas", "culture")}, doc["quick"]
        for case in doc["cases"]:
            outcomes.append(Outcome(case["case"], case["size"], case["timings"], case["memory_mib"],
                                    [Ratio(**r) for r in case["ratios"]], case["notes"]))
    out.write_text(render(outcomes, quick=quick, info=info) + "\n", encoding="utf-8")
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
