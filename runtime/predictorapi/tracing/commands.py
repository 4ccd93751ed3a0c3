"""A span around one `predictorapi` command (the init containers' downloads and installs), when tracing is on."""

from __future__ import annotations

import os
from collections.abc import Callable

from predictorapi.tracing.config import tracing_enabled

TRACED_COMMANDS = frozenset({"fetch", "fetch-model", "install-packages"})


def run_command(command: str, run: Callable[[], int]) -> int:
    """`run()`'s exit code; inside a span `predictorapi COMMAND` (exported before this returns) when `command` is
    one of the init containers' and tracing is on. A non-zero exit code marks the span as an error."""
    if command not in TRACED_COMMANDS or not tracing_enabled(os.environ):
        return run()
    from opentelemetry.trace import Status, StatusCode

    from predictorapi.tracing.provider import start_provider

    provider = start_provider(f"predictorapi-{command}")
    try:
        with provider.get_tracer("predictorapi").start_as_current_span(f"predictorapi {command}") as span:
            code = run()
            span.set_attribute("process.exit.code", code)
            if code != 0:
                span.set_status(Status(StatusCode.ERROR, f"exit code {code}"))
            return code
    finally:
        provider.shutdown()
