"""`predictorapi validate PATH...`: check PredictorAPI manifests as the API server would (pre-commit hook)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register `validate`."""
    parser = subparsers.add_parser(
        "validate",
        help="check PredictorAPI manifests against the CRD (schema and CEL rules)",
        description="Check every PredictorAPI document in the given files or folders against the CRD's "
        "schema and CEL rules. Prints one line per problem (file: field: message) and exits 1 if any. "
        "Other kinds of documents are skipped; a folder holding no PredictorAPI manifest is a problem "
        "(a wrong path, most likely). Files named one by one may hold none (as pre-commit passes them).",
    )
    parser.add_argument("paths", nargs="+", type=Path, help="YAML files or folders")
    parser.add_argument("-q", "--quiet", action="store_true", help="print problems only")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Validate; exit 0 when every manifest is valid, 1 when one is not or a folder holds none."""
    from predictorapi.manifest import ManifestError, iter_predictorapis
    from predictorapi.validation import validate_document

    failed, checked = 0, 0
    for path in args.paths:
        if not path.exists():
            print(f"{path}: no such file or folder")
            failed += 1
            continue
        try:
            documents = list(iter_predictorapis(path))
        except ManifestError as exc:
            print(exc)
            failed += 1
            continue
        if not documents and path.is_dir():
            print(f"{path}: no PredictorAPI manifest in this folder (no YAML document of kind PredictorAPI)")
            failed += 1
            continue
        for file, document in documents:
            checked += 1
            problems = validate_document(document)
            name = (document.get("metadata") or {}).get("name", "?")
            for problem in problems:
                print(f"{file}: {problem}")
            failed += bool(problems)
            if not problems and not args.quiet:
                print(f"{file}: {name}: ok", file=sys.stderr)
    if checked == 0 and not failed:
        print("predictorapi validate: no PredictorAPI manifests found", file=sys.stderr)
    return 1 if failed else 0
