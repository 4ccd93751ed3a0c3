"""The activator served for real on loopback (proxy + KEDA external scaler) in a background thread's loop,
runtimes and concurrent clients for the activator tests."""

from __future__ import annotations

import asyncio
import textwrap
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import grpc
import httpx
import uvicorn
from prometheus_client import CollectorRegistry
from support import waiting
from support.processes import free_port
from support.runtimes import BLOCKING_PREDICTOR, ECHO_PREDICTOR
from support.soak import Runtime

from predictorapi.activator import externalscaler_pb2_grpc as pb_grpc
from predictorapi.activator.core import Activator
from predictorapi.activator.proxy import ActivatorApp
from predictorapi.activator.server import serve_activator

HANG_GUARD = 180.0
"""Longest any wait in these tests may take before it fails (a hang guard, not a timing assertion)."""


def wait_for(condition: Callable[[], bool], what: str, timeout: float = HANG_GUARD, interval: float = 0.02) -> None:
    """Poll `condition` until true; fail naming `what` after `timeout` seconds (a hang guard)."""
    waiting.wait_for(condition, what, timeout, interval)


class ActivatorThread:
    """An `Activator` with its proxy on `url` and its external scaler on `scaler_address`."""

    def __init__(self, activator_factory: Callable[[], Activator]) -> None:
        self.port = free_port()
        self.scaler_port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.scaler_address = f"127.0.0.1:{self.scaler_port}"
        self._factory = activator_factory
        self.activator: Activator | None = None
        self.server: uvicorn.Server | None = None
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.error: BaseException | None = None

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)

        async def main() -> None:
            self.activator = self._factory()  # created in the loop: its events belong to it
            self.server = uvicorn.Server(uvicorn.Config(ActivatorApp(self.activator), host="127.0.0.1",
                                                        port=self.port, log_config=None, access_log=False,
                                                        lifespan="on"))
            await serve_activator(self.activator, "127.0.0.1", self.port, self.scaler_port, server=self.server)

        try:
            self.loop.run_until_complete(main())
        except BaseException as exc:  # reported by the fixture
            self.error = exc

    def __enter__(self) -> ActivatorThread:
        self.thread.start()
        wait_for(lambda: (self.server is not None and self.server.started) or not self.thread.is_alive(),
                 "the activator to listen", timeout=60)
        assert self.thread.is_alive(), f"activator did not start: {self.error!r}"
        return self

    def __exit__(self, *exc) -> None:
        if self.server is not None:
            self.server.should_exit = True
        self.thread.join(timeout=60)

    def call(self, fn: Callable[[], object]) -> object:
        """Run `fn` in the activator's loop (reads a consistent state) and return its result."""
        async def run() -> object:
            return fn()
        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(timeout=30)

    @property
    def held(self) -> int:
        return self.call(lambda: self.activator.held)

    @property
    def in_flight(self) -> int:
        return self.call(lambda: self.activator.in_flight)

    @property
    def ready(self) -> int:
        return self.call(lambda: self.activator.ready_count)

    def set_backends(self, urls: list[str]) -> None:
        self.call(lambda: self.activator.set_backends(urls))

    @contextmanager
    def scaler(self) -> Iterator[pb_grpc.ExternalScalerStub]:
        """A real gRPC client of KEDA's externalscaler.proto, as KEDA's operator holds one."""
        with grpc.insecure_channel(self.scaler_address) as channel:
            grpc.channel_ready_future(channel).result(timeout=60)
            yield pb_grpc.ExternalScalerStub(channel)


@contextmanager
def activator_on(backends: list[str], api: str = "sentiment", registry: CollectorRegistry | None = None,
                 **kwargs) -> Iterator[ActivatorThread]:
    with ActivatorThread(lambda: Activator.for_urls(api, backends, registry=registry, **kwargs)) as served:
        yield served


# __init__ never returns: the runtime listens but /readyz never turns 200.
NEVER_READY_PREDICTOR = """
    import time


    class PythonPredictor:
        def __init__(self, config):
            while True:
                time.sleep(1)

        def predict(self, payload):
            return "unreachable"
"""


def start_runtime(directory: Path, port: int, source: str = ECHO_PREDICTOR, name: str = "runtime",
                  **settings) -> Runtime:
    """A runtime process for `source` on `port` (not waited for: the activator does the waiting)."""
    directory.mkdir(parents=True, exist_ok=True)
    predictor = directory / f"{name}.py"
    predictor.write_text(textwrap.dedent(source))
    settings.setdefault("api_name", "sentiment")
    return Runtime(predictor, directory / f"{name}.log", port=port, **settings)


def blocking_runtime(directory: Path, port: int, release: Path, name: str) -> Runtime:
    return start_runtime(directory, port, BLOCKING_PREDICTOR, name=name,
                         predictor_config={"release": str(release)})


class Clients:
    """Requests sent from a thread pool, each with the hang guard as its timeout."""

    def __init__(self, workers: int = 128) -> None:
        self.pool = ThreadPoolExecutor(max_workers=workers)

    def post(self, url: str, payload: object = None) -> Future[httpx.Response]:
        return self.pool.submit(httpx.post, url, json=payload if payload is not None else {"text": "hi"},
                                timeout=HANG_GUARD)

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=False)
