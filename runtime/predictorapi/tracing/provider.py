"""The process's tracer provider: spans batched and exported over OTLP/HTTP, configured by `OTEL_*` variables."""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider


def start_provider(service: str) -> TracerProvider:
    """Install the global tracer provider: a batch span processor exporting OTLP over HTTP to
    `OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT`, the sampler of `OTEL_TRACES_SAMPLER` (default: parent-based, always on),
    and `service` as `service.name` unless `OTEL_SERVICE_NAME` or `OTEL_RESOURCE_ATTRIBUTES` names one."""
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    protocol = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
    if protocol and protocol.strip().lower() != "http/protobuf":
        logging.getLogger("predictorapi.tracing").warning(
            "OTLP protocol %r is not built in: spans are exported over http/protobuf (the collector's port 4318)",
            protocol)

    resource = Resource.create()
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: service}))
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    return provider
