"""The spec's pod and cluster settings, as pod template fields: volumes and mounts, `envFrom`, scheduling
(affinity, topology spread, priority and runtime class), identity (service account, pull secrets) and the
pods' extra labels and annotations."""

from __future__ import annotations

from typing import Any

from predictorapi.contracts.pod import SHM_DIR, SHM_VOLUME
from predictorapi.spec import PredictorAPI
from predictorapi_operator.builders.meta import selector

HOSTNAME_TOPOLOGY = "kubernetes.io/hostname"


def _dump(model: Any) -> dict[str, Any]:
    """A spec model as the user wrote it, in Kubernetes' camelCase (defaults and unset fields left out)."""
    return model.model_dump(by_alias=True, exclude_unset=True, exclude_none=True)


def extra_volumes(api: PredictorAPI) -> list[dict[str, Any]]:
    """`spec.volumes`, and the in-memory `/dev/shm` of `compute.sharedMemory`."""
    out = [_dump(volume) for volume in api.spec.volumes]
    if api.spec.compute.shared_memory is not None:
        out.append({"name": SHM_VOLUME, "emptyDir": {"medium": "Memory",
                                                     "sizeLimit": str(api.spec.compute.shared_memory)}})
    return out


def extra_mounts(api: PredictorAPI) -> list[dict[str, Any]]:
    """`spec.volumeMounts` of the predictor's container, and `/dev/shm` for `compute.sharedMemory`."""
    out = [_dump(mount) for mount in api.spec.volume_mounts]
    if api.spec.compute.shared_memory is not None:
        out.append({"name": SHM_VOLUME, "mountPath": SHM_DIR})
    return out


def env_from(api: PredictorAPI) -> list[dict[str, Any]]:
    """`spec.envFrom` of the predictor's container."""
    return [_dump(source) for source in api.spec.env_from]


def topology_spread(api: PredictorAPI) -> list[dict[str, Any]]:
    """The spec's constraints (the API's own pods when one names none), else, when the autoscaler may run
    more than one replica, a preference to spread replicas over nodes."""
    own = {"matchLabels": selector(api)}
    constraints = [_dump(c) if c.label_selector else {**_dump(c), "labelSelector": own}
                   for c in api.spec.topology_spread_constraints]
    if not constraints and api.spec.autoscaling.max_replicas > 1:
        constraints = [{"maxSkew": 1, "topologyKey": HOSTNAME_TOPOLOGY, "whenUnsatisfiable": "ScheduleAnyway",
                        "labelSelector": own}]
    return constraints


def scheduling(api: PredictorAPI) -> dict[str, Any]:
    """Pod spec fields placing and identifying the pods; only those the spec sets (or defaults)."""
    spec = api.spec
    fields: dict[str, Any] = {
        "serviceAccountName": spec.service_account_name,
        "imagePullSecrets": [_dump(ref) for ref in spec.image_pull_secrets],
        "affinity": _dump(spec.affinity),
        "topologySpreadConstraints": topology_spread(api),
        "priorityClassName": spec.priority_class_name,
        "runtimeClassName": spec.runtime_class_name,
    }
    return {k: v for k, v in fields.items() if v not in (None, [], {})}


def template_metadata(api: PredictorAPI, labels: dict[str, str], annotations: dict[str, str]) -> dict[str, Any]:
    """Pod template metadata: the spec's extra labels and annotations, under the operator's own (which the
    spec may not set, and which win regardless)."""
    return {"labels": {**api.spec.labels, **labels}, "annotations": {**api.spec.annotations, **annotations}}
