"""The server's contract over real HTTP: errors, request ids, readiness, back-pressure, drain, metrics."""

from __future__ import annotations

import concurrent.futures
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from support.processes import CLI, REPO, free_port, wait_ready
from support.runtimes import BLOCKING_PREDICTOR

SLOW = """
import time

class PythonPredictor:
    def __init__(self, config):
        self.delay = config.get("delay", 0.5)

    def predict(self, payload):
        if payload.get("fail"):
            raise RuntimeError("boom")
        time.sleep(payload.get("sleep", self.delay))
        return {"ok": True}
"""


def metric(url: str, name: str, **labels: str) -> float:
    """One sample's value from `/metrics`."""
    for family in text_string_to_metric_families(httpx.get(f"{url}/metrics").text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    raise KeyError(f"{name}{labels} not exported")


def wait_in_flight(url: str, api: str, count: int, timeout: float = 90) -> None:
    """Wait until the runtime reports at least `count` requests in flight."""
    deadline = time.monotonic() + timeout
    while metric(url, "predictorapi_in_flight_requests", api=api) < count:
        assert time.monotonic() < deadline, f"fewer than {count} requests in flight after {timeout}s"
        time.sleep(0.05)


def test_errors_are_json_with_the_request_id(serve_source) -> None:
    url = serve_source(SLOW, max_body_bytes=1000)
    bad = httpx.post(url, content=b"{not json", headers={"content-type": "application/json",
                                                          "x-request-id": "req-42"})
    assert bad.status_code == 400 and bad.headers["x-request-id"] == "req-42"
    assert bad.json()["request_id"] == "req-42" and "JSON" in bad.json()["error"]
    large = httpx.post(url, json={"text": "x" * 2000})
    assert large.status_code == 413 and large.json()["request_id"] == large.headers["x-request-id"]
    failing = httpx.post(url, json={"fail": True})
    assert failing.status_code == 500 and "Traceback" not in failing.text
    assert set(failing.json()) == {"error", "request_id"}
    assert httpx.post(url, json={"sleep": 0}).json() == {"ok": True}, "the server stays up after a 500"
    assert len(httpx.get(f"{url}/healthz").headers["x-request-id"]) == 32


def test_request_timeout_is_504(serve_source) -> None:
    url = serve_source(SLOW, request_timeout_seconds=0.3)
    response = httpx.post(url, json={"sleep": 2})
    assert response.status_code == 504 and "0.3" in response.json()["error"]


def test_back_pressure_is_an_immediate_503_with_retry_after(serve_source, tmp_path: Path) -> None:
    """With both slots and the one queue place held by requests that cannot finish, one more request is
    refused at once: its 503 comes back while the three are still held."""
    release = tmp_path / "release"
    url = serve_source(BLOCKING_PREDICTOR, max_concurrency=2, max_queue_length=1, request_timeout_seconds=300,
                       predictor_config={"release": str(release)})
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        held = [pool.submit(httpx.post, url, json={}, timeout=300) for _ in range(3)]
        wait_in_flight(url, "test", 3)
        assert metric(url, "predictorapi_queue_length", api="test") == 1
        refused = httpx.post(url, json={})
        assert not any(f.done() for f in held)
        release.touch()
        assert refused.status_code == 503 and refused.headers["retry-after"] == "1"
        assert [f.result().status_code for f in held] == [200, 200, 200]
    assert metric(url, "predictorapi_rejected_requests_total", api="test", reason="overloaded") == 1


def test_metrics_after_known_traffic(serve_source) -> None:
    url = serve_source(SLOW, predictor_config={"delay": 0})
    for _ in range(3):
        assert httpx.post(url, json={}).status_code == 200
    httpx.post(url, json={"fail": True})
    httpx.post(url, content=b"{", headers={"content-type": "application/json"})
    assert metric(url, "predictorapi_requests_total", api="test", code="200") == 3
    assert metric(url, "predictorapi_requests_total", api="test", code="500") == 1
    assert metric(url, "predictorapi_requests_total", api="test", code="400") == 1
    assert metric(url, "predictorapi_request_duration_seconds_count", api="test") == 5
    assert metric(url, "predictorapi_in_flight_requests", api="test") == 0
    assert metric(url, "predictorapi_max_concurrency", api="test") == 4
    assert metric(url, "predictorapi_predictor_load_seconds", api="test") >= 0


def test_readiness_waits_for_init_and_liveness_does_not(serve_source) -> None:
    url = serve_source("""
        import time

        class PythonPredictor:
            def __init__(self, config):
                time.sleep(1.5)

            def predict(self, payload):
                return "ready"
    """, wait_ready=False)
    assert httpx.get(f"{url}/healthz").status_code == 200
    loading = httpx.get(f"{url}/readyz")
    assert loading.status_code == 503 and loading.json() == {"status": "loading"}
    early = httpx.post(url, json={})
    assert early.status_code == 503 and "Retry-After" in early.headers
    deadline = time.monotonic() + 10
    while httpx.get(f"{url}/readyz").status_code != 200:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert httpx.post(url, json={}).text == "ready"


def _runtime(tmp_path: Path, source: str, **env: str) -> tuple[subprocess.Popen, str]:
    predictor = tmp_path / "predictor.py"
    predictor.write_text(textwrap.dedent(source))
    port = free_port()
    variables = {"PREDICTORAPI_PREDICTOR_PATH": str(predictor), "PREDICTORAPI_PORT": str(port),
                 "PREDICTORAPI_HOST": "127.0.0.1", "PREDICTORAPI_API_NAME": "proc", **env}
    proc = subprocess.Popen([sys.executable, "-m", "predictorapi"], cwd=REPO, env={**os.environ, **variables},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return proc, f"http://127.0.0.1:{port}"


def test_sigterm_drains_in_flight_requests_then_exits_zero(tmp_path: Path) -> None:
    proc, url = _runtime(tmp_path, SLOW, PREDICTORAPI_PREDICTOR_CONFIG='{"delay": 1.5}',
                         PREDICTORAPI_DRAIN_GRACE_SECONDS="20")
    try:
        wait_ready(f"{url}/readyz", proc, 60)
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            in_flight = [pool.submit(httpx.post, url, json={}, timeout=30) for _ in range(4)]
            wait_in_flight(url, "proc", 4)
            proc.send_signal(signal.SIGTERM)
            time.sleep(0.3)
            assert httpx.get(f"{url}/readyz").json() == {"status": "draining"}
            assert [f.result().status_code for f in in_flight] == [200, 200, 200, 200]
        assert proc.wait(30) == 0
    finally:
        proc.kill()


@pytest.mark.parametrize(("source", "words"), [
    ("class PythonPredictor:\n    def __init__(self, config):\n        raise ValueError('no model')\n"
     "    def predict(self, payload):\n        return 1\n", "ValueError: no model"),
    ("class PythonPredictor:\n    def predict(self, payload, body):\n        return 1\n", "'body'"),
    ("class Other:\n    pass\n", "'PythonPredictor' not found"),
], ids=["init-raises", "unknown-parameter", "no-class"])
def test_start_up_failures_exit_non_zero_and_say_why(tmp_path: Path, source: str, words: str) -> None:
    proc, _ = _runtime(tmp_path, source)
    try:
        output, _ = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode != 0
    assert words in output
    if "ValueError" in words:
        assert "Traceback" in output


def test_serve_refuses_a_manifest_naming_the_field(tmp_path: Path) -> None:
    not_ours = tmp_path / "deployment.yaml"
    not_ours.write_text("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\n")
    result = subprocess.run([*CLI, "serve", str(not_ours)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "kind" in result.stderr
    no_path = tmp_path / "predictorapi.yaml"
    no_path.write_text("apiVersion: serving.predictorapi.dev/v1alpha1\nkind: PredictorAPI\nmetadata: {name: x}\n"
                       "spec:\n  predictor:\n    image: x\n")
    result = subprocess.run([*CLI, "serve", str(no_path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "spec.predictor.path" in result.stderr


def test_deeply_nested_json_is_a_400_not_a_crash(serve_source) -> None:
    url = serve_source(SLOW)
    response = httpx.post(url, content=b"[" * 100_000, headers={"content-type": "application/json"})
    assert response.status_code == 400 and "nested too deeply" in response.json()["error"]
    assert httpx.get(f"{url}/healthz").status_code == 200


def test_serve_applies_the_crd_rules_too(tmp_path: Path) -> None:
    manifest = tmp_path / "predictorapi.yaml"
    manifest.write_text("apiVersion: serving.predictorapi.dev/v1alpha1\nkind: PredictorAPI\nmetadata: {name: x}\n"
                        "spec:\n  predictor: {image: x, path: p.py}\n"
                        "  autoscaling: {minReplicas: 3, maxReplicas: 1}\n")
    result = subprocess.run([*CLI, "serve", str(manifest)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "spec.autoscaling: autoscaling.minReplicas must be less than or equal to" in result.stderr


def test_draining_closes_connections_after_each_response_and_serves_while_traffic_lasts(tmp_path: Path) -> None:
    """After SIGTERM: `/readyz` 503, every response `Connection: close` (so clients stop reusing
    connections), a connection idle since before SIGTERM still served, and the server keeps serving as
    long as requests keep coming within `drain_quiet_seconds`; once they stop, it exits 0."""
    from support.soak import Runtime

    predictor = tmp_path / "predictor.py"
    predictor.write_text(textwrap.dedent(SLOW))
    runtime = Runtime(predictor, tmp_path / "runtime.log", api_name="drain", drain_min_seconds=0.5,
                      drain_quiet_seconds=5, drain_grace_seconds=120, predictor_config='{"delay": 0}')
    try:
        runtime.wait_ready()
        idle = socket.create_connection(("127.0.0.1", runtime.port), timeout=30)
        request = b'POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}'
        idle.sendall(request)
        assert b"connection: close" not in _one_response(idle)  # kept alive, then idle
        runtime.terminate()
        deadline = time.monotonic() + 60
        while httpx.get(f"{runtime.url}/readyz").status_code != 503:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        closes = []
        with httpx.Client() as client:  # a client that keeps sending to the draining replica for a while
            for _ in range(30):
                response = client.post(runtime.url, json={})
                assert response.status_code == 200
                closes.append(response.headers.get("connection"))
                time.sleep(0.1)
        assert closes == ["close"] * 30
        idle.sendall(request)  # the connection idle since before SIGTERM still works, once
        reply = _one_response(idle)
        assert reply.startswith(b"HTTP/1.1 200 ") and b"connection: close" in reply
        idle.close()
        assert runtime.wait(120) == 0
    finally:
        runtime.stop()


def _one_response(sock: socket.socket) -> bytes:
    """Read one response with a Content-Length body from `sock`."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(next(line for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:"))
                 .split(b":")[1])
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body
