"""The Prometheus Operator ServiceMonitor, when `monitoring.serviceMonitor` is set."""

from __future__ import annotations

from typing import Any

from predictorapi.contracts.labels import COMPONENT_LABEL, ROLLOUT_HASH_LABEL
from predictorapi.contracts.models import MODEL_STORE_PORT_NAME
from predictorapi.contracts.pod import HTTP_PORT_NAME
from predictorapi.spec import PredictorAPI
from predictorapi_operator.builders.meta import is_canary, metadata, scales_to_zero, selector


def build_service_monitor(api: PredictorAPI) -> dict[str, Any] | None:
    """Scrape the Service's `http` port at `/metrics` every `monitoring.interval` (for a canary, with the pods'
    `rollouts-pod-template-hash` label on the series). An API that scales to zero is scraped through its
    `-replicas` and `-activator` Services (its own Service selects either pods, and each is scraped once). With
    `spec.models`, the model store's `model-store` port too (disk tier and download metrics)."""
    if not api.spec.monitoring.service_monitor:
        return None
    services: dict[str, Any] = {"matchLabels": selector(api)}
    if scales_to_zero(api):
        services["matchExpressions"] = [{"key": COMPONENT_LABEL, "operator": "Exists"}]
    ports = [HTTP_PORT_NAME, *([MODEL_STORE_PORT_NAME] if api.spec.models is not None else [])]
    spec: dict[str, Any] = {
        "selector": services,
        "endpoints": [{"port": port, "path": "/metrics", "interval": api.spec.monitoring.interval, "scheme": "http"}
                      for port in ports],
    }
    if is_canary(api):  # the canary analysis selects a revision's series by its pod template hash
        spec["podTargetLabels"] = [ROLLOUT_HASH_LABEL]
    return {"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor", "metadata": metadata(api),
            "spec": spec}
