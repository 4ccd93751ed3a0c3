"""The canary's children: a Rollout and an AnalysisTemplate valid against Argo Rollouts' published schemas
(npm `@kubernetes-models/argo-rollouts`) and its controller's checks, the HPA scaling the Rollout, the other
children valid Kubernetes objects, and the spec's defaults."""

from __future__ import annotations

from typing import Any

import kubernetes_validate
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import rollouts as argo
from support.manifests import manifest

from predictorapi.spec import PredictorAPI
from predictorapi_operator.builders import BuildOptions, build_children
from predictorapi_operator.builders.analysis import seconds
from predictorapi_operator.builders.deployment import build_deployment

KUBERNETES_VERSIONS = ("1.37.0", "1.36.0")


@pytest.fixture(scope="module")
def schema():
    if not argo.available():
        pytest.fail("Argo Rollouts' schemas are missing: run `npm install` in tests/support/node")
    checker = argo.RolloutsSchema()
    yield checker
    checker.close()


def children(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    built = build_children(PredictorAPI.model_validate(document), BuildOptions(prometheus_url="http://prom:9090"))
    return {f"{c['kind']}/{c['metadata']['name']}": c for c in built}


def assert_valid(schema: argo.RolloutsSchema, built: dict[str, dict[str, Any]]) -> None:
    for child in built.values():
        if child["apiVersion"] == "argoproj.io/v1alpha1":
            plural = {"Rollout": "rollouts", "AnalysisTemplate": "analysistemplates"}[child["kind"]]
            assert argo.admit(schema, plural, dict(child), None) == [], child["kind"]
        elif not child["apiVersion"].startswith("monitoring.coreos.com/"):
            for version in KUBERNETES_VERSIONS:
                kubernetes_validate.validate(child, version, strict=True)


def test_the_schema_check_is_real(schema) -> None:
    """The published schema refuses what Argo Rollouts would (so a pass above means something)."""
    rollout = children(manifest(rollout={"strategy": "Canary"}))["Rollout/demo"]
    rollout["spec"]["strategy"]["canary"]["steps"][0]["setWeight"] = "ten"
    errors = argo.admit(schema, "rollouts", rollout, None)
    assert [e.field for e in errors] == ["spec.strategy.canary.steps[0].setWeight"]
    template = children(manifest(rollout={"strategy": "Canary"}))["AnalysisTemplate/demo"]
    del template["spec"]["metrics"][0]["name"]
    assert argo.admit(schema, "analysistemplates", template, None) != []


def test_default_canary(schema) -> None:
    built = children(manifest(rollout={"strategy": "Canary"}, autoscaling={"minReplicas": 2, "maxReplicas": 5},
                              monitoring={"serviceMonitor": True}))
    assert "Deployment/demo" not in built
    assert_valid(schema, built)
    rollout = built["Rollout/demo"]["spec"]
    api = PredictorAPI.model_validate(manifest(rollout={"strategy": "Canary"},
                                               autoscaling={"minReplicas": 2, "maxReplicas": 5}))
    assert rollout["template"] == build_deployment(api, BuildOptions())["spec"]["template"], "the same pods"
    assert "replicas" not in rollout, "the HPA owns the count"
    assert rollout["strategy"]["canary"]["steps"] == [
        {"setWeight": 10}, {"pause": {"duration": "2m"}},
        {"analysis": {"templates": [{"templateName": "demo"}],
                      "args": [{"name": "canary-hash", "valueFrom": {"podTemplateHashValue": "Latest"}}]}},
        {"setWeight": 50}, {"pause": {"duration": "5m"}},
        {"analysis": {"templates": [{"templateName": "demo"}],
                      "args": [{"name": "canary-hash", "valueFrom": {"podTemplateHashValue": "Latest"}}]}}]
    assert built["HorizontalPodAutoscaler/demo"]["spec"]["scaleTargetRef"] == {
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "name": "demo"}
    assert built["PodDisruptionBudget/demo"]["spec"]["selector"] == rollout["selector"]
    assert built["ServiceMonitor/demo"]["spec"]["podTargetLabels"] == ["rollouts-pod-template-hash"]
    metrics = built["AnalysisTemplate/demo"]["spec"]["metrics"]
    assert [m["provider"]["prometheus"]["address"] for m in metrics] == ["http://prom:9090"] * 2
    assert all('rollouts_pod_template_hash="{{args.canary-hash}}"' in m["provider"]["prometheus"]["query"]
               for m in metrics)


def test_rolling_update_is_unchanged_by_default() -> None:
    built = children(manifest(autoscaling={"minReplicas": 2, "maxReplicas": 5}, monitoring={"serviceMonitor": True}))
    assert "Rollout/demo" not in built and "AnalysisTemplate/demo" not in built
    assert built["HorizontalPodAutoscaler/demo"]["spec"]["scaleTargetRef"]["kind"] == "Deployment"
    assert "podTargetLabels" not in built["ServiceMonitor/demo"]["spec"]


def test_changing_the_steps_does_not_change_the_pods() -> None:
    one = children(manifest(rollout={"strategy": "Canary"}))["Rollout/demo"]["spec"]["template"]
    other = children(manifest(rollout={"strategy": "Canary", "steps": [{"weight": 30}]}))["Rollout/demo"]
    assert other["spec"]["template"] == one


def test_nginx_routes_the_ingress_to_the_stable_service(schema) -> None:
    built = children(manifest(rollout={"strategy": "Canary", "trafficRouting": {"nginx": {}}},
                              networking={"ingress": {"host": "api.example.com"}}))
    assert_valid(schema, built)
    canary = built["Rollout/demo"]["spec"]["strategy"]["canary"]
    assert canary["trafficRouting"] == {"nginx": {"stableIngress": "demo"}}
    assert (canary["stableService"], canary["canaryService"]) == ("demo-stable", "demo-canary")
    backend = built["Ingress/demo"]["spec"]["rules"][0]["http"]["paths"][0]["backend"]
    assert backend["service"]["name"] == "demo-stable"
    assert {"Service/demo", "Service/demo-stable", "Service/demo-canary"} <= set(built)


def test_gateway_api_uses_the_plugin(schema) -> None:
    built = children(manifest(rollout={"strategy": "Canary", "trafficRouting": {"gatewayAPI": {"httpRoute": "r"}}}))
    assert_valid(schema, built)
    assert built["Rollout/demo"]["spec"]["strategy"]["canary"]["trafficRouting"] == {
        "plugins": {"argoproj-labs/gatewayAPI": {"httpRoute": "r", "namespace": "models"}}}


def test_latency_durations() -> None:
    assert [seconds(d) for d in ("2s", "500ms", "1.5s", "2m")] == [2.0, 0.5, 1.5, 120.0]


routers = st.sampled_from([{}, {"istio": {"virtualService": "vs"}}, {"gatewayAPI": {"httpRoute": "route"}},
                           {"nginx": {}}])


@st.composite
def canary_documents(draw) -> dict[str, Any]:
    low = draw(st.integers(1, 4))
    steps = draw(st.lists(st.builds(lambda w, p: {"weight": w, "pause": p}, st.integers(1, 100),
                                    st.sampled_from(["30s", "2m", "1h"])), min_size=1, max_size=5))
    spec: dict[str, Any] = {
        "rollout": {"strategy": "Canary", "steps": steps, "trafficRouting": draw(routers), "analysis": {
            "maxErrorRatio": draw(st.floats(0, 1)), "maxLatencyP99": draw(st.sampled_from(["250ms", "2s", "1.5s"])),
            "minRequests": draw(st.integers(0, 1000)), "interval": draw(st.sampled_from(["30s", "1m", "5m"]))}},
        "autoscaling": {"minReplicas": low, "maxReplicas": draw(st.integers(low, low + 4))},
        "updateStrategy": {"mode": draw(st.sampled_from(["Surge", "NoSurge"]))},
        "monitoring": {"serviceMonitor": draw(st.booleans())},
        "networking": {"ingress": {"host": "api.example.com"}},
    }
    if draw(st.booleans()):
        spec["replicas"] = draw(st.integers(0, 5))
    return manifest(**spec)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(canary_documents())
def test_any_canary_spec_builds_valid_objects(schema, document) -> None:
    built = children(document)
    assert_valid(schema, built)
    api = PredictorAPI.model_validate(document)
    steps = built["Rollout/demo"]["spec"]["strategy"]["canary"]["steps"]
    assert [s["setWeight"] for s in steps if "setWeight" in s] == [s.weight for s in api.spec.rollout.steps]
