"""Distributed tracing (OpenTelemetry), off unless an OTLP endpoint is configured: see docs/tracing.md.

Nothing here imports OpenTelemetry at module level except :mod:`spans` and :mod:`serving`, which are only imported
once tracing is on (by :func:`predictorapi.tracing.setup.runtime_tracing`)."""
