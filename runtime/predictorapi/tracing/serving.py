"""The runtime's spans below the request's: waiting for a run slot, waiting for a batch and the batch itself, the
call into `predict`, and model loads. Each is opened only under a recording (sampled) span; imported only once
tracing is on."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from opentelemetry.context import attach, detach
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import (
    Link,
    NonRecordingSpan,
    SpanContext,
    Status,
    StatusCode,
    Tracer,
    get_current_span,
    set_span_in_context,
)

from predictorapi.runtime.batching import Batcher, _Batch, _Item
from predictorapi.runtime.invocation import Invoke
from predictorapi.runtime.limits import ConcurrencyLimiter, RunSlot
from predictorapi.tracing.spans import RequestTracing, detached, mark_predicted

TRACER_NAME = "predictorapi"


class Tracing:
    """Tracing of one runtime process: the request spans, and the runtime parts that open child spans."""

    def __init__(self, provider: TracerProvider) -> None:
        self.provider = provider
        self.tracer = provider.get_tracer(TRACER_NAME)
        self.requests = RequestTracing(self.tracer)

    def limiter(self, *args: Any, **kwargs: Any) -> ConcurrencyLimiter:
        """A :class:`ConcurrencyLimiter` whose wait for a run slot is a `queue` span."""
        return TracedLimiter(self.tracer, *args, **kwargs)

    def batcher(self, invoke: Callable[[dict[str, Any]], Any], **options: Any) -> Batcher:
        """A :class:`Batcher` whose requests wait in `batch wait` spans and whose batches are `batch` spans."""
        return TracedBatcher(self.tracer, invoke, **options)

    def invoke(self, invoke: Invoke) -> Invoke:
        """`invoke` in a `predict` span (current for the predictor's own spans)."""
        tracer = self.tracer

        async def invoke_traced(kwargs: dict[str, Any], slot: RunSlot | None = None) -> Any:
            if not get_current_span().is_recording():
                return await invoke(kwargs, slot)
            span = tracer.start_span("predict")
            token = attach(set_span_in_context(span))
            try:
                return await invoke(kwargs, slot)
            except BaseException as exc:
                span.record_exception(exc)
                span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
                raise
            finally:
                span.end()
                detach(token)
                mark_predicted()

        return invoke_traced

    def loader(self, load: Callable[[str], object]) -> Callable[[str], object]:
        """`load` (the predictor's `load_model`, called by `get_model`) in a `load_model` span."""
        tracer = self.tracer

        def load_traced(path: str) -> object:
            with tracer.start_as_current_span("load_model", attributes={"predictorapi.model.path": path}):
                return load(path)

        return load_traced

    def shutdown(self) -> None:
        """Export what is left and stop the exporter."""
        self.provider.shutdown()


class TracedLimiter(ConcurrencyLimiter):
    """A limiter whose wait for a run slot is a `queue` span of the (sampled) request waiting; a request that gets
    a free slot at once has no such span (it would only cost a span)."""

    def __init__(self, tracer: Tracer, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._tracer = tracer

    async def _wait_for_slot(self) -> RunSlot:
        """The wait for a run slot, in a `queue` span under a recording span."""
        if not get_current_span().is_recording():
            return await super()._wait_for_slot()
        with self._tracer.start_as_current_span("queue"):
            return await super()._wait_for_slot()


class TracedBatcher(Batcher):
    """A batcher whose (sampled) requests wait in a `batch wait` span each; a batch with any of them is a `batch`
    span, a child of the first one's and linking every one, its size as `predictorapi.batch.size`."""

    def __init__(self, tracer: Tracer, invoke: Callable[[dict[str, Any]], Any], **options: Any) -> None:
        super().__init__(invoke, **options)
        self._tracer = tracer
        self._waiting: dict[int, SpanContext] = {}

    async def submit(self, kwargs: dict[str, Any]) -> Any:
        """:meth:`Batcher.submit`, in a `batch wait` span under a recording span."""
        if not get_current_span().is_recording():
            return await super().submit(kwargs)
        with self._tracer.start_as_current_span("batch wait") as span:
            self._waiting[id(kwargs)] = span.get_span_context()
            try:
                result = await super().submit(kwargs)
            finally:
                del self._waiting[id(kwargs)]
        mark_predicted()
        return result

    async def _run(self, batch: _Batch) -> None:
        with detached():  # the batch's task was started from one of its requests: it is none of theirs
            await super()._run(batch)

    async def _call(self, items: list[_Item]) -> None:
        waited = [(index, context) for index, item in enumerate(items)
                  if (context := self._waiting.get(id(item.kwargs))) is not None]
        if not waited:
            await super()._call(items)
            return
        links = [Link(context, {"predictorapi.batch.index": index}) for index, context in waited]
        parent = set_span_in_context(NonRecordingSpan(waited[0][1]))
        with self._tracer.start_as_current_span("batch", context=parent, links=links,
                                                attributes={"predictorapi.batch.size": len(items)}):
            await super()._call(items)
