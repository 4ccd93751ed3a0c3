"""Pod and cluster settings (`spec.serviceAccountName`, `volumes`, `affinity`, `labels`, ...): what the pod
template gets, that it is valid against Kubernetes' own schemas, `predictorapi render` shows it, and the
operator applies it against the emulated API server."""

from __future__ import annotations

import copy
import os
import subprocess
from typing import Any

import kubernetes_validate
import pytest
import yaml
from support.manifests import manifest
from support.packages import git_repo
from support.processes import CLI

from predictorapi.contracts.labels import RESERVED_POD_ANNOTATIONS, RESERVED_POD_LABELS, SPEC_HASH_ANNOTATION
from predictorapi.spec import PredictorAPI
from predictorapi.validation import validate_document
from predictorapi_operator.builders import BuildOptions, build_children
from predictorapi_operator.builders.meta import labels

KUBERNETES_VERSIONS = ("1.37.0", "1.36.0")
IMAGE = {"image": "registry.example/demo:1", "path": "predictor.py"}
GIT = {"path": "models/echo/predictor.py", "source": {"git": {"repo": "https://git.example/m.git", "revision": "v1"}}}
ZONE_SPREAD = {"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "DoNotSchedule",
               "minDomains": 2, "nodeAffinityPolicy": "Honor", "nodeTaintsPolicy": "Ignore",
               "matchLabelKeys": ["pod-template-hash"]}
AFFINITY = {
    "nodeAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": "node.kubernetes.io/instance-type", "operator": "In",
                                   "values": ["g5.xlarge", "g5.2xlarge"]},
                                  {"key": "gpu-memory-gb", "operator": "Gt", "values": ["20"]}]},
            {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["gpu-node-1"]}]}]},
        "preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 50, "preference": {"matchExpressions": [{"key": "spot", "operator": "DoesNotExist"}]}}],
    },
    "podAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 10, "podAffinityTerm": {
        "labelSelector": {"matchLabels": {"app": "feature-store"}}, "topologyKey": "topology.kubernetes.io/zone",
        "namespaces": ["data"]}}]},
    "podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{
        "labelSelector": {"matchExpressions": [{"key": "serving.predictorapi.dev/api", "operator": "In",
                                                "values": ["full"]}]},
        "namespaceSelector": {}, "topologyKey": "kubernetes.io/hostname", "matchLabelKeys": ["pod-template-hash"]}]},
}
POD_SETTINGS: dict[str, Any] = {
    "serviceAccountName": "model-reader",
    "imagePullSecrets": [{"name": "registry-credentials"}],
    "volumes": [
        {"name": "weights", "persistentVolumeClaim": {"claimName": "weights", "readOnly": True}},
        {"name": "settings", "configMap": {"name": "settings", "items": [{"key": "app.yaml", "path": "conf/app.yaml",
                                                                           "mode": 0o444}], "optional": True}},
        {"name": "certs", "secret": {"secretName": "certs", "defaultMode": 0o440}},
        {"name": "scratch", "emptyDir": {"medium": "Memory", "sizeLimit": "512Mi"}},
        {"name": "plain", "emptyDir": {}},
    ],
    "volumeMounts": [
        {"name": "weights", "mountPath": "/models", "readOnly": True},
        {"name": "settings", "mountPath": "/etc/app"},
        {"name": "certs", "mountPath": "/etc/certs", "readOnly": True},
        {"name": "scratch", "mountPath": "/scratch"},
        {"name": "plain", "mountPath": "/tmp/work", "subPath": "work"},
    ],
    "envFrom": [{"configMapRef": {"name": "settings"}},
                {"prefix": "DB_", "secretRef": {"name": "db", "optional": True}}],
    "affinity": AFFINITY,
    "topologySpreadConstraints": [ZONE_SPREAD],
    "priorityClassName": "online-serving",
    "runtimeClassName": "nvidia",
    "labels": {"team": "ml", "cost-center": "cc-1234"},
    "annotations": {"sidecar.istio.io/inject": "true", "example.com/Owner": "ML team"},
    "compute": {"sharedMemory": "2Gi"},
}


