"""The model store's HTTP API (contracts.models) on uvicorn: `predictorapi model-store` in the `model-store`
container, or a thread of `predictorapi serve` (`start_store_thread`).

Only `GET /metrics` and `GET /healthz` answer peers other than loopback (Prometheus scrapes the pod's IP); the
rest is the pod-local API of the runtime processes (a 403 JSON to anyone else).
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import logging
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from predictorapi.artifacts.errors import DownloadFailed
from predictorapi.contracts.models import (
    DOWNLOAD_FAILED,
    ENSURE_PATH,
    HEALTH_PATH,
    LISTING_FAILED,
    METRICS_PATH,
    MODEL_STORE_ENV_PREFIX,
    MODEL_STORE_PORT,
    MODELS_DIR,
    MODELS_PATH,
    PUBLIC_PATHS,
)
from predictorapi.models.errors import ModelNotFound
from predictorapi.models.store import ListingUnavailable, ModelStore, StoreConfig

log = logging.getLogger("predictorapi.models")


class StoreSettings(BaseSettings):
    """`predictorapi model-store`'s settings, from `PREDICTORAPI_MODEL_STORE_*` variables."""

    model_config = SettingsConfigDict(env_prefix=MODEL_STORE_ENV_PREFIX, extra="ignore")

    models: dict[str, Any] = Field(..., description="spec.models (a mapping, or its JSON text): uri|paths|dir, "
                                   "diskCacheSize, pollSeconds, allowInsecureHttp.")
    host: str = "0.0.0.0"
    port: int = Field(MODEL_STORE_PORT, ge=0, le=65535)
    dir: str = Field(MODELS_DIR, description="The disk tier: one folder per model version.")
    stall_timeout: float = Field(120.0, gt=0, description="Seconds without data before a download gives up.")
    pvc_root: str | None = Field(None, description="Where pvc://CLAIM/PATH is found: PVC_ROOT/CLAIM/PATH.")
    api_name: str = Field("", description="The PredictorAPI (the `api` label of the store's metrics).")

    @field_validator("models", mode="before")
    @classmethod
    def _json(cls, value: Any) -> Any:
        """JSON text (`--models`, given as text so that it replaces the variable's mapping instead of merging)."""
        return json.loads(value) if isinstance(value, str | bytes) else value


def build_store(settings: StoreSettings, registry: CollectorRegistry | None = None) -> ModelStore:
    """The store the settings describe (credentials and endpoints from this process's environment)."""
    return ModelStore(StoreConfig.from_spec(settings.models), Path(settings.dir),
                      pvc_root=Path(settings.pvc_root) if settings.pvc_root else None,
                      stall_seconds=settings.stall_timeout, api=settings.api_name, registry=registry)


def build_app(store: ModelStore, registry: CollectorRegistry | None) -> ASGIApp:
    """The store's ASGI app; `registry`: the one its metrics were registered in (None: the default one)."""
    from prometheus_client import REGISTRY

    exposed = registry if registry is not None else REGISTRY

    async def list_models(request: Request) -> Response:
        return JSONResponse(await run_in_threadpool(store.listing_json))

    async def ensure(request: Request) -> Response:
        name, version = request.path_params["name"], request.path_params["version"]
        try:
            found = await run_in_threadpool(store.ensure, name, version)
        except ModelNotFound as exc:
            return JSONResponse(exc.to_json(), status_code=404)
        except DownloadFailed as exc:
            return JSONResponse({"error": exc.detail, "reason": DOWNLOAD_FAILED, "model": name, "version": version},
                                status_code=502)
        except ListingUnavailable as exc:
            return JSONResponse({"error": str(exc), "reason": LISTING_FAILED, "model": name, "version": version},
                                status_code=503)
        return JSONResponse(found.to_json())

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def metrics(request: Request) -> Response:
        return Response(generate_latest(exposed), media_type=CONTENT_TYPE_LATEST)

    routes = [Route(MODELS_PATH, list_models, methods=["GET"]),
              Route(ENSURE_PATH, ensure, methods=["POST"]),
              Route(HEALTH_PATH, health, methods=["GET"]),
              Route(METRICS_PATH, metrics, methods=["GET"])]
    return LoopbackOnly(Starlette(routes=routes))


class LoopbackOnly:
    """ASGI middleware: paths other than PUBLIC_PATHS answer only loopback peers (others: 403 JSON)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] not in PUBLIC_PATHS and not is_loopback(scope.get("client")):
            response = JSONResponse({"error": "the model store answers only this pod (loopback) except on "
                                     f"{' and '.join(PUBLIC_PATHS)}", "reason": "forbidden"}, status_code=403)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def is_loopback(client: Any) -> bool:
    """Whether an ASGI `client` (host, port) is a loopback address (IPv4, IPv6, IPv4-mapped IPv6)."""
    if not client:
        return False
    try:
        address = ipaddress.ip_address(str(client[0]))
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return address.is_loopback or bool(mapped and mapped.is_loopback)


@dataclass
class RunningStore:
    """A store served by a thread of this process (`predictorapi serve`, tests)."""

    store: ModelStore
    url: str
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
        self.store.stop()


def start_store_thread(store: ModelStore, host: str = "127.0.0.1", port: int = 0,
                       registry: CollectorRegistry | None = None, timeout: float = 60.0) -> RunningStore:
    """Serve `store` from a daemon thread on `host:port` (0: a free port), once it listens; starts its listing."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(build_app(store, registry), log_config=None, access_log=False,
                                           lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="model-store", daemon=True)
    store.start()
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    if not server.started:
        server.should_exit = True
        store.stop()
        with contextlib.suppress(OSError):
            sock.close()
        raise RuntimeError("the model store did not start")
    shown = f"[{host}]" if ":" in host else host
    return RunningStore(store, f"http://{shown}:{bound}", server, thread)


def serve_store(settings: StoreSettings) -> None:
    """Serve until SIGTERM/SIGINT (the `model-store` container's main process)."""
    store = build_store(settings)
    store.start()
    log.info("model store on %s:%d, disk tier %s (%d versions at most)", settings.host, settings.port, settings.dir,
             store.config.disk_cache_size)
    try:
        uvicorn.run(build_app(store, None), host=settings.host, port=settings.port, log_config=None,
                    access_log=False, lifespan="off")
    finally:
        store.stop()
