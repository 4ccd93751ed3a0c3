"""Cortex's optional `post_predict(self, response, payload, query_params, headers)`: run after the response is sent,
off the request path.

A request whose `predict` returned (not a stream, not an error) queues one call once its response has been sent;
`post_predict_threads` daemon threads run the queue in order. The queue holds at most `post_predict_queue` calls:
beyond it a call is dropped, counted (`predictorapi_post_predict_total{outcome="dropped"}`) and logged, so that a slow
`post_predict` never piles up memory nor slows the requests. Its errors are logged with the request's id (the
call runs in a copy of the request's context) and counted (`outcome="error"`); the server stays up. An `async def
post_predict` runs to completion on the worker thread (`asyncio.run`), never on the server's event loop.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from prometheus_client import Counter

log = logging.getLogger("predictorapi.runtime")

OUTCOMES = ("ok", "error", "dropped")
LOG_DROPS_EVERY_S = 10.0
"""At most one warning per this many seconds about dropped calls (a flood would flood the log too)."""


class PostPredict:
    """The queue and threads running one predictor's `post_predict`."""

    def __init__(self, method: Callable[..., Any], wants: frozenset[str], counter: Counter, api: str, *,
                 limit: int, threads: int) -> None:
        self._method = method
        self._wants = wants
        self._is_async = inspect.iscoroutinefunction(method)
        self._outcomes = {outcome: counter.labels(api, outcome) for outcome in OUTCOMES}
        self._queue: queue.Queue[tuple[contextvars.Context, dict[str, Any]] | None] = queue.Queue(limit)
        self._dropped_since_log = 0
        self._last_drop_log = -LOG_DROPS_EVERY_S
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._work, name=f"post-predict-{index}", daemon=True)
                         for index in range(threads)]
        for thread in self._threads:
            thread.start()

    def submit(self, response: Any, request_kwargs: dict[str, Any]) -> None:
        """Queue a call with `response` (what `predict` returned) and the request's arguments; never blocks."""
        kwargs = {name: request_kwargs.get(name) for name in self._wants if name != "response"}
        if "response" in self._wants:
            kwargs["response"] = response
        try:
            self._queue.put_nowait((contextvars.copy_context(), kwargs))
        except queue.Full:
            self._outcomes["dropped"].inc()
            self._log_drop()

    def _log_drop(self) -> None:
        with self._lock:
            self._dropped_since_log += 1
            now = time.monotonic()
            if now - self._last_drop_log < LOG_DROPS_EVERY_S:
                return
            dropped, self._dropped_since_log, self._last_drop_log = self._dropped_since_log, 0, now
        log.warning("post_predict dropped %d call(s): %d are already waiting (post_predict is slower than the "
                    "requests)", dropped, self._queue.maxsize)

    def _work(self) -> None:
        while (item := self._queue.get()) is not None:
            context, kwargs = item
            context.run(self._call, kwargs)

    def _call(self, kwargs: dict[str, Any]) -> None:
        """One call, in the request's context (its id stamps the log records)."""
        try:
            result = self._method(**kwargs)
            if self._is_async:
                asyncio.run(result)
        except BaseException as exc:  # whatever the predictor raises (SystemExit too) is logged, not raised
            self._outcomes["error"].inc()
            log.error("post_predict raised an exception", exc_info=exc)
            return
        self._outcomes["ok"].inc()

    def pending(self) -> int:
        """Calls waiting in the queue (not those running)."""
        return self._queue.qsize()

    def stop(self) -> None:
        """Let the threads finish what is queued, then end (they are daemons: a hung call never holds the exit)."""
        for _ in self._threads:
            try:
                self._queue.put_nowait(None)
            except queue.Full:
                break
