"""Scale to zero (`autoscaling.minReplicas: 0`): a KEDA ScaledObject in place of the HPA, valid against KEDA's
published schema (npm `@kubernetes-models/keda`) and its admission webhook's checks; the spec's new fields,
their defaults and bounds; canary with scale to zero refused naming both fields."""

from __future__ import annotations

from typing import Any

import kubernetes_validate
import pytest
from support import keda
from support.manifests import manifest

from predictorapi.activator.server import ActivatorSettings
from predictorapi.contracts import keda as keda_contract
from predictorapi.contracts.labels import ACTIVATOR_LABEL, API_LABEL, COMPONENT_LABEL
from predictorapi.spec import PredictorAPI
from predictorapi.validation import validate_document
from predictorapi_operator.builders import BuildOptions, build_children, has_hpa, scales_to_zero
from predictorapi_operator.builders.keda import build_scaled_object

KUBERNETES_VERSIONS = ("1.37.0", "1.36.0")
ZERO = {"minReplicas": 0, "maxReplicas": 5}


@pytest.fixture(scope="module")
def schema():
    if not keda.available():
        pytest.fail("KEDA's schema is missing: run `npm install` in tests/support/node")
    checker = keda.KedaSchema()
    yield checker
    checker.close()


def children(document: dict[str, Any], **options: Any) -> dict[str, dict[str, Any]]:
    """The children by kind (the API's own) and by `Kind/name` (the activator's, named after the API)."""
    built = build_children(PredictorAPI.model_validate(document), BuildOptions(**options))
    name = document["metadata"]["name"]
    return {c["kind"] if c["metadata"]["name"] == name else f"{c['kind']}/{c['metadata']['name']}": c
            for c in built}


def in_namespace(document: dict[str, Any], namespace: str) -> dict[str, Any]:
    return {**document, "metadata": {**document["metadata"], "namespace": namespace}}


def assert_valid(schema: keda.KedaSchema, built: dict[str, dict[str, Any]]) -> None:
    for child in built.values():
        if child["apiVersion"] == "keda.sh/v1alpha1":
            assert keda.admit(schema, "scaledobjects", dict(child), None) == [], child
        elif not child["apiVersion"].startswith("monitoring.coreos.com/"):
            for version in KUBERNETES_VERSIONS:
                kubernetes_validate.validate(child, version, strict=True)


def test_the_schema_check_is_real(schema) -> None:
    """The published schema and the webhook's checks refuse what KEDA would (a pass below means something)."""
    scaled = children(manifest(autoscaling=ZERO))["ScaledObject"]
    scaled["spec"]["cooldownPeriod"] = "five minutes"
    assert [e.field for e in keda.admit(schema, "scaledobjects", scaled, None)] == ["spec.cooldownPeriod"]
    scaled = children(manifest(autoscaling=ZERO))["ScaledObject"]
    del scaled["spec"]["triggers"][0]["metadata"][keda_contract.SCALER_ADDRESS]
    assert [e.field for e in keda.admit(schema, "scaledobjects", scaled, None)] == [
        "spec.triggers[0].metadata.scalerAddress"]
    scaled = children(manifest(autoscaling=ZERO))["ScaledObject"]
    del scaled["spec"]["scaleTargetRef"]
    errors = keda.admit(schema, "scaledobjects", scaled, None)
    assert any(e.field == "spec" and "scaleTargetRef" in e.detail for e in errors), errors  # the published schema


