"""Calling the user's `predict`: awaited or in the thread pool, and gathered into batches when asked."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import logging
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager
from typing import Any, Protocol

from predictorapi.runtime.batching import Batcher
from predictorapi.runtime.limits import ConcurrencyLimiter, RunSlot
from predictorapi.runtime.loader import PredictorInterface, PredictorLoadError
from predictorapi.runtime.metrics import RuntimeMetrics
from predictorapi.runtime.pool import PredictPool
from predictorapi.runtime.settings import RuntimeSettings

log = logging.getLogger("predictorapi.runtime")


class Invoke(Protocol):
    """The call into `predict` with keyword arguments. Given the run `slot` it holds, a sync call that
    is still running when the caller gives up (is cancelled) keeps that slot busy until it returns."""

    def __call__(self, kwargs: dict[str, Any], slot: RunSlot | None = None) -> Awaitable[Any]: ...


class PredictorExited(Exception):
    """`predict` raised SystemExit/KeyboardInterrupt (e.g. called `sys.exit`): answered 500, server stays up."""


def make_invoke(predictor: object, interface: PredictorInterface, pool: PredictPool | None) -> Invoke:
    """The call into `predict` with keyword arguments: awaited when async, in `pool` otherwise (the loop's
    default executor when None)."""
    predict = predictor.predict  # type: ignore[attr-defined]
    if inspect.isasyncgenfunction(predict):
        return _async_generator(predict)
    if interface.is_async:
        return _awaited(predict)
    return _in_thread_pool(predict, pool)


def _async_generator(predict: Callable[..., Any]) -> Invoke:
    async def invoke_generator(kwargs: dict[str, Any], slot: RunSlot | None = None) -> Any:
        return predict(**kwargs)  # `async def` with `yield`: the call only makes the generator

    return invoke_generator


def _exited(exc: BaseException) -> PredictorExited:
    return PredictorExited(f"predict raised {type(exc).__name__}({exc})")


def _awaited(predict: Callable[..., Awaitable[Any]]) -> Invoke:
    async def invoke_async(kwargs: dict[str, Any], slot: RunSlot | None = None) -> Any:
        try:  # cancelling the await (the request timed out) stops the coroutine: its slot is freed
            return await predict(**kwargs)
        except (SystemExit, KeyboardInterrupt) as exc:  # user code must not stop the server
            raise _exited(exc) from exc

    return invoke_async


def _in_thread_pool(predict: Callable[..., Any], pool: PredictPool | None) -> Invoke:
    def call_predict(kwargs: dict[str, Any]) -> Any:
        try:
            return predict(**kwargs)
        except (SystemExit, KeyboardInterrupt) as exc:  # would escape the event loop and skip our 500
            raise _exited(exc) from exc

    async def invoke(kwargs: dict[str, Any], slot: RunSlot | None = None) -> Any:
        context = contextvars.copy_context()  # the request id reaches the predictor's log records
        call = functools.partial(context.run, call_predict, kwargs)
        if pool is None:
            return await asyncio.get_running_loop().run_in_executor(None, call)
        started = pool.start(call)
        try:
            return await started.future
        except asyncio.CancelledError:
            # A call still waiting for a thread is dropped; one already running cannot be stopped.
            if not started.drop() and slot is not None:
                slot.keep_until(started)
            raise

    return invoke


class ModelsScope(Protocol):
    """What a models scope records (predictorapi.models.client.RequestModels)."""

    not_found: Exception | None


def scoped_invoke(invoke: Invoke, scope: Callable[[], AbstractContextManager[ModelsScope]]) -> Invoke:
    """`invoke`, each call inside a `spec.models` scope of its own (a batch's): the model versions `get_model`
    returns are pinned until the call returns, and a model it did not find fails the call with that error (every
    request of the batch is answered 404 naming it), whatever `predict` did with it."""

    async def invoke_scoped(kwargs: dict[str, Any], slot: RunSlot | None = None) -> Any:
        with scope() as models:
            try:
                result = await invoke(kwargs, slot)
            except Exception:
                if models.not_found is not None:
                    raise models.not_found from None
                raise
        if models.not_found is not None:
            raise models.not_found
        return result

    return invoke_scoped


def make_batcher(invoke: Invoke, interface: PredictorInterface, *, settings: RuntimeSettings,
                 metrics: RuntimeMetrics, limiter: ConcurrencyLimiter,
                 batcher: Callable[..., Batcher] = Batcher) -> Batcher | None:
    """A batcher (made by `batcher`: a traced one when tracing) when `batch_max_size > 1` and predict takes something
    to batch; else None."""
    if settings.batch_max_size <= 1:
        return None
    check_batching(interface, settings)
    if not interface.wants:
        log.warning("batching is off: predict takes none of payload, query_params, headers")
        return None
    api = settings.api_name
    return batcher(invoke, max_size=settings.batch_max_size, timeout_s=settings.batch_timeout_ms / 1000,
                   limiter=limiter, batch_size=metrics.batch_size.labels(api),
                   batch_wait=metrics.batch_wait.labels(api))


def check_batching(interface: PredictorInterface, settings: RuntimeSettings) -> None:
    """Refuse a streaming `predict` (a generator function) when batching is on: one batched call answers
    many requests at once, a stream answers one request item by item (:class:`PredictorLoadError`)."""
    if interface.streams and settings.batch_max_size > 1:
        raise PredictorLoadError(
            f"predict is a generator (it streams its result), and streaming cannot be batched: set "
            f"batching.maxBatchSize to 1 (it is {settings.batch_max_size})")
