"""The application factory: the runtime's state and its ASGI app.

The app answers the hot paths itself, with no web framework in the way and none imported at start-up (a
cold start from zero pays for every import): `POST` to the predict paths (:class:`PredictRoute`), the probes
and `/metrics` (:mod:`predictorapi.runtime.probes`), and the lifespan. Everything else (`/docs`,
`/openapi.json`, 404s, 405s) goes to a FastAPI app built on first use (:mod:`predictorapi.runtime.framework`).
"""

from __future__ import annotations

import asyncio
import traceback
from collections.abc import Awaitable, Callable
from types import SimpleNamespace
from typing import Any

from prometheus_client import CollectorRegistry
from starlette.types import ASGIApp, Receive, Scope, Send

from predictorapi.runtime.limits import ConcurrencyLimiter
from predictorapi.runtime.logs import AccessLog
from predictorapi.runtime.metrics import RequestTally, RuntimeMetrics
from predictorapi.runtime.middleware import RequestIdMiddleware
from predictorapi.runtime.predict import PredictRoute
from predictorapi.runtime.probes import Probes
from predictorapi.runtime.replica import ReplicaBoard
from predictorapi.runtime.settings import RuntimeSettings
from predictorapi.runtime.state import RuntimeState, model_cache, serving
from predictorapi.tracing.setup import runtime_tracing


def create_app(
    predictor: object | type | None = None,
    settings: RuntimeSettings | None = None,
    registry: CollectorRegistry | None = None,
    replica: ReplicaBoard | None = None,
    scraped: CollectorRegistry | None = None,
) -> RuntimeApp:
    """Build the runtime app for `predictor`: an instance (served at once), a class (constructed with
    `settings.predictor_config` after start-up, like a file) or None (loaded from
    `settings.predictor_path`). Metrics go to `registry` (a new one when None); `/metrics` serves `scraped`
    (default: `registry`). A worker of several (`processes > 1`) passes its `replica` board, and as `scraped`
    a registry that reads every worker's metrics files. Tracing is on when the `OTEL_*` environment says so
    (:func:`predictorapi.tracing.setup.runtime_tracing`)."""
    settings = settings if settings is not None else RuntimeSettings()
    registry = registry if registry is not None else CollectorRegistry()
    tally = RequestTally(settings.api_name, registry, until_scraped=replica is None)
    metrics = RuntimeMetrics.register(registry, settings.api_name, settings.max_concurrency)
    tally.bind(metrics.requests, metrics.latency)
    api = settings.api_name
    tracing = runtime_tracing(api)
    limiter = (ConcurrencyLimiter if tracing is None else tracing.limiter)(
        settings.max_concurrency, settings.max_queue_length, metrics.in_flight.labels(api),
        metrics.queue_length.labels(api), metrics.busy_slots.labels(api), metrics.abandoned_calls.labels(api))
    state = RuntimeState(settings=settings, metrics=metrics, limiter=limiter, tally=tally, replica=replica,
                         tracing=tracing)
    if (models := model_cache(settings, registry)) is not None:  # before the predictor: it gets its client
        state.models, state.model_loader = models
    return RuntimeApp(state, predictor, scraped if scraped is not None else registry)


class RuntimeApp:
    """The runtime's ASGI app (see the module's docstring); `state.runtime` is its :class:`RuntimeState`."""

    def __init__(self, state: RuntimeState, predictor: object | type | None, scraped: CollectorRegistry) -> None:
        settings = state.settings
        self.state = SimpleNamespace(runtime=state)
        self._predictor = predictor
        access_log = AccessLog() if settings.access_log else None
        self._predict_paths = frozenset(settings.predict_paths)
        self._predict = PredictRoute(state, access_log)
        self._probes = Probes(state, scraped)
        self._probe_app = RequestIdMiddleware(self._probes, access_log)
        self._framework = _Lazy(lambda: _framework(state, self._probes, access_log))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Predict, probes and lifespan here; anything else to the framework app."""
        kind = scope["type"]
        if kind == "http":
            method, path = scope["method"], scope["path"]
            if method == "POST" and path in self._predict_paths:
                await self._predict(scope, receive, send)
                return
            if method == "GET" and self._probes.serves(path):
                await self._probe_app(scope, receive, send)
                return
        elif kind == "lifespan":
            await self._lifespan(receive, send)
            return
        await (await self._framework.get())(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        """The ASGI lifespan protocol around :func:`serving` (as Starlette's router runs a lifespan)."""
        started = False
        await receive()  # lifespan.startup
        try:
            async with serving(self.state.runtime, self._predictor):
                await send({"type": "lifespan.startup.complete"})
                started = True
                await receive()  # lifespan.shutdown
        except BaseException:
            failed = "lifespan.shutdown.failed" if started else "lifespan.startup.failed"
            await send({"type": failed, "message": traceback.format_exc()})
            raise
        await send({"type": "lifespan.shutdown.complete"})


def _framework(state: RuntimeState, probes: Probes, access_log: AccessLog | None) -> ASGIApp:
    """The FastAPI app (documenting the routes answered here too), with every request's id and access line."""
    from predictorapi.runtime.framework import framework_app

    return RequestIdMiddleware(framework_app(state, probes), access_log)


class _Lazy:
    """An app built on first use, in a thread (importing a framework must not stop the event loop)."""

    def __init__(self, build: Callable[[], ASGIApp]) -> None:
        self._build = build
        self._app: ASGIApp | None = None
        self._building: Awaitable[Any] | None = None

    async def get(self) -> ASGIApp:
        """The app, built now unless it was."""
        if self._app is None:
            if self._building is None:
                self._building = asyncio.ensure_future(asyncio.to_thread(self._build))
            self._app = await asyncio.shield(self._building)
        return self._app
