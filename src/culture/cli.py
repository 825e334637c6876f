"""The ``culture`` command: parses arguments, calls the library, maps errors to exit codes.

Commands
--------
``culture init [--key-file PATH]``
    create a workspace (:meth:`culture.store.Workspace.init`).
``culture ingest responses|org|headcount|quality|exposure FILE ...``
    import one file (``Workspace.ingest_*``) and print its
    :class:`~culture.store.ImportReport`.
``culture status [--format table|json]``
    waves, responses per wave, the import ledger and rejected rows.
``culture scores|audit|trends|link --wave W``
    the suppressed release table, the independent audit, changes vs the previous
    wave, and culture -> quality models.
``culture report --wave W|latest``
    the quarterly report pack (:func:`culture.pipeline.run_report`).
``culture demo``
    the whole job on a synthetic organisation.

Global options (before or after the command): ``--workspace DIR`` (default
``$CULTURE_WORKSPACE``, else ``./data``), ``--instrument YAML`` (default the
shipped ``surveys/leadership-quality-culture.yaml``), ``--debug``.

Exit codes are those of :mod:`culture.errors`: ``EXIT_BAD_INPUT`` for a bad
file, ``EXIT_LOCKED`` when another process writes to the workspace,
``EXIT_CONFLICT`` when an import would change stored data, 2 for usage errors
(argparse's code, equal to ``EXIT_USAGE``) and ``EXIT_INTERNAL`` for bugs.
Error messages go to stderr and start with ``culture <command>:``; they come
from the library, which never puts a respondent's answer in a message. For the
same reason an unexpected exception prints only its type unless ``--debug``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import traceback
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

import pandas as pd

from culture import __version__, errors
from culture import frames as F
from culture.ingest import FORMATS, PARTIAL_POLICIES

_ROW_LIMIT = 20  # rows named per reason in a summary; the full list stays in the store


# ----------------------------------------------------------------------------- argument types

def _wave(text: str) -> str:
    """argparse type: a wave such as ``2026Q3`` (checked before any file is read)."""
    if not F.WAVE_RE.match(text):
        raise argparse.ArgumentTypeError(
            f"wave must look like YYYYQn with n in 1-4 (e.g. 2026Q3), got {text!r}")
    return text


def _global_options(*, suppress: bool) -> argparse.ArgumentParser:
    """Options accepted both before and after the command.

    The copy given to each subcommand uses ``SUPPRESS`` defaults so that a
    value given before the command is not overwritten by the default.
    """
    p = argparse.ArgumentParser(add_help=False)
    default: Any = argparse.SUPPRESS if suppress else None
    p.add_argument("--workspace", metavar="DIR", default=default,
                   help="workspace directory (default $CULTURE_WORKSPACE, else ./data)")
    p.add_argument("--instrument", metavar="YAML", default=default,
                   help="survey instrument (default surveys/leadership-quality-culture.yaml)")
    p.add_argument("--debug", action="store_true",
                   default=argparse.SUPPRESS if suppress else False,
                   help="show tracebacks of unexpected errors")
    return p


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="culture", parents=[_global_options(suppress=False)],
                                description="Leadership and quality culture workbench")
    p.add_argument("--version", action="version", version=f"culture {__version__}")
    common = [_global_options(suppress=True)]
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser("demo", parents=common,
                          help="run the whole job on a synthetic organisation (into --workspace "
                               "DIR when given, else data/demo and reports/)")
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument("--sites", type=int, default=4, help="number of sites in the synthetic org")
    demo.set_defaults(func=_cmd_demo)

    init = sub.add_parser("init", parents=common, help="create a workspace and its key")
    init.add_argument("--key-file", metavar="PATH",
                      help="pseudonymisation key file: used if it exists, else created there "
                           "(default <workspace>/secrets/pseudonym.key, or "
                           "$CULTURE_PSEUDONYM_KEY when set)")
    init.set_defaults(func=_cmd_init)

    status = sub.add_parser("status", parents=common,
                            help="waves, responses, imports and rejected rows")
    status.add_argument("--format", dest="output", choices=("table", "json"), default="table")
    status.set_defaults(func=_cmd_status)

    _analysis_commands(sub, common)

    ingest = sub.add_parser("ingest", help="import one file into the workspace")
    kinds = ingest.add_subparsers(dest="kind", required=True, metavar="KIND")

    def kind(name: str, help: str) -> argparse.ArgumentParser:
        k = kinds.add_parser(name, parents=common, help=help)
        k.add_argument("file", metavar="FILE")
        k.add_argument("--dry-run", action="store_true", help="check and report; write nothing")
        k.set_defaults(func=_cmd_ingest)
        return k

    r = kind("responses", "a survey export (Qualtrics, SurveyMonkey, Forms, LimeSurvey, SPSS, "
                          "CSV/XLSX)")
    r.add_argument("--wave", type=_wave, required=True, help="survey wave, e.g. 2026Q3")
    r.add_argument("--format", dest="fmt", choices=FORMATS,
                   help="export format (default: detected from the file)")
    r.add_argument("--mapping", metavar="M", help="column mapping file (YAML or CSV)")
    r.add_argument("--partial", choices=PARTIAL_POLICIES, default="keep",
                   help="unfinished responses: keep (flagged) or reject (default keep)")
    r.add_argument("--accept-valid", action="store_true",
                   help="import the valid rows and record the invalid ones as rejected")
    r.add_argument("--supersede", action="store_true",
                   help="replace stored responses whose content changed (old versions kept)")
    for name, what in (("org", "an org chart: unit_id, parent_id, name"),
                       ("headcount", "people invited per unit: unit_id, invited")):
        kind(name, what).add_argument("--wave", type=_wave, required=True,
                                      help="survey wave, e.g. 2026Q3")
    kind("quality", "a QMS register").add_argument(
        "--kind", dest="quality_kind", required=True, choices=F.QUALITY_KINDS,
        help="which register the file is")
    kind("exposure", "exposure per unit and quarter: unit_id, quarter, exposure")
    return p


def _wave_or_latest(text: str) -> str:
    return text if text == "latest" else _wave(text)


def _analysis_commands(sub: Any, common: list) -> None:
    """scores, audit, trends, link and report: everything after ingest."""
    def output_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--format", dest="output", choices=("table", "csv", "xlsx", "json"),
                       default="table", help="print a table, or write csv/xlsx/json")
        p.add_argument("-o", "--out", metavar="FILE", help="write to FILE instead of stdout")

    scores = sub.add_parser("scores", parents=common,
                            help="the suppressed release table of a wave (recorded in the ledger)")
    scores.add_argument("--wave", type=_wave_or_latest, required=True)
    scores.add_argument("--level", type=int, help="only units at this org level (0 = organisation)")
    scores.add_argument("--by", metavar="DEMOGRAPHIC", help="show the cut by this demographic")
    output_options(scores)
    scores.set_defaults(func=_cmd_scores)

    audit = sub.add_parser("audit", parents=common,
                           help="re-derive a wave's release from the store; non-zero exit on a breach")
    audit.add_argument("--wave", type=_wave_or_latest, required=True)
    audit.set_defaults(func=_cmd_audit)

    trends = sub.add_parser("trends", parents=common, help="change vs the previous wave, released cells")
    trends.add_argument("--wave", type=_wave_or_latest, required=True)
    trends.add_argument("--min-change", type=float, default=0.2, help="meaningful change (scale points)")
    trends.add_argument("--all", action="store_true", help="every comparison, not only real changes")
    output_options(trends)
    trends.set_defaults(func=_cmd_trends)

    link = sub.add_parser("link", parents=common, help="culture -> quality outcome models")
    link.add_argument("--wave", type=_wave_or_latest, required=True)
    link.add_argument("--outcome", default="nc_customer",
                      help="nc_customer, nc_internal, complaints, audit_total, "
                           "capa_days_to_close_mean or capa_on_time_share")
    link.add_argument("--lag", type=int, default=1, choices=(1, 2))
    output_options(link)
    link.set_defaults(func=_cmd_link)

    report = sub.add_parser("report", parents=common, help="build the quarterly report pack")
    report.add_argument("--wave", type=_wave_or_latest, required=True,
                        help="a wave such as 2026Q3, or 'latest' for unattended runs")
    report.add_argument("--reports", metavar="DIR", default="reports", help="output root (reports/)")
    report.add_argument("--workers", type=int, default=None, help="parallel notebooks (default CPUs)")
    report.add_argument("--unit-level", type=int, default=None,
                        help="only write briefs for units at this org level")
    report.add_argument("--pdf", action="store_true", help="also print each brief to PDF (Chromium)")
    report.add_argument("--log-file", metavar="FILE", help="append progress and the result to FILE")
    report.set_defaults(func=_cmd_report)


# ----------------------------------------------------------------------------- helpers

def _instrument(args: argparse.Namespace) -> Any:
    from culture.measure.instrument import load_instrument
    from culture.resources import default_instrument_path

    return load_instrument(args.instrument or default_instrument_path())


def _emit(frame: pd.DataFrame, args: argparse.Namespace) -> None:
    """Print or write a result table in the requested format."""
    from culture.boundary.leakgate import neutralise_frame

    if args.output == "table" and not args.out:
        print(_table(frame))
        return
    fmt = "csv" if args.output == "table" else args.output
    target = args.out or None
    if fmt == "xlsx":
        if not target:
            raise errors.ConfigError("--format xlsx needs -o FILE")
        neutralise_frame(frame).to_excel(target, index=False)
    elif fmt == "json":
        text = frame.to_json(orient="records", indent=2, force_ascii=False)
        Path(target).write_text(text, encoding="utf-8") if target else print(text)
    else:
        text = neutralise_frame(frame).to_csv(index=False)
        Path(target).write_text(text, encoding="utf-8") if target else print(text, end="")
    if target:
        print(f"wrote {target}", file=sys.stderr)

def _command(args: argparse.Namespace) -> str:
    return " ".join(x for x in (args.command, getattr(args, "kind", None)) if x)


def _open(args: argparse.Namespace) -> Any:
    from culture.store.workspace import Workspace

    return Workspace.open(args.workspace)


@contextlib.contextmanager
def _progress(stages: Sequence[str], stream: TextIO) -> Iterator[Callable[[str], None]]:
    """A stage bar on ``stream`` when it is a terminal; silent otherwise (logs, pipes, tests)."""
    from tqdm import tqdm

    bar = tqdm(total=len(stages), file=stream, leave=False, disable=not stream.isatty(),
               bar_format="{desc} [{n}/{total}] {elapsed}")
    done = [0]

    def step(desc: str) -> None:
        if done[0]:
            bar.update(1)
        done[0] += 1
        bar.set_description_str(desc)

    try:
        yield step
    finally:
        bar.close()


def _rows(rows: Sequence[int]) -> str:
    shown = ", ".join(str(int(r)) for r in rows[:_ROW_LIMIT])
    more = f" ... and {len(rows) - _ROW_LIMIT} more" if len(rows) > _ROW_LIMIT else ""
    return f"row{'s' if len(rows) > 1 else ''} {shown}{more}"


def _row_details(rejected: pd.DataFrame, duplicates: pd.DataFrame, *,
                 invalid: bool) -> list[str]:
    """Rows set aside, grouped by kind, column and reason; positions only, never cell values.

    ``reason`` comes from :mod:`culture.validate`, whose contract is that it
    never contains a cell's content. ``invalid=False`` leaves out invalid rows
    (the report already lists them as the problems that stop the import).
    """
    lines: list[str] = []
    labels = {"excluded": "excluded (not real responses)", "invalid": "invalid, not imported"}
    if not invalid:
        del labels["invalid"]
    for kind_, label in labels.items():
        part = rejected[rejected["kind"] == kind_]
        if part.empty:
            continue
        lines.append(f"  {label}: {part[F.SOURCE_ROW].nunique()} row(s)")
        column = part["column"].astype(object).where(part["column"].notna(), "")
        groups = part.assign(column=column).groupby(["column", "reason"], sort=False)
        for (col, reason), g in groups:
            where = _rows(sorted(set(g[F.SOURCE_ROW].tolist())))
            lines.append(f"    - {where}" + (f", column {col}" if col else "") + f": {reason}")
    if len(duplicates):
        lines.append(f"  duplicates in the file: {len(duplicates)} row(s)")
        head = duplicates.head(_ROW_LIMIT)
        pairs = (head[F.SOURCE_ROW].astype("int64").astype(str) + " (of "
                 + head["duplicate_of"].astype("int64").astype(str) + ")")
        more = (f" ... and {len(duplicates) - _ROW_LIMIT} more"
                if len(duplicates) > _ROW_LIMIT else "")
        lines.append(f"    - rows {', '.join(pairs)}{more}: repeat a response id")
    return lines


def _report_exit(report: Any) -> int:
    """A dry run that found problems fails like the real import would."""
    if report.ok:
        return errors.EXIT_OK
    return errors.EXIT_CONFLICT if report.conflicts else errors.EXIT_BAD_INPUT


# ----------------------------------------------------------------------------- commands

def _cmd_demo(args: argparse.Namespace) -> int:
    """Everything under ``--workspace DIR`` when given (exports, workspace, pack), else the
    usual places: ``data/demo`` and ``reports/``."""
    from culture.demo import run_demo

    if args.workspace:
        root = Path(args.workspace)
        run_demo(seed=args.seed, n_sites=args.sites, root=root, reports=root / "reports", out=print)
    else:
        run_demo(seed=args.seed, n_sites=args.sites, out=print)
    return errors.EXIT_OK


def _cmd_init(args: argparse.Namespace) -> int:
    from culture.store.pseudonym import KEY_ENV
    from culture.store.workspace import Workspace

    ws = Workspace.init(args.workspace, key_file=args.key_file)
    print(f"Created workspace {ws.root}")
    setting = ws.settings.get("key_file")
    if setting:
        key = Path(setting) if Path(setting).is_absolute() else ws.root / setting
        print(f"Pseudonymisation key: {key}")
        print("WARNING: back up this key file now, somewhere safe and apart from the workspace. "
              "Without it the workspace cannot be opened and new waves cannot be linked to "
              "earlier ones; anyone holding it can test guessed employee ids against the "
              "pseudonyms.")
    else:
        print(f"Pseudonymisation key: taken from ${KEY_ENV} (not written to disk)")
        print(f"WARNING: keep a backup of the value of ${KEY_ENV}; every later command needs "
              "the same key, and without it new waves cannot be linked to earlier ones.")
    return errors.EXIT_OK


def _cmd_ingest(args: argparse.Namespace) -> int:
    ws = _open(args)
    if args.kind == "responses":
        return _ingest_responses(ws, args)
    path, dry = Path(args.file), args.dry_run
    with _progress(["reading and storing"], sys.stderr) as step:
        step(f"{args.kind} {path.name}")
        if args.kind == "org":
            report = ws.ingest_org(path, wave=args.wave, dry_run=dry)
        elif args.kind == "headcount":
            report = ws.ingest_headcount(path, wave=args.wave, dry_run=dry)
        elif args.kind == "quality":
            report = ws.ingest_quality(path, kind=args.quality_kind, dry_run=dry)
        else:
            report = ws.ingest_exposure(path, dry_run=dry)
    print(report.summary())
    return _report_exit(report)


def _ingest_responses(ws: Any, args: argparse.Namespace) -> int:
    """:meth:`Workspace.ingest_responses`, then the rows the reader set aside, with reasons."""
    path = Path(args.file)
    with _progress(["instrument", "read", "store"], sys.stderr) as step:
        step("loading the instrument")
        instrument = _instrument(args)
        report = ws.ingest_responses(path, instrument, wave=args.wave, fmt=args.fmt,
                                     mapping=args.mapping, partial=args.partial,
                                     accept_valid=args.accept_valid, supersede=args.supersede,
                                     dry_run=args.dry_run, progress=step)
    print(report.summary())
    if not report.no_op and report.set_aside is not None:
        for line in _row_details(report.set_aside, report.repeats, invalid=args.accept_valid):
            print(line)
    return _report_exit(report)


def _status_data(ws: Any) -> dict[str, Any]:
    """Everything ``status`` shows, as plain JSON-ready values."""
    st = ws.status()
    imports = ws.imports()

    def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
        return json.loads(frame.to_json(orient="records", date_format="iso"))

    ledger = imports.assign(file=imports["source"].map(lambda s: Path(s).name),
                            dropped_columns=imports["dropped_columns"].map(json.loads))
    return {**{k: v for k, v in st.items() if k != "waves"},
            "waves": records(st["waves"]),
            "imports": records(ledger),
            "rejections": records(ws.rejection_summary())}


def _released(args: argparse.Namespace, *, every_wave: bool, record: bool = True,
              demographic: str | None = None) -> tuple[Any, Any, str, Any]:
    """Workspace, instrument, the wave (resolved once) and its release(s)."""
    from culture import pipeline

    ws, instrument = _open(args), _instrument(args)
    wave = pipeline.resolve_wave(ws, args.wave)
    thresholds = pipeline.wave_thresholds(ws, wave)
    if every_wave:
        released = pipeline.release_waves(ws, instrument, wave, thresholds=thresholds)
    else:
        released = pipeline.release_wave(ws, pipeline.load_wave(ws, wave, instrument), instrument,
                                          thresholds=thresholds, record=record,
                                          demographic=demographic or pipeline.DEFAULT_CUT)
    return ws, instrument, wave, released


def _cmd_scores(args: argparse.Namespace) -> int:
    from culture.boundary.release import release_table

    *_, released = _released(args, every_wave=False, demographic=args.by)
    _emit(release_table(released.release, level=args.level, by=args.by), args)
    return errors.EXIT_OK


def _cmd_audit(args: argparse.Namespace) -> int:
    """A breach raises ConfidentialityError inside release_wave: exit code 5."""
    *_, released = _released(args, every_wave=False, record=False)
    print(released.audit.summary())
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
    _emit(changes[[c for c in cols if c in changes.columns]].round(3), args)
    for note in report.notes:
        print(f"note: {note}", file=sys.stderr)
    return errors.EXIT_OK


def _cmd_link(args: argparse.Namespace) -> int:
    from culture.analysis.quality import analyse_outcome

    ws, _, wave, released = _released(args, every_wave=True)
    report = analyse_outcome({w: r.release for w, r in released.items()}, ws.quality_events(),
                             ws.exposure(), outcome=args.outcome, lag=args.lag,
                             thresholds=released[wave].release.thresholds)
    _emit(report.tables["models"].round(4), args)
    print(report.summary(), file=sys.stderr)
    return errors.EXIT_OK


def _cmd_report(args: argparse.Namespace) -> int:
    import logging
    import time

    from culture.pipeline import run_report

    log = logging.getLogger("culture.report")
    if args.log_file:
        Path(args.log_file).parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(args.log_file, encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
    started = time.perf_counter()
    log.info("culture report --wave %s started", args.wave)

    def progress(message: str) -> None:
        log.info(message)
        if sys.stderr.isatty():
            print(message, file=sys.stderr)

    try:
        result = run_report(_open(args), _instrument(args), args.wave, reports_dir=args.reports,
                            workers=args.workers, pdf=args.pdf, unit_level=args.unit_level,
                            progress=progress)
    except errors.CultureError as exc:
        log.error("failed (exit %s): %s", exc.exit_code, str(exc).splitlines()[0])
        raise
    log.info("published %s in %.0f s", result.index, time.perf_counter() - started)
    print(result.index)
    return errors.EXIT_OK


def _table(frame: pd.DataFrame) -> str:
    if frame.empty:
        return "  (none)"
    text = frame.to_string(index=False, na_rep="-")
    return "\n".join("  " + line for line in text.splitlines())


def _cmd_status(args: argparse.Namespace) -> int:
    data = _status_data(_open(args))
    if args.output == "json":
        print(json.dumps(data, indent=2, sort_keys=True))
        return errors.EXIT_OK
    print(f"Workspace {data['path']} (schema {data['schema_version']}, "
          f"key fingerprint {data['key_fingerprint']})")
    print("\nWaves:")
    waves = pd.DataFrame(data["waves"], columns=["wave", "instrument_id", "responses",
                                                 "respondents", "superseded_versions", "imports"])
    print(_table(waves.rename(columns={"instrument_id": "instrument",
                                       "superseded_versions": "superseded"})))
    print(f"\nOrg charts: {', '.join(data['org_waves']) or 'none'}; headcounts: "
          f"{', '.join(data['headcount_waves']) or 'none'}; quality events: "
          f"{data['quality_events']}; releases: {data['releases']}")
    print(f"\nImports ({len(data['imports'])}):")
    cols = ["import_id", "kind", "wave", "quality_kind", "file", "format", "rows_in", "accepted",
            "rejected", "duplicates", "finished"]
    ledger = pd.DataFrame(data["imports"], columns=cols)
    ledger["finished"] = ledger["finished"].str.slice(0, 16).str.replace("T", " ")
    print(_table(ledger.rename(columns={"import_id": "#", "quality_kind": "register",
                                        "finished": "when (UTC)"})))
    print(f"\nRejected rows: {data['rejected_rows']}; duplicate rows: {data['duplicate_rows']}")
    for r in data["rejections"]:
        column = f", column {r['column_id']}" if r["column_id"] else ""
        print(f"  import #{r['import_id']} {r['kind']}: {r['rows']} row(s) from row "
              f"{r['first_row']}{column}: {r['reason']}")
    return errors.EXIT_OK


# ----------------------------------------------------------------------------- entry point

def main(argv: Sequence[str] | None = None) -> int:
    """Run one ``culture`` command; returns the process exit code (never raises SystemExit)."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2), already printed
        return exc.code if isinstance(exc.code, int) else errors.EXIT_USAGE
    name = _command(args)
    try:
        return int(args.func(args))
    except errors.CultureError as exc:
        if args.debug:
            traceback.print_exc()
        print(f"culture {name}: {exc}", file=sys.stderr)
        for note in getattr(exc, "__notes__", ()):  # hints added on the way up
            print(note, file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"culture {name}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug: its message might quote data, so only the type by default
        if args.debug:
            traceback.print_exc()
        print(f"culture {name}: internal error ({type(exc).__name__}); this is a bug in culture, "
              "not in your data. Re-run with --debug for the traceback.", file=sys.stderr)
        return errors.EXIT_INTERNAL


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
