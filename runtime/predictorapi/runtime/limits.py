"""Back-pressure: a bounded number of requests run, a bounded number wait, the rest are refused.

A run slot is held by a `predict` call, not by a request: when a request times out while its call
keeps running in a thread (Python cannot interrupt it), the request is answered (504) but the slot
stays busy until the call returns. Such a slot is *abandoned*: no request waits for it. While every
slot is abandoned the runtime is *wedged*: it cannot serve anything until a call returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, Protocol

from prometheus_client import Gauge


class Overloaded(Exception):
    """Every run slot and queue place is taken (answered 503 with Retry-After)."""


class RunningCall(Protocol):
    """A call running in a thread (a `concurrent.futures.Future`, a pool call): it can say when it is over."""

    def add_done_callback(self, callback: Callable[[Any], None], /) -> None: ...


class RunSlot:
    """One held run slot, counted as `weight` running requests (1, or n for a batch of n).

    `weight` falls as the slot's requests are answered before its call returns (timed out); at 0
    while the call still runs, the slot is abandoned.
    """

    __slots__ = ("_limiter", "_loop", "abandoned", "kept", "released", "weight")

    def __init__(self, limiter: ConcurrencyLimiter) -> None:
        self._limiter = limiter
        self._loop: asyncio.AbstractEventLoop | None = None  # the loop to release on, once a call runs on (kept)
        self.weight = 1
        self.abandoned = False
        self.kept = False
        self.released = False

    def weigh(self, requests: int) -> None:
        """Count this slot as `requests` running requests from now until it is released."""
        self._limiter.running += requests - self.weight
        self.weight = requests

    def answered(self, requests: int = 1) -> None:
        """`requests` of this slot's requests got their answer while its call goes on."""
        if self.released:
            return
        requests = min(requests, self.weight)
        self.weight -= requests
        self._limiter.running -= requests
        if self.weight == 0 and not self.abandoned:
            self.abandoned = True
            self._limiter.abandon()

    def keep_until(self, call: RunningCall) -> None:
        """The request gave up (timed out) but `call` runs on in its thread: this slot stays busy,
        counted as abandoned, until `call` is done."""
        self.kept = True
        self._loop = asyncio.get_running_loop()
        self.answered(self.weight)
        call.add_done_callback(self._call_done)

    def _call_done(self, _: object) -> None:
        assert self._loop is not None
        with contextlib.suppress(RuntimeError):  # the loop is closed: the process is exiting anyway
            self._loop.call_soon_threadsafe(self.release)

    def finish(self) -> None:
        """The slot's request is over: release the slot, unless :meth:`keep_until` keeps it for a call
        that runs on."""
        if not self.kept:
            self.release()

    def release(self) -> None:
        """Give the slot back (once)."""
        if self.released:
            return
        self.released = True
        self._limiter.running -= self.weight
        self.weight = 0
        self._limiter.free(self)


class ConcurrencyLimiter:
    """At most `max_concurrency` calls run at once and at most `max_queue_length` requests wait.

    The gauges read the counters when Prometheus scrapes, so the request path pays nothing for them:
    in-flight is `admitted` (accepted, unanswered), the queue is `admitted - running`, busy slots are
    `busy` (abandoned ones included) and abandoned calls `abandoned`.
    """

    def __init__(self, max_concurrency: int, max_queue_length: int, in_flight: Gauge, queue_length: Gauge,
                 busy_slots: Gauge | None = None, abandoned_calls: Gauge | None = None):
        self.max_concurrency = max_concurrency
        self.capacity = max_concurrency + max_queue_length
        self.admitted = 0
        self.running = 0
        self.busy = 0
        self.abandoned = 0
        self.wedged_since: float | None = None
        self._free = max_concurrency  # run slots nobody holds
        self._waiters: deque[asyncio.Future[None]] = deque()  # requests waiting for a slot, first come first served
        in_flight.set_function(lambda: self.admitted)
        queue_length.set_function(lambda: max(self.admitted - self.running, 0))
        if busy_slots is not None:
            busy_slots.set_function(lambda: self.busy)
        if abandoned_calls is not None:
            abandoned_calls.set_function(lambda: self.abandoned)

    @property
    def wedged(self) -> bool:
        """Every run slot is held by a call whose request was already answered."""
        return self.abandoned >= self.max_concurrency

    def wedged_for(self, now: float | None = None) -> float:
        """Seconds the limiter has been wedged without interruption (0 when it is not)."""
        if self.wedged_since is None:
            return 0.0
        return (time.monotonic() if now is None else now) - self.wedged_since

    def enter(self) -> None:
        """Admit a request (running or queued) or raise :class:`Overloaded` at once; :meth:`leave` when
        it is answered."""
        if self.admitted >= self.capacity:
            raise Overloaded
        self.admitted += 1

    def leave(self) -> None:
        """An admitted request has its answer."""
        self.admitted -= 1

    def take(self) -> RunSlot | None:
        """A run slot at once, when one is free and no request waits for one (else None: :meth:`acquire`)."""
        if self._free <= 0 or self._waiters:
            return None
        self._free -= 1
        return self._held()

    async def acquire(self) -> RunSlot:
        """Wait for a run slot (once admitted), in turn; it counts one running request until :meth:`RunSlot.weigh`
        says how many it runs (a batch of n admitted requests takes one slot). Give it back with
        :meth:`RunSlot.finish`."""
        taken = self.take()
        return taken if taken is not None else await self._wait_for_slot()

    async def _wait_for_slot(self) -> RunSlot:
        """Wait in line for the next free slot (no slot is free, or others wait for one)."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():  # handed a slot as it was cancelled: the next one gets it
                self._hand_over()
            else:
                self._waiters.remove(waiter)
            raise
        return self._held()

    def _held(self) -> RunSlot:
        self.busy += 1
        self.running += 1
        return RunSlot(self)

    def _hand_over(self) -> None:
        """A slot is free: to the first request waiting for one, if any."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self._free += 1

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[RunSlot]:
        """:meth:`acquire` a run slot for the block, then :meth:`RunSlot.finish` it."""
        held = await self.acquire()
        try:
            yield held
        finally:
            held.finish()

    def abandon(self) -> None:
        """One more busy slot has no request waiting for it."""
        self.abandoned += 1
        if self.wedged and self.wedged_since is None:
            self.wedged_since = time.monotonic()

    def free(self, held: RunSlot) -> None:
        """`held`'s call is over: the slot is free again."""
        self.busy -= 1
        if held.abandoned:
            self.abandoned -= 1
            if not self.wedged:
                self.wedged_since = None
        self._hand_over()
