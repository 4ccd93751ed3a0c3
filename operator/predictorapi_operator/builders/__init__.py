"""Pure builders: one `PredictorAPI` in, the Kubernetes objects that serve it out (dicts, no I/O)."""

from __future__ import annotations

from typing import Any

from predictorapi.spec import PredictorAPI
from predictorapi_operator.builders.deployment import build_deployment
from predictorapi_operator.builders.meta import BuildOptions, has_hpa
from predictorapi_operator.builders.networking import build_ingress, build_service
from predictorapi_operator.builders.scaling import build_hpa, build_pdb
from predictorapi_operator.builders.servicemonitor import build_service_monitor

__all__ = ["BuildOptions", "build_children", "has_hpa"]


def build_children(api: PredictorAPI, options: BuildOptions | None = None) -> list[dict[str, Any]]:
    """Every child object of `api`, in the order they should be applied."""
    options = options or BuildOptions()
    candidates = [
        build_service(api),
        build_deployment(api, options),
        build_hpa(api),
        build_pdb(api),
        build_ingress(api),
        build_service_monitor(api) if options.service_monitor_available else None,
    ]
    return [child for child in candidates if child is not None]
