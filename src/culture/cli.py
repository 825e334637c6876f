"""The ``culture`` command: parses arguments, calls the library, maps errors to exit codes."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from . import errors


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="culture", description="Leadership and quality culture workbench")
    p.add_argument("--workspace", default=os.environ.get("CULTURE_WORKSPACE", "data"),
                   help="workspace directory (default ./data or $CULTURE_WORKSPACE)")
    sub = p.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="run the whole job on a synthetic organisation")
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument("--sites", type=int, default=4, help="number of sites in the synthetic org")
    demo.set_defaults(func=_cmd_demo)
    return p


def _cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    run_demo(seed=args.seed, n_sites=args.sites, out=print)
    return errors.EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return int(args.func(args))
    except errors.CultureError as exc:
        print(f"culture {args.command}: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
