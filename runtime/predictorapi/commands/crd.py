"""`predictorapi crd`: print the PredictorAPI CustomResourceDefinition, or write it to a file."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register `crd`."""
    parser = subparsers.add_parser("crd", help="print or write the PredictorAPI CRD",
                                   description="Generate the CRD from the typed spec (the source of truth).")
    parser.add_argument("-o", "--output", type=Path, help="write to this file instead of stdout")
    parser.add_argument("--check", action="store_true", help="exit 1 if --output differs from the generated CRD")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print, write or check the CRD."""
    from predictorapi.crd import crd_yaml

    text = crd_yaml()
    if args.output is None:
        sys.stdout.write(text)
        return 0
    if args.check:
        current = args.output.read_text() if args.output.exists() else ""
        if current != text:
            print(f"{args.output} is out of date: run `predictorapi crd -o {args.output}`", file=sys.stderr)
            return 1
        return 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    return 0
