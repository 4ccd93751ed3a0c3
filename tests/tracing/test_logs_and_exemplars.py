"""A traced request's ids in its access line (plain and JSON) and in the predictor's JSON log records, and on the
latency histogram as an OpenMetrics exemplar."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import pytest
from support.otlp import Receiver

from .conftest import SYNC, Served, runtime, traceresponse


@pytest.fixture(scope="module")
def json_lines(tmp_path_factory: pytest.TempPathFactory, receiver: Receiver) -> Iterator[Served]:
    with runtime(tmp_path_factory.mktemp("json"), SYNC, receiver, PREDICTORAPI_LOG_JSON="true") as served:
        yield served


def logged(served: Served, text: str, count: int = 1, timeout: float = 5.0) -> list[str]:
    """The log lines containing `text`, once there are `count` (lines are written every 50 ms: a request's lines
    may be written in two goes)."""
    deadline = time.monotonic() + timeout
    while len(lines := [line for line in served.log_text().splitlines() if text in line]) < count:
        assert time.monotonic() < deadline, f"no log line with {text}"
        time.sleep(0.05)
    return lines


def test_the_plain_access_line_ends_with_the_trace_and_span_ids(sync_runtime: Served) -> None:
    trace_id, span_id, _ = traceresponse(httpx.post(f"{sync_runtime.url}/predict", json={}))
    [line] = logged(sync_runtime, f"trace_id={trace_id}")
    assert "INFO predictorapi.access" in line and "POST /predict 200" in line
    assert line.endswith(f" trace_id={trace_id} span_id={span_id}")


def test_json_lines_carry_the_trace_and_span_ids(json_lines: Served) -> None:
    trace_id, span_id, _ = traceresponse(httpx.post(f"{json_lines.url}/predict", json={}))
    records = {record["logger"]: record for record in map(json.loads, logged(json_lines, trace_id, 2))}
    assert set(records) == {"user", "predictorapi.access"}
    for record in records.values():
        assert (record["trace_id"], record["span_id"]) == (trace_id, span_id)
    assert records["predictorapi.access"]["status"] == 200


def test_openmetrics_shows_the_trace_id_as_the_latencys_exemplar(sync_runtime: Served) -> None:
    trace_id, _, _ = traceresponse(httpx.post(f"{sync_runtime.url}/predict", json={}))
    metrics = httpx.get(f"{sync_runtime.url}/metrics", headers={
        "Accept": "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"})
    assert metrics.headers["content-type"].startswith("application/openmetrics-text")
    assert metrics.text.endswith("# EOF\n")
    exemplars = [line for line in metrics.text.splitlines()
                 if line.startswith("predictorapi_request_duration_seconds_bucket") and " # {" in line]
    assert any(f'trace_id="{trace_id}"' in line for line in exemplars), exemplars
    plain_text = httpx.get(f"{sync_runtime.url}/metrics")
    assert plain_text.headers["content-type"].startswith("text/plain") and " # {" not in plain_text.text