def test_default_scale_to_zero(schema) -> None:
    built = children(manifest(autoscaling=ZERO))
    assert "HorizontalPodAutoscaler" not in built, "the ScaledObject takes the HPA's place"
    assert "replicas" not in built["Deployment"]["spec"], "KEDA owns the count"
    assert_valid(schema, built)
    scaled = built["ScaledObject"]
    assert scaled["metadata"]["name"] == "demo" and scaled["metadata"]["labels"] == built["Service"]["metadata"][
        "labels"]
    assert scaled["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "demo"}
    assert (scaled["spec"]["minReplicaCount"], scaled["spec"]["maxReplicaCount"]) == (0, 5)
    assert scaled["spec"]["cooldownPeriod"] == 300, "idleSeconds' default"
    external, prometheus = scaled["spec"]["triggers"]
    assert external == {"type": "external-push", "metadata": {
        "scalerAddress": "demo-activator.models.svc.cluster.local:9090", "targetConcurrency": "1"}}
    assert prometheus == {"type": "prometheus", "metadata": {
        "serverAddress": "http://prometheus-operated.monitoring.svc:9090",
        "query": 'sum(predictorapi_in_flight_requests{namespace="models", api="demo"}) + '
                 '(sum(increase(predictorapi_requests_total{namespace="models", api="demo"}[120s])) > bool 0) '
                 "or vector(0)",
        "threshold": "1", "activationThreshold": "0"}}, "a warm API stays active while it is used"
    assert scaled["spec"]["advanced"]["horizontalPodAutoscalerConfig"]["behavior"] == {
        "scaleUp": {"stabilizationWindowSeconds": 0}, "scaleDown": {"stabilizationWindowSeconds": 300}}
    assert "PodDisruptionBudget" in built, "up to 5 replicas: one evicted at a time"


def test_fields_reach_the_scaled_object(schema) -> None:
    built = children(in_namespace(manifest(autoscaling={**ZERO, "idleSeconds": 45, "targetConcurrency": 1.5,
                                           "scaleUpStabilizationSeconds": 10}, processesPerReplica=2,
                              maxConcurrency=8), "ml"), cluster_domain="corp.example",
                     prometheus_url="http://prom.obs:9090")
    assert_valid(schema, built)
    spec = built["ScaledObject"]["spec"]
    assert spec["cooldownPeriod"] == 45
    assert spec["triggers"][0]["metadata"] == {"scalerAddress": "demo-activator.ml.svc.corp.example:9090",
                                               "targetConcurrency": "3"}, "per pod: 1.5 x 2 processes"
    assert spec["triggers"][1]["metadata"]["threshold"] == "3"
    assert spec["triggers"][1]["metadata"]["serverAddress"] == "http://prom.obs:9090"
    assert spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]["scaleUp"] == {
        "stabilizationWindowSeconds": 10}
    fractional = children(manifest(autoscaling={**ZERO, "targetConcurrency": 0.25}))["ScaledObject"]
    assert fractional["spec"]["triggers"][0]["metadata"]["targetConcurrency"] == "0.25"


def test_cpu_metric_adds_a_cpu_trigger_and_keeps_the_activator_to_wake_from_zero(schema) -> None:
    built = children(manifest(autoscaling={**ZERO, "metric": "cpu", "targetCPUUtilization": 70}))
    assert_valid(schema, built)
    triggers = built["ScaledObject"]["spec"]["triggers"]
    assert [t["type"] for t in triggers] == ["external-push", "prometheus", "cpu"]
    assert triggers[1]["metadata"]["threshold"] == str(keda_contract.NEVER_SCALES), "only keeps the API active"
    assert triggers[2] == {"type": "cpu", "metricType": "Utilization", "metadata": {"value": "70"}}


def test_at_least_one_replica_keeps_the_hpa_and_pinned_replicas_build_neither() -> None:
    assert {"HorizontalPodAutoscaler"} <= set(children(manifest(autoscaling={"minReplicas": 1, "maxReplicas": 3})))
    assert "ScaledObject" not in children(manifest(autoscaling={"minReplicas": 1, "maxReplicas": 3}))
    pinned = PredictorAPI.model_validate(manifest(autoscaling=ZERO, replicas=2))
    assert not scales_to_zero(pinned) and not has_hpa(pinned) and build_scaled_object(pinned) is None
    built = children(manifest(autoscaling=ZERO, replicas=2))
    assert built["Deployment"]["spec"]["replicas"] == 2 and "ScaledObject" not in built
    one = children(manifest(autoscaling={"minReplicas": 0, "maxReplicas": 1}))
    assert one["ScaledObject"]["spec"]["maxReplicaCount"] == 1 and "PodDisruptionBudget" not in one


def test_defaults_of_the_new_fields() -> None:
    api = PredictorAPI.model_validate(manifest(autoscaling=ZERO))
    assert api.spec.autoscaling.idle_seconds == 300
    assert api.spec.autoscaling.cold_start_timeout_seconds is None
    assert api.spec.cold_start_timeout() == api.spec.startup_timeout_seconds == 600, "the startup probe's budget"
    api = PredictorAPI.model_validate(manifest(autoscaling={**ZERO, "coldStartTimeoutSeconds": 90},
                                               startupTimeoutSeconds=1200))
    assert api.spec.cold_start_timeout() == 90
    assert validate_document(manifest(autoscaling={**ZERO, "idleSeconds": 30, "coldStartTimeoutSeconds": 1})) == []
    assert validate_document(manifest(autoscaling={**ZERO, "idleSeconds": 86400})) == []


def test_canary_with_scale_to_zero_is_refused_naming_both_fields() -> None:
    problems = validate_document(manifest(autoscaling=ZERO, rollout={"strategy": "Canary"}))
    assert [p.field for p in problems] == ["spec.autoscaling.minReplicas"]
    assert "autoscaling.minReplicas" in problems[0].message and "rollout.strategy" in problems[0].message
    with pytest.raises(ValueError, match=r"rollout\.strategy: Canary"):
        PredictorAPI.model_validate(manifest(autoscaling=ZERO, rollout={"strategy": "Canary"}))


