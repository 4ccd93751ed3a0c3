"""The Prometheus Operator ServiceMonitor, when `monitoring.serviceMonitor` is set."""

from __future__ import annotations

from typing import Any

from predictorapi.contracts.pod import HTTP_PORT_NAME
from predictorapi.spec import PredictorAPI
from predictorapi_operator.builders.meta import metadata, selector


def build_service_monitor(api: PredictorAPI) -> dict[str, Any] | None:
    """Scrape the Service's `http` port at `/metrics` every `monitoring.interval`."""
    if not api.spec.monitoring.service_monitor:
        return None
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": metadata(api),
        "spec": {
            "selector": {"matchLabels": selector(api)},
            "endpoints": [{"port": HTTP_PORT_NAME, "path": "/metrics", "interval": api.spec.monitoring.interval,
                           "scheme": "http"}],
        },
    }
