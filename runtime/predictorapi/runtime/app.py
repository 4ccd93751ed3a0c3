"""The application factory: the runtime's state, its routes, middleware and error handlers."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse, Response

from predictorapi.runtime.errors import error_response
from predictorapi.runtime.limits import ConcurrencyLimiter
from predictorapi.runtime.metrics import RuntimeMetrics
from predictorapi.runtime.middleware import RuntimeApp
from predictorapi.runtime.openapi import metrics_route_docs, predict_route_docs
from predictorapi.runtime.predict import predict_endpoint
from predictorapi.runtime.replica import ReplicaBoard
from predictorapi.runtime.settings import RuntimeSettings
from predictorapi.runtime.state import RuntimeState, model_cache, serving

log = logging.getLogger("predictorapi.runtime")


def create_app(
    predictor: object | type | None = None,
    settings: RuntimeSettings | None = None,
    registry: CollectorRegistry | None = None,
    replica: ReplicaBoard | None = None,
    scraped: CollectorRegistry | None = None,
) -> FastAPI:
    """Build the runtime app for `predictor`: an instance (served at once), a class (constructed with
    `settings.predictor_config` after start-up, like a file) or None (loaded from
    `settings.predictor_path`). Metrics go to `registry` (a new one when None); `/metrics` serves `scraped`
    (default: `registry`). A worker of several (`processes > 1`) passes its `replica` board, and as `scraped`
    a registry that reads every worker's metrics files."""
    settings = settings if settings is not None else RuntimeSettings()
    registry = registry if registry is not None else CollectorRegistry()
    metrics = RuntimeMetrics.register(registry, settings.api_name, settings.max_concurrency)
    api = settings.api_name
    limiter = ConcurrencyLimiter(settings.max_concurrency, settings.max_queue_length,
                                 metrics.in_flight.labels(api), metrics.queue_length.labels(api),
                                 metrics.busy_slots.labels(api), metrics.abandoned_calls.labels(api))
    state = RuntimeState(settings=settings, metrics=metrics, limiter=limiter, replica=replica)
    if (models := model_cache(settings, registry)) is not None:  # before the predictor: it gets its client
        state.models, state.model_loader = models

    app = RuntimeApp(title=f"predictorapi: {api}", lifespan=lambda _: serving(state, predictor))
    app.state.runtime = state
    _add_error_handlers(app)
    predict_route = predict_endpoint(state)
    for path in settings.predict_paths:
        app.add_api_route(path, predict_route, methods=["POST"], name=f"predict{path.replace('/', '_')}",
                          **predict_route_docs())
    app.serve_predict(predict_route, settings.predict_paths, settings.access_log)
    _add_probes(app, state, scraped if scraped is not None else registry)
    return app


def _add_error_handlers(app: FastAPI) -> None:
    """Answer HTTP errors and unexpected exceptions in the runtime's error shape."""

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> Response:
        return error_response(exc.status_code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def unexpected_error(_: Request, exc: Exception) -> Response:
        log.error("unhandled error: %s", exc, exc_info=exc)
        return error_response(500, "internal server error")


def _add_probes(app: FastAPI, state: RuntimeState, registry: CollectorRegistry) -> None:
    """`/healthz` (liveness), `/readyz` (readiness) and `/metrics` (Prometheus)."""

    @app.get("/healthz", summary="Liveness")
    async def healthz() -> Response:
        status = state.liveness()  # not alive: hung calls hold every slot, or crash-looping: restart me
        return JSONResponse({"status": status}, 200 if status == "alive" else 503)

    @app.get("/readyz", summary="Readiness")
    async def readyz() -> Response:
        status, workers = state.readiness()
        body = {"status": status} if workers is None else {"status": status, "workers": workers}
        return JSONResponse(body, 200 if status == "ready" else 503)

    @app.get("/metrics", response_class=Response, **metrics_route_docs())
    async def metrics_route() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
