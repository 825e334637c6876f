"""Reading a wave: ``culture scores``, ``audit``, ``trends`` and ``link``."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from culture import errors
from culture.cli.common import emit, instrument_of, open_workspace, wave_or_latest


def register(sub: Any, common: list) -> None:
    """scores, audit, trends, link and report: everything after ingest."""
    def output_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--format", dest="output", choices=("table", "csv", "xlsx", "json"),
                       default="table", help="print a table, or write csv/xlsx/json")
        p.add_argument("-o", "--out", metavar="FILE", help="write to FILE instead of stdout")

    scores = sub.add_parser("scores", parents=common,
                            help="the suppressed release table of a wave (released and recorded the first time; read back after)")
    scores.add_argument("--wave", type=wave_or_latest, required=True)
    scores.add_argument("--level", type=int, help="only units at this org level (0 = organisation)")
    scores.add_argument("--by", metavar="DEMOGRAPHIC", help="publish the cut by this demographic (a wave is published with one cut, fixed at its first release)")
    output_options(scores)
    scores.set_defaults(func=_cmd_scores)

    audit = sub.add_parser("audit", parents=common,
                           help="re-derive a wave's release from the store; non-zero exit on a breach")
    audit.add_argument("--wave", type=wave_or_latest, required=True)
    audit.set_defaults(func=_cmd_audit)

    trends = sub.add_parser("trends", parents=common, help="change vs the previous wave, released cells")
    trends.add_argument("--wave", type=wave_or_latest, required=True)
    trends.add_argument("--min-change", type=float, default=0.2, help="meaningful change (scale points)")
    trends.add_argument("--all", action="store_true", help="every comparison, not only real changes")
    output_options(trends)
    trends.set_defaults(func=_cmd_trends)

    link = sub.add_parser("link", parents=common, help="culture -> quality outcome models")
    link.add_argument("--wave", type=wave_or_latest, required=True)
    link.add_argument("--outcome", default="nc_customer",
                      help="nc_customer, nc_internal, complaints, audit_total, "
                           "capa_days_to_close_mean or capa_on_time_share")
    link.add_argument("--lag", type=int, default=1, choices=(1, 2))
    output_options(link)
    link.set_defaults(func=_cmd_link)


def _released(args: argparse.Namespace, *, every_wave: bool) -> tuple[Any, Any, str, Any]:
    """Workspace, instrument, the wave (resolved once) and its release(s); a refused
    re-release is said on stderr (the published release stays in force)."""
    from culture import pipeline

    ws, instrument = open_workspace(args), instrument_of(args)
    wave = pipeline.resolve_wave(ws, args.wave)
    if every_wave:
        released = pipeline.release_waves(ws, instrument, wave)
        notes = [n for r in released.values() for n in r.notes]
    else:
        policy = pipeline.wave_policy(ws, wave, instrument)
        if getattr(args, "by", None):
            policy = pipeline.WavePolicy(policy.thresholds, args.by)
        released = pipeline.release_wave(ws, pipeline.load_wave(ws, wave, instrument), instrument,
                                         policy=policy)
        notes = list(released.notes)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    return ws, instrument, wave, released


def _cmd_scores(args: argparse.Namespace) -> int:
    from culture.boundary.release import release_table

    *_, released = _released(args, every_wave=False)
    emit(release_table(released.release, level=args.level, by=args.by), args)
    return errors.EXIT_OK


def _cmd_audit(args: argparse.Namespace) -> int:
    """Audit what readers hold for the wave; a breach is exit code 5."""
    from culture import pipeline

    ws, instrument = open_workspace(args), instrument_of(args)
    result = pipeline.audit_wave(ws, pipeline.resolve_wave(ws, args.wave), instrument)
    print(result.summary())
    result.require_pass()
    return errors.EXIT_OK


def _cmd_trends(args: argparse.Namespace) -> int:
    from culture.analysis.wave import trend_report

    _, instrument, _, released = _released(args, every_wave=True)
    report = trend_report(released, instrument, min_change=args.min_change)
    changes = report.tables["changes"]
    if not args.all and not changes.empty:
        changes = changes[changes["verdict"] == "significant and meaningful"]
    cols = ["unit_id", "unit", "measure", "mean_before", "mean_now", "diff", "ci_low", "ci_high", "q",
            "verdict", "rule"]
    emit(changes[[c for c in cols if c in changes.columns]].round(3), args)
    for note in report.notes:
        print(f"note: {note}", file=sys.stderr)
    return errors.EXIT_OK


def _cmd_link(args: argparse.Namespace) -> int:
    from culture.analysis.quality import analyse_outcome

    ws, instrument, wave, released = _released(args, every_wave=True)
    report = analyse_outcome({w: r.release for w, r in released.items()}, ws.quality_events(),
                             ws.exposure(), instrument=instrument, outcome=args.outcome, lag=args.lag,
                             thresholds=released[wave].release.thresholds)
    emit(report.tables["models"].round(4), args)
    print(report.summary(), file=sys.stderr)
    return errors.EXIT_OK
