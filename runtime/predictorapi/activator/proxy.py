"""The activator's HTTP side: a plain ASGI app that forwards every request to a ready backend of one API,
holding it while there is none.

Paths answered by the activator itself (never forwarded, never counted as traffic): `/healthz`, `/readyz`
(200: the activator takes requests, also at zero) and `/metrics` (the activator's registry), so that probes
and scrapes neither wake nor keep awake a scaled-to-zero API.

Request bodies are read whole before a backend is chosen, so a request whose connection a stopping backend
refused is held again and resent (a refused connection carried no bytes of it).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable

import httpx
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from predictorapi.activator.core import Activator, Unavailable

log = logging.getLogger("predictorapi.activator")

LOCAL_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
                        "trailer", "trailers", "transfer-encoding", "upgrade", "host"})
RETRY_AFTER_REFUSED = 1
"""Seconds a client refused over the held bound is told to wait."""
RETRY_AFTER_TIMED_OUT = 5
"""Seconds a client whose cold start timed out is told to wait."""


class ActivatorApp:
    """ASGI app over one `Activator`; starts its readiness poller on lifespan startup, and stops it (then runs
    `on_shutdown`, if given) on lifespan shutdown."""

    def __init__(self, activator: Activator, on_shutdown: Callable[[], Awaitable[None]] | None = None) -> None:
        self.activator = activator
        self.on_shutdown = on_shutdown

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            if scope["path"] in LOCAL_PATHS:
                await self._local(scope, send)
            else:
                await self._forward(scope, receive, send)

    async def _lifespan(self, receive, send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await self.activator.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.activator.stop()
                if self.on_shutdown is not None:
                    await self.on_shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _local(self, scope, send) -> None:
        if scope["path"] == "/metrics":
            body = generate_latest(self.activator.metrics_registry)
            await _respond(send, 200, body, CONTENT_TYPE_LATEST.encode())
        else:
            body = json.dumps({"status": "ok", "api": self.activator.api,
                               "readyReplicas": self.activator.ready_count}).encode()
            await _respond(send, 200, body, b"application/json")

    async def _forward(self, scope, receive, send) -> None:
        activator = self.activator
        body = await _read_body(receive)
        deadline = time.monotonic() + activator.cold_start_timeout
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]
                   if k.decode("latin-1").lower() not in HOP_BY_HOP]
        target = scope.get("raw_path") or scope["path"].encode()
        path = target.decode("latin-1") + (("?" + scope["query_string"].decode("latin-1"))
                                           if scope.get("query_string") else "")
        watch: list[asyncio.Future] = []  # the client's disconnect, watched once the request is held
        try:
            while True:
                backend = await self._hold(deadline, receive, watch, send)
                if backend is None:
                    return
                if await self._send_to(backend, scope, path, headers, body, send):
                    return
        finally:
            for task in watch:
                task.cancel()

    async def _hold(self, deadline: float, receive, watch: list[asyncio.Future], send):
        """A backend for the request, or None once it was answered (503) or its client left while held."""
        activator = self.activator
        backend = activator.try_acquire()
        if backend is not None:  # the warm path: no task, no wait
            return backend
        if not watch:
            watch.append(asyncio.ensure_future(_disconnect(receive)))
        disconnected = watch[0]
        acquiring = asyncio.ensure_future(activator.acquire(deadline))
        await asyncio.wait({acquiring, disconnected}, return_when=asyncio.FIRST_COMPLETED)
        if not acquiring.done():
            acquiring.cancel()  # the client left while held: stop holding (and counting) it
            with contextlib.suppress(asyncio.CancelledError, Unavailable):
                await acquiring
            activator.metrics.outcomes.labels(activator.api, "abandoned").inc()
            return None
        try:
            return acquiring.result()
        except Unavailable as exc:
            await _unavailable(send, activator, exc)
            return None

    async def _send_to(self, backend, scope, path, headers, body, send) -> bool:
        """Forward to `backend`; False when its connection was refused (nothing sent: hold it again)."""
        activator = self.activator
        request = activator.client.build_request(scope["method"], backend.url + path, headers=headers, content=body)
        try:
            try:
                response = await activator.client.send(request, stream=True)
            except (httpx.ConnectError, httpx.ConnectTimeout):
                # Nothing was sent: the backend stopped (or is not there yet). Hold the request again.
                activator.mark_down(backend)
                return False
            except httpx.HTTPError as exc:
                activator.metrics.outcomes.labels(activator.api, "failed").inc()
                await _error(send, 502, activator.api, "backend_error", f"{type(exc).__name__}: {exc}")
                return True
            activator.metrics.outcomes.labels(activator.api, "forwarded").inc()
            await self._relay(response, send)
            return True
        finally:
            activator.end(backend)

    async def _relay(self, response: httpx.Response, send) -> None:
        headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.headers.multi_items()
                   if k.lower() not in HOP_BY_HOP]
        started = False
        try:
            await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
            started = True
            async for chunk in response.aiter_raw():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except httpx.HTTPError as exc:
            self.activator.metrics.outcomes.labels(self.activator.api, "failed").inc()
            log.warning("backend response broke: %s", exc)
            if not started:
                await _error(send, 502, self.activator.api, "backend_error", str(exc))
            # started: ending the handler without the last body message makes uvicorn close the connection
        finally:
            await response.aclose()


async def _disconnect(receive) -> None:
    """Return when the client disconnects (called once the body was read: nothing else can arrive)."""
    while (await receive())["type"] != "http.disconnect":
        pass


async def _read_body(receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    return b"".join(chunks)


async def _respond(send, status: int, body: bytes, content_type: bytes, extra=()) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", content_type), (b"content-length", str(len(body)).encode()), *extra]})
    await send({"type": "http.response.body", "body": body})


async def _error(send, status: int, api: str, reason: str, message: str, retry_after: int | None = None) -> None:
    body = json.dumps({"error": message, "api": api, "reason": reason}).encode()
    extra = [(b"retry-after", str(retry_after).encode())] if retry_after is not None else []
    await _respond(send, status, body, b"application/json", extra)


async def _unavailable(send, activator: Activator, exc: Unavailable) -> None:
    retry = RETRY_AFTER_REFUSED if exc.reason == "held_limit" else RETRY_AFTER_TIMED_OUT
    await _error(send, 503, activator.api, exc.reason, exc.detail, retry_after=retry)
