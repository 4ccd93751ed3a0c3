"""The Service every API gets and the Ingress it gets when asked."""

from __future__ import annotations

from typing import Any

from predictorapi.contracts.models import MODEL_STORE_PORT, MODEL_STORE_PORT_NAME
from predictorapi.contracts.pod import HTTP_PORT_NAME
from predictorapi.spec import PredictorAPI
from predictorapi_operator.builders.meta import metadata, selector

SERVICE_PORT = 80


def build_service(api: PredictorAPI) -> dict[str, Any]:
    """ClusterIP Service: port 80 (`http`) → the runtime's `http` port; with `spec.models`, the model store's
    `model-store` port too (its `/metrics`, scraped by the ServiceMonitor; the rest of its API answers loopback
    only)."""
    ports = [{"name": HTTP_PORT_NAME, "port": SERVICE_PORT, "targetPort": HTTP_PORT_NAME, "protocol": "TCP"}]
    if api.spec.models is not None:  # a number: the store is a sidecar (an init container), not in `containers`
        ports.append({"name": MODEL_STORE_PORT_NAME, "port": MODEL_STORE_PORT, "targetPort": MODEL_STORE_PORT,
                      "protocol": "TCP"})
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(api),
        "spec": {"type": "ClusterIP", "selector": selector(api), "ports": ports},
    }


def build_ingress(api: PredictorAPI) -> dict[str, Any] | None:
    """An Ingress routing `host` + `path` to the Service, when `networking.ingress` is set."""
    ingress = api.spec.networking.ingress
    if ingress is None:
        return None
    backend = {"service": {"name": api.metadata.name, "port": {"name": HTTP_PORT_NAME}}}
    spec: dict[str, Any] = {
        "rules": [{"host": ingress.host,
                   "http": {"paths": [{"path": ingress.path, "pathType": "Prefix", "backend": backend}]}}],
    }
    if ingress.class_name:
        spec = {"ingressClassName": ingress.class_name, **spec}
    if ingress.tls:
        spec["tls"] = [{"hosts": [ingress.host], "secretName": ingress.tls.secret_name}]
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": metadata(api), "spec": spec}
