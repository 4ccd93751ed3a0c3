"""`spec.processesPerReplica` in the rendered children: the CPU request (one core per process unless
`compute.cpu` is set), the HPA target (`targetConcurrency` is per process), and the runtime's setting."""

from __future__ import annotations

from typing import Any

import pytest
from support.manifests import manifest

from predictorapi.runtime.settings import RuntimeSettings
from predictorapi.runtime.supervisor import worker_settings
from predictorapi.runtime_env import runtime_env
from predictorapi.spec import PredictorAPI
from predictorapi.validation import parse_document
from predictorapi_operator.builders import BuildOptions, build_children

from .test_builders import assert_valid_kubernetes


def children(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Children by kind, of the document as the API server would store it (defaults applied)."""
    built = build_children(parse_document(document), BuildOptions())
    assert_valid_kubernetes(built)
    return {child["kind"]: child for child in built}


def runtime_container(kinds: dict[str, dict[str, Any]]) -> dict[str, Any]:
    (container,) = [c for c in kinds["Deployment"]["spec"]["template"]["spec"]["containers"] if c["name"] == "runtime"]
    return container


@pytest.mark.parametrize(("spec", "cpu"), [
    ({}, "1"),
    ({"processesPerReplica": 3}, "3"),
    ({"processesPerReplica": 4, "compute": {"memory": "4Gi"}}, "4"),
    ({"processesPerReplica": 4, "compute": {"cpu": "1500m"}}, "1500m"),
    ({"processesPerReplica": 2, "compute": {"cpu": 1}}, "1"),
])
def test_the_cpu_request_is_one_core_per_process_unless_set(spec: dict[str, Any], cpu: str) -> None:
    container = runtime_container(children(manifest(**spec)))
    assert container["resources"]["requests"]["cpu"] == cpu


def test_the_runtime_gets_the_process_count() -> None:
    env = {var["name"]: var.get("value") for var in runtime_container(children(manifest(processesPerReplica=3)))["env"]}
    assert env["PREDICTORAPI_PROCESSES"] == "3"
    assert runtime_env("demo", PredictorAPI.model_validate(manifest()).spec)["PREDICTORAPI_PROCESSES"] == "1"


@pytest.mark.parametrize(("processes", "target", "average"), [(1, 2.5, "2500m"), (2, 2.5, "5"), (3, 0.1, "300m"),
                                                             (4, 1.0, "4")])
def test_the_hpa_target_per_pod_is_the_per_process_target_times_the_processes(
        processes: int, target: float, average: str) -> None:
    kinds = children(manifest(processesPerReplica=processes, maxConcurrency=8,
                              autoscaling={"maxReplicas": 5, "targetConcurrency": target}))
    (metric,) = kinds["HorizontalPodAutoscaler"]["spec"]["metrics"]
    assert metric["pods"]["target"] == {"type": "AverageValue", "averageValue": average}


def test_limits_are_split_across_the_workers() -> None:
    settings = RuntimeSettings(processes=3, max_concurrency=8, max_queue_length=2, threads=4)
    shares = [worker_settings(settings, index) for index in range(3)]
    assert [s.max_concurrency for s in shares] == [3, 3, 2]
    assert [s.max_queue_length for s in shares] == [1, 1, 0]
    assert [s.threads for s in shares] == [2, 1, 1]
    assert worker_settings(RuntimeSettings(processes=2), 1).threads is None  # each worker: its max_concurrency
    one_slot_each = [worker_settings(RuntimeSettings(processes=4, max_concurrency=4), i) for i in range(4)]
    assert {(s.max_concurrency, s.processes) for s in one_slot_each} == {(1, 1)}  # a worker serves alone


def test_the_runtime_refuses_fewer_run_slots_than_processes() -> None:
    with pytest.raises(ValueError, match="max_concurrency"):
        RuntimeSettings(processes=4, max_concurrency=2)
