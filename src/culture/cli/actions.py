"""``culture actions``: improvement actions, the ISO 9001 corrective actions of the survey.

``culture ingest actions FILE [--mapping M] [--dry-run]`` (registered in :mod:`culture.cli.ingest`)
    import a CAPA export or action list (:func:`culture.ingest.actions.read_actions`).
``culture actions add --unit U --construct C --owner O --due YYYY-MM-DD [--finding F]
[--clause 10.2] [--opened YYYY-MM-DD] [--id ID]``
    record one open action; prints its id.
``culture actions list [--format table|csv|json] [-o FILE] [--history]``
    the register: each action's latest state (``--history``: every entry).
``culture actions close ID --date YYYY-MM-DD``
    close an open action (recorded as a new entry; the history is kept).
"""

from __future__ import annotations

import argparse
import datetime as dt
from typing import Any

from culture import errors
from culture.cli.common import emit, for_people, instrument_of, open_workspace, table_text


def date_arg(text: str) -> dt.date:
    """argparse type: an ISO date (``2026-09-30``)."""
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date as YYYY-MM-DD, got {text!r}") from None


def register(sub: Any, common: list) -> None:
    actions = sub.add_parser("actions", help="improvement actions: add, list, close")
    kinds = actions.add_subparsers(dest="kind", required=True, metavar="ACTION")
    add = kinds.add_parser("add", parents=common, help="record one open action")
    add.add_argument("--unit", required=True, help="the unit's id in the org chart")
    add.add_argument("--construct", required=True,
                     help="a construct id or name of the instrument, or an item id")
    add.add_argument("--owner", required=True, help="who is responsible")
    add.add_argument("--due", type=date_arg, required=True, help="due date, YYYY-MM-DD")
    add.add_argument("--finding", help="the finding id that prompted it (e.g. C003)")
    add.add_argument("--clause", help="ISO 9001 clause (default 10.2 with a finding, else 10.3)")
    add.add_argument("--opened", type=date_arg, help="opened on (default today)")
    add.add_argument("--id", dest="action_id", help="the action's id (default A-<next number>)")
    add.set_defaults(func=_cmd_add)

    show = kinds.add_parser("list", parents=common, help="the actions register")
    show.add_argument("--format", dest="output", choices=("table", "csv", "json"),
                      default="table")
    show.add_argument("-o", "--out", metavar="FILE", help="write to FILE instead of stdout")
    show.add_argument("--history", action="store_true", help="every entry, not only the latest")
    show.set_defaults(func=_cmd_list)

    close = kinds.add_parser("close", parents=common, help="close an open action")
    close.add_argument("action_id", metavar="ID")
    close.add_argument("--date", type=date_arg, required=True, help="closed on, YYYY-MM-DD")
    close.set_defaults(func=_cmd_close)


def _cmd_add(args: argparse.Namespace) -> int:
    action_id = open_workspace(args).add_action(
        instrument_of(args), unit_id=args.unit, construct=args.construct, owner=args.owner,
        due=args.due, finding_id=args.finding, clause=args.clause, opened=args.opened,
        action_id=args.action_id)
    print(f"Recorded action {action_id} (open).")
    return errors.EXIT_OK


def _cmd_list(args: argparse.Namespace) -> int:
    frame = open_workspace(args).actions(history=args.history)
    for col in ("opened", "due", "closed", "recorded"):
        if col in frame:  # dates as dates (JSON would write epoch milliseconds)
            frame[col] = frame[col].dt.strftime("%Y-%m-%d" if col != "recorded"
                                                else "%Y-%m-%d %H:%M:%S")
    if for_people(args):
        print(table_text(frame.fillna("")))
    else:
        emit(frame, args)
    return errors.EXIT_OK


def _cmd_close(args: argparse.Namespace) -> int:
    open_workspace(args).close_action(args.action_id, closed=args.date)
    print(f"Closed action {args.action_id} on {args.date.isoformat()}.")
    return errors.EXIT_OK