def document(name: str = "full", namespace: str = "models", **spec: Any) -> dict[str, Any]:
    doc = manifest(**{**copy.deepcopy(POD_SETTINGS), **spec})
    doc["metadata"] = {"name": name, "namespace": namespace}
    return doc


def deployment(doc: dict[str, Any], **options: Any) -> dict[str, Any]:
    assert validate_document(doc) == []
    children = build_children(PredictorAPI.model_validate(doc), BuildOptions(**options))
    return next(c for c in children if c["kind"] == "Deployment")


def assert_valid(obj: dict[str, Any]) -> None:
    for version in KUBERNETES_VERSIONS:
        kubernetes_validate.validate(obj, version, strict=True)


def assert_pod_settings(template: dict[str, Any]) -> None:
    """Every field of POD_SETTINGS where Kubernetes expects it in a pod template."""
    pod = template["spec"]
    (runtime,) = pod["containers"]
    assert pod["serviceAccountName"] == "model-reader"
    assert pod["automountServiceAccountToken"] is False, "the API token stays unmounted"
    assert pod["imagePullSecrets"] == [{"name": "registry-credentials"}]
    assert pod["affinity"] == AFFINITY
    assert pod["topologySpreadConstraints"] == [{**ZONE_SPREAD, "labelSelector": {"matchLabels": {
        "serving.predictorapi.dev/api": "full"}}}], "a constraint without a selector counts the API's own pods"
    assert (pod["priorityClassName"], pod["runtimeClassName"]) == ("online-serving", "nvidia")
    for volume in POD_SETTINGS["volumes"]:
        assert volume in pod["volumes"]
    assert {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "2Gi"}} in pod["volumes"]
    for mount in POD_SETTINGS["volumeMounts"]:
        assert mount in runtime["volumeMounts"]
    assert {"name": "dshm", "mountPath": "/dev/shm"} in runtime["volumeMounts"]
    assert runtime["envFrom"] == POD_SETTINGS["envFrom"]
    meta = template["metadata"]
    assert meta["labels"]["team"] == "ml" and meta["labels"]["cost-center"] == "cc-1234"
    assert meta["annotations"]["sidecar.istio.io/inject"] == "true"
    assert meta["annotations"]["example.com/Owner"] == "ML team"
    assert SPEC_HASH_ANNOTATION in meta["annotations"]


# --- the builders ---------------------------------------------------------------------------------------------


def test_every_pod_setting_renders_and_is_valid_kubernetes() -> None:
    built = deployment(document())
    assert_valid(built)
    assert_pod_settings(built["spec"]["template"])
    assert built["spec"]["selector"] == {"matchLabels": {"serving.predictorapi.dev/api": "full"}}


def test_git_code_with_pod_settings_is_valid_kubernetes() -> None:
    built = deployment(document(predictor=GIT, autoscaling={"maxReplicas": 3}))
    assert_valid(built)
    for init in built["spec"]["template"]["spec"]["initContainers"]:
        assert "envFrom" not in init and all(m["name"] != "weights" for m in init["volumeMounts"]), \
            "the predictor's volumes and envFrom are for its own container"


def test_the_operators_labels_and_annotations_are_reserved() -> None:
    api = PredictorAPI.model_validate(manifest())
    assert set(labels(api)) <= set(RESERVED_POD_LABELS)
    template = deployment(manifest())["spec"]["template"]
    assert set(template["metadata"]["annotations"]) <= set(RESERVED_POD_ANNOTATIONS)
    for key in RESERVED_POD_LABELS:
        problems = validate_document(manifest(labels={key: "x"}))
        assert [p.field for p in problems] == ["spec.labels"], key
    for key in RESERVED_POD_ANNOTATIONS:
        assert [p.field for p in validate_document(manifest(annotations={key: "x"}))] == ["spec.annotations"], key


