"""The `predictorapi` command line: one subcommand per module under `predictorapi.commands`."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Each module defines `add_parser(subparsers) -> None`, registering a parser whose default `func`
# takes the parsed namespace and returns an exit code. Modules import their heavy deps lazily.
COMMANDS = ("serve", "render", "validate", "crd", "fetch", "init")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every available subcommand."""
    parser = argparse.ArgumentParser(prog="predictorapi", description=__doc__)
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"predictorapi.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"predictorapi.commands.{name}":
                raise
            continue
        module.add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the process exit code."""
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
