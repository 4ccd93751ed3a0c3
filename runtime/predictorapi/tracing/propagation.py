"""W3C Trace Context on the predict route: the caller's `traceparent`/`tracestate` in, `traceresponse` out."""

from __future__ import annotations

from opentelemetry.context import Context
from opentelemetry.trace import SpanContext
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

TRACEPARENT = b"traceparent"
TRACESTATE = b"tracestate"
USER_AGENT = b"user-agent"
TRACERESPONSE = b"traceresponse"


class Incoming:
    """What one scan of a request's headers finds for its trace: the caller's context (None without a
    `traceparent`) and its user agent."""

    __slots__ = ("parent", "user_agent")

    def __init__(self, headers: list[tuple[bytes, bytes]], propagator: TraceContextTextMapPropagator) -> None:
        carrier: dict[str, str] = {}
        self.user_agent: str | None = None
        for name, value in headers:
            if name in (TRACEPARENT, TRACESTATE):
                carrier[name.decode("latin-1")] = value.decode("latin-1")
            elif name == USER_AGENT:
                self.user_agent = value.decode("latin-1")
        self.parent: Context | None = propagator.extract(carrier) if "traceparent" in carrier else None


def traceresponse(context: SpanContext) -> bytes:
    """The `traceresponse` header value (W3C Trace Context Level 2): `00-<trace id>-<span id>-<flags>`."""
    return b"00-%032x-%016x-%02x" % (context.trace_id, context.span_id, context.trace_flags)
