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
    from predictorapi.runtime.settings import RuntimeSettings
    from predictorapi.spec import LocalObjectReference, PredictorAPISpec

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
        "credentials of this shell, into a local cache folder (a second start finds it there). With "
        "`spec.models`, the model store runs in this process (a thread on a free loopback port), its disk tier in "
        "the same cache folder.",
    )
    parser.add_argument("path", type=Path, help="PredictorAPI manifest, or a folder holding one")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    parser.add_argument("--port", type=int, default=8080, help="port to listen on (default: %(default)s)")
    parser.add_argument("--log-json", action="store_true", help="write logs as JSON lines")
    parser.add_argument("--model-cache", type=Path, help="folder keeping spec.model (and spec.models) downloads, "
                        f"one subfolder per URI + revision [${MODEL_ENV_PREFIX}CACHE_DIR, default "
                        f"{default_model_cache()}]")
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
    predictor_env(api.spec)
    model_path = local_model(api.spec, root, args)
    if isinstance(model_path, int):
        return model_path
    packages = local_requirements(api.spec, root)
    if isinstance(packages, int):
        return packages
    store_url = local_models(api.metadata.name, api.spec, root, args)
    if isinstance(store_url, int):
        return store_url
    settings = RuntimeSettings(
        **runtime_settings(api.metadata.name, api.spec),
        model_path=model_path,
        model_store_url=store_url,
        predictor_path=str(predictor_file),
        python_path=str(root / predictor.python_path) if predictor.python_path else None,
        packages_path=packages,
        host=args.host,
        port=args.port,
        log_json=args.log_json,
    )
    zero = scale_to_zero(api.spec)
    return serve(settings) if zero is None else _serve_from_zero(settings, api.metadata.name, args, *zero)


def _serve_from_zero(settings: RuntimeSettings, api: str, args: argparse.Namespace, idle_seconds: float,
                     cold_start_timeout: float) -> int:
    """`minReplicas: 0`: the activator listens; the runtime starts on the first request, stops when idle."""
    from predictorapi.activator.local import run_local

    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    return run_local(settings.as_dict(), api, args.host, args.port, idle_seconds, cold_start_timeout)


def predictor_env(spec: PredictorAPISpec) -> None:
    """`spec.predictor.env`'s values into this process's environment (what the shell sets wins); a `valueFrom` only
    the shell can give, said so."""
    for var in spec.predictor.env:
        if var.value is not None:
            os.environ.setdefault(var.name, var.value)
        elif var.value_from is not None and var.name not in os.environ:
            print(f"predictorapi serve: spec.predictor.env: {var.name} comes from the cluster (valueFrom); "
                  "set it in your shell to use it locally", file=sys.stderr)


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
    shell_credentials("model", model.secret_ref)
    request = ModelRequest(uri=model.uri, revision=model.revision, cache_dir=model_cache_dir(args),
                           pvc_root=pvc_root(args, root), allow_insecure_http=model.allow_insecure_http)

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


def shell_credentials(field: str, secret_ref: LocalObjectReference | None) -> None:
    """Say that `spec.FIELD.secretRef` names a cluster Secret, whose keys come from the shell here."""
    if secret_ref is not None:
        print(f"predictorapi serve: spec.{field}.secretRef: {secret_ref.name} is a cluster Secret; its keys "
              "(AWS_*, HF_TOKEN, ...) are read from your shell here", file=sys.stderr)


def model_cache_dir(args: argparse.Namespace) -> Path:
    """The local model cache: `--model-cache`, `$PREDICTORAPI_MODEL_CACHE_DIR` or the default."""
    folder = args.model_cache or os.environ.get(f"{MODEL_ENV_PREFIX}CACHE_DIR") or default_model_cache()
    return Path(folder).expanduser()


def pvc_root(args: argparse.Namespace, root: Path) -> Path:
    """Where `pvc://CLAIM/PATH` is read locally: `--pvc-root`, `$PREDICTORAPI_MODEL_PVC_ROOT` or the manifest's
    folder."""
    env_root = os.environ.get(f"{MODEL_ENV_PREFIX}PVC_ROOT")
    return (args.pvc_root or (Path(env_root) if env_root else root)).resolve()


def local_models(name: str, spec: PredictorAPISpec, root: Path, args: argparse.Namespace) -> str | int | None:
    """With `spec.models`, start the model store as the `model-store` container runs it, in a thread of this
    process on a free loopback port (its disk tier: the local model cache, its credentials: this shell's); its URL
    (the runtime's `model_store_url`), None without models, or the exit code when it cannot start."""
    if spec.models is None:
        return None
    from predictorapi.models.store_server import StoreSettings, build_store, start_store_thread

    models = spec.models
    shell_credentials("models", models.secret_ref)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    settings = StoreSettings(models=models.model_dump(mode="json", by_alias=True, exclude_none=True,
                                                      exclude={"secret_ref", "cache"}),
                             host="127.0.0.1", port=0, dir=str(model_cache_dir(args)),
                             pvc_root=str(pvc_root(args, root)), api_name=name)
    try:
        running = start_store_thread(build_store(settings), host=settings.host, port=0)
    except (OSError, RuntimeError, ValueError) as exc:
        print(f"predictorapi serve: spec.models: the model store did not start: {exc}", file=sys.stderr)
        return 1
    log.info("model store on %s, disk cache %s", running.url, settings.dir)
    return running.url


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
