"""`spec.models` (issue 27) in the children: the `model-store` sidecar (the only container with the models'
credentials), the disk tier (an emptyDir, or the cache claim's `models/` folder; read-only in the runtime), `pvc://`
sources' claims, the runtime's settings, the Service port and the ServiceMonitor endpoint of the store's metrics;
every child valid for Kubernetes; and what `predictorapi validate` says of a bad `spec.models`."""

from __future__ import annotations

import json
from typing import Any

import pytest
from support.manifests import manifest

from predictorapi.contracts.models import (
    MODEL_STORE_CONTAINER,
    MODEL_STORE_MODELS_ENV,
    MODEL_STORE_PORT,
    MODEL_STORE_URL_ENV,
    MODELS_DIR,
    MODELS_ENV,
    RuntimeModels,
)
from predictorapi.contracts.pod import RUNTIME_CONTAINER
from predictorapi.spec import PredictorAPI
from predictorapi.validation import validate_document
from predictorapi_operator.builders import BuildOptions, build_children

from .test_builders import assert_valid_kubernetes, servicemonitor_errors

SECRET = "models-credentials"
DIR = manifest(models={"dir": "s3://models/many/", "cacheSize": 3, "diskCacheSize": 20, "pollSeconds": 30,
                       "secretRef": {"name": SECRET}},
               monitoring={"serviceMonitor": True})
CACHED = manifest(models={"paths": [{"name": "mpg-estimator", "uri": "s3://models/mpg/"},
                                    {"name": "local", "uri": "pvc://weights/models/local"},
                                    {"name": "local-two", "uri": "pvc://weights/models/two"},
                                    {"name": "bert", "uri": "hf://org/bert"}],
                          "cache": {"claimName": "model-cache"}},
                  predictor={"path": "p.py", "source": {"git": {"repo": "https://git.example/m.git",
                                                                "revision": "v1"}}})
SINGLE = manifest(models={"uri": "gs://models_bucket/mpg/"}, processesPerReplica=2,
                  autoscaling={"minReplicas": 0, "maxReplicas": 2}, monitoring={"serviceMonitor": True})


