"""ASGI middleware: the request id and access log line, and the fast path to the predict routes."""

from __future__ import annotations

import random
import time
from collections.abc import Awaitable, Callable, Collection

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from predictorapi.runtime.logs import AccessLog, escape_field, request_id_var


def new_request_id() -> str:
    """32 random hex digits. Not from `os.urandom`: a system call releases the GIL, and on a busy event
    loop taking it back can wait a whole switch interval behind the predict threads (the id needs to be
    unique, not unguessable: a client may choose its own with `X-Request-ID`)."""
    return f"{random.getrandbits(128):032x}"


class RequestIdMiddleware:
    """Give every request an id (from `X-Request-ID` or new), echo it, and log one access line."""

    def __init__(self, app: ASGIApp, access_log: bool = True) -> None:
        self.app = app
        self.access_log = AccessLog() if access_log else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the request with its id set in `request_id_var` and on the response."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = next((v for k, v in scope["headers"] if k == b"x-request-id"), b"").decode("latin-1")
        request_id = given if 0 < len(given) <= 128 and given.isprintable() else new_request_id()
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [(k, v) for k, v in message.get("headers", ()) if k.lower() != b"x-request-id"]
                headers.append((b"x-request-id", request_id.encode("latin-1")))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            if self.access_log is not None and self.access_log.enabled():
                duration_ms = round((time.perf_counter() - started) * 1000, 2)
                self.access_log.write(escape_field(scope["method"]), escape_field(scope["path"]), status,
                                      duration_ms, request_id)
            request_id_var.reset(token)


class PredictFastPath:
    """Serve `POST` to the predict `paths` straight away, skipping routing and dependency resolution.

    The same routes stay registered on the FastAPI app, so `/docs` and `/openapi.json` describe them;
    this only takes the hot path out of the per-request framework work (see docs/benchmarks.md).
    """

    def __init__(self, app: ASGIApp, handler: Callable[[Request], Awaitable[Response]],
                 paths: Collection[str]) -> None:
        self.app = app
        self.handler = handler
        self.paths = paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Hand a predict request to `handler`; anything else to the app."""
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"] in self.paths:
            response = await self.handler(Request(scope, receive))
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


class RuntimeApp(FastAPI):
    """The runtime's FastAPI app, entered through :class:`RequestIdMiddleware` and :class:`PredictFastPath`
    *before* FastAPI's own per-request work (native telemetry checks, body-limit and error middleware,
    routing): a predict request never reaches them; everything else (probes, metrics, docs, 404s) goes
    through FastAPI as usual. Call :meth:`serve_predict` once the predict handler exists."""

    entry: ASGIApp | None = None

    def serve_predict(self, handler: Callable[[Request], Awaitable[Response]], paths: Collection[str],
                      access_log: bool) -> None:
        """Serve `POST` to `paths` with `handler`; give every HTTP request its id and access line."""
        self.entry = RequestIdMiddleware(PredictFastPath(super().__call__, handler, paths), access_log=access_log)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """HTTP through :attr:`entry`; lifespan (and anything else) to FastAPI."""
        if scope["type"] == "http" and self.entry is not None:
            await self.entry(scope, receive, send)
            return
        await super().__call__(scope, receive, send)
