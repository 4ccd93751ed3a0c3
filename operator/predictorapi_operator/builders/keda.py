"""The KEDA ScaledObject of an API that scales to zero (`autoscaling.minReplicas: 0`), in place of the HPA.

KEDA owns the replica count then: it scales the workload from 0 to 1 when the API's activator says it is active
(its external scaler pushes that over `StreamIsActive` the moment a request is held), from 1 to N on the in-flight
requests against the per-pod target (through the HPA KEDA makes, named `keda-hpa-NAME`, never ours), and back to
0 after `idleSeconds` without a request (`cooldownPeriod`). Warm requests do not pass the activator, so a
`prometheus` trigger reads the runtime's own metrics: its in-flight requests, plus one while a request was
answered within the last few scrapes (the API stays active while it is used, however light the load).
"""

from __future__ import annotations

from typing import Any

from predictorapi.contracts import keda, kinds
from predictorapi.contracts import metrics as series
from predictorapi.spec import PredictorAPI
from predictorapi_operator.builders.activator import scaler_address
from predictorapi_operator.builders.meta import BuildOptions, metadata, scales_to_zero
from predictorapi_operator.builders.scaling import scale_target

ACTIVITY_SCRAPES = 4
"""Scrape intervals (at least a minute) a request counts as recent activity for: `increase()` needs two samples."""
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}


def _decimal(value: float) -> str:
    """A trigger metadata number as KEDA parses it (a plain decimal string: `4`, `1.5`)."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def activity_window(api: PredictorAPI) -> str:
    """The range of the activity query: `ACTIVITY_SCRAPES` scrape intervals, at least a minute."""
    interval = api.spec.monitoring.interval
    number = interval.rstrip("mhs")
    seconds = float(number) * _UNIT_SECONDS[interval[len(number):]]
    return f"{max(60, round(seconds * ACTIVITY_SCRAPES))}s"


def demand_query(api: PredictorAPI) -> str:
    """PromQL: the API's in-flight requests over its replicas, plus 1 while any request was answered within the
    activity window; 0 with no series (at zero)."""
    match = (f'namespace="{api.metadata.namespace or "default"}", '
             f'{series.API_LABEL}="{api.metadata.name}"')
    return (f"sum({series.IN_FLIGHT}{{{match}}}) + "
            f"(sum(increase({series.REQUESTS}_total{{{match}}}[{activity_window(api)}])) > bool 0) or vector(0)")


def build_scaled_object(api: PredictorAPI, options: BuildOptions | None = None) -> dict[str, Any] | None:
    """`keda.sh/v1alpha1` ScaledObject scaling the Deployment (or a Rollout) between 0 and `maxReplicas`, when the
    spec scales to zero; None otherwise. Its `external-push` trigger points at the API's activator, its
    `prometheus` trigger at `BuildOptions.prometheus_url` (see the module docstring); with `metric: cpu` a `cpu`
    trigger scales 1..N on utilisation instead of the in-flight requests."""
    if not scales_to_zero(api):
        return None
    options = options or BuildOptions()
    scaling = api.spec.autoscaling
    target = scaling.target_concurrency * api.spec.processes_per_replica
    triggers: list[dict[str, Any]] = [{
        "type": keda.TRIGGER_TYPE,
        "metadata": {keda.SCALER_ADDRESS: scaler_address(api, options), keda.TARGET_CONCURRENCY: _decimal(target)},
    }, {
        "type": "prometheus",
        "metadata": {"serverAddress": options.prometheus_url, "query": demand_query(api),
                     # with metric: cpu the in-flight count only keeps the API active; it never adds replicas
                     "threshold": _decimal(target) if scaling.metric == "concurrency" else str(keda.NEVER_SCALES),
                     "activationThreshold": "0"},
    }]
    if scaling.metric == "cpu":
        triggers.append({"type": "cpu", "metricType": "Utilization",
                         "metadata": {"value": str(scaling.target_cpu_utilization)}})
    return {
        "apiVersion": kinds.KEDA_API,
        "kind": kinds.SCALED_OBJECT.kind,
        "metadata": metadata(api),
        "spec": {
            "scaleTargetRef": scale_target(api),
            "minReplicaCount": 0,
            "maxReplicaCount": scaling.max_replicas,
            "cooldownPeriod": scaling.idle_seconds,
            "advanced": {"horizontalPodAutoscalerConfig": {"behavior": {
                "scaleUp": {"stabilizationWindowSeconds": scaling.scale_up_stabilization_seconds},
                "scaleDown": {"stabilizationWindowSeconds": scaling.scale_down_stabilization_seconds},
            }}},
            "triggers": triggers,
        },
    }
