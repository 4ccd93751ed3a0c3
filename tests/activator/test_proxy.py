"""The activator on loopback in front of real runtimes that the tests start and stop (issue 26, Tests)."""

from __future__ import annotations

import contextlib
from pathlib import Path

import httpx
from activator.activator_support import (
    HANG_GUARD,
    NEVER_READY_PREDICTOR,
    Clients,
    activator_on,
    blocking_runtime,
    start_runtime,
    wait_for,
)
from prometheus_client import CollectorRegistry
from support.processes import free_port

from predictorapi.contracts import metrics as names

API = "sentiment"


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, {"api": API, **labels}) or 0.0


def test_hundred_requests_at_zero_all_answer_200(tmp_path: Path) -> None:
    port = free_port()
    registry = CollectorRegistry()
    clients = Clients()
    # The runtime takes 4 running + 16 queued: the activator releases the burst 20 at a time.
    with activator_on([f"http://127.0.0.1:{port}"], registry=registry, backend_capacity=20) as served:
        futures = [clients.post(f"{served.url}/predict", {"n": i}) for i in range(100)]
        wait_for(lambda: served.held == 100, "100 requests held at zero")
        assert not any(future.done() for future in futures)
        with start_runtime(tmp_path, port):
            responses = [future.result(timeout=HANG_GUARD) for future in futures]
            bad = [r.text for r in responses if r.status_code != 200]
            assert not bad, bad
            assert all(r.json() == {"type": "dict", "size": 1} for r in responses)
            assert served.held == 0
            wait_for(lambda: served.in_flight == 0, "in-flight back to 0")
        assert sample(registry, names.ACTIVATOR_COLD_STARTS + "_total") == 1
        assert sample(registry, names.ACTIVATOR_COLD_START_WAIT + "_count") == 1
        assert sample(registry, names.ACTIVATOR_OUTCOMES + "_total", outcome="forwarded") == 100
        assert sample(registry, names.ACTIVATOR_HELD) == 0
        metrics = httpx.get(f"{served.url}/metrics", timeout=30).text
        assert names.ACTIVATOR_COLD_STARTS in metrics
    clients.close()


def test_runtime_never_ready_every_held_request_answered_within_the_bound(tmp_path: Path) -> None:
    port = free_port()
    registry = CollectorRegistry()
    clients = Clients()
    with (start_runtime(tmp_path, port, NEVER_READY_PREDICTOR),
          activator_on([f"http://127.0.0.1:{port}"], registry=registry, cold_start_timeout=3.0) as served):
        futures = [clients.post(f"{served.url}/predict") for _ in range(10)]
        # The hang guard is each client's own timeout: nothing may wait past it.
        responses = [future.result(timeout=HANG_GUARD) for future in futures]
        for response in responses:
            assert response.status_code == 503
            assert int(response.headers["retry-after"]) > 0
            body = response.json()
            assert body["api"] == API and body["reason"] == "cold_start_timeout"
            assert API in body["error"]
        assert served.held == 0
        assert sample(registry, names.ACTIVATOR_OUTCOMES + "_total", outcome="timed_out") == 10
        assert sample(registry, names.ACTIVATOR_COLD_STARTS + "_total") == 1
    clients.close()


def test_over_the_held_bound_a_fast_503(tmp_path: Path) -> None:
    port = free_port()
    registry = CollectorRegistry()
    clients = Clients()
    with activator_on([f"http://127.0.0.1:{port}"], registry=registry, max_held=3) as served:
        held = [clients.post(f"{served.url}/predict") for _ in range(3)]
        wait_for(lambda: served.held == 3, "3 requests held")
        # Fast: answered well before the 600 s cold-start bound, with no backend in sight.
        refused = httpx.post(f"{served.url}/predict", json={"text": "x"}, timeout=60)
        assert refused.status_code == 503
        assert refused.headers["retry-after"] == "1"
        assert refused.json()["api"] == API and refused.json()["reason"] == "held_limit"
        assert sample(registry, names.ACTIVATOR_OUTCOMES + "_total", outcome="refused") == 1
        with start_runtime(tmp_path, port):
            assert [f.result(timeout=HANG_GUARD).status_code for f in held] == [200] * 3
    clients.close()


