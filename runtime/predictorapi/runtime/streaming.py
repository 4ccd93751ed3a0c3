"""Streamed predictions: a `predict` that returns (or is) a generator, sent item by item.

The stream is the request: it keeps its admission (in flight) and its run slot until the last byte is
sent or the client leaves; `request_timeout_seconds` bounds the whole stream and
`stream_idle_timeout_seconds` the wait for each item, the first included. Whatever ends a stream early
(a timeout, the client leaving, the server stopping) closes the generator (`close()` / `aclose()`), so a
model stops producing items nobody reads.

`str`/`bytes` items go out as a chunked body (`text/plain` / `application/octet-stream`); other items
(dicts, lists, ...) as Server-Sent Events, one `data:` JSON line per item, as does every item when the
client sends `Accept: text/event-stream`. Headers go out with the first item: a failure before it is the
usual error response, one after it ends the stream with an SSE `event: error` carrying the request id
(the status stays 200), or, for a chunked body, with a body cut short.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import re
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from typing import Any, Protocol

import anyio
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from predictorapi.runtime.codec import encode_json
from predictorapi.runtime.invocation import PredictorExited
from predictorapi.runtime.limits import ConcurrencyLimiter, RunSlot
from predictorapi.runtime.logs import request_id_var
from predictorapi.runtime.metrics import RuntimeMetrics

log = logging.getLogger("predictorapi.runtime")

END: Any = object()
"""What :meth:`Items.next` returns once the generator is exhausted."""
ERROR_SEND_TIMEOUT_S = 1.0
"""Longest the runtime waits to hand the closing error event to a client that does not read."""
SSE_MEDIA_TYPE = "text/event-stream"
_LINE_BREAKS = re.compile(r"\r\n|\r|\n")
_CHUNK_TYPES = (str, bytes, bytearray, memoryview)


class StreamIdle(Exception):
    """No item arrived within `stream_idle_timeout_seconds`."""


class Items(Protocol):
    """One stream's items, taken one at a time; :meth:`close` stops the generator early."""

    async def next(self) -> Any:
        """The next item, or :data:`END`."""

    async def close(self, slot: RunSlot | None) -> None:
        """Close the generator (its `finally` runs); `slot` stays busy while a step of it still runs."""


class AsyncItems:
    """An async generator (or iterator), iterated on the event loop."""

    def __init__(self, items: AsyncIterator[Any]) -> None:
        self._items = items

    async def next(self) -> Any:
        try:  # cancelling this await (a timeout) raises CancelledError inside the generator
            return await anext(self._items)
        except StopAsyncIteration:
            return END
        except (SystemExit, KeyboardInterrupt) as exc:
            raise PredictorExited(f"predict's stream raised {type(exc).__name__}({exc})") from exc

    async def close(self, slot: RunSlot | None) -> None:
        aclose = getattr(self._items, "aclose", None)
        if aclose is None:
            return
        try:
            await aclose()
        except Exception:
            log.exception("closing the predictor's stream raised an exception")


class SyncItems:
    """A generator (or iterator), each step run in the thread pool so that it never blocks the event loop.

    A step still running when the stream ends (Python cannot interrupt it) closes the generator itself
    when it returns, and the run slot stays busy until then (see `limits`: an abandoned slot).
    """

    def __init__(self, items: Iterator[Any], executor: Executor) -> None:
        self._items = items
        self._executor = executor
        self._context = contextvars.copy_context()  # the request id reaches the predictor's log records
        self._lock = threading.Lock()
        self._closing = False
        self._stepping = False
        self._step: Future[Any] | None = None

    async def next(self) -> Any:
        self._step = self._executor.submit(self._run_step)
        return await asyncio.wrap_future(self._step)  # cancelled: a step not started yet never runs

    def _run_step(self) -> Any:
        with self._lock:
            if self._closing:
                return END
            self._stepping = True
        try:
            return self._context.run(next, self._items, END)
        except (SystemExit, KeyboardInterrupt) as exc:  # would escape the thread pool and skip our answer
            raise PredictorExited(f"predict's stream raised {type(exc).__name__}({exc})") from exc
        finally:
            with self._lock:
                self._stepping = False
                closing = self._closing
            if closing:
                self._close_now()

    def _close_now(self) -> None:
        close = getattr(self._items, "close", None)
        if close is None:
            return
        try:
            self._context.run(close)
        except Exception:
            log.exception("closing the predictor's stream raised an exception")

    async def close(self, slot: RunSlot | None) -> None:
        with self._lock:
            self._closing = True
            stepping = self._stepping
        if stepping and self._step is not None:  # the running step closes the generator when it returns
            if slot is not None:
                slot.keep_until(self._step)
            return
        try:
            closing = self._executor.submit(self._close_now)
        except RuntimeError:  # the pool is shut down (the server is stopping): nothing else runs it
            self._close_now()
            return
        await asyncio.shield(asyncio.wrap_future(closing))


_NOT_STREAMS = (dict, list, str, int, float, bool, type(None), bytes, tuple)
"""What `predict` usually returns: never an iterator (checked before the slower ABC checks)."""


def as_items(result: Any, executor: Executor) -> Items | None:
    """`predict`'s result as a stream when it is a generator or an iterator (sync or async), else None."""
    if type(result) in _NOT_STREAMS:
        return None
    if isinstance(result, AsyncIterator):  # async generators included
        return AsyncItems(result)
    if isinstance(result, Iterator):  # generators included; not str, bytes, lists or dicts (iterables only)
        return SyncItems(result, executor)
    return None


