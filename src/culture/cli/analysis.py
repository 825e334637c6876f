"""Reading a wave: ``culture scores``, ``audit``, ``trends`` and ``link``."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from culture import errors
from culture.cli.common import (
    WAVE_OR_LATEST_HELP,
    emit,
    for_people,
    instrument_of,
    open_workspace,
    wave_or_latest,
)
from culture.stats.panel import CONTINUOUS_OUTCOMES, COUNT_OUTCOMES

LINK_OUTCOMES = (*COUNT_OUTCOMES, *CONTINUOUS_OUTCOMES)


def register(sub: Any, common: list) -> None:
    """scores, audit, trends, link and report: everything after ingest."""
    def output_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--format", dest="output", choices=("table", "csv", "xlsx", "json"),
                       default="table",
                       help="table: printed for people (default; with -o FILE it writes CSV); "
                            "csv, xlsx (needs -o FILE), json: for analysts, numbers as numbers")
        p.add_argument("-o", "--out", metavar="FILE", help="write to FILE instead of stdout")

    scores = sub.add_parser(
        "scores", parents=common,
        help="the suppressed release table of a wave (released and recorded the first time; "
             "read back after)",
        description="The suppressed release table of a wave. --format table prints it for "
                    "people (counts as 'n = 12', withheld cells labelled); csv, xlsx and json "
                    "are for analysts: n an integer, statistics as numbers (rounded to 4 "
                    "decimals), a status column (released / withheld; a withheld row has "
                    "empty values), and each unit's path below the organisation (unit_path).")
    scores.add_argument("--wave", type=wave_or_latest, required=True, help=WAVE_OR_LATEST_HELP)
    scores.add_argument("--level", type=int,
                        help="only units at this org level (a whole number; 0 = organisation)")
    scores.add_argument("--by", metavar="DEMOGRAPHIC",
                        help="publish the cut by this demographic: a demographic id of the "
                             "instrument (e.g. role_level in the shipped one; an unknown id is "
                             "refused naming the allowed ones). A wave is published with one "
                             "cut, fixed at its first release")
    output_options(scores)
    scores.set_defaults(func=_cmd_scores)

    audit = sub.add_parser("audit", parents=common,
                           help="re-derive a wave's release from the store; non-zero exit on a breach")
    audit.add_argument("--wave", type=wave_or_latest, required=True, help=WAVE_OR_LATEST_HELP)
    audit.set_defaults(func=_cmd_audit)

    trends = sub.add_parser(
        "trends", parents=common, help="change vs the previous wave, released cells",
        description="Change of a wave vs the previous stored wave, on released cells. Exit "
                    f"code {errors.EXIT_OK} with an empty table when nothing changed for real; "
                    f"exit code {errors.EXIT_BAD_INPUT} when there is no earlier wave to compare "
                    "with (only one wave stored up to --wave), so a scheduler can tell 'no "
                    "change' from 'nothing to compare'.")
    trends.add_argument("--wave", type=wave_or_latest, required=True, help=WAVE_OR_LATEST_HELP)
    trends.add_argument("--min-change", type=float, default=0.2,
                        help="meaningful change, in scale points (a number; default 0.2)")
    trends.add_argument("--all", action="store_true", help="every comparison, not only real changes")
    output_options(trends)
    trends.set_defaults(func=_cmd_trends)

    link = sub.add_parser(
        "link", parents=common, help="culture -> quality outcome models",
        description="Culture -> quality outcome models on released unit scores. Exit code "
                    f"{errors.EXIT_BAD_INPUT}, with the reason, when no model could be "
                    "estimated (e.g. fewer released units than the wave's models threshold); "
                    "nothing is written then.")
    link.add_argument("--wave", type=wave_or_latest, required=True, help=WAVE_OR_LATEST_HELP)
    link.add_argument("--outcome", default="nc_customer", choices=LINK_OUTCOMES,
                      help="the quality outcome (default nc_customer): a count of the quarter "
                           f"({', '.join(COUNT_OUTCOMES)}) or a CAPA KPI "
                           f"({', '.join(CONTINUOUS_OUTCOMES)})")
    link.add_argument("--lag", type=int, default=1, choices=(1, 2),
                      help="quarters between the culture score and the outcome (default 1)")
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
    """For people: the printed table; for analysts (csv, xlsx, json or a file): numbers."""
    from culture.boundary.release import release_table

    *_, released = _released(args, every_wave=False)
    emit(release_table(released.release, level=args.level, by=args.by,
                       numeric=not for_people(args)), args)
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
    """Changes vs the previous wave; only one wave up to --wave is exit code 3 (said why)."""
    from culture.analysis.wave import trend_report

    _, instrument, wave, released = _released(args, every_wave=True)
    if len(released) < 2:
        raise errors.InsufficientDataError(
            f"wave {wave} is the only stored wave up to {wave}: trends compare a wave with the "
            "previous one, so there is nothing to compare yet (import an earlier wave, or run "
            "this again after the next one)")
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
    """The models of one outcome; none estimated is exit code 3 with the reasons."""
    from culture.analysis.quality import analyse_outcome

    ws, instrument, wave, released = _released(args, every_wave=True)
    report = analyse_outcome({w: r.release for w, r in released.items()}, ws.quality_events(),
                             ws.exposure(), instrument=instrument, outcome=args.outcome, lag=args.lag,
                             thresholds=released[wave].release.thresholds)
    models = report.tables["models"]
    if models.empty:
        fits = report.fits
        refused = fits[fits["status"] == "refused"]
        own = refused[refused["scope"] == args.outcome]
        reasons = list(dict.fromkeys(str(r) for r in (own if not own.empty else refused)["reason"]
                                     if str(r).strip()))
        why = "; ".join(reasons) or "no model was attempted"
        raise errors.InsufficientDataError(
            f"no model of {args.outcome} could be estimated on the released scores up to "
            f"{wave} (models threshold: {released[wave].release.thresholds.models} units): {why}")
    emit(models.round(4), args)
    print(report.summary(), file=sys.stderr)
    return errors.EXIT_OK
