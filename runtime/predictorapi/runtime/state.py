"""The running predictor's shared state, and loading the predictor into it."""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry

from predictorapi.runtime.batching import Batcher
from predictorapi.runtime.invocation import Invoke, check_batching, make_batcher, make_invoke, scoped_invoke
from predictorapi.runtime.limits import ConcurrencyLimiter
from predictorapi.runtime.loader import (
    PredictorInterface,
    PredictorLoadError,
    check_models,
    construct,
    inspect_predictor,
    load_class,
    with_model_path,
)
from predictorapi.runtime.metrics import RequestTally, RuntimeMetrics
from predictorapi.runtime.pool import PredictPool
from predictorapi.runtime.post_predict import PostPredict
from predictorapi.runtime.replica import CRASH_LOOPING, ReplicaBoard, replica_status
from predictorapi.runtime.settings import RuntimeSettings

if TYPE_CHECKING:
    from predictorapi.models.client import ModelCache
    from predictorapi.tracing.serving import Tracing

log = logging.getLogger("predictorapi.runtime")


class ModelLoader:
    """The `load_model` a process's ModelCache calls: the predictor's bound method, once the predictor exists (the
    cache, and the `python_client` the predictor is constructed with, exist before it)."""

    target: Callable[[str], object] | None = None

    def __call__(self, model_path: str) -> object:
        if self.target is None:
            raise RuntimeError("python_client.get_model was called before the predictor was constructed: load_model "
                               "can only be called once __init__ has returned (call get_model in predict)")
        return self.target(model_path)


def model_cache(settings: RuntimeSettings, registry: CollectorRegistry) -> tuple[ModelCache, ModelLoader] | None:
    """This process's memory tier of `spec.models` (with the loader it calls, bound later), or None without models
    or without the store's URL (the predictor's load then fails, saying so)."""
    models = settings.runtime_models
    if models is None or not settings.model_store_url:
        return None
    from predictorapi.models.client import ModelCache

    loader = ModelLoader()
    return ModelCache(settings.model_store_url, models, loader, settings.api_name, registry), loader


@dataclass
class RuntimeState:
    """Everything the routes and the server share about one running predictor."""

    settings: RuntimeSettings
    metrics: RuntimeMetrics
    limiter: ConcurrencyLimiter
    tally: RequestTally
    """Counts and times the predict requests (for `metrics.requests` and `metrics.latency`)."""
    interface: PredictorInterface | None = None
    invoke: Invoke | None = None
    draining: bool = False
    load_error: str | None = None
    executor: PredictPool | None = field(default=None, repr=False)
    batcher: Batcher | None = None
    replica: ReplicaBoard | None = None
    """The board of this replica's worker processes, when this process is one of several (`processes > 1`)."""
    freeze_heap: bool = False
    """Freeze the heap once the predictor is loaded (:func:`freeze_heap`): set by the server process, not
    by an app built in someone else's process (tests)."""
    models: ModelCache | None = None
    """This process's memory tier of `spec.models` (`python_client`); None without models."""
    model_loader: ModelLoader | None = field(default=None, repr=False)
    post_predict: PostPredict | None = None
    """The queue running the predictor's `post_predict` after responses, when it defines one."""
    tracing: Tracing | None = None
    """This process's tracing (predictorapi.tracing), when an OTLP endpoint turns it on."""

    @property
    def ready(self) -> bool:
        """Loaded, not draining, and not wedged (every run slot held by a call that timed out): what
        `/readyz` reports."""
        return self.invoke is not None and not self.draining and not self.limiter.wedged

    @property
    def status(self) -> str:
        """This process's readiness in one word: ready, draining, failed, loading or wedged."""
        if self.ready:
            return "ready"
        return ("draining" if self.draining else "failed" if self.load_error else
                "loading" if self.invoke is None else "wedged")

    @property
    def wedged_too_long(self) -> bool:
        """Wedged for `wedged_seconds` without a break: `/healthz` fails so that the container restarts."""
        return self.limiter.wedged_for() >= self.settings.wedged_seconds

    def readiness(self) -> tuple[str, list[str] | None]:
        """What `/readyz` answers: this process's status; with several worker processes, the replica's (ready
        only when every worker is) and each worker's."""
        if self.replica is None:
            return self.status, None
        statuses = self.replica.statuses(own=self.status)
        return replica_status(statuses), statuses

    def liveness(self) -> str:
        """What `/healthz` answers: `alive`; `wedged` when this process (or, with several, any worker) has been
        wedged for `wedged_seconds`; `crash-looping` once the supervisor gave up on the replica."""
        if self.replica is not None and self.replica.crash_looping:
            return CRASH_LOOPING
        if self.wedged_too_long or (self.replica is not None and self.replica.wedged_too_long()):
            return "wedged"
        return "alive"


