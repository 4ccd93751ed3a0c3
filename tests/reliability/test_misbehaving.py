"""Misbehaving predictors: each has a defined outcome, and the server survives what it can survive."""

from __future__ import annotations

import contextlib
import time

import httpx
from support.soak import metric_value


def assert_clean_error(response: httpx.Response, status: int) -> dict:
    """The runtime's JSON error shape, with no stack trace for the client."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json"), response.text
    body = response.json()
    assert set(body) == {"error", "request_id"}
    assert "Traceback" not in response.text and 'File "' not in response.text
    return body


def test_hanging_predict_times_out_with_504_and_server_stays_up(start_runtime) -> None:
    runtime = start_runtime(request_timeout_seconds=0.5, max_concurrency=2, drain_grace_seconds=2)
    started = time.monotonic()
    response = httpx.post(runtime.url, json={"kind": "hang", "seconds": 60}, timeout=10)
    elapsed = time.monotonic() - started
    body = assert_clean_error(response, 504)
    assert "0.5s" in body["error"]
    assert 0.4 < elapsed < 3
    # Still serving (the hung call keeps one of the two predict threads busy: documented).
    assert httpx.get(f"{runtime.url}/healthz").status_code == 200
    assert httpx.post(runtime.url, json={"x": 1}).json() == {"type": "dict", "size": 1}
    assert metric_value(runtime.url, "predictorapi_in_flight_requests") == 0
    assert 'reason="timeout"' in httpx.get(f"{runtime.url}/metrics").text
    # SIGTERM still stops it promptly although a predict thread is stuck in sleep(60).
    started = time.monotonic()
    runtime.terminate()
    assert runtime.wait(20) == 0
    assert time.monotonic() - started < 10
    assert "still running" in runtime.log()


def test_init_raising_exits_non_zero_with_traceback_and_never_ready(start_runtime) -> None:
    runtime = start_runtime("""
        class PythonPredictor:
            def __init__(self, config):
                raise RuntimeError("cannot load the weights")

            def predict(self, payload):
                return payload
    """, ready=False)
    ready_seen = []
    deadline = time.monotonic() + 30
    while runtime.proc.poll() is None and time.monotonic() < deadline:
        with contextlib.suppress(httpx.TransportError):
            ready_seen.append(httpx.get(f"{runtime.url}/readyz", timeout=1).status_code)
        time.sleep(0.02)
    assert runtime.wait(5) != 0
    assert 200 not in ready_seen
    log = runtime.log()
    assert "Traceback" in log
    assert "RuntimeError: cannot load the weights" in log


def test_sys_exit_in_init_exits_non_zero(start_runtime) -> None:
    runtime = start_runtime("""
        import sys

        class PythonPredictor:
            def __init__(self, config):
                sys.exit(0)  # even a "successful" exit code must not look like a clean stop

            def predict(self, payload):
                return payload
    """, ready=False)
    assert runtime.wait(30) != 0
    assert "SystemExit" in runtime.log()


def test_unserialisable_result_is_500_naming_the_type(start_runtime) -> None:
    runtime = start_runtime()
    body = assert_clean_error(httpx.post(runtime.url, json={"kind": "object"}), 500)
    assert "object" in body["error"]
    body = assert_clean_error(httpx.post(runtime.url, json={"kind": "raise"}), 500)
    assert "boom" not in body["error"]  # the exception text stays in the server log
    assert "ValueError: boom in predict" in runtime.log()


def test_sys_exit_in_predict_is_500_and_server_stays_up(start_runtime) -> None:
    runtime = start_runtime()
    for _ in range(3):
        assert_clean_error(httpx.post(runtime.url, json={"kind": "exit"}), 500)
    assert runtime.proc.poll() is None
    assert httpx.get(f"{runtime.url}/healthz").status_code == 200
    assert httpx.get(f"{runtime.url}/readyz").status_code == 200
    assert httpx.post(runtime.url, json={"x": 1}).status_code == 200
    assert metric_value(runtime.url, "predictorapi_in_flight_requests") == 0
    assert 'code="500"' in httpx.get(f"{runtime.url}/metrics").text
    assert "predict raised SystemExit(3)" in runtime.log()
