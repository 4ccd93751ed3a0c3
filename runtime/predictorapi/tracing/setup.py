"""Turning tracing on for a runtime process."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

from predictorapi.tracing.config import tracing_enabled

if TYPE_CHECKING:
    from predictorapi.tracing.serving import Tracing


def runtime_tracing(service: str, environ: Mapping[str, str] = os.environ) -> Tracing | None:
    """The process's tracing when `environ` turns it on (:func:`tracing_enabled`), service name `service` unless
    `OTEL_SERVICE_NAME` says otherwise; None otherwise, and OpenTelemetry is not even imported."""
    if not tracing_enabled(environ):
        return None
    from predictorapi.tracing.provider import start_provider
    from predictorapi.tracing.serving import Tracing

    return Tracing(start_provider(service))
