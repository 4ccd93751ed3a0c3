"""Every HTTP request's id and access line, and sending a response with its id.

The predict route (:class:`predictorapi.runtime.predict.PredictRoute`) does this itself, with the helpers below;
every other request gets it from :class:`RequestIdMiddleware`.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from predictorapi.runtime.codec import JSONBody
from predictorapi.runtime.logs import AccessLog, request_id_var

REQUEST_ID_HEADER = b"x-request-id"


def new_request_id() -> str:
    """32 random hex digits. Not from `os.urandom`: a system call releases the GIL, and on a busy event
    loop taking it back can wait a whole switch interval behind the predict threads (the id needs to be
    unique, not unguessable: a client may choose its own with `X-Request-ID`)."""
    return random.randbytes(16).hex()


def request_id_of(scope: Scope) -> str:
    """The request's id: its `X-Request-ID` when that is 1-128 printable characters, else a new one."""
    return request_id_from(next((value for name, value in scope["headers"] if name == REQUEST_ID_HEADER), None))


def request_id_from(given: bytes | None) -> str:
    """The request's id from its `X-Request-ID` header (`given`), or a new one when that is missing or not 1-128
    printable characters."""
    if given is None:
        return new_request_id()
    text = given.decode("latin-1")
    return text if 0 < len(text) <= 128 and text.isprintable() else new_request_id()


def with_request_id(headers: list[tuple[bytes, bytes]], request_id: str) -> list[tuple[bytes, bytes]]:
    """`headers` with `X-Request-ID: request_id` in place of any the response set."""
    kept = [(k, v) for k, v in headers if k.lower() != REQUEST_ID_HEADER]
    kept.append((REQUEST_ID_HEADER, request_id.encode("latin-1")))
    return kept


def id_sending(send: Send, request_id: str, extra: Sequence[tuple[bytes, bytes]] = ()) -> Send:
    """`send`, putting the request's id (and the `extra` headers) on the response's headers."""

    async def send_with_id(message: Message) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = with_request_id(message.get("headers", ()), request_id)
            message["headers"].extend(extra)
        await send(message)

    return send_with_id


async def send_response(response: Response, scope: Scope, receive: Receive, send: Send, request_id: str,
                        extra: Sequence[tuple[bytes, bytes]] = ()) -> None:
    """Send `response` with the request's id and the `extra` headers (a traced request's `traceresponse`): a plain
    `Response` (JSON, text, bytes, an error) straight as its two messages and background task, as
    `Response.__call__` would; any other kind (a stream) through its own call."""
    if type(response) is JSONBody:  # the runtime's own: no request id yet
        headers = response.raw_headers
        headers.append((REQUEST_ID_HEADER, request_id.encode("latin-1")))
    elif type(response).__call__ is not Response.__call__:
        await response(scope, receive, id_sending(send, request_id, extra))
        return
    else:
        headers = with_request_id(response.raw_headers, request_id)
    if extra:
        headers.extend(extra)
    await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": response.body})
    if response.background is not None:
        await response.background()


def access_line(access_log: AccessLog, scope: Scope, status: int, started: float, request_id: str,
                trace: tuple[str, str] | None = None) -> None:
    """Log the request's access line (its method, path, status and duration since `started`, and a traced
    request's trace and span ids), if enabled."""
    access_log.write(scope["method"], scope["path"], status, time.perf_counter() - started, request_id, trace)


class RequestIdMiddleware:
    """Give every request an id (from `X-Request-ID` or new), echo it, and log one access line."""

    def __init__(self, app: ASGIApp, access_log: AccessLog | None) -> None:
        self.app = app
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the request with its id set in `request_id_var` and on the response."""
        request_id = request_id_of(scope)
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = with_request_id(message.get("headers", ()), request_id)
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            if self.access_log is not None:
                access_line(self.access_log, scope, status, started, request_id)
            request_id_var.reset(token)
