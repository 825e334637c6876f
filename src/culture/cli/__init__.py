"""The ``culture`` command: parses arguments, calls the library, maps errors to exit codes.

Commands
--------
``culture init [--key-file PATH]``
    create a workspace (:meth:`culture.store.Workspace.init`).
``culture ingest responses|org|headcount|quality|exposure|actions FILE ...``
    import one file (``Workspace.ingest_*``) and print its
    :class:`~culture.store.ImportReport`.
``culture status [--format table|json]``
    waves, responses per wave, the import ledger and rejected rows.
``culture scores|audit|trends|link --wave W``
    the suppressed release table, the independent audit, changes vs the previous
    wave, and culture -> quality models.
``culture actions add|list|close``
    improvement actions (ISO 9001 10.2/10.3), :mod:`culture.cli.actions`.
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
import sys
import traceback
from collections.abc import Sequence

from culture import __version__, errors
from culture.cli import actions, analysis, drafts, ingest, publish, report, setup
from culture.cli.common import command_name, global_options

GROUPS = (setup, analysis, ingest, actions, drafts, report, publish)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="culture", parents=[global_options(suppress=False)],
                                description="Leadership and quality culture workbench")
    p.add_argument("--version", action="version", version=f"culture {__version__}")
    common = [global_options(suppress=True)]
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in GROUPS:
        group.register(sub, common)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run one ``culture`` command; returns the process exit code (never raises SystemExit).

    Output into a pipe whose reader has gone (``culture status | head -1``) is not an
    error: the rest is dropped quietly and the command's own exit code is returned
    (:class:`culture.cli.common.QuietStdout`).
    """
    from culture.cli.common import quiet_stdout

    with quiet_stdout():
        try:
            args = _parser().parse_args(argv)
        except SystemExit as exc:  # argparse: --help (0) or a usage error (2), already printed
            return exc.code if isinstance(exc.code, int) else errors.EXIT_USAGE
        name = command_name(args)
        try:
            code = int(args.func(args))
            sys.stdout.flush()  # a reader that went away shows here (and is dropped quietly)
            return code
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
            print(f"culture {name}: internal error ({type(exc).__name__}); this is a bug in "
                  "culture, not in your data. Re-run with --debug for the traceback.",
                  file=sys.stderr)
            return errors.EXIT_INTERNAL


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
