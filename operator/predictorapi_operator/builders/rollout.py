"""The Argo Rollouts `Rollout` of a canary API (`spec.rollout.strategy: Canary`), in place of the Deployment.

Its pod template is the Deployment's (`deployment.pod_template`). Every canary step is three Argo steps:
`setWeight`, `pause` for the step's duration, then an inline analysis with the AnalysisTemplate of the same
name, given the canary revision's pod template hash. With `trafficRouting`, two more Services
(`NAME-stable`, `NAME-canary`) are built for Argo Rollouts to narrow to each revision's pods.
"""

from __future__ import annotations

from typing import Any

from predictorapi.contracts.pod import HTTP_PORT_NAME
from predictorapi.spec import PredictorAPI
from predictorapi_operator.builders.analysis import CANARY_HASH_ARG
from predictorapi_operator.builders.deployment import pod_template, rolling_update
from predictorapi_operator.builders.meta import BuildOptions, fixed_replicas, metadata, selector
from predictorapi_operator.builders.networking import build_service

GATEWAY_API_PLUGIN = "argoproj-labs/gatewayAPI"
"""The Argo Rollouts traffic router plugin for the Gateway API."""


def routing_services(api: PredictorAPI) -> tuple[str, str] | None:
    """(stable, canary) Service names when traffic is routed by weight, else None (replica ratio)."""
    routing = api.spec.rollout.traffic_routing
    if routing.gateway_api is None and routing.nginx is None and routing.istio is None:
        return None
    return f"{api.metadata.name}-stable", f"{api.metadata.name}-canary"


def build_routing_services(api: PredictorAPI) -> list[dict[str, Any]]:
    """The `-stable` and `-canary` Services (Argo Rollouts adds each revision's hash to their selectors)."""
    names = routing_services(api)
    if names is None:
        return []
    service = build_service(api)
    return [{**service, "metadata": {**service["metadata"], "name": name}} for name in names]


def route_ingress_to_stable(ingress: dict[str, Any] | None, api: PredictorAPI) -> dict[str, Any] | None:
    """With nginx routing, the API's Ingress sends to the `-stable` Service (Argo Rollouts adds a canary Ingress)."""
    names = routing_services(api)
    if ingress is None or names is None or api.spec.rollout.traffic_routing.nginx is None:
        return ingress
    backend = {"service": {"name": names[0], "port": {"name": HTTP_PORT_NAME}}}
    rules = [{**rule, "http": {"paths": [{**path, "backend": backend} for path in rule["http"]["paths"]]}}
             for rule in ingress["spec"]["rules"]]
    return {**ingress, "spec": {**ingress["spec"], "rules": rules}}


def _traffic_routing(api: PredictorAPI) -> dict[str, Any]:
    routing, name = api.spec.rollout.traffic_routing, api.metadata.name
    if routing.gateway_api is not None:
        return {"plugins": {GATEWAY_API_PLUGIN: {"httpRoute": routing.gateway_api.http_route,
                                                 "namespace": api.metadata.namespace or "default"}}}
    if routing.nginx is not None:
        return {"nginx": {"stableIngress": name}}
    assert routing.istio is not None
    return {"istio": {"virtualService": {"name": routing.istio.virtual_service}}}


def canary_steps(api: PredictorAPI) -> list[dict[str, Any]]:
    """setWeight → pause → analysis for every step of the spec."""
    out: list[dict[str, Any]] = []
    for step in api.spec.rollout.steps:
        analysis = {"templates": [{"templateName": api.metadata.name}],
                    "args": [{"name": CANARY_HASH_ARG, "valueFrom": {"podTemplateHashValue": "Latest"}}]}
        out += [{"setWeight": step.weight}, {"pause": {"duration": step.pause}}, {"analysis": analysis}]
    return out


def build_rollout(api: PredictorAPI, options: BuildOptions) -> dict[str, Any]:
    """The Rollout; no `replicas` when an HPA owns the count (the HPA scales the Rollout)."""
    canary: dict[str, Any] = {**rolling_update(api), "steps": canary_steps(api)}
    if (services := routing_services(api)) is not None:
        canary.update(stableService=services[0], canaryService=services[1], trafficRouting=_traffic_routing(api))
    spec: dict[str, Any] = {
        "selector": {"matchLabels": selector(api)},
        "template": pod_template(api, options),
        "revisionHistoryLimit": 5,
        "progressDeadlineSeconds": api.spec.startup_timeout_seconds + 120,
        "progressDeadlineAbort": True,
        "strategy": {"canary": canary},
    }
    if (replicas := fixed_replicas(api)) is not None:
        spec = {"replicas": replicas, **spec}
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "metadata": metadata(api), "spec": spec}
