"""`predictorapi serve` with `autoscaling.minReplicas: 0`: scale to zero on one machine.

The activator listens on the serve port at once (its `/readyz` is 200: it takes requests) without loading
the predictor. The first request starts the runtime (`python -m predictorapi`, configured by the same
`PREDICTORAPI_*` variables the operator sets) on a private loopback port and is held until that runtime's
`/readyz` is 200; `idle_seconds` without a request (none held, none in flight) stop it again with SIGTERM (it
drains as in a pod). A request that arrives while it stops is held and starts the next one once the old
process has exited. `/metrics` is the activator's (a scrape must not wake the predictor).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Mapping

import uvicorn
from prometheus_client import CollectorRegistry

from predictorapi.activator.core import Activator
from predictorapi.activator.proxy import ActivatorApp
from predictorapi.contracts.env import settings_env

log = logging.getLogger("predictorapi.serve")

STOP_GRACE_SECONDS = 30.0
"""How long a stopping runtime may drain before it is killed."""


def _free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class LocalRuntime:
    """The runtime process behind a local activator: started on demand, stopped when idle."""

    def __init__(self, activator: Activator, settings: Mapping[str, object], idle_seconds: float,
                 host: str = "127.0.0.1") -> None:
        self.activator = activator
        self.host = host
        self.port = _free_port(host)
        self.url = f"http://{host}:{self.port}"
        self.idle_seconds = idle_seconds
        values = {**settings, "host": host, "port": self.port}
        self.env = {**{k: v for k, v in os.environ.items() if not k.startswith("PREDICTORAPI_")},
                    **settings_env(values)}
        self.process: asyncio.subprocess.Process | None = None
        self.starts = 0
        self._closed = False
        self._stopping = False
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task] = set()
        activator.set_backends([self.url])
        activator.on_demand = self.demand

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    def demand(self) -> None:
        """A request is held with no ready runtime: start one (unless one is starting)."""
        task = asyncio.create_task(self.ensure_started())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def ensure_started(self) -> None:
        async with self._lock:  # a stop in progress finishes (the port is free again) before a start
            if self.running or self._closed:
                return
            self.starts += 1
            log.info("scaled to zero: starting the runtime on %s (start %d)", self.url, self.starts)
            self.process = await asyncio.create_subprocess_exec(sys.executable, "-m", "predictorapi", env=self.env)
            task = asyncio.create_task(self._watch_exit(self.process))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _watch_exit(self, process: asyncio.subprocess.Process) -> None:
        """A runtime that exits on its own (its predictor failed to load, it crashed): held requests get a 503
        now rather than at the cold-start bound; the next request starts it again."""
        code = await process.wait()
        if process is self.process and not self._stopping:
            for backend in self.activator.backends:
                self.activator.mark_down(backend)
            log.warning("the runtime exited with code %s", code)
            self.activator.fail_held("runtime_exited", f"the runtime of {self.activator.api} exited with code "
                                     f"{code} (see its log above)")

    async def stop(self) -> None:
        async with self._lock:
            process = self.process
            if process is None or process.returncode is not None:
                self.process = None
                return
            for backend in self.activator.backends:
                self.activator.mark_down(backend)
            self._stopping = True
            try:
                process.send_signal(signal.SIGTERM)
                try:
                    await asyncio.wait_for(process.wait(), STOP_GRACE_SECONDS)
                except TimeoutError:
                    process.kill()
                    await process.wait()
            finally:
                self._stopping = False
            self.process = None
            log.info("scaled to zero: runtime stopped")

    async def close(self) -> None:
        """Stop the runtime for good: the server is shutting down, and a request arriving meanwhile must not start
        another (it would outlive this process)."""
        self._closed = True
        await self.stop()

    def idle(self) -> bool:
        activator = self.activator
        return (activator.held == 0 and activator.in_flight == 0
                and time.monotonic() - activator.last_request >= self.idle_seconds)

    async def watch_idle(self) -> None:
        """Stop the runtime after `idle_seconds` without a request."""
        interval = max(0.05, min(1.0, self.idle_seconds / 4))
        while True:
            await asyncio.sleep(interval)
            if self.running and self.idle():
                log.info("no request for %gs: scaling to zero", self.idle_seconds)
                await self.stop()


LOCAL_DRAIN = {"drain_min_seconds": 0, "drain_quiet_seconds": 0}
"""The local runtime is stopped only when idle and after the activator stopped routing to it: no drain wait."""


def local_scale_to_zero(settings: Mapping[str, object], api: str, idle_seconds: float, cold_start_timeout: float,
                        max_held: int = 1000, registry: CollectorRegistry | None = None) -> LocalRuntime:
    """The activator and its on-demand runtime (call in the loop that will serve them)."""
    activator = Activator(api, [], max_held=max_held, cold_start_timeout=cold_start_timeout, registry=registry)
    return LocalRuntime(activator, {**settings, **LOCAL_DRAIN}, idle_seconds)


async def serve_local(local: LocalRuntime, server: uvicorn.Server) -> None:
    """Serve `local` with `server` (a uvicorn server of `ActivatorApp(local.activator)`) until it exits; the
    runtime, if running, is stopped at the end."""
    watcher = asyncio.create_task(local.watch_idle())
    try:
        await server.serve()
    finally:
        watcher.cancel()
        await local.close()


def run_local(settings: Mapping[str, object], api: str, host: str, port: int, idle_seconds: float,
              cold_start_timeout: float) -> int:
    """`predictorapi serve` at zero: serve until SIGINT/SIGTERM."""

    async def main() -> None:
        local = local_scale_to_zero(settings, api, idle_seconds, cold_start_timeout)
        # The runtime stops at lifespan shutdown: after `serve()` returns, uvicorn raises the SIGTERM/SIGINT it caught
        # again, which ends this process before a `finally` could stop its child.
        app = ActivatorApp(local.activator, on_shutdown=local.close)
        server = uvicorn.Server(uvicorn.Config(app, host=host, port=port,
                                               log_config=None, access_log=False, lifespan="on"))
        log.info("%s scaled to zero: listening on http://%s:%d; the predictor starts on the first request and "
                 "stops after %gs without one", api, host, port, idle_seconds)
        await serve_local(local, server)

    asyncio.run(main())
    return 0