def build(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Children by kind."""
    return {child["kind"]: child for child in build_children(PredictorAPI.model_validate(document), BuildOptions())}


def pod(document: dict[str, Any]) -> dict[str, Any]:
    """The API's pod spec (not the activator's)."""
    children = build_children(PredictorAPI.model_validate(document), BuildOptions())
    return next(c for c in children if c["kind"] == "Deployment" and c["metadata"]["name"] == "demo")[
        "spec"]["template"]["spec"]


def container(spec: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in [*spec["containers"], *spec.get("initContainers", [])] if c["name"] == name)


def env(c: dict[str, Any]) -> dict[str, Any]:
    return {var["name"]: var.get("value", var.get("valueFrom")) for var in c.get("env", [])}


@pytest.mark.parametrize("document", [DIR, CACHED, SINGLE], ids=["dir", "paths-cached", "uri-zero"])
def test_children_are_valid_kubernetes_objects(document: dict[str, Any]) -> None:
    assert validate_document(document) == []
    children = list(build(document).values())
    assert_valid_kubernetes(children)
    monitors = [c for c in children if c["kind"] == "ServiceMonitor"]
    assert servicemonitor_errors(monitors) == [None] * len(monitors)


def test_the_store_is_a_sidecar_of_the_runtime_image_with_the_credentials() -> None:
    spec = pod(DIR)
    store = container(spec, MODEL_STORE_CONTAINER)
    assert store in spec["initContainers"] and store["restartPolicy"] == "Always"  # up before, down after the runtime
    assert store["image"] == BuildOptions().runtime_image and store["command"] == ["predictorapi", "model-store"]
    assert store["envFrom"] == [{"secretRef": {"name": SECRET}}]
    assert store["ports"] == [{"name": "model-store", "containerPort": MODEL_STORE_PORT, "protocol": "TCP"}]
    assert store["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": "model-store"}
    assert store["resources"]["requests"] == {"cpu": "100m", "memory": "256Mi"}
    context = store["securityContext"]
    assert context["readOnlyRootFilesystem"] and context["runAsNonRoot"] and context["capabilities"] == {
        "drop": ["ALL"]} and not context["allowPrivilegeEscalation"]
    settings = env(store)
    assert json.loads(settings[MODEL_STORE_MODELS_ENV]) == {
        "dir": "s3://models/many/", "cacheSize": 3, "diskCacheSize": 20, "pollSeconds": 30, "allowInsecureHttp": False}
    assert settings["PREDICTORAPI_MODEL_STORE_DIR"] == MODELS_DIR
    assert settings["PREDICTORAPI_MODEL_STORE_PORT"] == str(MODEL_STORE_PORT)
    assert "PREDICTORAPI_MODEL_STORE_PVC_ROOT" not in settings and SECRET not in json.dumps(settings)


def test_only_the_store_gets_the_credentials() -> None:
    spec = pod(DIR)
    for c in [*spec["containers"], *spec.get("initContainers", [])]:
        if c["name"] != MODEL_STORE_CONTAINER:
            assert SECRET not in json.dumps(c), c["name"]
    assert SECRET not in json.dumps(spec["volumes"])


def test_the_runtime_reads_the_disk_tier_read_only_and_asks_the_store_on_loopback() -> None:
    spec = pod(DIR)
    runtime = container(spec, RUNTIME_CONTAINER)
    settings = env(runtime)
    assert settings[MODEL_STORE_URL_ENV] == f"http://127.0.0.1:{MODEL_STORE_PORT}"
    assert RuntimeModels.from_json(settings[MODELS_ENV]) == RuntimeModels(cache_size=3, poll_seconds=30, single=False)
    mounts = {m["mountPath"]: m for m in runtime["volumeMounts"]}
    assert mounts[MODELS_DIR] == {"name": "models", "mountPath": MODELS_DIR, "readOnly": True}
    store_mounts = {m["mountPath"]: m for m in container(spec, MODEL_STORE_CONTAINER)["volumeMounts"]}
    assert store_mounts[MODELS_DIR] == {"name": "models", "mountPath": MODELS_DIR}
    assert {"name": "models", "emptyDir": {}} in spec["volumes"]


def test_a_cache_claim_is_shared_through_its_models_folder_and_claims_are_mounted_read_only() -> None:
    spec = pod(CACHED)
    assert {"name": "models", "persistentVolumeClaim": {"claimName": "model-cache"}} in spec["volumes"]
    claims = [v for v in spec["volumes"] if v["name"].startswith("predictorapi-models-")]
    assert claims == [{"name": "predictorapi-models-0", "persistentVolumeClaim": {"claimName": "weights",
                                                                                   "readOnly": True}}]
    for name, read_only in ((RUNTIME_CONTAINER, True), (MODEL_STORE_CONTAINER, False)):
        mounts = {m["mountPath"]: m for m in container(spec, name)["volumeMounts"]}
        assert mounts[MODELS_DIR]["subPath"] == "models" and mounts[MODELS_DIR].get("readOnly", False) == read_only
        assert mounts["/srv/model-claims/weights"] == {"name": "predictorapi-models-0",
                                                       "mountPath": "/srv/model-claims/weights", "readOnly": True}
    assert env(container(spec, MODEL_STORE_CONTAINER))["PREDICTORAPI_MODEL_STORE_PVC_ROOT"] == "/srv/model-claims"
    assert "envFrom" not in container(spec, MODEL_STORE_CONTAINER)
    # the store comes after the code and its packages, which go on the same claim (this API's own folder)
    assert [c["name"] for c in spec["initContainers"]] == ["fetch-code", "install-packages", MODEL_STORE_CONTAINER]
    assert {"name": "python-packages", "persistentVolumeClaim": {"claimName": "model-cache"}} in spec["volumes"]


def test_the_store_metrics_are_a_service_port_and_a_scraped_endpoint() -> None:
    children = build(DIR)
    ports = children["Service"]["spec"]["ports"]
    assert {"name": "model-store", "port": MODEL_STORE_PORT, "targetPort": MODEL_STORE_PORT, "protocol": "TCP"} in ports
    endpoints = children["ServiceMonitor"]["spec"]["endpoints"]
    assert [(e["port"], e["path"]) for e in endpoints] == [("http", "/metrics"), ("model-store", "/metrics")]
    plain = build(manifest(monitoring={"serviceMonitor": True}))
    assert [p["name"] for p in plain["Service"]["spec"]["ports"]] == ["http"]
    assert len(plain["ServiceMonitor"]["spec"]["endpoints"]) == 1


def test_the_runtime_of_one_model_may_omit_its_name_and_every_process_has_the_settings() -> None:
    runtime = container(pod(SINGLE), RUNTIME_CONTAINER)
    settings = env(runtime)
    assert RuntimeModels.from_json(settings[MODELS_ENV]) == RuntimeModels(cache_size=10, poll_seconds=None, single=True)
    assert settings["PREDICTORAPI_PROCESSES"] == "2"


def test_models_settings_roll_the_pods() -> None:
    def spec_hash(document: dict[str, Any]) -> str:
        return build(document)["Deployment"]["spec"]["template"]["metadata"]["annotations"][
            "serving.predictorapi.dev/spec-hash"]

    changed = manifest(models={**DIR["spec"]["models"], "cacheSize": 4}, monitoring={"serviceMonitor": True})
    assert spec_hash(changed) != spec_hash(DIR)


@pytest.mark.parametrize(("models", "extra", "field", "words"), [
    ({"dir": "s3://models/many/"}, {"model": {"uri": "s3://models/m/"}}, "spec.models", ("spec.model", "spec.models")),
    ({"dir": "s3://models/many/", "cacheSize": 20, "diskCacheSize": 5}, {}, "spec.models.diskCacheSize",
     ("diskCacheSize", "cacheSize")),
    ({"paths": [{"name": "a", "uri": "s3://models/a/"}, {"name": "a", "uri": "s3://models/b/"}]}, {},
     "spec.models.paths", ("unique",)),
    ({"uri": "s3://models/a/", "dir": "s3://models/"}, {}, "spec.models", ("exactly one", "uri", "paths", "dir")),
    ({"dir": "hf://org/name"}, {}, "spec.models.dir", ("hf://",)),
    ({"uri": "https://models.example/m.bin"}, {}, "spec.models.uri", ("listed",)),
])
def test_validate_names_the_fields(models, extra, field, words) -> None:
    problems = validate_document(manifest(models=models, **extra))
    messages = [p.message for p in problems if p.field == field]
    assert messages, [str(p) for p in problems]
    assert all(word in messages[0] for word in words), messages[0]
