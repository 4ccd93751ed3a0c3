"""What an API that scales to zero (`autoscaling.minReplicas: 0`) has beside its runtime: its activator.

- `NAME-activator`: a Deployment of one small pod of the runtime image (`python -m predictorapi.activator`) and
  its Service (`http`, and `scaler`: KEDA's external scaler, where the ScaledObject's trigger points).
- `NAME-replicas`: a Service of the runtime pods, where the activator forwards what it holds.
- The API's own Service (`NAME`, `status.url`) selects the runtime pods while the workload has a ready replica,
  and the activator's pod otherwise (`BuildOptions.at_zero`, observed by the operator): the activator is in the
  path only at zero and while the first replica starts; warm requests go straight to the pods.
"""

from __future__ import annotations

from typing import Any

from predictorapi.contracts import keda
from predictorapi.contracts.env import ACTIVATOR_ENV_PREFIX, settings_env
from predictorapi.contracts.labels import (
    ACTIVATOR_LABEL,
    COMPONENT_LABEL,
    INSTANCE_LABEL,
    MANAGED_BY,
    MANAGED_BY_LABEL,
    NAME_LABEL,
)
from predictorapi.contracts.pod import (
    ACTIVATOR_CONTAINER,
    ACTIVATOR_SUFFIX,
    HTTP_PORT,
    HTTP_PORT_NAME,
    REPLICAS_SUFFIX,
    TMP_VOLUME,
)
from predictorapi.spec import PredictorAPI
from predictorapi_operator.builders.deployment import container_security_context, pod_security_context
from predictorapi_operator.builders.meta import BuildOptions, http_probe, metadata, scales_to_zero
from predictorapi_operator.builders.networking import SERVICE_PORT, build_service

ACTIVATOR = "activator"
REPLICAS = "replicas"
"""The `COMPONENT_LABEL` values of the activator's children and of the runtime pods' Service."""
RESOURCES = {"requests": {"cpu": "50m", "memory": "96Mi"}, "limits": {"memory": "256Mi"}}
"""The activator holds requests and copies bytes: a twentieth of a core and well under 256Mi."""


def activator_name(api: PredictorAPI) -> str:
    return api.metadata.name + ACTIVATOR_SUFFIX


def replicas_service_name(api: PredictorAPI) -> str:
    return api.metadata.name + REPLICAS_SUFFIX


def _host(api: PredictorAPI, service: str, options: BuildOptions) -> str:
    return f"{service}.{api.metadata.namespace or 'default'}.svc.{options.cluster_domain}"


def activator_children(api: PredictorAPI) -> list[tuple[str, str]]:
    """(kind, name) of the activator's children, whatever the spec (what goes once the API no longer scales
    to zero)."""
    return [("Deployment", activator_name(api)), ("Service", activator_name(api)),
            ("Service", replicas_service_name(api))]


def scaler_address(api: PredictorAPI, options: BuildOptions) -> str:
    """`host:port` of the API's activator's external scaler: the ScaledObject trigger's `scalerAddress`."""
    return f"{_host(api, activator_name(api), options)}:{keda.SCALER_PORT}"


def activator_selector(api: PredictorAPI) -> dict[str, str]:
    """The activator pod's selector (it has no API_LABEL: nothing that selects the runtime pods selects it)."""
    return {ACTIVATOR_LABEL: api.metadata.name}


def _child_metadata(api: PredictorAPI, name: str, component: str) -> dict[str, Any]:
    meta = metadata(api)
    return {**meta, "name": name, "labels": {**meta["labels"], COMPONENT_LABEL: component}}


def _env(api: PredictorAPI, options: BuildOptions) -> list[dict[str, str]]:
    values = {
        "api_name": api.metadata.name,
        "backends": [f"http://{_host(api, replicas_service_name(api), options)}"],
        "port": HTTP_PORT,
        "scaler_port": keda.SCALER_PORT,
        "cold_start_timeout_seconds": api.spec.cold_start_timeout(),
    }
    return [{"name": key, "value": value} for key, value in settings_env(values, ACTIVATOR_ENV_PREFIX).items()]


def build_activator_deployment(api: PredictorAPI, options: BuildOptions) -> dict[str, Any] | None:
    """The activator's Deployment (one pod), when the API scales to zero; None otherwise."""
    if not scales_to_zero(api):
        return None
    pod_labels = {NAME_LABEL: "predictorapi", INSTANCE_LABEL: api.metadata.name, MANAGED_BY_LABEL: MANAGED_BY,
                  COMPONENT_LABEL: ACTIVATOR, **activator_selector(api)}
    container = {
        "name": ACTIVATOR_CONTAINER,
        "image": options.runtime_image,
        "command": ["python", "-m", "predictorapi.activator"],
        "ports": [{"name": HTTP_PORT_NAME, "containerPort": HTTP_PORT, "protocol": "TCP"},
                  {"name": keda.SCALER_PORT_NAME, "containerPort": keda.SCALER_PORT, "protocol": "TCP"}],
        "env": _env(api, options),
        "resources": RESOURCES,
        "readinessProbe": http_probe("/readyz", 5, 2),
        "livenessProbe": http_probe("/healthz", 10, 3),
        "securityContext": container_security_context(),
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "volumeMounts": [{"name": TMP_VOLUME, "mountPath": "/tmp"}],
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _child_metadata(api, activator_name(api), ACTIVATOR),
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": activator_selector(api)},
            "revisionHistoryLimit": 2,
            "template": {"metadata": {"labels": pod_labels}, "spec": {
                "containers": [container],
                "volumes": [{"name": TMP_VOLUME, "emptyDir": {}}],
                "securityContext": pod_security_context(),
                "automountServiceAccountToken": False,
                "enableServiceLinks": False,
            }},
        },
    }


def build_activator_services(api: PredictorAPI) -> list[dict[str, Any]]:
    """`NAME-activator` (its `http` and `scaler` ports) and `NAME-replicas` (the runtime pods), when the API scales
    to zero; none otherwise."""
    if not scales_to_zero(api):
        return []
    http = {"name": HTTP_PORT_NAME, "port": SERVICE_PORT, "targetPort": HTTP_PORT_NAME, "protocol": "TCP"}
    scaler = {"name": keda.SCALER_PORT_NAME, "port": keda.SCALER_PORT, "targetPort": keda.SCALER_PORT_NAME,
              "protocol": "TCP"}
    activator = {"apiVersion": "v1", "kind": "Service",
                 "metadata": _child_metadata(api, activator_name(api), ACTIVATOR),
                 "spec": {"type": "ClusterIP", "selector": activator_selector(api), "ports": [http, scaler]}}
    replicas = build_service(api)
    replicas["metadata"] = _child_metadata(api, replicas_service_name(api), REPLICAS)
    return [activator, replicas]


def route_to_activator(service: dict[str, Any], api: PredictorAPI, options: BuildOptions) -> dict[str, Any]:
    """The API's own Service, selecting the activator's pod while an API that scales to zero is at zero."""
    if not (scales_to_zero(api) and options.at_zero):
        return service
    return {**service, "spec": {**service["spec"], "selector": activator_selector(api)}}
