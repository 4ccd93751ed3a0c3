"""ASGI middleware: the request id and access log line, and the fast path to the predict routes."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Awaitable, Callable, Collection

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from predictorapi.runtime.logs import escape_field, request_id_var

access_log = logging.getLogger("predictorapi.access")



class RequestIdMiddleware:
    """Give every request an id (from `X-Request-ID` or new), echo it, and log one access line."""

    def __init__(self, app: ASGIApp, access_log: bool = True) -> None:
        self.app = app
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the request with its id set in `request_id_var` and on the response."""
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
                method, path = escape_field(scope["method"]), escape_field(scope["path"])
                access_log.info("%s %s %s %.2fms", method, path, status, duration_ms,
                                extra={"method": method, "path": path, "status": status,
                                       "duration_ms": duration_ms})
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
