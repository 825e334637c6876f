"""What every command shares: argument types, global options, output, progress."""

from __future__ import annotations

import argparse
import contextlib
import os
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


WAVE_OR_LATEST_HELP = "a stored wave such as 2026Q3, or 'latest' (the newest stored wave)"


def instrument_of(args: argparse.Namespace) -> Any:
    """The instrument given with --instrument, else the shipped one."""
    from culture.measure.instrument import load_instrument
    from culture.resources import default_instrument_path

    return load_instrument(args.instrument or default_instrument_path())


def for_people(args: argparse.Namespace) -> bool:
    """The result is printed as a table for people (``--format table`` without ``-o``);
    everything else (csv, xlsx, json, or a file) is for analysts: numbers as numbers."""
    return args.output == "table" and not args.out


def emit(frame: pd.DataFrame, args: argparse.Namespace) -> None:
    """Print or write a result table in the requested format.

    ``table`` prints for people (``table`` with ``-o FILE`` writes CSV); ``csv`` and
    ``json`` print or write FILE; ``xlsx`` needs ``-o FILE``. Text cells of CSV and XLSX
    are neutralised against spreadsheet formulas (numbers are not text); XLSX is
    byte-reproducible; missing values are empty cells in CSV/XLSX and ``null`` in JSON.
    """
    from culture.boundary.leakgate import neutralise_frame

    if for_people(args):
        print(table_text(frame))
        return
    fmt = "csv" if args.output == "table" else args.output
    target = args.out or None
    if fmt == "xlsx":
        from culture.report.exports import write_xlsx

        if not target:
            raise errors.ConfigError("--format xlsx needs -o FILE")
        write_xlsx({getattr(args, "command", None) or "table": frame}, Path(target))
    elif fmt == "json":
        text = frame.to_json(orient="records", indent=2, force_ascii=False)
        Path(target).write_text(text, encoding="utf-8") if target else print(text)
    else:
        text = neutralise_frame(frame).to_csv(index=False)
        Path(target).write_text(text, encoding="utf-8") if target else print(text, end="")
    if target:
        print(f"wrote {target}", file=sys.stderr)


class QuietStdout:
    """``sys.stdout`` while a command runs: when the reader of the output goes away
    (``culture status | head -1``) the rest of the output is dropped and the command
    finishes normally. A closed pipe is not an error; following the Python docs' note
    on SIGPIPE, the real stdout is pointed at devnull so that the interpreter's final
    flush does not complain either. Only errors of writing to stdout itself are taken
    as "the reader went away"; a broken pipe anywhere else stays an error.
    """

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.reader_gone = False

    def write(self, text: str) -> int:
        if not self.reader_gone:
            try:
                return self.stream.write(text)
            except BrokenPipeError:
                self._gone()
        return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        if not self.reader_gone:
            try:
                self.stream.flush()
            except BrokenPipeError:
                self._gone()

    def _gone(self) -> None:
        self.reader_gone = True
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
        except OSError:
            return
        try:
            os.dup2(devnull, self.stream.fileno())
        except (AttributeError, OSError, ValueError):  # not a real file (e.g. captured)
            pass
        finally:
            os.close(devnull)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


@contextlib.contextmanager
def quiet_stdout() -> Iterator[QuietStdout]:
    """Run a command with :class:`QuietStdout` as ``sys.stdout``; flushes it at the end,
    so a reader that left early shows up here rather than at interpreter exit."""
    saved = sys.stdout
    if saved is None:  # no stdout at all (e.g. a windowed interpreter): nothing to guard
        with open(os.devnull, "w", encoding="utf-8") as sink:
            yield QuietStdout(sink)
        return
    quiet = QuietStdout(saved)
    sys.stdout = quiet  # type: ignore[assignment]
    try:
        yield quiet
    finally:
        quiet.flush()
        if sys.stdout is quiet:
            sys.stdout = saved


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


# columns that count or rank things (never a statistic that merely happens to be whole)
_WHOLE = frozenset({"level", "n", "invited", "responses", "respondents", "imports", "superseded",
                    "rows_in", "accepted", "rejected", "duplicates", "#"})


def table_text(frame: pd.DataFrame) -> str:
    if frame.empty:
        return "  (none)"
    frame = frame.copy()
    for col in frame.columns:  # a level or count that went through a float prints as 2, not 2.0
        if pd.api.types.is_float_dtype(frame[col]):
            present = frame[col].dropna()
            if col in _WHOLE and len(present) and (present == present.round()).all():
                frame[col] = frame[col].round().astype("Int64")
    text = frame.to_string(index=False, na_rep="-")
    return "\n".join("  " + line for line in text.splitlines())


def file_logger(name: str, log_file: str | None) -> Any:
    """The logger of an unattended command; with ``--log-file`` it appends to that file."""
    import logging

    log = logging.getLogger(name)
    if log_file:
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(log_file, encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
    return log
