"""`spec.model` in the operator: the `fetch-model` init container, the model volume and the runtime's mount and
`PREDICTORAPI_MODEL_PATH` (pure builders, valid against the official schema), the secret on the init container
only, and a failed download reaching the status as `ModelDownloadFailed` through the emulated API server."""

from __future__ import annotations

from typing import Any

import kubernetes_validate
from support.manifests import manifest

from predictorapi.contracts.termination import ModelFetched, model_fetched_message
from predictorapi.spec import PredictorAPI
from predictorapi_operator.builders import build_children
from predictorapi_operator.builders.meta import BuildOptions
from predictorapi_operator.status import Observed, compute_status, pod_problem

from .test_reconcile import _pod, api, condition

URI = "s3://models/sentiment/v3/"
MODEL = {"uri": URI, "revision": "8c1d2e", "secretRef": {"name": "model-credentials"},
         "cache": {"claimName": "model-cache"}}


def _deployment(document: dict[str, Any]) -> dict[str, Any]:
    options = BuildOptions(runtime_image="registry.example/runtime:1")
    deployment = next(c for c in build_children(PredictorAPI.model_validate(document), options)
                      if c["kind"] == "Deployment")
    kubernetes_validate.validate(deployment, "1.37.0", strict=True)
    return deployment


def _pod_spec(document: dict[str, Any]) -> dict[str, Any]:
    return _deployment(document)["spec"]["template"]["spec"]


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
        "PREDICTORAPI_MODEL_CACHE_DIR": "/srv/model", "PREDICTORAPI_MODEL_LINK": "/srv/model-link/model"}
    # only the claim's models/ folder: its other folders are other APIs' (installed packages)
    assert {"name": "model", "mountPath": "/srv/model", "subPath": "models"} in init["volumeMounts"]
    assert {"name": "model-link", "mountPath": "/srv/model-link"} in init["volumeMounts"]
    assert {"name": "model", "mountPath": "/srv/model", "subPath": "models", "readOnly": True} in \
        runtime["volumeMounts"]
    assert {"name": "model-link", "mountPath": "/srv/model-link", "readOnly": True} in runtime["volumeMounts"]
    assert {"name": "model", "persistentVolumeClaim": {"claimName": "model-cache"}} in pod["volumes"]
    assert {"name": "model-link", "emptyDir": {"sizeLimit": "1Mi"}} in pod["volumes"]
    # the folder's cache key depends on what the store serves: the runtime follows fetch-model's link to it
    assert _env(runtime)["PREDICTORAPI_MODEL_PATH"] == "/srv/model-link/model"
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
    assert {"name": "model", "mountPath": "/srv/model"} in pod["initContainers"][0]["volumeMounts"]


def test_a_pvc_uri_mounts_the_claim_read_only_and_downloads_nothing() -> None:
    pod = _pod_spec(manifest(model={"uri": "pvc://model-store/sentiment//v3/./"}))
    assert "initContainers" not in pod
    assert {"name": "model", "persistentVolumeClaim": {"claimName": "model-store", "readOnly": True}} in pod["volumes"]
    assert not any(volume["name"] == "model-link" for volume in pod["volumes"])
    (runtime,) = pod["containers"]
    assert _env(runtime)["PREDICTORAPI_MODEL_PATH"] == "/srv/model/sentiment/v3"  # normalised, inside the claim


def test_the_insecure_http_opt_in_reaches_the_download() -> None:
    model = {"uri": "http://models.internal/m.bin", "secretRef": {"name": "c"}, "allowInsecureHttp": True}
    (init,) = _pod_spec(manifest(model=model))["initContainers"]
    assert _env(init)["PREDICTORAPI_MODEL_ALLOW_INSECURE_HTTP"] == "true"
    (init,) = _pod_spec(manifest(model={"uri": "https://models.example/m.bin"}))["initContainers"]
    assert "PREDICTORAPI_MODEL_ALLOW_INSECURE_HTTP" not in _env(init)


def test_the_status_shows_the_commit_the_model_resolved_to() -> None:
    """Issue 25, point 7: `status.modelRevision` is the commit in the newest pod's fetch-model message."""
    deployment = _deployment(manifest(model={"uri": "hf://org/name", "revision": "main"}))
    commit, older = "8c1d2e4f6a8b0c2d4e6f8a0b2c4d6e8f0a2b4c6d", "1" * 40

    def pod(name: str, created: str, revision: str) -> dict[str, Any]:
        message = model_fetched_message(ModelFetched(f"/srv/model/hf-org-name-{revision[:6]}", revision))
        return {"metadata": {"name": name, "creationTimestamp": created}, "status": {"initContainerStatuses": [
            {"name": "fetch-model", "state": {"terminated": {"exitCode": 0, "message": message}}}]}}

    pods = [pod("old", "2026-01-01T00:00:00Z", older), pod("new", "2026-01-02T00:00:00Z", commit)]
    status = compute_status(Observed(generation=1, deployment=deployment, pods=pods), None, "now")
    print(status["modelRevision"])
    assert status["modelRevision"] == commit
    kept = compute_status(Observed(generation=2, deployment=deployment, pods=[]), status, "now")
    assert kept["modelRevision"] == commit
    without = _deployment(manifest())
    assert "modelRevision" not in compute_status(Observed(generation=3, deployment=without, pods=pods), kept, "now")


def test_with_code_from_git_the_model_is_fetched_after_the_code() -> None:
    source = {"git": {"repo": "https://git.example/m.git", "revision": "v1"}}
    pod = _pod_spec(manifest(predictor={"source": source, "path": "predictor.py"}, model=MODEL))
    assert [c["name"] for c in pod["initContainers"]] == ["fetch-code", "install-packages", "fetch-model"]


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
