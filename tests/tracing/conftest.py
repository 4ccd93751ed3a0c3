"""Fixtures: a loopback OTLP receiver, and the runtime served for real (`python -m predictorapi`, one process per
configuration: OpenTelemetry's global tracer provider can be set once per process) with tracing on; the sync
predictor most tests serve (it opens a span of its own and logs), and the `traceresponse` header read back."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from support.otlp import Receiver, otlp_receiver
from support.processes import REPO, free_port, stop, wait_ready


@dataclass
class Served:
    """A runtime process: its base URL and the file its logs go to."""

    url: str
    log: Path

    def log_text(self) -> str:
        return self.log.read_text()


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with otlp_receiver() as received:
        yield received


@contextmanager
def runtime(folder: Path, source: str, receiver: Receiver | None, **env: str) -> Iterator[Served]:
    """`python -m predictorapi` serving `source` (dedented), exporting spans to `receiver` (every 50 ms)."""
    (folder / "predictor.py").write_text(textwrap.dedent(source))
    port = free_port()
    variables = {**os.environ, "PREDICTORAPI_PREDICTOR_PATH": str(folder / "predictor.py"),
                 "PREDICTORAPI_PORT": str(port), "PREDICTORAPI_HOST": "127.0.0.1", "PREDICTORAPI_API_NAME": "traced",
                 "PREDICTORAPI_DRAIN_MIN_SECONDS": "0", "PREDICTORAPI_DRAIN_QUIET_SECONDS": "0",
                 "OTEL_BSP_SCHEDULE_DELAY": "50", **env}
    if receiver is not None:
        variables["OTEL_EXPORTER_OTLP_ENDPOINT"] = receiver.url
    log = folder / "runtime.log"
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "predictorapi"], cwd=REPO, env=variables, stdout=out,
                                stderr=subprocess.STDOUT)
    try:
        wait_ready(f"http://127.0.0.1:{port}/readyz", proc, timeout=60)
        yield Served(f"http://127.0.0.1:{port}", log)
    finally:
        stop(proc)


SYNC = """
    import logging

    from opentelemetry import trace


    class PythonPredictor:
        def __init__(self, config):
            self.tracer = trace.get_tracer("user")

        def predict(self, payload):
            with self.tracer.start_as_current_span("user work"):
                logging.getLogger("user").info("predicting")
                return {"echo": payload}
"""


def traceresponse(response: httpx.Response) -> tuple[str, str, bool]:
    """(trace id, span id, sampled flag) of the response's `traceresponse` header (Level 2: a new trace id also
    has the `random` flag, 0x02)."""
    version, trace_id, span_id, flags = response.headers["traceresponse"].split("-")
    assert version == "00" and len(trace_id) == 32 and len(span_id) == 16 and len(flags) == 2
    return trace_id, span_id, bool(int(flags, 16) & 1)


@pytest.fixture(scope="module")
def sync_runtime(tmp_path_factory: pytest.TempPathFactory, receiver: Receiver) -> Iterator[Served]:
    with runtime(tmp_path_factory.mktemp("sync"), SYNC, receiver) as served:
        yield served

