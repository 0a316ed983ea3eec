"""The ``fraudops`` command line.

Each command lives in its own module with a ``register(subparsers)`` function. The library's own
commands are listed in ``BUILTIN``; the levels add theirs (``ct``, ``serve``, ``retrain``,
``demo``...) through the ``fraudops.commands`` entry-point group in ``pyproject.toml``, so the
library never imports a level (imports point one way: levels -> library).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from importlib.metadata import entry_points

from fraudops import __version__

#: Modules of the library's own commands, each with ``register(subparsers)``.
BUILTIN = (
    "fraudops.commands.data",
    "fraudops.commands.registry",
    "fraudops.commands.monitor",
    "fraudops.commands.dashboard",
)


class CommandError(Exception):
    """A user-facing failure: printed as ``error: ...`` with no traceback, exit status 1."""


def build_parser() -> argparse.ArgumentParser:
    """Build the parser with every built-in and installed level command."""
    parser = argparse.ArgumentParser(
        prog="fraudops",
        description=(
            "Credit-card fraud detection at three MLOps maturity levels. "
            "Run 'fraudops COMMAND --help' for a command's options."
        ),
    )
    parser.add_argument("--version", action="version", version=f"fraudops {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in BUILTIN:
        importlib.import_module(module).register(sub)
    for ep in sorted(entry_points(group="fraudops.commands"), key=lambda e: e.name):
        try:
            register = ep.load()
        except ImportError as exc:
            # A level whose optional dependencies are missing should not take the rest of the
            # command line down with it; say which command is unavailable and why.
            print(f"warning: command '{ep.name}' unavailable: {exc}", file=sys.stderr)
            continue
        register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    try:
        return int(args.func(args) or 0)
    except CommandError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
