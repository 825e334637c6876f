"""What every command shares: argument types, global options, output, progress."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

import pandas as pd

from culture import errors
from culture import frames as F


def wave_arg(text: str) -> str:
    """argparse type: a wave such as ``2026Q3`` (checked before any file is read)."""
    if not F.WAVE_RE.match(text):
        raise argparse.ArgumentTypeError(
            f"wave must look like YYYYQn with n in 1-4 (e.g. 2026Q3), got {text!r}")
    return text


def global_options(*, suppress: bool) -> argparse.ArgumentParser:
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


def wave_or_latest(text: str) -> str:
    return text if text == "latest" else wave_arg(text)


def instrument_of(args: argparse.Namespace) -> Any:
    """The instrument given with --instrument, else the shipped one."""
    from culture.measure.instrument import load_instrument
    from culture.resources import default_instrument_path

    return load_instrument(args.instrument or default_instrument_path())


def emit(frame: pd.DataFrame, args: argparse.Namespace) -> None:
    """Print or write a result table in the requested format."""
    from culture.boundary.leakgate import neutralise_frame

    if args.output == "table" and not args.out:
        print(table_text(frame))
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

def command_name(args: argparse.Namespace) -> str:
    return " ".join(x for x in (args.command, getattr(args, "kind", None)) if x)


def open_workspace(args: argparse.Namespace) -> Any:
    from culture.store.workspace import Workspace

    return Workspace.open(args.workspace)


@contextlib.contextmanager
def progress(stages: Sequence[str], stream: TextIO) -> Iterator[Callable[[str], None]]:
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


def table_text(frame: pd.DataFrame) -> str:
    if frame.empty:
        return "  (none)"
    text = frame.to_string(index=False, na_rep="-")
    return "\n".join("  " + line for line in text.splitlines())
