"""Server-side batching: gather concurrent requests and call `predict` once with lists.

With `batch_max_size > 1` every prediction request is handed to one :class:`Batcher`. The first
request of a new batch starts a timer of `batch_timeout_ms`; the batch is dispatched when it holds
`batch_max_size` requests or when the timer fires, whichever comes first. A dispatched batch takes
**one** concurrency slot (:meth:`ConcurrencyLimiter.slot`) for the whole `predict` call; while it
waits for a free slot it keeps accepting requests up to `batch_max_size` (so under load batches grow
instead of queueing one by one), and it is closed the moment it gets the slot. A lone request on an
idle server therefore waits at most `batch_timeout_ms` before `predict` runs.

`predict` receives `payload` (and `query_params` / `headers`, when it asks for them) as lists of the
same length, one element per request in arrival order, and must return a list (or tuple) of that
length; element *i* becomes request *i*'s response exactly as an unbatched return value would.
Anything else fails every request of that batch with :class:`BatchFailed` (answered 500).

Admission (503 back-pressure), body limits and the per-request timeout (504) stay per request: they
are applied by the route before and around :meth:`Batcher.submit`. A request that times out before
its batch is dispatched is dropped from the batch; one that times out while its batch runs is answered
504 at once, and the batch keeps its slot until `predict` returns (an abandoned slot, see `limits`,
once every request of the batch is answered).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import Histogram

from predictorapi.models.errors import ModelNotFound
from predictorapi.runtime.limits import ConcurrencyLimiter

log = logging.getLogger("predictorapi.runtime.batching")

BatchInvoke = Callable[[dict[str, Any]], Awaitable[Any]]


class BatchFailed(Exception):
    """The batched `predict` call failed for every request in it (answered 500 with this message)."""


@dataclass
class _Item:
    kwargs: dict[str, Any]
    future: asyncio.Future[Any]
    arrived: float


@dataclass
class _Batch:
    items: list[_Item] = field(default_factory=list)
    timer: asyncio.TimerHandle | None = None
    dispatched: bool = False


class Batcher:
    """Gathers requests into batches of at most `max_size`, waiting at most `timeout_s` for them.

    `invoke` is the (already thread-pool aware) call into the user's `predict` with keyword
    arguments; here each argument is a list. Must be used from one event loop.
    """

    def __init__(self, invoke: BatchInvoke, *, max_size: int, timeout_s: float, limiter: ConcurrencyLimiter,
                 batch_size: Histogram, batch_wait: Histogram) -> None:
        if max_size < 2:
            raise ValueError("batching needs max_size >= 2")
        self._invoke = invoke
        self.max_size = max_size
        self.timeout_s = max(0.0, timeout_s)
        self._limiter = limiter
        self._batch_size = batch_size
        self._batch_wait = batch_wait
        self._pending: _Batch | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def submit(self, kwargs: dict[str, Any]) -> Any:
        """Add one request's arguments to the open batch; return this request's element of the result."""
        loop = asyncio.get_running_loop()
        batch = self._pending
        if batch is None:
            batch = self._pending = _Batch()
            batch.timer = loop.call_later(self.timeout_s, self._dispatch, batch)
        item = _Item(kwargs, loop.create_future(), time.perf_counter())
        batch.items.append(item)
        if len(batch.items) >= self.max_size:
            self._close(batch)
            self._dispatch(batch)
        # Cancelling this await (the per-request timeout) cancels the future; _run skips such items.
        return await item.future

    def _close(self, batch: _Batch) -> None:
        """No more requests join `batch`; the next request starts a new one."""
        if self._pending is batch:
            self._pending = None
        if batch.timer is not None:
            batch.timer.cancel()
            batch.timer = None

    def _dispatch(self, batch: _Batch) -> None:
        if batch.dispatched:
            return
        batch.dispatched = True
        if batch.timer is not None:
            batch.timer.cancel()
            batch.timer = None
        task = asyncio.get_running_loop().create_task(self._run(batch))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, batch: _Batch) -> None:
        async with self._limiter.slot() as held:
            self._close(batch)
            items = [item for item in batch.items if not item.future.done()]
            if not items:
                return
            # One slot for the batch, but its requests count as running, so that `queue_length`
            # keeps meaning "requests waiting", not "batches waiting".
            held.weigh(len(items))
            for item in items:  # a request that times out while its batch runs is answered (504) already
                item.future.add_done_callback(lambda future: held.answered() if future.cancelled() else None)
            await self._call(items)

    async def _call(self, items: list[_Item]) -> None:
        size = len(items)
        started = time.perf_counter()
        for item in items:
            self._batch_wait.observe(started - item.arrived)
        self._batch_size.observe(size)
        kwargs = {name: [item.kwargs[name] for item in items] for name in items[0].kwargs}
        try:
            results = await self._invoke(kwargs)
        except ModelNotFound as exc:  # spec.models: a model the batch asked for does not exist (answered 404)
            log.info("a batch of %d asked for a model that does not exist: %s", size, exc)
            self._fail(items, exc)
            return
        except Exception:
            log.exception("predict raised an exception for a batch of %d", size)
            self._fail(items, "the predictor raised an exception; see the server log")
            return
        except BaseException:  # cancelled (shutdown): don't leave the requests waiting for nothing
            self._fail(items, "the batch was cancelled")
            raise
        if not isinstance(results, list | tuple):
            message = (f"predict returned {type(results).__name__}, expected a list of {size} results "
                       f"(one per request in the batch)")
        elif len(results) != size:
            message = f"predict returned {len(results)} results for a batch of {size}"
        else:
            for item, result in zip(items, results, strict=True):
                if not item.future.done():
                    item.future.set_result(result)
            return
        log.error("%s", message)
        self._fail(items, message)

    @staticmethod
    def _fail(items: list[_Item], error: str | Exception) -> None:
        for item in items:
            if not item.future.done():
                item.future.set_exception(BatchFailed(error) if isinstance(error, str) else error)
