"""`predictorapi serve PATH`: serve a PredictorAPI manifest locally with the production runtime."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

log = logging.getLogger("predictorapi.serve")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register `serve`."""
    parser = subparsers.add_parser(
        "serve",
        help="serve a PredictorAPI manifest on this machine (no cluster needed)",
        description="Serve the PredictorAPI manifest at PATH (a YAML file, or a folder holding one) with "
        "the same runtime and settings the operator deploys. The predictor file is resolved relative "
        "to the manifest's folder.",
    )
    parser.add_argument("path", type=Path, help="PredictorAPI manifest, or a folder holding one")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    parser.add_argument("--port", type=int, default=8080, help="port to listen on (default: %(default)s)")
    parser.add_argument("--log-json", action="store_true", help="write logs as JSON lines")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Load the manifest, derive the runtime settings from it and serve until stopped."""
    from predictorapi.manifest import ManifestError, load_manifest
    from predictorapi.runtime.server import serve
    from predictorapi.runtime.settings import RuntimeSettings
    from predictorapi.runtime_env import runtime_settings

    try:
        api = load_manifest(args.path)
    except ManifestError as exc:
        print(f"predictorapi serve: {exc}", file=sys.stderr)
        return 2
    root = (args.path if args.path.is_dir() else args.path.parent).resolve()
    predictor = api.spec.predictor
    predictor_file = root / predictor.path
    if not predictor_file.is_file():
        print(f"predictorapi serve: spec.predictor.path: no file {predictor_file}", file=sys.stderr)
        return 2
    for var in predictor.env:
        if var.value is not None:
            os.environ.setdefault(var.name, var.value)
        elif var.value_from is not None and var.name not in os.environ:
            print(f"predictorapi serve: spec.predictor.env: {var.name} comes from the cluster (valueFrom); "
                  "set it in your shell to use it locally", file=sys.stderr)
    settings = RuntimeSettings(
        **runtime_settings(api.metadata.name, api.spec),
        predictor_path=str(predictor_file),
        python_path=str(root / predictor.python_path) if predictor.python_path else None,
        host=args.host,
        port=args.port,
        log_json=args.log_json,
    )
    return serve(settings)
