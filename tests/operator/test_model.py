"""`spec.model` in the operator: the `fetch-model` init container, the model volume and the runtime's mount and
`PREDICTORAPI_MODEL_PATH` (pure builders, valid against the official schema), the secret on the init container
only, and a failed download reaching the status as `ModelDownloadFailed` through the emulated API server."""

from __future__ import annotations

from typing import Any

import kubernetes_validate
from support.manifests import manifest

from predictorapi.artifacts.uri import cache_key
from predictorapi.spec import PredictorAPI
from predictorapi_operator.builders import build_children
from predictorapi_operator.builders.meta import BuildOptions
from predictorapi_operator.status import pod_problem

from .test_reconcile import _pod, api, condition

URI = "s3://models/sentiment/v3/"
MODEL = {"uri": URI, "revision": "8c1d2e", "secretRef": {"name": "model-credentials"},
         "cache": {"claimName": "model-cache"}}


def _pod_spec(document: dict[str, Any]) -> dict[str, Any]:
    options = BuildOptions(runtime_image="registry.example/runtime:1")
    deployment = next(c for c in build_children(PredictorAPI.model_validate(document), options)
                      if c["kind"] == "Deployment")
    kubernetes_validate.validate(deployment, "1.37.0", strict=True)
    return deployment["spec"]["template"]["spec"]


def _env(container: dict[str, Any]) -> dict[str, str]:
    return {var["name"]: var.get("value") for var in container.get("env", [])}


def test_a_download_gets_an_init_container_and_a_read_only_mount() -> None:
    pod = _pod_spec(manifest(model=MODEL))
    (init,) = pod["initContainers"]
    (runtime,) = pod["containers"]
    assert init["name"] == "fetch-model" and init["image"] == "registry.example/runtime:1"
    assert init["command"] == ["predictorapi", "fetch-model"]
    assert {k: v for k, v in _env(init).items() if k.startswith("PREDICTORAPI_")} == {
        "PREDICTORAPI_MODEL_URI": URI, "PREDICTORAPI_MODEL_REVISION": "8c1d2e",
        "PREDICTORAPI_MODEL_CACHE_DIR": "/srv/model"}
    assert {"name": "model", "mountPath": "/srv/model"} in init["volumeMounts"]
    assert {"name": "model", "mountPath": "/srv/model", "readOnly": True} in runtime["volumeMounts"]
    assert {"name": "model", "persistentVolumeClaim": {"claimName": "model-cache"}} in pod["volumes"]
    assert _env(runtime)["PREDICTORAPI_MODEL_PATH"] == f"/srv/model/{cache_key(URI, '8c1d2e')}"
    assert init["securityContext"] == runtime["securityContext"]


def test_the_secret_reaches_the_init_container_only() -> None:
    pod = _pod_spec(manifest(model=MODEL))
    (init,) = pod["initContainers"]
    assert init["envFrom"] == [{"secretRef": {"name": "model-credentials"}}]
    (runtime,) = pod["containers"]
    assert "model-credentials" not in str(runtime)
    assert not any("model-credentials" in str(volume) for volume in pod["volumes"])


def test_without_a_cache_the_download_goes_to_an_empty_dir() -> None:
    pod = _pod_spec(manifest(model={"uri": "hf://distilbert/distilbert-base-uncased", "revision": "a" * 40}))
    assert {"name": "model", "emptyDir": {}} in pod["volumes"]
    assert "envFrom" not in pod["initContainers"][0]


def test_a_pvc_uri_mounts_the_claim_read_only_and_downloads_nothing() -> None:
    pod = _pod_spec(manifest(model={"uri": "pvc://model-store/sentiment/v3"}))
    assert "initContainers" not in pod
    assert {"name": "model", "persistentVolumeClaim": {"claimName": "model-store", "readOnly": True}} in pod["volumes"]
    (runtime,) = pod["containers"]
    assert _env(runtime)["PREDICTORAPI_MODEL_PATH"] == "/srv/model/sentiment/v3"


def test_with_code_from_git_the_model_is_fetched_after_the_code() -> None:
    source = {"git": {"repo": "https://git.example/m.git", "revision": "v1"}}
    pod = _pod_spec(manifest(predictor={"source": source, "path": "predictor.py"}, model=MODEL))
    assert [c["name"] for c in pod["initContainers"]] == ["fetch-code", "fetch-model"]


def test_a_crashed_download_without_a_message_is_still_a_model_download_failure() -> None:
    pods = [{"metadata": {"name": "p"}, "status": {"initContainerStatuses": [
        {"name": "fetch-model", "state": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}}]}}]
    assert pod_problem(pods) == ("ModelDownloadFailed", "fetch-model: OOMKilled")


def test_a_failed_download_is_degraded_naming_the_uri(emulated) -> None:
    cluster = emulated
    cluster.kube.create(api("modelapi", "team-m", model=MODEL))
    deployment = cluster.wait_for(lambda: cluster.get("Deployment", "team-m", "modelapi"), what="the Deployment")
    pod = deployment["spec"]["template"]["spec"]
    assert [c["name"] for c in pod["initContainers"]] == ["fetch-model"]
    message = (f"ModelDownloadFailed: {URI}: access denied: InvalidAccessKeyId (HTTP 403): The AWS Access Key Id "
               "you provided does not exist in our records.; check the AWS credentials in the secretRef")
    cluster.kube.create(_pod("modelapi-a", "modelapi", "team-m", {"initContainerStatuses": [
        {"name": "fetch-model", "state": {"waiting": {"reason": "CrashLoopBackOff"}},
         "lastState": {"terminated": {"exitCode": 1, "message": message}}}]}))
    status = cluster.wait_for(lambda: (s := cluster.get("PredictorAPI", "team-m", "modelapi").get("status", {})).get(
        "phase") == "Degraded" and s, what="Degraded on a failed download")
    degraded = condition(status, "Degraded")
    assert degraded["reason"] == "ModelDownloadFailed"
    assert degraded["message"] == f"fetch-model: {message}"
