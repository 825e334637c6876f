"""``culture ingest KIND FILE``: one file into the workspace, every row accounted for.

Kinds: responses, org, headcount, quality, exposure and actions (improvement actions,
:mod:`culture.cli.actions` for the rest of their commands)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from culture import errors
from culture import frames as F
from culture.cli.common import instrument_of, open_workspace, progress, wave_arg
from culture.ingest import FORMATS, PARTIAL_POLICIES, column_letter, load_mapping
from culture.ingest.responses import plan_export

_ROW_LIMIT = 20  # rows named per reason in a summary; the full list stays in the store


def register(sub: Any, common: list) -> None:
    ingest = sub.add_parser("ingest", help="import one file into the workspace")
    kinds = ingest.add_subparsers(dest="kind", required=True, metavar="KIND")

    def kind(name: str, help: str) -> argparse.ArgumentParser:
        k = kinds.add_parser(name, parents=common, help=help)
        k.add_argument("file", metavar="FILE")
        k.add_argument("--mapping", metavar="M",
                       help="column mapping file (YAML or source,target CSV): columns named by "
                            "header text or letter (J, AB), 'unmapped: ignore'; see "
                            "docs/mapping.md")
        k.add_argument("--dry-run", action="store_true", help="check and report; write nothing")
        k.set_defaults(func=_cmd_ingest)
        return k

    r = kind("responses", "a survey export (Qualtrics, SurveyMonkey, Forms, LimeSurvey, SPSS, "
                          "CSV/XLSX)")
    r.add_argument("--wave", type=wave_arg, required=True, help="survey wave, e.g. 2026Q3")
    r.add_argument("--format", dest="fmt", choices=FORMATS,
                   help="export format (default: detected from the file)")
    r.add_argument("--partial", choices=PARTIAL_POLICIES, default="keep",
                   help="unfinished responses: keep (flagged) or reject (default keep)")
    r.add_argument("--accept-valid", action="store_true",
                   help="import the valid rows and record the invalid ones as rejected")
    r.add_argument("--supersede", action="store_true",
                   help="replace stored responses whose content changed (old versions kept)")
    for name, what in (("org", "an org chart: unit_id, parent_id, name"),
                       ("headcount", "people invited per unit: unit_id, invited")):
        kind(name, what).add_argument("--wave", type=wave_arg, required=True,
                                      help="survey wave, e.g. 2026Q3")
    kind("quality", "a QMS register").add_argument(
        "--kind", dest="quality_kind", required=True, choices=F.QUALITY_KINDS,
        help="which register the file is")
    kind("exposure", "exposure per unit and quarter: unit_id, quarter, exposure")
    kind("actions", "improvement actions: a CAPA export or action list (action_id, unit_id, "
                    "construct, owner, opened, due, status, closed; docs in culture.ingest.actions)")


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


def _cmd_ingest(args: argparse.Namespace) -> int:
    ws = open_workspace(args)
    if args.kind == "responses":
        return _ingest_responses(ws, args)
    if args.kind == "actions":
        return _ingest_actions(ws, args)
    path, dry = Path(args.file), args.dry_run
    with progress(["reading and storing"], sys.stderr) as step:
        step(f"{args.kind} {path.name}")
        mapping = args.mapping
        if args.kind == "org":
            report = ws.ingest_org(path, wave=args.wave, mapping=mapping, dry_run=dry)
        elif args.kind == "headcount":
            report = ws.ingest_headcount(path, wave=args.wave, mapping=mapping, dry_run=dry)
        elif args.kind == "quality":
            report = ws.ingest_quality(path, kind=args.quality_kind, mapping=mapping, dry_run=dry)
        else:
            report = ws.ingest_exposure(path, mapping=mapping, dry_run=dry)
    print(report.summary())
    if mapping is not None and not report.no_op:
        print(_table_ignored(path, args))
    return _report_exit(report)


def _table_ignored(path: Path, args: argparse.Namespace) -> str:
    """The named columns of a table that the mapping and the aliases left out."""
    from culture.ingest import read_grid
    from culture.ingest.registers import TABLE_COLUMNS, table_columns

    header = [str(c).strip() for c in read_grid(path).iloc[0].tolist()]
    names = table_columns(header, canonical=TABLE_COLUMNS[args.kind], mapping=args.mapping,
                          source=str(path), required=set())
    letters = [column_letter(i) for i, (h, n) in enumerate(zip(header, names, strict=True))
               if h and n is None]
    return _ignored_line(letters, "not read (no column of this table, or 'ignore')")


def _ingest_actions(ws: Any, args: argparse.Namespace) -> int:
    """:meth:`Workspace.ingest_actions`; with a mapping, the columns it left unread."""
    from culture.ingest import read_grid
    from culture.ingest.actions import action_columns

    path = Path(args.file)
    report = ws.ingest_actions(path, instrument_of(args), mapping=args.mapping,
                               dry_run=args.dry_run)
    print(report.summary())
    if args.mapping is not None and not report.no_op:
        header = [str(c).strip() for c in read_grid(path).iloc[0].tolist()]
        names = action_columns(header, mapping=args.mapping, source=str(path))
        print(_ignored_line([column_letter(i) for i, (h, n) in enumerate(zip(
            header, names, strict=True)) if h and n is None], "not read (no column of an "
            "actions register, or 'ignore')"))
    return _report_exit(report)


def _ignored_line(letters: Sequence[str], why: str) -> str:
    shown = ", ".join(letters[:_ROW_LIMIT]) + (" ..." if len(letters) > _ROW_LIMIT else "")
    return f"  columns {why}: {len(letters)}" + (f" ({shown})" if letters else "")


def _ingest_responses(ws: Any, args: argparse.Namespace) -> int:
    """:meth:`Workspace.ingest_responses`, then the rows the reader set aside, with reasons."""
    path = Path(args.file)
    with progress(["instrument", "read", "store"], sys.stderr) as step:
        step("loading the instrument")
        instrument = instrument_of(args)
        report = ws.ingest_responses(path, instrument, wave=args.wave, fmt=args.fmt,
                                     mapping=args.mapping, partial=args.partial,
                                     accept_valid=args.accept_valid, supersede=args.supersede,
                                     dry_run=args.dry_run, progress=step)
    print(report.summary())
    if args.mapping is not None and not report.no_op and _ignores_unmapped(args.mapping,
                                                                        instrument):
        plan = plan_export(path, instrument, fmt=args.fmt, mapping=args.mapping)
        print(_ignored_line(plan.ignored, "dropped by 'unmapped: ignore'"))
    if not report.no_op and report.set_aside is not None:
        for line in _row_details(report.set_aside, report.repeats, invalid=args.accept_valid):
            print(line)
    return _report_exit(report)


def _ignores_unmapped(mapping: str, instrument: Any) -> bool:
    return load_mapping(mapping, instrument).unmapped == "ignore"