def test_replicas_spread_over_nodes_by_default_when_there_can_be_several() -> None:
    spread = deployment(manifest(autoscaling={"minReplicas": 1, "maxReplicas": 4}))["spec"]["template"]["spec"]
    assert spread["topologySpreadConstraints"] == [{
        "maxSkew": 1, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "ScheduleAnyway",
        "labelSelector": {"matchLabels": {"serving.predictorapi.dev/api": "demo"}}}]
    single = deployment(manifest())["spec"]["template"]["spec"]
    assert "topologySpreadConstraints" not in single
    own = {"maxSkew": 2, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "ScheduleAnyway",
           "labelSelector": {"matchLabels": {"tier": "gpu"}}}
    chosen = deployment(manifest(autoscaling={"maxReplicas": 4}, topologySpreadConstraints=[own]))
    assert chosen["spec"]["template"]["spec"]["topologySpreadConstraints"] == [own], "the user's replace the default"


def test_shared_memory_alone_adds_dev_shm() -> None:
    pod = deployment(manifest(compute={"sharedMemory": "1Gi"}))["spec"]["template"]["spec"]
    assert {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "1Gi"}} in pod["volumes"]
    assert {"name": "dshm", "mountPath": "/dev/shm"} in pod["containers"][0]["volumeMounts"]
    plain = deployment(manifest())["spec"]["template"]["spec"]
    assert "envFrom" not in plain["containers"][0] and "serviceAccountName" not in plain
    assert [v["name"] for v in plain["volumes"]] == ["tmp"]


def _env(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e.get("value") for e in container["env"]}


