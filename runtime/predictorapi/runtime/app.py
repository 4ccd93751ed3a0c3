"""The FastAPI application: transport (routes) → dispatch (decode/encode) → the user's predictor."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import hmac
import logging
import os
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from predictorapi.runtime.batching import Batcher, BatchFailed
from predictorapi.runtime.dispatch import BadPayload, UnserialisableResult, decode_payload, encode_result
from predictorapi.runtime.limits import ConcurrencyLimiter, Overloaded
from predictorapi.runtime.loader import PredictorInterface, construct, inspect_predictor, load_class
from predictorapi.runtime.logs import request_id_var
from predictorapi.runtime.metrics import RuntimeMetrics
from predictorapi.runtime.settings import RuntimeSettings

log = logging.getLogger("predictorapi.runtime")
access_log = logging.getLogger("predictorapi.access")

PREDICT_PATHS = ("/", "/predict")
Invoke = Callable[[dict[str, Any]], Awaitable[Any]]


class BodyTooLarge(Exception):
    """The request body is over `max_body_bytes` (answered 413)."""


class PredictorExited(Exception):
    """`predict` raised SystemExit/KeyboardInterrupt (e.g. called `sys.exit`): answered 500, server stays up."""


@dataclass
class RuntimeState:
    """Everything the routes and the server share about one running predictor."""

    settings: RuntimeSettings
    metrics: RuntimeMetrics
    limiter: ConcurrencyLimiter
    predictor: object | None = None
    interface: PredictorInterface | None = None
    invoke: Invoke | None = None
    draining: bool = False
    load_error: str | None = None
    executor: ThreadPoolExecutor | None = field(default=None, repr=False)
    batcher: Batcher | None = None

    @property
    def ready(self) -> bool:
        """Loaded and not draining: what `/readyz` reports."""
        return self.invoke is not None and not self.draining


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """The runtime's one error shape: `{"error": ..., "request_id": ...}`."""
    return JSONResponse({"error": message, "request_id": request_id_var.get()}, status, headers=headers)


def load_predictor(settings: RuntimeSettings) -> object:
    """Import and construct the predictor the settings name."""
    cls = load_class(settings.predictor_path, settings.predictor_class, settings.python_path)
    inspect_predictor(cls)
    return construct(cls, settings.predictor_config)


def _make_invoke(state: RuntimeState, predictor: object) -> Invoke:
    """The call into `predict`: awaited when async, in the thread pool otherwise."""
    interface = inspect_predictor(type(predictor))
    state.interface = interface
    predict = predictor.predict  # type: ignore[attr-defined]
    if interface.is_async:
        async def invoke_async(kwargs: dict[str, Any]) -> Any:
            try:
                return await predict(**kwargs)
            except (SystemExit, KeyboardInterrupt) as exc:  # user code must not stop the server
                raise PredictorExited(f"predict raised {type(exc).__name__}({exc})") from exc

        return invoke_async

    def call_predict(**kwargs: Any) -> Any:
        try:
            return predict(**kwargs)
        except (SystemExit, KeyboardInterrupt) as exc:  # would escape the event loop and skip our 500
            raise PredictorExited(f"predict raised {type(exc).__name__}({exc})") from exc

    async def invoke(kwargs: dict[str, Any]) -> Any:
        context = contextvars.copy_context()
        call = functools.partial(context.run, call_predict, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(state.executor, call)

    return invoke


def _make_batcher(state: RuntimeState, invoke: Invoke) -> Batcher | None:
    """A batcher when `batch_max_size > 1` and predict takes something to batch; else None."""
    settings, api = state.settings, state.settings.api_name
    if settings.batch_max_size <= 1:
        return None
    if state.interface is not None and not state.interface.wants:
        log.warning("batching is off: predict takes none of payload, query_params, headers")
        return None
    return Batcher(invoke, max_size=settings.batch_max_size, timeout_s=settings.batch_timeout_ms / 1000,
                   limiter=state.limiter, batch_size=state.metrics.batch_size.labels(api),
                   batch_wait=state.metrics.batch_wait.labels(api))


def _install(state: RuntimeState, predictor: object) -> None:
    invoke = _make_invoke(state, predictor)
    state.batcher = _make_batcher(state, invoke)
    state.predictor = predictor
    state.invoke = invoke


def _load_in_background(state: RuntimeState, loop: asyncio.AbstractEventLoop, cls: type | None = None) -> None:
    started = time.perf_counter()
    try:
        if cls is None:
            predictor = load_predictor(state.settings)
        else:
            inspect_predictor(cls)
            predictor = construct(cls, state.settings.predictor_config)
    except BaseException as exc:  # any failure, even SystemExit from user code, must stop the server
        log.exception("predictor failed to load: %s", exc)
        state.load_error = f"{type(exc).__name__}: {exc}"
        return
    state.metrics.load_seconds.labels(state.settings.api_name).set(time.perf_counter() - started)
    loop.call_soon_threadsafe(_install, state, predictor)
    log.info("predictor %s loaded in %.2fs", state.settings.predictor_class, time.perf_counter() - started)


class RequestIdMiddleware:
    """Give every request an id (from `X-Request-ID` or new), echo it, and log one access line."""

    def __init__(self, app: ASGIApp, access_log: bool = True) -> None:
        self.app = app
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = next((v for k, v in scope["headers"] if k == b"x-request-id"), b"").decode("latin-1")
        request_id = given if 0 < len(given) <= 128 and given.isprintable() else os.urandom(16).hex()
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)["X-Request-ID"] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            if self.access_log and access_log.isEnabledFor(logging.INFO):
                duration_ms = round((time.perf_counter() - started) * 1000, 2)
                access_log.info("%s %s %s %.2fms", scope["method"], scope["path"], status, duration_ms,
                                extra={"method": scope["method"], "path": scope["path"], "status": status,
                                       "duration_ms": duration_ms})
            request_id_var.reset(token)


