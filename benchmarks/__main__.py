"""Run the benchmark suite: ``python -m benchmarks [--quick] [--only NAME]``."""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

from .cases import CASES


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="benchmarks")
    p.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    p.add_argument("--only", help="run only the case with this name")
    p.add_argument("--repeat", type=int, default=3, help="best of N timings")
    args = p.parse_args(argv)
    results = []
    for case in CASES:
        if args.only and case.name != args.only:
            continue
        r = case.run(quick=args.quick, repeat=args.repeat)
        results.append(r)
        print(f"{r['name']:<28} size={r['size']:<22} work={r['seconds']:.3f}s "
              f"baseline={r['baseline_seconds']:.3f}s ratio={r['ratio']:.1f}x  (target {r['target']})")
    out = Path("benchmarks/results")
    out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    (out / f"{stamp}.json").write_text(json.dumps(
        {"python": sys.version, "machine": platform.machine(), "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