def _mounts(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {m["name"]: m for m in container["volumeMounts"]}


def test_requirements_of_git_code_are_installed_by_their_own_container_without_credentials() -> None:
    spec = {**GIT, "env": [{"name": "PIP_INDEX_URL", "valueFrom": {"secretKeyRef": {"name": "pypi", "key": "url"}}},
                           {"name": "OTHER", "value": "1"}]}
    spec["source"] = {"git": {**GIT["source"]["git"], "secretRef": {"name": "git-token"}}}
    pod = deployment(manifest(predictor=spec, envFrom=[{"secretRef": {"name": "app"}}]))["spec"]["template"]["spec"]
    (fetch, install), (runtime,) = pod["initContainers"], pod["containers"]
    assert (fetch["name"], install["name"]) == ("fetch-code", "install-packages")
    assert install["command"] == ["predictorapi", "install-packages"]
    assert set(_mounts(fetch)) == {"code", "tmp", "git-credentials"}, "fetch-code installs nothing"
    assert _mounts(install) == {"code": {"name": "code", "mountPath": "/srv/code"},
                                "tmp": {"name": "tmp", "mountPath": "/tmp"},
                                "python-packages": {"name": "python-packages", "mountPath": "/srv/python-packages"}}
    assert "envFrom" not in install and not any("secretKeyRef" in (e.get("valueFrom") or {}) and
                                                not e["name"].startswith("PIP_") for e in install["env"])
    assert "PREDICTORAPI_GIT_CREDENTIALS_DIR" not in _env(install) and "OTHER" not in _env(install)
    assert {"name": "PIP_INDEX_URL", "valueFrom": {"secretKeyRef": {"name": "pypi", "key": "url"}}} in install["env"]
    assert _env(install) | {"PREDICTORAPI_INSTALL_REQUIREMENTS": "models/echo/requirements.txt",
                            "PREDICTORAPI_INSTALL_REQUIREMENTS_OPTIONAL": "true",
                            "PREDICTORAPI_INSTALL_CODE_DIR": "/srv/code",
                            "PREDICTORAPI_INSTALL_PACKAGES_DIR": "/srv/python-packages",
                            "PREDICTORAPI_INSTALL_ALLOWED_INDEX_URLS": "[]",
                            "PREDICTORAPI_INSTALL_SECRET_ENV": '["PIP_INDEX_URL"]'} == _env(install)
    assert "PIP_INDEX_URL" not in _env(fetch) and not any(k.startswith("PREDICTORAPI_INSTALL_") for k in _env(fetch))
    assert _env(runtime)["PREDICTORAPI_PACKAGES_PATH"] == "/srv/code/.predictorapi-packages"
    assert "PYTHONPATH" not in _env(runtime), "requirements come after the runtime's own packages, not first"
    assert _mounts(runtime)["python-packages"] == {"name": "python-packages", "mountPath": "/srv/python-packages",
                                                   "readOnly": True}
    assert {"name": "python-packages", "emptyDir": {}} in pod["volumes"]

    pinned = deployment(manifest(predictor={**GIT, "requirements": "deps/prod.txt",
                                            "allowedIndexUrls": ["https://pypi.example/simple"]}))
    install = pinned["spec"]["template"]["spec"]["initContainers"][1]
    assert _env(install)["PREDICTORAPI_INSTALL_REQUIREMENTS"] == "deps/prod.txt"
    assert _env(install)["PREDICTORAPI_INSTALL_REQUIREMENTS_OPTIONAL"] == "false"
    assert _env(install)["PREDICTORAPI_INSTALL_ALLOWED_INDEX_URLS"] == '["https://pypi.example/simple"]'

    image = deployment(manifest())["spec"]["template"]["spec"]
    assert "PREDICTORAPI_PACKAGES_PATH" not in _env(image["containers"][0]) and "initContainers" not in image


def test_on_the_shared_cache_claim_each_api_mounts_only_its_own_packages_folder() -> None:
    doc = manifest(predictor=GIT, model={"uri": "s3://models/sentiment/", "cache": {"claimName": "model-cache"}})
    doc["metadata"]["namespace"] = "team-a"
    built = deployment(doc)
    assert_valid(built)
    pod = built["spec"]["template"]["spec"]
    assert {"name": "python-packages", "persistentVolumeClaim": {"claimName": "model-cache"}} in pod["volumes"]
    own = {"name": "python-packages", "mountPath": "/srv/python-packages", "subPath": "python-packages/team-a/demo"}
    containers = {c["name"]: c for c in pod["initContainers"] + pod["containers"]}
    assert _mounts(containers["install-packages"])["python-packages"] == own
    assert _mounts(containers["runtime"])["python-packages"] == {**own, "readOnly": True}
    assert "python-packages" not in _mounts(containers["fetch-code"])
    for container in containers.values():
        claim = [m for m in container["volumeMounts"] if m["name"] == "python-packages"]
        assert all(m.get("subPath") or m.get("readOnly") for m in claim), container["name"]


def test_render_prints_the_pod_settings(tmp_path) -> None:
    path = tmp_path / "predictorapi.yaml"
    path.write_text(yaml.safe_dump(document()))
    result = subprocess.run([*CLI, "render", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    rendered = next(d for d in yaml.safe_load_all(result.stdout) if d and d["kind"] == "Deployment")
    assert_pod_settings(rendered["spec"]["template"])


@pytest.mark.parametrize("spec", [
    {"volumes": [{"name": "data", "configMap": {"name": "c"}}], "volumeMounts": [
        {"name": "data", "mountPath": "/tmp/data"}]},
    {"affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{
        "weight": 100, "podAffinityTerm": {"topologyKey": "kubernetes.io/hostname"}}]}}},
    {"topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
                                    "whenUnsatisfiable": "ScheduleAnyway"}], "autoscaling": {"maxReplicas": 3}},
    {"labels": {"app.kubernetes.io/part-of": "shop", "empty": ""}, "annotations": {"Example.com/Note": ""}},
], ids=["mount-under-tmp", "anti-affinity-without-selector", "spread-without-selector", "label-forms"])
def test_what_kubernetes_accepts_is_accepted(spec: dict[str, Any]) -> None:
    assert_valid(deployment(manifest(**spec)))