def test_the_activator_is_built_beside_the_runtime(schema, monkeypatch: pytest.MonkeyPatch) -> None:
    built = children(in_namespace(manifest(autoscaling={**ZERO, "coldStartTimeoutSeconds": 90}), "ml"),
                     runtime_image="registry.example/runtime:1")
    assert_valid(schema, built)
    deployment, service, replicas = (built["Deployment/demo-activator"], built["Service/demo-activator"],
                                     built["Service/demo-replicas"])
    assert deployment["spec"]["replicas"] == 1
    pod = deployment["spec"]["template"]
    assert pod["metadata"]["labels"][ACTIVATOR_LABEL] == "demo" and API_LABEL not in pod["metadata"]["labels"], \
        "nothing that selects the runtime pods selects the activator"
    (container,) = pod["spec"]["containers"]
    assert container["image"] == "registry.example/runtime:1", "the runtime image: no image of its own"
    assert container["command"] == ["python", "-m", "predictorapi.activator"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    for var in container["env"]:  # read as the activator reads them
        monkeypatch.setenv(var["name"], var["value"])
    settings = ActivatorSettings()
    assert (settings.api_name, settings.backends, settings.cold_start_timeout_seconds) == (
        "demo", ["http://demo-replicas.ml.svc.cluster.local"], 90)
    assert {p["name"]: p["port"] for p in service["spec"]["ports"]} == {"http": 80, "scaler": 9090}
    assert service["spec"]["selector"] == {ACTIVATOR_LABEL: "demo"}
    assert replicas["spec"]["selector"] == {API_LABEL: "demo"}
    assert service["metadata"]["labels"][COMPONENT_LABEL] == "activator"
    assert replicas["metadata"]["labels"][COMPONENT_LABEL] == "replicas"
    assert all(child["metadata"]["labels"][API_LABEL] == "demo" for child in built.values()), "watched as children"


def test_the_service_selects_the_activator_only_at_zero() -> None:
    assert children(manifest(autoscaling=ZERO))["Service"]["spec"]["selector"] == {API_LABEL: "demo"}
    assert children(manifest(autoscaling=ZERO), at_zero=True)["Service"]["spec"]["selector"] == {
        ACTIVATOR_LABEL: "demo"}
    warm = children(manifest(autoscaling={"minReplicas": 1, "maxReplicas": 3}), at_zero=True)
    assert warm["Service"]["spec"]["selector"] == {API_LABEL: "demo"}, "only an API that scales to zero"
    assert not [key for key in warm if "/" in key], "and only it has an activator"


def test_each_pod_is_scraped_once() -> None:
    zero = children(manifest(autoscaling=ZERO, monitoring={"serviceMonitor": True}))
    selected = zero["ServiceMonitor"]["spec"]["selector"]
    scraped = [key for key, child in zero.items() if child["kind"] == "Service"
               and all(child["metadata"]["labels"].get(k) == v for k, v in selected["matchLabels"].items())
               and all(e["key"] in child["metadata"]["labels"] for e in selected["matchExpressions"])]
    assert sorted(scraped) == ["Service/demo-activator", "Service/demo-replicas"]
    warm = children(manifest(autoscaling={"minReplicas": 1, "maxReplicas": 3}, monitoring={"serviceMonitor": True}))
    assert warm["ServiceMonitor"]["spec"]["selector"] == {"matchLabels": {API_LABEL: "demo"}}


@pytest.mark.parametrize(("interval", "window"), [("15s", "60s"), ("30s", "120s"), ("1m", "240s"),
                                                  ("500ms", "60s")])
def test_recent_requests_are_counted_over_four_scrapes(interval: str, window: str) -> None:
    scaled = children(manifest(autoscaling=ZERO, monitoring={"interval": interval}))["ScaledObject"]
    assert f"[{window}]" in scaled["spec"]["triggers"][1]["metadata"]["query"]


def test_the_name_leaves_room_for_the_activator() -> None:
    longest = "a" * 53
    assert validate_document({**manifest(autoscaling=ZERO), "metadata": {"name": longest}}) == []
    problems = validate_document({**manifest(autoscaling=ZERO), "metadata": {"name": longest + "b"}})
    assert [p.field for p in problems] == ["metadata.name"] and "-activator" in problems[0].message
    assert validate_document({**manifest(autoscaling={"minReplicas": 1}), "metadata": {"name": longest + "b"}}) == []
