"""`predictorapi model-store`: serve `spec.models`' listing and disk tier to the runtime processes of this pod (the
`model-store` container; `predictorapi serve` runs the same in a thread).

Configured by flags or by the environment (`PREDICTORAPI_MODEL_STORE_MODELS`: `spec.models` as JSON, `uri` |
`paths` | `dir`, `diskCacheSize`, `pollSeconds`, `allowInsecureHttp`; `PREDICTORAPI_MODEL_STORE_PORT` (8091),
`_HOST` (0.0.0.0), `_DIR` (/srv/models), `_STALL_TIMEOUT` (120), `_PVC_ROOT`, `_API_NAME`); credentials and
endpoints from the environment (the secretRef: `AWS_*`, `GOOGLE_APPLICATION_CREDENTIALS_JSON`, `HF_TOKEN`,
`HF_ENDPOINT`). Only `/metrics` and `/healthz` answer peers other than loopback. Exit code 2 for a bad setting.
"""

from __future__ import annotations

import argparse
import sys

from predictorapi.contracts.models import MODEL_STORE_ENV_PREFIX, MODEL_STORE_PORT, MODELS_DIR


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register `model-store`; every flag defaults to its environment variable (read when it runs)."""
    parser = subparsers.add_parser(
        "model-store",
        help="serve spec.models' listing and disk cache to this pod's runtime processes",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    env = f"${MODEL_STORE_ENV_PREFIX}"
    parser.add_argument("--models", help=f"spec.models as JSON [{env}MODELS]")
    parser.add_argument("--host", help=f"address to listen on [{env}HOST, default 0.0.0.0]")
    parser.add_argument("--port", type=int, help=f"port to listen on [{env}PORT, default {MODEL_STORE_PORT}]")
    parser.add_argument("--dir", help=f"the disk cache folder [{env}DIR, default {MODELS_DIR}]")
    parser.add_argument("--stall-timeout", type=float, help=f"seconds without data before a download gives up "
                        f"[{env}STALL_TIMEOUT, default 120]")
    parser.add_argument("--pvc-root", help=f"where pvc://CLAIM/PATH lies: PVC_ROOT/CLAIM/PATH [{env}PVC_ROOT]")
    parser.add_argument("--api-name", help=f"the `api` label of the store's metrics [{env}API_NAME]")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Serve until SIGTERM; returns the exit code."""
    import logging

    from pydantic import ValidationError

    from predictorapi.models.store_server import StoreSettings, serve_store

    flags = {k: v for k, v in vars(args).items() if k in StoreSettings.model_fields and v is not None}
    try:
        settings = StoreSettings(**flags)
        from predictorapi.models.store import StoreConfig

        StoreConfig.from_spec(settings.models)
    except (ValidationError, ValueError, KeyError, TypeError) as exc:
        print(f"predictorapi model-store: invalid settings: {_one_line(exc)}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s",
                        stream=sys.stdout)
    serve_store(settings)
    return 0


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())
