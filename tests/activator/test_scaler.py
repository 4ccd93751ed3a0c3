"""KEDA's side played by a real gRPC client of externalscaler.proto against the activator on loopback."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import grpc
import httpx
from activator.activator_support import HANG_GUARD, Clients, activator_on, blocking_runtime, wait_for
from support.processes import free_port

from predictorapi.activator import externalscaler_pb2 as pb
from predictorapi.contracts.metrics import ACTIVATOR_SCALER_METRIC

REF = pb.ScaledObjectRef(name="sentiment", namespace="models", scalerMetadata={"targetConcurrency": "4"})


def test_stream_is_active_pushes_active_on_the_first_held_request(tmp_path: Path, record_property) -> None:
    port = free_port()
    clients = Clients()
    with activator_on([f"http://127.0.0.1:{port}"], cold_start_timeout=5.0) as served, served.scaler() as scaler:
        stream = scaler.StreamIsActive(REF, timeout=HANG_GUARD)
        received: list[tuple[float, bool]] = []

        def read() -> None:
            try:
                for message in stream:
                    received.append((time.monotonic(), message.result))
            except grpc.RpcError as exc:  # the test's own cancel ends the stream
                assert exc.code() == grpc.StatusCode.CANCELLED

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        wait_for(lambda: len(received) == 1, "the stream's first (current) value")
        assert received[0][1] is False
        assert scaler.IsActive(REF, timeout=30).result is False

        pending = clients.post(f"{served.url}/predict")
        wait_for(lambda: len(received) == 2, "the pushed 'active'")
        pushed_at, active = received[1]
        assert active is True
        # Pushed while the request is still held (no replica exists): the push, not a poll or an answer.
        assert served.held == 1 and not pending.done()
        held_since = served.call(lambda: served.activator.held_since)
        latency = pushed_at - held_since
        record_property("stream_is_active_push_seconds", latency)
        print(f"StreamIsActive pushed 'active' {latency * 1000:.1f} ms after the first request was held")
        # No replica ever comes: the held request ends at its cold-start bound, and KEDA hears 'inactive'.
        assert pending.result(timeout=HANG_GUARD).status_code == 503
        wait_for(lambda: len(received) == 3, "the pushed 'inactive'")
        assert received[2][1] is False
        assert scaler.IsActive(REF, timeout=30).result is False
        stream.cancel()
        reader.join(timeout=30)
    clients.close()


def test_get_metrics_reports_held_plus_in_flight(tmp_path: Path) -> None:
    port_a, port_b = free_port(), free_port()
    release = tmp_path / "release"
    clients = Clients()
    with (blocking_runtime(tmp_path, port_a, release, "a") as first,
          activator_on([f"http://127.0.0.1:{port_a}", f"http://127.0.0.1:{port_b}"]) as served,
          served.scaler() as scaler):
        spec = scaler.GetMetricSpec(REF, timeout=30)
        assert [(m.metricName, m.targetSizeFloat, m.targetSize) for m in spec.metricSpecs] == [
            (ACTIVATOR_SCALER_METRIC, 4.0, 4)]
        request = pb.GetMetricsRequest(scaledObjectRef=REF, metricName=ACTIVATOR_SCALER_METRIC)

        def demand() -> float:
            values = scaler.GetMetrics(request, timeout=30).metricValues
            assert [v.metricName for v in values] == [ACTIVATOR_SCALER_METRIC]
            assert values[0].metricValue == values[0].metricValueFloat
            return values[0].metricValueFloat

        assert demand() == 0
        wait_for(lambda: served.ready == 1, "the first replica ready")
        running = [clients.post(f"{served.url}/predict") for _ in range(2)]
        wait_for(lambda: served.in_flight == 2, "two requests in flight")
        assert demand() == 2
        first.terminate()
        wait_for(lambda: served.ready == 0, "the replica draining")
        held = [clients.post(f"{served.url}/predict") for _ in range(3)]
        wait_for(lambda: served.held == 3, "three requests held")
        assert demand() == 5  # 3 held + 2 in flight
        assert scaler.IsActive(REF, timeout=30).result is True
        with blocking_runtime(tmp_path, port_b, release, "b"):
            release.touch()
            assert [f.result(timeout=HANG_GUARD).status_code for f in running + held] == [200] * 5
            wait_for(lambda: served.in_flight == 0, "nothing in flight")
            assert demand() == 0
            assert scaler.IsActive(REF, timeout=30).result is False
    clients.close()


def test_the_activator_entry_point_serves_proxy_and_scaler(tmp_path: Path) -> None:
    """`python -m predictorapi.activator`, configured by PREDICTORAPI_ACTIVATOR_* as a pod would be."""
    from support.processes import CLI, running

    from predictorapi.activator import externalscaler_pb2_grpc as pb_grpc

    port, scaler_port, backend = free_port(), free_port(), free_port()
    env = {"PREDICTORAPI_ACTIVATOR_API_NAME": "sentiment", "PREDICTORAPI_ACTIVATOR_HOST": "127.0.0.1",
           "PREDICTORAPI_ACTIVATOR_PORT": str(port), "PREDICTORAPI_ACTIVATOR_SCALER_PORT": str(scaler_port),
           "PREDICTORAPI_ACTIVATOR_BACKENDS": f'["http://127.0.0.1:{backend}"]',
           "PREDICTORAPI_ACTIVATOR_COLD_START_TIMEOUT_SECONDS": "2"}
    assert CLI[-1] == "predictorapi.cli"
    with running([*CLI[:-1], "predictorapi.activator"], port, env=env):
        with grpc.insecure_channel(f"127.0.0.1:{scaler_port}") as channel:
            scaler = pb_grpc.ExternalScalerStub(channel)
            assert scaler.IsActive(REF, timeout=60).result is False
        response = httpx.post(f"http://127.0.0.1:{port}/", json={}, timeout=HANG_GUARD)
        assert response.status_code == 503 and response.json()["reason"] == "cold_start_timeout"


def test_a_ref_of_another_api_is_inactive_with_no_demand() -> None:
    """Each API has its own activator: a ScaledObject pointing at another API's activator gets no demand."""
    with activator_on([f"http://127.0.0.1:{free_port()}"], cold_start_timeout=HANG_GUARD) as served, \
            served.scaler() as scaler:
        clients = Clients()
        pending = clients.post(f"{served.url}/predict")
        wait_for(lambda: served.held == 1, "the held request")

        def demand(name: str) -> float:
            ref = pb.ScaledObjectRef(name=name, namespace="models")
            request = pb.GetMetricsRequest(scaledObjectRef=ref, metricName=ACTIVATOR_SCALER_METRIC)
            return scaler.GetMetrics(request, timeout=30).metricValues[0].metricValueFloat

        own = pb.ScaledObjectRef(name=served.activator.api, namespace="models")
        other = pb.ScaledObjectRef(name="someone-else", namespace="models")
        assert (demand(served.activator.api), demand("someone-else")) == (1, 0)
        assert scaler.IsActive(own, timeout=30).result is True and scaler.IsActive(other, timeout=30).result is False
        served.call(lambda: served.activator.fail_held("test_over", "the test is over"))
        assert pending.result(timeout=HANG_GUARD).status_code == 503
    clients.close()