async def next_item(items: Items, idle_s: float | None) -> Any:
    """The next item within `idle_s` seconds (None: no bound), else :class:`StreamIdle`."""
    if idle_s is None:
        return await items.next()
    try:
        async with asyncio.timeout(idle_s):
            return await items.next()
    except TimeoutError:
        raise StreamIdle(f"no item of the stream within {idle_s}s") from None


async def first_item(items: Items, slot: RunSlot, idle_s: float | None) -> Any:
    """The stream's first item (or :data:`END`); on any failure the generator is closed first."""
    try:
        return await next_item(items, idle_s)
    except BaseException:
        await asyncio.shield(items.close(slot))
        raise


def wants_sse(headers: Mapping[str, str]) -> bool:
    """Whether the client asks for Server-Sent Events (`Accept: text/event-stream`)."""
    return SSE_MEDIA_TYPE in headers.get("accept", "")


def sse_event(item: Any, event: str | None = None) -> bytes:
    """One Server-Sent Event: `str` as is (one `data:` line per line), bytes as UTF-8, anything else as JSON."""
    if isinstance(item, str):
        text = item
    elif isinstance(item, bytes | bytearray | memoryview):
        text = bytes(item).decode("utf-8", "replace")
    else:
        text = encode_json(item).decode()
    lines = "".join(f"data: {line}\n" for line in _LINE_BREAKS.split(text))
    return (f"event: {event}\n{lines}\n" if event else f"{lines}\n").encode()


def chunk(item: Any) -> bytes:
    """One piece of a chunked body: `str` as UTF-8, bytes as is, anything else as a JSON line."""
    if isinstance(item, str):
        return item.encode()
    if isinstance(item, bytes | bytearray | memoryview):
        return bytes(item)
    return encode_json(item) + b"\n"


@dataclass
class StreamContext:
    """What a stream needs from its request: the limits, its slot and admission, and its metrics."""

    items: Items
    slot: RunSlot
    limiter: ConcurrencyLimiter
    """Whose admission the stream holds, with `slot`: both released when the stream ends."""
    started: float
    """`time.perf_counter()` at admission."""
    deadline: float
    """Loop time by which the whole stream must be over (`request_timeout_seconds` after admission)."""
    idle_s: float | None
    metrics: RuntimeMetrics
    api: str
    on_end: Callable[[], object] | None = None
    """Called once the stream has ended, whatever ended it (`spec.models`: the request's models scope ends,
    releasing the versions it pinned)."""


class StreamResponse(Response):
    """The response of a streamed prediction; sending it runs the stream to its end."""

    def __init__(self, context: StreamContext, first: Any, sse: bool) -> None:
        self.context = context
        self.first = first
        self.sse = sse or (first is not END and not isinstance(first, _CHUNK_TYPES))
        self.status_code = 200
        self.background = None
        self.media_type = (SSE_MEDIA_TYPE if self.sse else
                           "application/octet-stream" if isinstance(first, bytes | bytearray | memoryview)
                           else "text/plain")
        self.init_headers({"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})  # no proxy buffering
        self.sent = 0
        self.outcome = "disconnect"
        """Why the stream ended: a reason of `predictorapi_streams_ended` (the client left, until known)."""
        context.metrics.stream_first_item.labels(context.api).observe(time.perf_counter() - context.started)

    def encode(self, item: Any) -> bytes:
        """`item` as this stream sends it."""
        return sse_event(item) if self.sse else chunk(item)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Send the stream until the generator ends, fails, times out or the client leaves."""
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            async with anyio.create_task_group() as group:

                async def produce() -> None:
                    await self._produce(send)
                    group.cancel_scope.cancel()

                group.start_soon(produce)
                await _disconnected(receive)
                group.cancel_scope.cancel()
        finally:
            with anyio.CancelScope(shield=True):
                await self._end()

    async def _produce(self, send: Send) -> None:
        """Send every item, then the end of the body; sets :attr:`outcome` before the last message."""
        item, context = self.first, self.context
        try:
            async with asyncio.timeout_at(context.deadline):
                while item is not END:
                    await send({"type": "http.response.body", "body": self.encode(item), "more_body": True})
                    self.sent += 1
                    item = await next_item(context.items, context.idle_s)
        except TimeoutError:
            await self._fail(send, "timeout", "the stream took longer than the request timeout")
            return
        except StreamIdle as exc:
            await self._fail(send, "idle_timeout", str(exc))
            return
        except Exception as exc:
            log.error("the predictor's stream raised an exception after %d item(s)", self.sent, exc_info=exc)
            await self._fail(send, "error", "the predictor raised an exception; see the server log")
            return
        self.outcome = "complete"
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _fail(self, send: Send, reason: str, message: str) -> None:
        """End the stream early: an SSE `event: error` (a chunked body is left unterminated: cut short)."""
        self.outcome = reason
        if reason != "error":
            log.warning("stream ended after %d item(s): %s", self.sent, message)
        if self.sse:
            event = sse_event({"error": message, "request_id": request_id_var.get()}, event="error")
            with anyio.move_on_after(ERROR_SEND_TIMEOUT_S):
                await send({"type": "http.response.body", "body": event, "more_body": False})

    async def _end(self) -> None:
        """Close the generator unless it ran out, release the slot and admission, record the stream."""
        context, api, reason = self.context, self.context.api, self.outcome
        if reason != "complete":
            await context.items.close(context.slot)
        context.slot.finish()
        context.limiter.leave()
        if context.on_end is not None:
            context.on_end()
        metrics = context.metrics
        metrics.stream_duration.labels(api).observe(time.perf_counter() - context.started)
        metrics.stream_items.labels(api).observe(self.sent)
        metrics.streams_ended.labels(api, reason).inc()


async def _disconnected(receive: Receive) -> None:
    """Return once the client has gone (the request body, if unread, is skipped)."""
    while (await receive())["type"] != "http.disconnect":
        pass