@asynccontextmanager
async def serving(state: RuntimeState, predictor: object | type | None) -> AsyncIterator[None]:
    """The app's lifespan: a thread pool for sync predicts, and `predictor` installed at once (an
    instance) or loaded in the background (a class, or None for the one the settings name)."""
    settings = state.settings
    state.executor = PredictPool(settings.thread_pool_size)
    if state.models is not None:
        state.models.start()  # the listing (and, with pollSeconds, live reloading)
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
        if state.post_predict is not None:
            state.post_predict.stop()
        if state.models is not None:
            await asyncio.to_thread(state.models.stop)
        if state.tracing is not None:
            await asyncio.to_thread(state.tracing.shutdown)


def install(state: RuntimeState, predictor: object) -> None:
    """Make `predictor` the one requests call (on the event loop's thread); the state becomes ready."""
    settings, tracing = state.settings, state.tracing
    interface = inspect_predictor(type(predictor))
    state.interface = interface
    if state.model_loader is not None:
        check_models(type(predictor))
        load = predictor.load_model  # type: ignore[attr-defined]
        state.model_loader.target = load if tracing is None else tracing.loader(load)
    invoke = make_invoke(predictor, interface, state.executor)
    if tracing is not None:
        invoke = tracing.invoke(invoke)
    # A batch is one predict call: the versions it gets are pinned for the call (not for one of its requests).
    batched = scoped_invoke(invoke, state.models.request_scope) if state.models is not None else invoke
    state.batcher = make_batcher(batched, interface, settings=settings, metrics=state.metrics,
                                 limiter=state.limiter, batcher=Batcher if tracing is None else tracing.batcher)
    if interface.post_predict_wants is not None:
        state.post_predict = PostPredict(predictor.post_predict, interface.post_predict_wants,  # type: ignore
                                         state.metrics.post_predict, settings.api_name,
                                         limit=settings.post_predict_queue, threads=settings.post_predict_threads)
    state.invoke = invoke


def _load_in_background(state: RuntimeState, loop: asyncio.AbstractEventLoop, cls: type | None) -> None:
    """Import (when `cls` is None) and construct the predictor, then install it on `loop`."""
    settings = state.settings
    started = time.perf_counter()
    try:
        if cls is None:
            cls = load_class(settings.predictor_path, settings.predictor_class, settings.python_path,
                             settings.packages_path)
        check_batching(inspect_predictor(cls), settings)  # before the model loads: fail at once
        predictor = construct(cls, with_model_path(settings.predictor_config, settings.model_path),
                              _python_client(state, cls))
    except BaseException as exc:  # any failure, even SystemExit from user code, must stop the server
        log.exception("predictor failed to load: %s", exc)
        state.load_error = f"{type(exc).__name__}: {exc}"
        return
    if state.freeze_heap:
        freeze_heap()
    state.metrics.load_seconds.labels(settings.api_name).set(time.perf_counter() - started)
    loop.call_soon_threadsafe(install, state, predictor)
    log.info("predictor %s loaded in %.2fs", settings.predictor_class, time.perf_counter() - started)


def _python_client(state: RuntimeState, cls: type) -> Any:
    """The `python_client` the predictor is constructed with (`spec.models`), its `load_model` checked first; None
    without models."""
    if state.settings.models is None:
        return None
    if state.models is None:
        raise PredictorLoadError("spec.models is set but the model store's URL is not (PREDICTORAPI_MODEL_STORE_URL)")
    check_models(cls)
    return state.models.client()


def freeze_heap() -> None:
    """Move every object alive now (imported modules, the loaded model) out of the cyclic garbage
    collector's sight (`gc.freeze`), so that its full collections scan only what requests create. Without
    this, under load a full collection scanned the whole heap every few seconds, stopping every request
    for 50-70 ms with the no-op predictor (its p99 at 32 connections) and for ~0.5 s with the
    sentence-similarity example's model loaded (426,000 objects). No collection first: at this point one
    takes as long and frees next to nothing (45 objects for that example)."""
    gc.freeze()