def test_request_during_the_drain_of_the_last_pod_is_answered(tmp_path: Path) -> None:
    port_a, port_b = free_port(), free_port()
    release = tmp_path / "release"
    clients = Clients()
    with (blocking_runtime(tmp_path, port_a, release, "a") as first,
          activator_on([f"http://127.0.0.1:{port_a}", f"http://127.0.0.1:{port_b}"]) as served):
        wait_for(lambda: served.ready == 1, "the first replica ready")
        running = clients.post(f"{served.url}/predict")
        wait_for(lambda: served.in_flight == 1, "one request in flight on the first replica")
        first.terminate()  # the last pod drains: /readyz 503, its in-flight request still running
        wait_for(lambda: served.ready == 0, "the activator to see the last replica draining")
        arriving = clients.post(f"{served.url}/predict")
        wait_for(lambda: served.held == 1, "the request arriving during the drain held")
        with blocking_runtime(tmp_path, port_b, release, "b"):
            release.touch()
            assert running.result(timeout=HANG_GUARD).json() == {"released": True}
            answered = arriving.result(timeout=HANG_GUARD)
            assert answered.status_code == 200 and answered.json() == {"released": True}
    clients.close()


def test_stopped_backend_refusing_connections_holds_the_request_again(tmp_path: Path) -> None:
    """A backend the activator still believes ready but that has exited: the refused connection sent nothing,
    so the request is held again and answered by the next replica."""
    port_a, port_b = free_port(), free_port()
    clients = Clients()
    with activator_on([f"http://127.0.0.1:{port_a}", f"http://127.0.0.1:{port_b}"],
                      idle_poll_interval=3600) as served:
        with start_runtime(tmp_path, port_a, name="a") as first:
            first.wait_ready()
            served.set_backends([f"http://127.0.0.1:{port_a}", f"http://127.0.0.1:{port_b}"])  # wakes the poller
            wait_for(lambda: served.ready == 1, "the first replica ready")
            first.proc.kill()
            first.wait()
        # The poller sleeps (idle interval): the activator still believes port_a is ready.
        assert served.ready == 1
        pending = clients.post(f"{served.url}/predict")
        wait_for(lambda: served.held == 1, "the request held again after the refused connection")
        with start_runtime(tmp_path, port_b, name="b"):
            assert pending.result(timeout=HANG_GUARD).status_code == 200
    clients.close()


def test_probes_and_metrics_are_answered_locally_and_not_counted(tmp_path: Path) -> None:
    port = free_port()
    with activator_on([f"http://127.0.0.1:{port}"]) as served:
        for path in ("/readyz", "/healthz"):
            response = httpx.get(served.url + path, timeout=30)
            assert response.status_code == 200 and response.json()["api"] == API
        assert httpx.get(served.url + "/metrics", timeout=30).status_code == 200
        assert served.held == 0 and served.in_flight == 0


def test_a_client_that_leaves_while_held_is_no_longer_held(tmp_path: Path) -> None:
    port = free_port()
    registry = CollectorRegistry()
    with activator_on([f"http://127.0.0.1:{port}"], registry=registry) as served:
        with contextlib.suppress(httpx.ReadTimeout):  # the client gives up long before the 600 s bound
            httpx.post(f"{served.url}/predict", json={}, timeout=1.0)
        wait_for(lambda: served.held == 0, "the abandoned request no longer held")
        assert sample(registry, names.ACTIVATOR_OUTCOMES + "_total", outcome="abandoned") == 1
        with start_runtime(tmp_path, port):
            # Nothing was forwarded for it once a replica came.
            response = httpx.post(f"{served.url}/predict", json={}, timeout=HANG_GUARD)
            assert response.status_code == 200
            assert sample(registry, names.ACTIVATOR_OUTCOMES + "_total", outcome="forwarded") == 1
