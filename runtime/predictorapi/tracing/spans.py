"""The predict route's spans: one server span per request (OpenTelemetry's HTTP server conventions), made current
for everything the request runs, and its `encode` or `stream` child. Imported only once tracing is on."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from typing import Any, Protocol

from opentelemetry import context as otel_context
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer, set_span_in_context
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from starlette.types import Scope

from predictorapi.runtime.logs import trace_var
from predictorapi.tracing.propagation import TRACERESPONSE, Incoming, traceresponse

_current: ContextVar[RequestTrace | None] = ContextVar("predictorapi_request_trace", default=None)


class Streamed(Protocol):
    """What a streamed response tells once it has ended (predictorapi.runtime.streaming.StreamResponse)."""

    sent: int
    outcome: str


class RequestTracing:
    """Starts the server span of each predict request (continuing the caller's trace)."""

    def __init__(self, tracer: Tracer) -> None:
        self.tracer = tracer
        self._propagator = TraceContextTextMapPropagator()

    def start(self, scope: Scope) -> RequestTrace:
        """The request's trace, its server span current until :meth:`RequestTrace.end`. An unsampled request gets a
        non-recording span (the SDK's sampler decides before any span is made): ids, no attributes, no export."""
        incoming = Incoming(scope["headers"], self._propagator)
        span = self.tracer.start_span(f"{scope['method']} {scope['path']}", context=incoming.parent,
                                      kind=SpanKind.SERVER)
        trace = RequestTrace(self.tracer, span, set_span_in_context(span, incoming.parent))
        if trace.sampled:
            _describe(span, scope, incoming.user_agent)
        return trace


def _describe(span: Span, scope: Scope, user_agent: str | None) -> None:
    """The server span's HTTP attributes (semantic conventions, stable HTTP set)."""
    path = scope["path"]
    attributes: dict[str, Any] = {"http.request.method": scope["method"], "url.path": path, "http.route": path,
                                  "url.scheme": scope.get("scheme", "http"),
                                  "network.protocol.version": scope.get("http_version", "1.1")}
    if server := scope.get("server"):
        attributes["server.address"], attributes["server.port"] = server[0], server[1]
    if client := scope.get("client"):
        attributes["client.address"] = client[0]
    if user_agent is not None:
        attributes["user_agent.original"] = user_agent
    span.set_attributes(attributes)


class RequestTrace:
    """One request's trace: its server span (current while the request runs), the ids its logs and exemplar carry,
    the `traceresponse` header (name and value), and when `predict` returned (the `encode` or `stream` span starts
    there)."""

    __slots__ = ("_current_token", "_log_token", "_stream_span", "_token", "exemplar", "header", "ids",
                 "predicted_at", "sampled", "span", "tracer")

    def __init__(self, tracer: Tracer, span: Span, context: Context) -> None:
        self.tracer, self.span = tracer, span
        span_context = span.get_span_context()
        self.sampled = span_context.trace_flags.sampled
        self.header = (TRACERESPONSE, traceresponse(span_context))
        self.ids: tuple[str, str] | None = None
        self.exemplar: dict[str, str] | None = None
        self.predicted_at: int | None = None
        self._stream_span: Span | None = None
        self._token = otel_context.attach(context)
        self._current_token: Token[RequestTrace | None] = _current.set(self)
        self._log_token: Token[tuple[str, str] | None] | None = None
        if self.sampled:
            self.ids = (f"{span_context.trace_id:032x}", f"{span_context.span_id:016x}")
            self.exemplar = {"trace_id": self.ids[0]}
            self._log_token = trace_var.set(self.ids)

    def answered(self, stream: Streamed | None) -> None:
        """The response is ready: its `encode` span (since `predict` returned), or for a stream the start of its
        `stream` span (first item received)."""
        if not self.sampled or self.predicted_at is None:
            return
        if stream is None:
            self.tracer.start_span("encode", start_time=self.predicted_at).end()
            return
        span = self._stream_span = self.tracer.start_span("stream", start_time=self.predicted_at)
        span.add_event("first item")
        span.set_attribute("predictorapi.stream.first_item_seconds", (time.time_ns() - self.predicted_at) / 1e9)

    def end(self, status: int, stream: Streamed | None) -> None:
        """The response was sent (or failed with `status`): end the spans, leave the request's context."""
        if self.sampled:
            self._end_stream(stream)
            self.span.set_attribute("http.response.status_code", status)
            if status >= 500:
                self.span.set_attribute("error.type", str(status))
                self.span.set_status(Status(StatusCode.ERROR))
        self.span.end()
        if self._log_token is not None:
            trace_var.reset(self._log_token)
        _current.reset(self._current_token)
        otel_context.detach(self._token)

    def _end_stream(self, stream: Streamed | None) -> None:
        span = self._stream_span
        if span is None or stream is None:
            return
        span.set_attributes({"predictorapi.stream.items": stream.sent, "predictorapi.stream.outcome": stream.outcome})
        if stream.outcome in ("error", "timeout", "idle_timeout"):
            span.set_status(Status(StatusCode.ERROR, stream.outcome))
        span.end()


def mark_predicted() -> None:
    """`predict` has returned for the current request (its `encode` or `stream` span starts now)."""
    trace = _current.get()
    if trace is not None:
        trace.predicted_at = time.time_ns()


@contextmanager
def detached() -> Iterator[None]:
    """Run the block outside of any request's trace (a batch, which serves many)."""
    token = otel_context.attach(Context())
    current = _current.set(None)
    try:
        yield
    finally:
        _current.reset(current)
        otel_context.detach(token)