class PredictFastPath:
    """Serve `POST /` and `POST /predict` straight away, skipping routing and dependency resolution.

    The same routes stay registered on the FastAPI app, so `/docs` and `/openapi.json` describe them;
    this only takes the hot path out of the per-request framework work (see docs/benchmarks.md).
    """

    def __init__(self, app: ASGIApp, handler: Callable[[Request], Awaitable[Response]]) -> None:
        self.app = app
        self.handler = handler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"] in PREDICT_PATHS:
            response = await self.handler(Request(scope, receive))
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _authorized(request: Request, key: str) -> bool:
    auth = request.headers.get("authorization", "")
    given = auth[7:] if auth[:7].lower() == "bearer " else request.headers.get("x-api-key", "")
    return hmac.compare_digest(given.encode(), key.encode())


async def _read_body(request: Request, limit: int) -> bytes:
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


async def _predict(state: RuntimeState, request: Request) -> Response:
    settings, metrics, api = state.settings, state.metrics, state.settings.api_name
    if state.invoke is None:
        reason = "predictor failed to load" if state.load_error else "predictor is still loading"
        return error_response(503, reason, {"Retry-After": str(settings.retry_after_seconds)})
    if settings.api_key and not _authorized(request, settings.api_key):
        return error_response(401, "missing or invalid API key", {"WWW-Authenticate": "Bearer"})
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > settings.max_body_bytes:
        metrics.rejected.labels(api, "too_large").inc()
        return error_response(413, f"request body is over {settings.max_body_bytes} bytes")
    wants = state.interface.wants if state.interface else frozenset()
    try:
        async with state.limiter.admit():
            deadline = asyncio.timeout(settings.request_timeout_seconds)
            try:
                async with deadline:
                    kwargs: dict[str, Any] = {}
                    if "payload" in wants:
                        body = await _read_body(request, settings.max_body_bytes)
                        kwargs["payload"] = await decode_payload(request, body)
                    if "query_params" in wants:
                        kwargs["query_params"] = dict(request.query_params)
                    if "headers" in wants:
                        kwargs["headers"] = dict(request.headers)
                    if state.batcher is not None:  # the batch takes one concurrency slot
                        result = await state.batcher.submit(kwargs)
                    else:
                        async with state.limiter.slot():
                            result = await state.invoke(kwargs)
            except TimeoutError:
                if not deadline.expired():
                    raise
                metrics.rejected.labels(api, "timeout").inc()
                return error_response(504, f"prediction took longer than {settings.request_timeout_seconds}s")
        return encode_result(result)
    except Overloaded:
        metrics.rejected.labels(api, "overloaded").inc()
        return error_response(503, "server is at capacity, retry later",
                              {"Retry-After": str(settings.retry_after_seconds)})
    except BodyTooLarge:
        metrics.rejected.labels(api, "too_large").inc()
        return error_response(413, f"request body is over {settings.max_body_bytes} bytes")
    except BadPayload as exc:
        return error_response(400, str(exc))
    except ClientDisconnect:  # the body was cut short: a client error, not a predictor failure
        log.info("client disconnected before sending the whole request body")
        return error_response(400, "client disconnected before sending the whole request body")
    except BatchFailed as exc:  # already logged once for the whole batch
        return error_response(500, str(exc))
    except UnserialisableResult as exc:
        log.error("%s", exc)
        return error_response(500, str(exc))
    except Exception:
        log.exception("predict raised an exception")
        return error_response(500, "the predictor raised an exception; see the server log")


