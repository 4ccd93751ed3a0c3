"""The running predictor's shared state, and loading the predictor into it."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from predictorapi.runtime.batching import Batcher
from predictorapi.runtime.invocation import Invoke, check_batching, make_batcher, make_invoke
from predictorapi.runtime.limits import ConcurrencyLimiter
from predictorapi.runtime.loader import (
    PredictorInterface,
    construct,
    inspect_predictor,
    load_class,
    with_model_path,
)
from predictorapi.runtime.metrics import RuntimeMetrics
from predictorapi.runtime.settings import RuntimeSettings

log = logging.getLogger("predictorapi.runtime")


@dataclass
class RuntimeState:
    """Everything the routes and the server share about one running predictor."""

    settings: RuntimeSettings
    metrics: RuntimeMetrics
    limiter: ConcurrencyLimiter
    interface: PredictorInterface | None = None
    invoke: Invoke | None = None
    draining: bool = False
    load_error: str | None = None
    executor: ThreadPoolExecutor | None = field(default=None, repr=False)
    batcher: Batcher | None = None

    @property
    def ready(self) -> bool:
        """Loaded, not draining, and not wedged (every run slot held by a call that timed out): what
        `/readyz` reports."""
        return self.invoke is not None and not self.draining and not self.limiter.wedged

    @property
    def wedged_too_long(self) -> bool:
        """Wedged for `wedged_seconds` without a break: `/healthz` fails so that the container restarts."""
        return self.limiter.wedged_for() >= self.settings.wedged_seconds


@asynccontextmanager
async def serving(state: RuntimeState, predictor: object | type | None) -> AsyncIterator[None]:
    """The app's lifespan: a thread pool for sync predicts, and `predictor` installed at once (an
    instance) or loaded in the background (a class, or None for the one the settings name)."""
    settings = state.settings
    state.executor = ThreadPoolExecutor(settings.thread_pool_size, thread_name_prefix="predict")
    if predictor is not None and not isinstance(predictor, type):
        install(state, predictor)
    else:
        loop = asyncio.get_running_loop()
        threading.Thread(target=_load_in_background, args=(state, loop, predictor), name="load-predictor",
                         daemon=True).start()
    try:
        yield
    finally:
        state.executor.shutdown(wait=False, cancel_futures=True)


def install(state: RuntimeState, predictor: object) -> None:
    """Make `predictor` the one requests call (on the event loop's thread); the state becomes ready."""
    interface = inspect_predictor(type(predictor))
    state.interface = interface
    invoke = make_invoke(predictor, interface, state.executor)
    state.batcher = make_batcher(invoke, interface, settings=state.settings, metrics=state.metrics,
                                 limiter=state.limiter)
    state.invoke = invoke


def _load_in_background(state: RuntimeState, loop: asyncio.AbstractEventLoop, cls: type | None) -> None:
    """Import (when `cls` is None) and construct the predictor, then install it on `loop`."""
    settings = state.settings
    started = time.perf_counter()
    try:
        if cls is None:
            cls = load_class(settings.predictor_path, settings.predictor_class, settings.python_path)
        check_batching(inspect_predictor(cls), settings)  # before the model loads: fail at once
        predictor = construct(cls, with_model_path(settings.predictor_config, settings.model_path))
    except BaseException as exc:  # any failure, even SystemExit from user code, must stop the server
        log.exception("predictor failed to load: %s", exc)
        state.load_error = f"{type(exc).__name__}: {exc}"
        return
    state.metrics.load_seconds.labels(settings.api_name).set(time.perf_counter() - started)
    loop.call_soon_threadsafe(install, state, predictor)
    log.info("predictor %s loaded in %.2fs", settings.predictor_class, time.perf_counter() - started)
