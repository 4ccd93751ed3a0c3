"""Pure builders: one `PredictorAPI` in, the Kubernetes objects that serve it out (dicts, no I/O)."""

from __future__ import annotations

from typing import Any

from predictorapi.spec import PredictorAPI
from predictorapi_operator.builders.activator import (
    build_activator_deployment,
    build_activator_services,
    route_to_activator,
)
from predictorapi_operator.builders.analysis import build_analysis_template
from predictorapi_operator.builders.deployment import build_deployment
from predictorapi_operator.builders.keda import build_scaled_object
from predictorapi_operator.builders.meta import BuildOptions, has_hpa, is_canary, scales_to_zero
from predictorapi_operator.builders.networking import build_ingress, build_service
from predictorapi_operator.builders.rollout import build_rollout, build_routing_services, route_ingress_to_stable
from predictorapi_operator.builders.scaling import build_hpa, build_pdb
from predictorapi_operator.builders.servicemonitor import build_service_monitor

__all__ = ["BuildOptions", "build_children", "has_hpa", "scales_to_zero"]


def build_children(api: PredictorAPI, options: BuildOptions | None = None) -> list[dict[str, Any]]:
    """Every child object of `api`, in the order they should be applied. A canary (`spec.rollout.strategy:
    Canary`) gets an Argo Rollout and its AnalysisTemplate instead of the Deployment (the operator builds it
    only where the cluster serves Argo Rollouts). An API that scales to zero (`autoscaling.minReplicas: 0`) gets a
    KEDA ScaledObject instead of the HPA (built only where the cluster serves KEDA), and its activator
    (`builders.activator`)."""
    options = options or BuildOptions()
    if is_canary(api):
        workload = [build_analysis_template(api, options.prometheus_url), *build_routing_services(api),
                    build_rollout(api, options)]
    else:
        workload = [build_deployment(api, options)]
    candidates = [
        route_to_activator(build_service(api), api, options),
        *build_activator_services(api),
        *workload,
        build_activator_deployment(api, options),
        build_hpa(api),
        build_scaled_object(api, options),
        build_pdb(api),
        route_ingress_to_stable(build_ingress(api), api),
        build_service_monitor(api) if options.service_monitor_available else None,
    ]
    return [child for child in candidates if child is not None]