def create_app(
    predictor: object | type | None = None,
    settings: RuntimeSettings | None = None,
    registry: CollectorRegistry | None = None,
) -> FastAPI:
    """Build the runtime app for `predictor`: an instance (served at once), a class (constructed with
    `settings.predictor_config` after start-up, like a file) or None (loaded from
    `settings.predictor_path`). Metrics go to `registry` (a new one when None)."""
    settings = settings if settings is not None else RuntimeSettings()
    registry = registry if registry is not None else CollectorRegistry()
    metrics = RuntimeMetrics.register(registry, settings.api_name, settings.max_concurrency)
    api = settings.api_name
    limiter = ConcurrencyLimiter(settings.max_concurrency, settings.max_queue_length,
                                 metrics.in_flight.labels(api), metrics.queue_length.labels(api))
    state = RuntimeState(settings=settings, metrics=metrics, limiter=limiter)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        state.executor = ThreadPoolExecutor(settings.thread_pool_size, thread_name_prefix="predict")
        if predictor is not None and not isinstance(predictor, type):
            _install(state, predictor)
        else:
            loop = asyncio.get_running_loop()
            threading.Thread(target=_load_in_background, args=(state, loop, predictor), name="load-predictor",
                             daemon=True).start()
        try:
            yield
        finally:
            state.executor.shutdown(wait=False, cancel_futures=True)

    app = FastAPI(title=f"predictorapi: {api}", lifespan=lifespan)
    app.state.runtime = state

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> Response:
        return error_response(exc.status_code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def unexpected_error(_: Request, exc: Exception) -> Response:
        log.error("unhandled error: %s", exc, exc_info=exc)
        return error_response(500, "internal server error")

    error_doc = {"content": {"application/json": {"schema": {
        "type": "object", "properties": {"error": {"type": "string"}, "request_id": {"type": "string"}}}}}}
    body_doc = {"requestBody": {"description": "Any body; decoded by its Content-Type.", "required": False,
                                "content": {"*/*": {"schema": {}}}}}
    predict_responses: dict[int | str, dict[str, Any]] = {
        200: {"description": "The predictor's result: JSON, text or bytes, by its type."},
        **{code: {"description": text, **error_doc} for code, text in (
            (400, "Malformed body"), (401, "Missing or invalid API key"), (413, "Body too large"),
            (500, "The predictor failed"), (503, "At capacity or not ready; see Retry-After"),
            (504, "The prediction timed out"))},
    }

    # Labelled children looked up once, not per request (labels() takes a lock and builds a key).
    latency = metrics.latency.labels(api)
    requests_by_code: dict[int, Any] = {}

    async def predict_route(request: Request) -> Response:
        started = time.perf_counter()
        response = await _predict(state, request)
        counter = requests_by_code.get(response.status_code)
        if counter is None:
            counter = requests_by_code[response.status_code] = metrics.requests.labels(api, str(response.status_code))
        counter.inc()
        latency.observe(time.perf_counter() - started)
        return response

    for path in PREDICT_PATHS:
        app.add_api_route(path, predict_route, methods=["POST"], summary="Call the predictor",
                          openapi_extra=body_doc, responses=predict_responses,
                          name=f"predict{path.replace('/', '_')}")
    app.add_middleware(PredictFastPath, handler=predict_route)  # inner: runs after the request id is set
    app.add_middleware(RequestIdMiddleware, access_log=settings.access_log)

    @app.get("/healthz", summary="Liveness")
    async def healthz() -> dict[str, str]:
        return {"status": "alive"}

    @app.get("/readyz", summary="Readiness")
    async def readyz() -> Response:
        if state.ready:
            return JSONResponse({"status": "ready"})
        status = "draining" if state.draining else "failed" if state.load_error else "loading"
        return JSONResponse({"status": status}, 503)

    @app.get("/metrics", summary="Prometheus metrics", response_class=Response,
             responses={200: {"content": {CONTENT_TYPE_LATEST.split(";")[0]: {}}}})
    async def metrics_route() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return app
