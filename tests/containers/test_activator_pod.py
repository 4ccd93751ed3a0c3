"""Scale to zero with real containers: the activator pod the operator renders for `minReplicas: 0` (the runtime
image, `python -m predictorapi.activator`, as rendered: uid 10001, read-only root filesystem) holds requests
while no runtime pod exists, tells a real gRPC client of KEDA's `externalscaler.proto` that the API is active,
and forwards every held request once the rendered runtime pod is ready. Only the addresses change: podman's host
network has no Services, so the activator's backend is the runtime pod's loopback port instead of
`NAME-replicas.NS.svc`."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import grpc
import httpx
from support import containers
from support.containers import Podman
from support.processes import free_port

from predictorapi.activator import externalscaler_pb2 as pb
from predictorapi.activator import externalscaler_pb2_grpc as pb_grpc
from predictorapi.contracts.env import ACTIVATOR_ENV_PREFIX

from .conftest import TEST_IMAGE
from .test_pods import HANG_GUARD_S, _manifest

HELD = 12


def _point(activator: dict[str, Any], port: int, scaler_port: int, backend: str) -> dict[str, Any]:
    """The rendered activator Deployment with loopback addresses (everything else as rendered)."""
    (container,) = activator["spec"]["template"]["spec"]["containers"]
    addresses = {"PORT": str(port), "SCALER_PORT": str(scaler_port), "BACKENDS": json.dumps([backend])}
    for var in container["env"]:
        name = var["name"].removeprefix(ACTIVATOR_ENV_PREFIX)
        var["value"] = addresses.get(name, var["value"])
    return activator


def test_the_rendered_activator_holds_requests_until_the_rendered_runtime_is_ready(
        podman: Podman, container_work: Path, predictors_image: str, runtime_image: str) -> None:
    manifest = _manifest("sleepy", "slow.py", maxConcurrency=4,
                         autoscaling={"minReplicas": 0, "maxReplicas": 2, "coldStartTimeoutSeconds": 240})
    runtime = containers.render(manifest, runtime_image)
    activator = containers.render(manifest, runtime_image, "sleepy-activator")
    runtime_port, activator_port, scaler_port = free_port(), free_port(), free_port()
    activator = _point(activator, activator_port, scaler_port, f"http://127.0.0.1:{runtime_port}")
    images = {TEST_IMAGE: predictors_image}
    ref = pb.ScaledObjectRef(name="sleepy", namespace="default", scalerMetadata={"targetConcurrency": "4"})
    with containers.played(podman, container_work, activator, activator_port, images, "sleepy-activator") as front, \
            ThreadPoolExecutor(HELD) as pool:
        front.wait_ready(HANG_GUARD_S, container="activator")
        assert httpx.get(f"{front.url}/readyz", timeout=10).status_code == 200, "ready at zero: it takes requests"
        with grpc.insecure_channel(f"127.0.0.1:{scaler_port}") as channel:
            scaler = pb_grpc.ExternalScalerStub(channel)
            assert scaler.IsActive(ref, timeout=60).result is False, "nothing held, nothing in flight"
            answers = [pool.submit(httpx.post, f"{front.url}/", json={"id": n}, timeout=HANG_GUARD_S)
                       for n in range(HELD)]
            deadline = time.monotonic() + HANG_GUARD_S
            while not scaler.IsActive(ref, timeout=60).result:
                assert time.monotonic() < deadline, "KEDA never heard the API is active"
                time.sleep(0.1)
            def demand() -> int:
                (metric,) = scaler.GetMetrics(pb.GetMetricsRequest(scaledObjectRef=ref), timeout=60).metricValues
                return metric.metricValue

            while demand() < HELD:  # the clients' connections arrive one by one (a busy machine: slowly)
                assert time.monotonic() < deadline, f"only {demand()} of {HELD} requests held"
                time.sleep(0.1)
            assert demand() == HELD, "held requests count toward the replicas KEDA asks for"
            assert not any(answer.done() for answer in answers), "held: no runtime pod exists yet"

            with containers.played(podman, container_work, runtime, runtime_port, images, "sleepy") as pod:
                pod.wait_ready(HANG_GUARD_S)
                responses = [answer.result(timeout=HANG_GUARD_S) for answer in answers]
                assert [r.status_code for r in responses] == [200] * HELD, [r.text for r in responses]
                assert sorted(r.json()["id"] for r in responses) == list(range(HELD))
                warm = httpx.post(f"{front.url}/", json={"id": "warm"}, timeout=HANG_GUARD_S)
                assert warm.status_code == 200 and warm.json()["id"] == "warm"
            metrics = httpx.get(f"{front.url}/metrics", timeout=10).text
    assert 'predictorapi_activator_cold_starts_total{api="sleepy"} 1.0' in metrics, metrics
    assert f'predictorapi_activator_requests_total{{api="sleepy",outcome="forwarded"}} {HELD + 1}.0' in metrics
