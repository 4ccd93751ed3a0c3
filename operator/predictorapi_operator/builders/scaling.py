"""The HorizontalPodAutoscaler and the PodDisruptionBudget."""

from __future__ import annotations

from typing import Any

from predictorapi.contracts.metrics import IN_FLIGHT as IN_FLIGHT_METRIC
from predictorapi.spec import PredictorAPI
from predictorapi_operator.builders.meta import has_hpa, is_canary, metadata, selector


def _quantity(value: float) -> str:
    """A Kubernetes quantity for a possibly fractional target (1.5 → `1500m`)."""
    return str(int(value)) if float(value).is_integer() else f"{round(value * 1000)}m"


def scale_target(api: PredictorAPI) -> dict[str, str]:
    """What the HPA scales: the Deployment, or the Argo Rollout of a canary (it serves the scale subresource)."""
    if is_canary(api):
        return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "name": api.metadata.name}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "name": api.metadata.name}


def build_hpa(api: PredictorAPI) -> dict[str, Any] | None:
    """`autoscaling/v2` HPA on in-flight requests per pod (or CPU), when replicas may vary. A pod's in-flight
    requests are summed over its runtime processes, and `targetConcurrency` is per process: the target per
    pod is `targetConcurrency * processesPerReplica`."""
    if not has_hpa(api):
        return None
    scaling = api.spec.autoscaling
    if scaling.metric == "concurrency":
        target = scaling.target_concurrency * api.spec.processes_per_replica
        metric = {"type": "Pods", "pods": {
            "metric": {"name": IN_FLIGHT_METRIC},
            "target": {"type": "AverageValue", "averageValue": _quantity(target)},
        }}
    else:
        metric = {"type": "Resource", "resource": {
            "name": "cpu", "target": {"type": "Utilization", "averageUtilization": scaling.target_cpu_utilization},
        }}
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": metadata(api),
        "spec": {
            "scaleTargetRef": scale_target(api),
            "minReplicas": scaling.min_replicas,
            "maxReplicas": scaling.max_replicas,
            "metrics": [metric],
            "behavior": {
                "scaleUp": {"stabilizationWindowSeconds": scaling.scale_up_stabilization_seconds},
                "scaleDown": {"stabilizationWindowSeconds": scaling.scale_down_stabilization_seconds},
            },
        },
    }


def build_pdb(api: PredictorAPI) -> dict[str, Any] | None:
    """At most one replica voluntarily evicted at a time, when there may be more than one. It selects the pods
    by the API's label, so it covers a Rollout's stable and canary pods alike."""
    pinned = api.spec.replicas
    if (pinned if pinned is not None else api.spec.autoscaling.max_replicas) < 2:
        return None
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": metadata(api),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": selector(api)}},
    }
