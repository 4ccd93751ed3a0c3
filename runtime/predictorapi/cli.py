"""The `predictorapi` command line: one subcommand per module under `predictorapi.commands`, plus those
other installed distributions register in the `predictorapi.commands` entry-point group."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from importlib.metadata import entry_points

from predictorapi import __version__
from predictorapi.tracing.commands import run_command

# Each module defines `add_parser(subparsers) -> None`, registering a parser whose default `func`
# takes the parsed namespace and returns an exit code. Modules import their heavy deps lazily.
COMMANDS = ("serve", "validate", "crd", "fetch", "install_packages", "fetch_model", "init", "model_store")
PLUGIN_GROUP = "predictorapi.commands"
"""Entry-point group of subcommands other distributions add (the operator's `render`)."""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with the built-in subcommands and those installed distributions add."""
    parser = argparse.ArgumentParser(prog="predictorapi", description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"predictorapi.commands.{name}").add_parser(subparsers)
    for plugin in sorted(entry_points(group=PLUGIN_GROUP), key=lambda e: e.name):
        plugin.load().add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the process exit code."""
    args = build_parser().parse_args(argv)
    return run_command(args.command, lambda: int(args.func(args) or 0))


if __name__ == "__main__":
    sys.exit(main())
