"""``culture report``: the quarterly pack, the unattended entry point."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from culture import errors
from culture.cli.common import file_logger, instrument_of, open_workspace, wave_or_latest


def register(sub: Any, common: list) -> None:
    report = sub.add_parser("report", parents=common, help="build the quarterly report pack")
    report.add_argument("--wave", type=wave_or_latest, required=True,
                        help="a wave such as 2026Q3, or 'latest' for unattended runs")
    report.add_argument("--reports", metavar="DIR", default="reports", help="output root (reports/)")
    report.add_argument("--workers", type=int, default=None, help="parallel notebooks (default CPUs)")
    report.add_argument("--executor", choices=("local", "dask"), default="local",
                        help="where the notebooks run: threads here (local) or a Dask cluster")
    report.add_argument("--scheduler", metavar="ADDRESS",
                        help="the Dask scheduler for --executor dask, e.g. tcp://10.0.0.5:8786")
    report.add_argument("--unit-level", type=int, default=None,
                        help="only write briefs for units at this org level")
    report.add_argument("--pdf", action="store_true", help="also print each brief to PDF (Chromium)")
    report.add_argument("--log-file", metavar="FILE", help="append progress and the result to FILE")
    report.set_defaults(func=_cmd_report)


def _cmd_report(args: argparse.Namespace) -> int:
    import time

    if args.executor == "dask" and not args.scheduler:
        raise errors.ConfigError("--executor dask needs --scheduler ADDRESS (e.g. tcp://10.0.0.5:8786)")

    from culture.pipeline import run_report

    log = file_logger("culture.report", args.log_file)
    started = time.perf_counter()
    log.info("culture report --wave %s started", args.wave)

    def progress(message: str) -> None:
        log.info(message)
        if sys.stderr.isatty():
            print(message, file=sys.stderr)

    try:
        result = run_report(open_workspace(args), instrument_of(args), args.wave, reports_dir=args.reports,
                            workers=args.workers, pdf=args.pdf, unit_level=args.unit_level,
                            progress=progress, executor=args.executor, scheduler=args.scheduler)
    except errors.CultureError as exc:
        log.error("failed (exit %s): %s", exc.exit_code, str(exc).splitlines()[0])
        raise
    for note in result.manifest.get("release_notes", []):  # a refused re-release: say which
        log.warning(note)
        print(f"note: {note}", file=sys.stderr)
    log.info("published %s in %.0f s", result.index, time.perf_counter() - started)
    print(result.index)
    return errors.EXIT_OK
