"""Names, labels and options shared by every builder (see docs/contracts.md, "Children")."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from predictorapi.contracts.labels import API_LABEL, MANAGED_BY, MANAGED_BY_LABEL
from predictorapi.contracts.pod import DEFAULT_RUNTIME_IMAGE, HTTP_PORT_NAME
from predictorapi.runtime_env import tracing_env
from predictorapi.spec import PredictorAPI


@dataclass(frozen=True)
class BuildOptions:
    """What the builders need to know beyond the resource itself."""

    runtime_image: str = DEFAULT_RUNTIME_IMAGE
    """The runtime base image: serves `source.git` predictors and runs the `fetch-code` init container."""
    service_monitor_available: bool = True
    """Whether the cluster serves `monitoring.coreos.com/v1` (found through discovery by the operator)."""
    cluster_domain: str = "cluster.local"
    prometheus_url: str = "http://prometheus-operated.monitoring.svc:9090"
    """The Prometheus a canary's AnalysisTemplate and a scale-to-zero ScaledObject's trigger query."""
    at_zero: bool = False
    """Whether the workload of an API that scales to zero has no ready replica now (its Service then selects the
    activator's pod); observed by the operator, False where nothing is observed (`predictorapi render`)."""


def labels(api: PredictorAPI) -> dict[str, str]:
    """Labels on every child and pod."""
    return {
        "app.kubernetes.io/name": "predictorapi",
        "app.kubernetes.io/instance": api.metadata.name,
        MANAGED_BY_LABEL: MANAGED_BY,
        API_LABEL: api.metadata.name,
    }


def selector(api: PredictorAPI) -> dict[str, str]:
    """The pod selector (immutable on a Deployment, so as small as possible)."""
    return {API_LABEL: api.metadata.name}


def selector_string(api: PredictorAPI) -> str:
    """The pod selector as a label-selector string (for the scale subresource)."""
    return ",".join(f"{k}={v}" for k, v in selector(api).items())


def metadata(api: PredictorAPI) -> dict[str, Any]:
    """`metadata` of a child: same name and namespace as the PredictorAPI, standard labels."""
    meta: dict[str, Any] = {"name": api.metadata.name, "labels": labels(api)}
    if api.metadata.namespace:
        meta["namespace"] = api.metadata.namespace
    return meta


# Spec fields that do not reach the pods: changing them (`kubectl scale` included) must not roll the Deployment.
_NOT_IN_PODS = {"replicas", "autoscaling", "networking", "monitoring", "update_strategy", "rollout"}


def spec_hash(api: PredictorAPI) -> str:
    """A short digest of what the pods run: any change of it (config included) rolls the pods."""
    pod_spec = api.spec.model_dump(mode="json", by_alias=True, exclude=_NOT_IN_PODS)
    text = json.dumps(pod_spec, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def is_canary(api: PredictorAPI) -> bool:
    """Whether the API is released as an Argo Rollouts canary (a Rollout instead of a Deployment)."""
    return api.spec.rollout.strategy == "Canary"


def scales_to_zero(api: PredictorAPI) -> bool:
    """A KEDA ScaledObject owns the replica count (0..maxReplicas) when `autoscaling.minReplicas` is 0 and
    `spec.replicas` (what `kubectl scale` writes) does not pin it."""
    return api.spec.replicas is None and api.spec.autoscaling.min_replicas == 0


def has_hpa(api: PredictorAPI) -> bool:
    """An HPA owns the replica count when the spec allows a range of replicas from at least one (from zero it is
    a ScaledObject's, see `scales_to_zero`) and `spec.replicas` does not pin it."""
    scaling = api.spec.autoscaling
    return api.spec.replicas is None and scaling.max_replicas > scaling.min_replicas >= 1


def fixed_replicas(api: PredictorAPI) -> int | None:
    """The replica count the Deployment is given: `spec.replicas` when set, else a fixed
    `autoscaling.minReplicas`; None when an HPA or a ScaledObject owns the count."""
    if api.spec.replicas is not None:
        return api.spec.replicas
    return None if has_hpa(api) or scales_to_zero(api) else api.spec.autoscaling.min_replicas


def in_cluster_url(api: PredictorAPI, options: BuildOptions) -> str:
    """`http://NAME.NAMESPACE.svc.<domain>`."""
    return f"http://{api.metadata.name}.{api.metadata.namespace or 'default'}.svc.{options.cluster_domain}"


def ingress_url(api: PredictorAPI) -> str | None:
    """The external URL, when an ingress is asked for."""
    ingress = api.spec.networking.ingress
    if ingress is None:
        return None
    scheme = "https" if ingress.tls else "http"
    return f"{scheme}://{ingress.host}{ingress.path.rstrip('/') or ''}"


def http_probe(path: str, period: int, failures: int, port: str = HTTP_PORT_NAME) -> dict[str, Any]:
    """An HTTP GET probe of a container port (by name), with a 2 s timeout: the runtime's, the activator's and the
    model store's."""
    return {"httpGet": {"path": path, "port": port}, "periodSeconds": period, "failureThreshold": failures,
            "timeoutSeconds": 2}


def init_tracing_env(api: PredictorAPI) -> list[dict[str, str]]:
    """The `OTEL_*` variables of `monitoring.tracing` for an init container (its download or install is a span)."""
    return [{"name": k, "value": v} for k, v in tracing_env(api.metadata.name, api.spec).items()]


def init_container(name: str, options: BuildOptions, command: str, env: list[dict[str, Any]],
                   security_context: dict[str, Any], mounts: list[dict[str, Any]],
                   memory_request: str = "128Mi") -> dict[str, Any]:
    """An init container of the runtime image running `predictorapi COMMAND`: a small request, a 1Gi memory limit
    (pip unpacking large wheels, downloads), and its one-line error (or its log tail) as termination message."""
    return {
        "name": name,
        "image": options.runtime_image,
        "command": ["predictorapi", command],
        "env": env,
        "resources": {"requests": {"cpu": "100m", "memory": memory_request}, "limits": {"memory": "1Gi"}},
        "securityContext": security_context,
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "volumeMounts": mounts,
    }
