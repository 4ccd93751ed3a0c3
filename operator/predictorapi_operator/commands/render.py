"""`predictorapi render MANIFEST`: print the objects the operator would create, as multi-document YAML."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register `render`."""
    parser = subparsers.add_parser(
        "render",
        help="print the Kubernetes objects a PredictorAPI becomes",
        description="Print the children the operator creates for the PredictorAPI in MANIFEST (a file or a "
        "folder holding one), so a pull request shows a change's effect.",
    )
    parser.add_argument("manifest", type=Path, help="PredictorAPI manifest, or a folder holding one")
    parser.add_argument("-n", "--namespace", help="namespace when the manifest has none (default: default)")
    parser.add_argument("--runtime-image", help="runtime base image (for source.git predictors)")
    parser.add_argument("--no-service-monitor-api", action="store_true",
                        help="render as for a cluster without the Prometheus Operator")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Validate the manifest, then print its children."""
    import yaml

    from predictorapi.manifest import ManifestError, iter_predictorapis
    from predictorapi.spec import KIND
    from predictorapi.validation import check_document
    from predictorapi_operator.builders import BuildOptions, build_children

    try:
        documents = list(iter_predictorapis(args.manifest))
    except ManifestError as exc:
        print(f"predictorapi render: {exc}", file=sys.stderr)
        return 2
    if not documents:
        print(f"predictorapi render: {args.manifest}: kind: no {KIND} manifest found", file=sys.stderr)
        return 2
    options = BuildOptions(service_monitor_available=not args.no_service_monitor_api,
                           **({"runtime_image": args.runtime_image} if args.runtime_image else {}))
    out = []
    for file, document in documents:
        api, problems = check_document(document)
        if api is None:
            for problem in problems:
                print(f"{file}: {problem}", file=sys.stderr)
            return 1
        api.metadata.namespace = api.metadata.namespace or args.namespace or "default"
        out += build_children(api, options)
    sys.stdout.write(yaml.safe_dump_all(out, sort_keys=False))
    return 0
