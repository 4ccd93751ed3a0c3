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
    response = httpx.post(runtime.url, json={"kind": "hang", "seconds": 60}, timeout=30)
    body = assert_clean_error(response, 504)
    assert "0.5s" in body["error"]
    # Still serving: the hung call keeps one of the two slots (and its thread) busy, the other is free.
    assert httpx.get(f"{runtime.url}/healthz").status_code == 200
    assert httpx.get(f"{runtime.url}/readyz").status_code == 200
    assert httpx.post(runtime.url, json={"x": 1}).json() == {"type": "dict", "size": 1}
    assert metric_value(runtime.url, "predictorapi_in_flight_requests") == 0
    assert metric_value(runtime.url, "predictorapi_busy_slots") == 1
    assert metric_value(runtime.url, "predictorapi_abandoned_calls") == 1
    assert 'reason="timeout"' in httpx.get(f"{runtime.url}/metrics").text
    # SIGTERM still stops it although a predict thread is stuck in sleep(60): it does not wait for it.
    runtime.terminate()
    assert runtime.wait(50) == 0
    assert "still running" in runtime.log()


BLOCKING = """
    import os
    import time


    class PythonPredictor:
        def __init__(self, config):
            self.release = config["release"]

        def predict(self, payload):
            if payload.get("block"):
                while not os.path.exists(self.release):
                    time.sleep(0.01)
            return {"blocked": bool(payload.get("block"))}
"""


def wait_for(check, what: str, deadline_s: float = 90.0) -> None:
    """Poll `check()` until true; fail after a generous safety deadline."""
    deadline = time.monotonic() + deadline_s
    while not check():
        assert time.monotonic() < deadline, f"{what}: not after {deadline_s}s"
        time.sleep(0.05)


def test_hung_calls_keep_their_slots_and_a_wedged_replica_leaves_service(start_runtime, tmp_path) -> None:
    """Calls still running after their request timed out stay busy (abandoned); with every slot held by
    them, /readyz is 503 and new requests get a fast 503; after `wedged_seconds`, /healthz fails too.
    Released, the replica is healthy and ready again."""
    release = tmp_path / "release"
    runtime = start_runtime(BLOCKING, max_concurrency=2, max_queue_length=2, request_timeout_seconds=0.5,
                            wedged_seconds=1, predictor_config={"release": str(release)})
    url = runtime.url

    def gauges() -> tuple[float | None, ...]:
        return tuple(metric_value(url, f"predictorapi_{name}") for name in
                     ("in_flight_requests", "busy_slots", "abandoned_calls", "queue_length"))

    assert httpx.post(url, json={"block": True}, timeout=30).status_code == 504
    assert gauges() == (0, 1, 1, 0)  # answered, but the call still holds its slot
    assert httpx.get(f"{url}/readyz").status_code == 200  # one slot is still free
    assert httpx.post(url, json={}).json() == {"blocked": False}

    assert httpx.post(url, json={"block": True}, timeout=30).status_code == 504
    assert gauges() == (0, 2, 2, 0)
    readyz = httpx.get(f"{url}/readyz")
    assert (readyz.status_code, readyz.json()) == (503, {"status": "wedged"})
    refused = httpx.post(url, json={})
    assert refused.status_code == 503 and refused.headers["retry-after"] == "1"
    assert "timed out" in refused.json()["error"]
    wait_for(lambda: httpx.get(f"{url}/healthz").status_code == 503, "/healthz failing once wedged for 1s")
    assert httpx.get(f"{url}/healthz").json() == {"status": "wedged"}
    assert 'reason="wedged"} 1.0' in httpx.get(f"{url}/metrics").text

    release.touch()  # the hung calls return: their slots are free again
    wait_for(lambda: gauges() == (0, 0, 0, 0), "slots freed")
    assert httpx.get(f"{url}/healthz").status_code == 200
    assert httpx.get(f"{url}/readyz").status_code == 200
    assert httpx.post(url, json={"block": True}).json() == {"blocked": True}


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
