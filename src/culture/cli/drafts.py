"""``culture mapping draft`` and ``culture instrument draft``: starting points for own exports.

``culture mapping draft EXPORT [--instrument YAML] [-o FILE]`` proposes a column
mapping of an export onto the instrument (:func:`culture.ingest.drafting.draft_mapping`);
``culture instrument draft EXPORT [-o FILE]`` proposes a starter instrument for a
questionnaire of one's own (:func:`culture.ingest.instrument_draft.draft_instrument`).
The YAML goes to FILE (or stdout); the summary goes to stdout when the YAML is
written to a file, else to stderr. Neither ever prints a respondent's answer: only
headers, scores, ids and labels that read as scale points or categories.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from culture import errors
from culture.cli.common import instrument_of
from culture.ingest import FORMATS


def register(sub: Any, common: list) -> None:
    for name, what, func in (
            ("mapping", "column mappings (docs/mapping.md): draft one from an export",
             _cmd_mapping_draft),
            ("instrument", "instruments: draft a starter instrument from an export",
             _cmd_instrument_draft)):
        group = sub.add_parser(name, help=what)
        actions = group.add_subparsers(dest="kind", required=True, metavar="ACTION")
        help_ = ("propose a mapping of EXPORT onto the instrument (--instrument): scores, "
                 "'check' marks, unmatched columns, items not found" if name == "mapping" else
                 "propose a starter instrument YAML from EXPORT: Likert items, scale, "
                 "constructs per question group, comments, demographics")
        d = actions.add_parser("draft", parents=common, help=help_, description=help_)
        d.add_argument("export", metavar="EXPORT", help="a survey export (any supported format)")
        d.add_argument("--format", dest="fmt", choices=FORMATS,
                       help="export format (default: detected from the file)")
        d.add_argument("-o", "--output", dest="out", metavar="FILE",
                       help="write the YAML to FILE (default: print it)")
        d.add_argument("--force", action="store_true", help="overwrite FILE if it exists")
        d.set_defaults(func=func)


def _write(text: str, summary: str, args: argparse.Namespace) -> int:
    if args.out:
        out = Path(args.out)
        if out.exists() and not args.force:
            raise errors.ConfigError(f"{out} exists; pass --force to overwrite it (a draft "
                                     "may replace edits made to it)")
        out.write_text(text, encoding="utf-8")
        print(summary)
        print(f"wrote {out}")
    else:
        print(summary, file=sys.stderr)
        sys.stdout.write(text)
    return errors.EXIT_OK


def _cmd_mapping_draft(args: argparse.Namespace) -> int:
    from culture.ingest.drafting import draft_mapping

    draft = draft_mapping(args.export, instrument_of(args), fmt=args.fmt)
    return _write(draft.yaml, draft.summary(), args)


def _cmd_instrument_draft(args: argparse.Namespace) -> int:
    from culture.ingest.instrument_draft import draft_instrument

    draft = draft_instrument(args.export, fmt=args.fmt)
    return _write(draft.yaml, draft.summary(), args)
