"""Back-pressure: a bounded number of requests run, a bounded number wait, the rest are refused."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from prometheus_client import Gauge


class Overloaded(Exception):
    """Every run slot and queue place is taken (answered 503 with Retry-After)."""


class RunSlot:
    """One held run slot, counted as `weight` running requests (1, or n for a batch of n)."""

    __slots__ = ("_limiter", "weight")

    def __init__(self, limiter: ConcurrencyLimiter) -> None:
        self._limiter = limiter
        self.weight = 1

    def weigh(self, requests: int) -> None:
        """Count this slot as `requests` running requests from now until it is released."""
        self._limiter.running += requests - self.weight
        self.weight = requests


class ConcurrencyLimiter:
    """At most `max_concurrency` requests run at once and at most `max_queue_length` wait.

    The in-flight and queue-length gauges read the counters when Prometheus scrapes, so the request
    path pays nothing for them: in-flight is `admitted`, the queue is `admitted - running`.
    """

    def __init__(self, max_concurrency: int, max_queue_length: int, in_flight: Gauge, queue_length: Gauge):
        self.capacity = max_concurrency + max_queue_length
        self.admitted = 0
        self.running = 0
        self._slots = asyncio.Semaphore(max_concurrency)
        in_flight.set_function(lambda: self.admitted)
        queue_length.set_function(lambda: max(self.admitted - self.running, 0))

    @asynccontextmanager
    async def admit(self) -> AsyncIterator[None]:
        """Admit a request (running or queued) or raise :class:`Overloaded` at once."""
        if self.admitted >= self.capacity:
            raise Overloaded
        self.admitted += 1
        try:
            yield
        finally:
            self.admitted -= 1

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[RunSlot]:
        """Wait for a run slot (inside :meth:`admit`); it counts one running request until
        :meth:`RunSlot.weigh` says how many it runs (a batch of n admitted requests takes one slot)."""
        async with self._slots:
            held = RunSlot(self)
            self.running += 1
            try:
                yield held
            finally:
                self.running -= held.weight
