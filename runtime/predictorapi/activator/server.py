"""Run the activator: the proxy (uvicorn) and the KEDA external scaler (grpc.aio) in one asyncio loop."""

from __future__ import annotations

import asyncio
import logging

import uvicorn
from prometheus_client import CollectorRegistry
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from predictorapi.activator.core import Activator
from predictorapi.activator.proxy import ActivatorApp
from predictorapi.activator.scaler import start_scaler
from predictorapi.contracts.env import ACTIVATOR_ENV_PREFIX
from predictorapi.contracts.keda import SCALER_PORT
from predictorapi.contracts.pod import HTTP_PORT

log = logging.getLogger("predictorapi.activator")


class ActivatorSettings(BaseSettings):
    """The activator's settings, from `PREDICTORAPI_ACTIVATOR_*` variables."""

    model_config = SettingsConfigDict(env_prefix=ACTIVATOR_ENV_PREFIX, extra="ignore")

    api_name: str = Field(..., description="The PredictorAPI this activator fronts (named in its errors).")
    backends: list[str] = Field(default_factory=list, description="Base URLs of the API's replicas (JSON list).")
    host: str = "0.0.0.0"
    port: int = HTTP_PORT
    scaler_port: int = Field(SCALER_PORT, description="Port of KEDA's external scaler gRPC service (0: none).")
    max_held: int = Field(1000, ge=1, description="Most requests held at once; beyond, a fast 503.")
    cold_start_timeout_seconds: float = Field(600.0, gt=0, description="Longest a request is held.")
    poll_interval_seconds: float = Field(0.05, gt=0)


def build(settings: ActivatorSettings, registry: CollectorRegistry | None = None) -> Activator:
    return Activator.for_urls(settings.api_name, settings.backends, max_held=settings.max_held,
                              cold_start_timeout=settings.cold_start_timeout_seconds,
                              poll_interval=settings.poll_interval_seconds, registry=registry)


async def serve_activator(activator: Activator, host: str, port: int, scaler_port: int | None,
                          server: uvicorn.Server | None = None) -> None:
    """Serve until the uvicorn server exits (SIGTERM, or `should_exit`); the scaler stops with it."""
    if server is None:
        server = uvicorn.Server(uvicorn.Config(ActivatorApp(activator), host=host, port=port, log_config=None,
                                               access_log=False, lifespan="on"))
    scaler = None
    if scaler_port is not None:
        scaler, bound = await start_scaler(activator, f"{host}:{scaler_port}")
        log.info("external scaler listening on %s:%d", host, bound)
    try:
        await server.serve()
    finally:
        if scaler is not None:
            await scaler.stop(grace=1)


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = ActivatorSettings()
    scaler_port = settings.scaler_port or None

    async def run() -> None:
        await serve_activator(build(settings), settings.host, settings.port, scaler_port)

    asyncio.run(run())
    return 0
