"""The FastAPI app for what is off the hot path: `/docs`, `/openapi.json`, and the runtime's error shape for
404s, 405s and the like. Built on first use (importing FastAPI and pydantic takes longer than the rest of
a cold start); the routes it documents are answered before a request reaches it, and answered the same here."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from starlette.exceptions import HTTPException
from starlette.responses import Response

from predictorapi.runtime.errors import error_response
from predictorapi.runtime.openapi import metrics_route_docs, predict_route_docs
from predictorapi.runtime.probes import Probes
from predictorapi.runtime.state import RuntimeState

log = logging.getLogger("predictorapi.runtime")


def framework_app(state: RuntimeState, probes: Probes) -> FastAPI:
    """The FastAPI app of the runtime serving `state`'s predictor; its probe routes answer with `probes`."""
    settings = state.settings
    app = FastAPI(title=f"predictorapi: {settings.api_name}")
    _add_error_handlers(app)

    async def predict_route(request: Request) -> Response:
        """Documents the route; RuntimeApp answers `POST` to these paths (with `predict`) before routing."""
        raise AssertionError(f"POST {request.url.path} reached the framework; RuntimeApp answers it first")

    for path in settings.predict_paths:
        app.add_api_route(path, predict_route, methods=["POST"], name=f"predict{path.replace('/', '_')}",
                          **predict_route_docs())

    async def healthz() -> Response:
        return probes.healthz()

    async def readyz() -> Response:
        return probes.readyz()

    async def metrics_route() -> Response:
        return probes.metrics()

    app.add_api_route("/healthz", healthz, methods=["GET"], summary="Liveness")
    app.add_api_route("/readyz", readyz, methods=["GET"], summary="Readiness")
    app.add_api_route("/metrics", metrics_route, methods=["GET"], response_class=Response, **metrics_route_docs())
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
