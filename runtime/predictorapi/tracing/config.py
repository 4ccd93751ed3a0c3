"""When tracing is on: one rule over the standard OpenTelemetry environment variables (no OpenTelemetry import)."""

from __future__ import annotations

from collections.abc import Mapping

ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
"""An OTLP endpoint in either turns tracing on (the operator sets the second from `monitoring.tracing.endpoint`)."""


def tracing_enabled(environ: Mapping[str, str]) -> bool:
    """Whether to trace: an OTLP endpoint is configured, and neither `OTEL_SDK_DISABLED=true` nor
    `OTEL_TRACES_EXPORTER=none` turns tracing off."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    if environ.get("OTEL_TRACES_EXPORTER", "").strip().lower() == "none":
        return False
    return any(environ.get(name, "").strip() for name in ENDPOINT_VARIABLES)
