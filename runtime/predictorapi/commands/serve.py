"""`predictorapi serve PATH`: serve a PredictorAPI manifest locally with the production runtime (its
`spec.model` downloaded into a local cache first)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from predictorapi.contracts.env import MODEL_ENV_PREFIX, MODEL_PATH_ENV

if TYPE_CHECKING:
    from predictorapi.spec import PredictorAPISpec

log = logging.getLogger("predictorapi.serve")


def default_model_cache() -> Path:
    """Where `serve` keeps model downloads: `$XDG_CACHE_HOME/predictorapi/models` (`~/.cache/...`)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "predictorapi" / "models"


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register `serve`."""
    parser = subparsers.add_parser(
        "serve",
        help="serve a PredictorAPI manifest on this machine (no cluster needed)",
        description="Serve the PredictorAPI manifest at PATH (a YAML file, or a folder holding one) with "
        "the same runtime and settings the operator deploys. The predictor file is resolved relative "
        "to the manifest's folder. A `spec.model` is downloaded first, as the init container does, with the "
        "credentials of this shell, into a local cache folder (a second start finds it there).",
    )
    parser.add_argument("path", type=Path, help="PredictorAPI manifest, or a folder holding one")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    parser.add_argument("--port", type=int, default=8080, help="port to listen on (default: %(default)s)")
    parser.add_argument("--log-json", action="store_true", help="write logs as JSON lines")
    parser.add_argument("--model-cache", type=Path, help="folder keeping spec.model downloads, one subfolder per URI "
                        f"+ revision [${MODEL_ENV_PREFIX}CACHE_DIR, default {default_model_cache()}]")
    parser.add_argument("--pvc-root", type=Path, help="folder standing in for the cluster's claims: pvc://CLAIM/PATH "
                        f"is read from PVC_ROOT/CLAIM/PATH [${MODEL_ENV_PREFIX}PVC_ROOT, default: the manifest's "
                        "folder]")
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
    model_path = local_model(api.spec, root, args)
    if isinstance(model_path, int):
        return model_path
    packages = local_requirements(api.spec, root)
    if isinstance(packages, int):
        return packages
    settings = RuntimeSettings(
        **runtime_settings(api.metadata.name, api.spec),
        model_path=model_path,
        predictor_path=str(predictor_file),
        python_path=str(root / predictor.python_path) if predictor.python_path else None,
        packages_path=packages,
        host=args.host,
        port=args.port,
        log_json=args.log_json,
    )
    zero = scale_to_zero(api.spec)
    if zero is not None:
        from predictorapi.activator.local import run_local

        if not logging.getLogger().handlers:
            logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
        idle_seconds, cold_start_timeout = zero
        return run_local(settings.model_dump(), api.metadata.name, args.host, args.port, idle_seconds,
                         cold_start_timeout)
    return serve(settings)


def scale_to_zero(spec: PredictorAPISpec) -> tuple[float, float] | None:
    """`(idleSeconds, coldStartTimeoutSeconds)` when `autoscaling.minReplicas` is 0 (and `replicas` unset, as the
    operator reads it), else None."""
    if spec.autoscaling.min_replicas != 0 or spec.replicas is not None:
        return None
    return float(spec.autoscaling.idle_seconds), float(spec.cold_start_timeout())


def local_model(spec: PredictorAPISpec, root: Path, args: argparse.Namespace) -> str | int | None:
    """Fetch `spec.model` as the init container does, into the local cache; its folder (also exported as
    `PREDICTORAPI_MODEL_PATH`), None without a model, or the exit code when it cannot be fetched."""
    if spec.model is None:
        return None
    from predictorapi.artifacts.errors import DownloadFailed, failure_line
    from predictorapi.artifacts.fetch import ModelRequest, model_folder

    model = spec.model
    if model.secret_ref is not None:
        print(f"predictorapi serve: spec.model.secretRef: {model.secret_ref.name} is a cluster Secret; its keys "
              "(AWS_*, HF_TOKEN, ...) are read from your shell here", file=sys.stderr)
    env_root = os.environ.get(f"{MODEL_ENV_PREFIX}PVC_ROOT")
    cache = args.model_cache or os.environ.get(f"{MODEL_ENV_PREFIX}CACHE_DIR") or default_model_cache()
    request = ModelRequest(uri=model.uri, revision=model.revision, cache_dir=Path(cache).expanduser(),
                           pvc_root=(args.pvc_root or (Path(env_root) if env_root else root)).resolve(),
                           allow_insecure_http=model.allow_insecure_http)

    def on_stall(detail: str) -> None:  # the download cannot be interrupted from here: end the process
        print(f"predictorapi serve: spec.model: {failure_line(model.uri, detail)}", file=sys.stderr, flush=True)
        os._exit(1)

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        path = str(model_folder(request, on_stall).path)
    except DownloadFailed as exc:
        print(f"predictorapi serve: spec.model: {failure_line(model.uri, exc.detail)}", file=sys.stderr)
        return 1
    os.environ[MODEL_PATH_ENV] = path
    return path


def local_requirements(spec: PredictorAPISpec, root: Path) -> str | int | None:
    """Install the requirements of code from `source.git` as `install-packages` would, into the local cache
    (`$XDG_CACHE_HOME/predictorapi/python-packages`, one folder per cache key); their folder (the runtime's
    `packages_path`), None without requirements, or the exit code when the install fails."""
    from predictorapi.gitfetch import FetchError
    from predictorapi.requirements import local_requirements_site

    try:
        site = local_requirements_site(spec, root)
    except FetchError as exc:
        print(f"predictorapi serve: spec.predictor.requirements: {exc}", file=sys.stderr)
        return 2
    if site is None:
        return None
    log.info("requirements installed in %s", site)
    return str(site)