# --- the operator against the emulated API server -------------------------------------------------------------


def test_the_operator_applies_every_pod_setting(cluster) -> None:
    cluster.kube.create(document(namespace="team-pods"))
    live = cluster.wait_for(lambda: cluster.get("Deployment", "team-pods", "full"), what="the Deployment")
    assert_pod_settings(live["spec"]["template"])
    assert_valid({k: v for k, v in live.items() if k != "status"})
    cluster.kube.patch("PredictorAPI", "team-pods", "full", {"spec": {"labels": {"team": "search"}}})
    relabelled = cluster.wait_for(lambda: (d := cluster.get("Deployment", "team-pods", "full")) and d["spec"][
        "template"]["metadata"]["labels"].get("team") == "search" and d, what="the new pod label")
    assert relabelled["spec"]["selector"] == {"matchLabels": {"serving.predictorapi.dev/api": "full"}}


def _failed_install_message(tmp_path) -> str:
    """The termination message of a real `predictorapi install-packages` (after `predictorapi fetch`) whose pip
    install fails (offline, no such package)."""
    git_repo(tmp_path / "repo", {"models/echo/predictor.py": "class PythonPredictor: ...\n",
                                 "models/echo/requirements.txt": "no-such-package-predictorapi==9.9\n"})
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREDICTORAPI_", "PIP_"))}
    env.update(PIP_NO_INDEX="1", PIP_CONFIG_FILE=os.devnull, PREDICTORAPI_TERMINATION_LOG=str(tmp_path / "log"))
    fetched = subprocess.run([*CLI, "fetch", "--repo", str(tmp_path / "repo"), "--revision", "main", "--path",
                              "models/echo", "--dest", str(tmp_path / "code")], env=env, capture_output=True,
                             text=True, timeout=300)
    assert fetched.returncode == 0, fetched.stderr
    result = subprocess.run([*CLI, "install-packages", "--code-dir", str(tmp_path / "code"), "--requirements",
                             "requirements.txt", "--packages-dir", str(tmp_path / "packages")], env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 1, result.stderr
    return (tmp_path / "log").read_text()


def test_a_failed_install_makes_the_api_degraded_with_pips_words(emulated, tmp_path) -> None:
    cluster = emulated
    message = _failed_install_message(tmp_path)
    cluster.kube.create(document("deps", "team-deps", predictor=GIT))
    cluster.wait_for(lambda: cluster.get("Deployment", "team-deps", "deps"), what="the Deployment")
    pod_labels = {"serving.predictorapi.dev/api": "deps", "app.kubernetes.io/managed-by": "predictorapi-operator"}
    cluster.kube.create({"apiVersion": "v1", "kind": "Pod", "metadata": {
        "name": "deps-1", "namespace": "team-deps", "labels": pod_labels},
        "spec": {"containers": [{"name": "runtime", "image": "x"}]},
        "status": {"initContainerStatuses": [
            {"name": "fetch-code", "state": {"terminated": {"exitCode": 0, "message": "0" * 40}}},
            {"name": "install-packages", "state": {"waiting": {"reason": "CrashLoopBackOff"}},
             "lastState": {"terminated": {"exitCode": 1, "message": message}}}]}})
    status = cluster.wait_for(lambda: (s := cluster.get("PredictorAPI", "team-deps", "deps").get("status", {})).get(
        "phase") == "Degraded" and s, what="Degraded on a failed install")
    degraded = next(c for c in status["conditions"] if c["type"] == "Degraded")
    assert degraded["reason"] == "DependencyInstallFailed"
    assert "no-such-package-predictorapi==9.9" in degraded["message"]
    assert degraded["message"].startswith("install-packages: DependencyInstallFailed: ")
