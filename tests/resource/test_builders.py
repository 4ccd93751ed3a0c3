"""The pure builders: what each child looks like, and that every child is a valid Kubernetes object."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import kubernetes_validate
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.manifests import example_documents, manifest
from support.processes import CLI, REPO

from predictorapi.contracts.labels import SPEC_HASH_ANNOTATION
from predictorapi.spec import PredictorAPI
from predictorapi.validation import validate_document
from predictorapi_operator.builders import BuildOptions, build_children

KUBERNETES_VERSIONS = ("1.37.0", "1.36.0")
NODE_DIR = REPO / "tests" / "support" / "node"


def build(document: dict[str, Any], **options: Any) -> dict[str, dict[str, Any]]:
    """Children by kind."""
    children = build_children(PredictorAPI.model_validate(document), BuildOptions(**options))
    return {child["kind"]: child for child in children}


def assert_valid_kubernetes(children: list[dict[str, Any]]) -> None:
    """Every child of Kubernetes' own API groups is valid in each version of KUBERNETES_VERSIONS (strict)."""
    for child in children:
        if child["apiVersion"].startswith(("monitoring.coreos.com/", "keda.sh/")):  # not Kubernetes' own
            continue
        for version in KUBERNETES_VERSIONS:
            kubernetes_validate.validate(child, version, strict=True)


def servicemonitor_errors(objects: list[dict[str, Any]]) -> list[str | None]:
    """Validate with the Prometheus Operator's published schema (npm @kubernetes-models/prometheus-operator)."""
    assert (NODE_DIR / "node_modules").is_dir(), "run scripts/setup.sh: it installs the ServiceMonitor schema"
    result = subprocess.run(["node", "validate-servicemonitor.mjs"], cwd=NODE_DIR, input=json.dumps(objects),
                            capture_output=True, text=True, check=True)
    return json.loads(result.stdout)


FULL = manifest(
    predictor={"image": "registry.example/demo:1", "path": "predictor.py", "config": {"model": "m"},
               "env": [{"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "hf", "key": "token"}}}]},
    compute={"cpu": "2", "memory": "8Gi", "gpu": 1, "nodeSelector": {"pool": "gpu"}},
    autoscaling={"minReplicas": 1, "maxReplicas": 4, "targetConcurrency": 2.5,
                 "scaleDownStabilizationSeconds": 120},
    networking={"ingress": {"host": "demo.example.com", "path": "/demo", "className": "nginx",
                            "tls": {"secretName": "demo-tls"}}},
    monitoring={"serviceMonitor": True, "interval": "15s"},
    auth={"secretRef": {"name": "demo-key", "key": "key"}},
)


@pytest.mark.parametrize("document", [d for _, d in example_documents()] + [FULL, manifest()],
                         ids=lambda d: d["metadata"]["name"])
def test_children_validate_against_kubernetes_schemas(document) -> None:
    document = {**document, "metadata": {"namespace": "models", **document["metadata"]}}
    children = list(build(document).values())
    assert_valid_kubernetes(children)
    monitors = [c for c in children if c["kind"] == "ServiceMonitor"]
    if monitors:
        assert servicemonitor_errors(monitors) == [None] * len(monitors)


def test_servicemonitor_schema_check_catches_mistakes() -> None:
    monitor = build(FULL)["ServiceMonitor"]
    broken = {**monitor, "spec": {**monitor["spec"], "endpoints": [{"port": 8080, "interval": "soon"}]}}
    (error,) = servicemonitor_errors([broken])
    assert "port" in error and "interval" in error


def test_every_child_is_labelled_and_named_after_the_api() -> None:
    for child in build(FULL).values():
        meta = child["metadata"]
        assert meta["name"] == "demo" and meta["namespace"] == "models"
        assert meta["labels"] == {"app.kubernetes.io/name": "predictorapi", "app.kubernetes.io/instance": "demo",
                                  "app.kubernetes.io/managed-by": "predictorapi-operator",
                                  "serving.predictorapi.dev/api": "demo"}


def test_deployment_runs_the_runtime_as_configured() -> None:
    deployment = build(FULL)["Deployment"]
    assert "replicas" not in deployment["spec"], "an HPA owns the replica count"
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    env = {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}
    assert env["PREDICTORAPI_API_NAME"] == "demo"
    assert json.loads(env["PREDICTORAPI_PREDICTOR_CONFIG"]) == {"model": "m"}
    assert env["PREDICTORAPI_PREDICTOR_PATH"] == "predictor.py"
    assert env["PREDICTORAPI_MAX_CONCURRENCY"] == "4"
    assert env["PREDICTORAPI_API_KEY"] == {"secretKeyRef": {"name": "demo-key", "key": "key"}}
    assert env["TOKEN"] == {"secretKeyRef": {"name": "hf", "key": "token"}}
    assert container["resources"] == {"requests": {"cpu": "2", "memory": "8Gi", "nvidia.com/gpu": "1"},
                                      "limits": {"memory": "8Gi", "nvidia.com/gpu": "1"}}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod["tolerations"]
    assert pod["nodeSelector"] == {"pool": "gpu"}
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    startup = container["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 600
    drain = int(env["PREDICTORAPI_DRAIN_GRACE_SECONDS"])
    assert drain >= 60 and pod["terminationGracePeriodSeconds"] > drain + 5
    assert container["lifecycle"]["preStop"]["exec"]["command"][0] == "sleep"
    assert deployment["spec"]["strategy"] == {"type": "RollingUpdate",
                                              "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0}}


def test_fixed_replicas_and_no_gpu() -> None:
    children = build(manifest(autoscaling={"minReplicas": 3, "maxReplicas": 3}))
    assert children["Deployment"]["spec"]["replicas"] == 3
    assert "HorizontalPodAutoscaler" not in children and "PodDisruptionBudget" in children
    pod = children["Deployment"]["spec"]["template"]["spec"]
    assert "tolerations" not in pod
    assert "nvidia.com/gpu" not in json.dumps(pod)


def test_nosurge_never_needs_an_extra_replica() -> None:
    strategy = build(manifest(updateStrategy={"mode": "NoSurge"}))["Deployment"]["spec"]["strategy"]
    assert strategy["rollingUpdate"] == {"maxSurge": 0, "maxUnavailable": 1}


RESTRICTED_CONTAINER = {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True, "runAsNonRoot": True,
                        "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}}


@pytest.mark.parametrize("document", [FULL, manifest(predictor={"source": {"git": {
    "repo": "https://git.example/m.git", "revision": "main", "secretRef": {"name": "git"}}}, "path": "p.py"})],
    ids=["image", "git"])
def test_pods_meet_pod_security_restricted(document) -> None:
    pod = build(document)["Deployment"]["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert not any(k in pod for k in ("hostNetwork", "hostPID", "hostIPC"))
    for container in pod["containers"] + pod.get("initContainers", []):
        assert container["securityContext"] == RESTRICTED_CONTAINER
        assert "hostPort" not in json.dumps(container.get("ports", []))
        assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]
    assert {"name": "tmp", "emptyDir": {}} in pod["volumes"]
    for volume in pod["volumes"]:
        assert set(volume) - {"name"} <= {"emptyDir", "secret", "configMap", "projected"}, volume


def test_git_source_adds_the_fetch_init_container() -> None:
    document = manifest(predictor={"source": {"git": {"repo": "https://git.example/m.git", "revision": "v2",
                                                      "path": "models/a", "secretRef": {"name": "git"}}},
                                   "path": "predictor.py"})
    pod = build(document, runtime_image="ghcr.io/x/runtime:9")["Deployment"]["spec"]["template"]["spec"]
    init, install = pod["initContainers"]
    assert install["name"] == "install-packages" and install["image"] == "ghcr.io/x/runtime:9"
    env = {e["name"]: e["value"] for e in init["env"]}
    assert init["name"] == "fetch-code" and init["image"] == "ghcr.io/x/runtime:9"
    assert init["command"] == ["predictorapi", "fetch"]
    assert init["terminationMessagePolicy"] == "FallbackToLogsOnError"
    assert env["PREDICTORAPI_GIT_REPO"] == "https://git.example/m.git" and env["PREDICTORAPI_GIT_REVISION"] == "v2"
    assert env["PREDICTORAPI_GIT_PATH"] == "models/a" and env["PREDICTORAPI_GIT_DEST"] == "/srv/code"
    assert env["PREDICTORAPI_GIT_CREDENTIALS_DIR"] == "/etc/predictorapi/git-credentials"
    runtime = pod["containers"][0]
    assert runtime["image"] == "ghcr.io/x/runtime:9"
    runtime_env = {e["name"]: e.get("value") for e in runtime["env"]}
    assert runtime_env["PREDICTORAPI_PREDICTOR_PATH"] == "/srv/code/predictor.py"
    secret_volume = next(v for v in pod["volumes"] if v["name"] == "git-credentials")
    assert secret_volume["secret"]["secretName"] == "git"


def pod_hash(document: dict[str, Any]) -> str:
    return build(document)["Deployment"]["spec"]["template"]["metadata"]["annotations"][SPEC_HASH_ANNOTATION]


def test_spec_hash_rolls_pods_for_pod_changes_only() -> None:
    base = pod_hash(manifest())
    for change in ({"predictor": {"image": "registry.example/demo:1", "path": "predictor.py", "config": {"a": 1}}},
                   {"predictor": {"image": "registry.example/demo:2", "path": "predictor.py"}},
                   {"compute": {"memory": "4Gi"}}, {"maxConcurrency": 8}):
        assert pod_hash(manifest(**change)) != base, change
    for change in ({"autoscaling": {"minReplicas": 1, "maxReplicas": 9}}, {"monitoring": {"serviceMonitor": True}},
                   {"updateStrategy": {"maxSurge": 2}}):
        assert pod_hash(manifest(**change)) == base, change


def test_hpa_pdb_ingress_service_and_monitor() -> None:
    children = build(FULL)
    hpa = children["HorizontalPodAutoscaler"]["spec"]
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "demo"}
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (1, 4)
    assert hpa["metrics"] == [{"type": "Pods", "pods": {"metric": {"name": "predictorapi_in_flight_requests"},
                                                        "target": {"type": "AverageValue", "averageValue": "2500m"}}}]
    assert hpa["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 120
    cpu = build(manifest(autoscaling={"maxReplicas": 3, "metric": "cpu", "targetCPUUtilization": 60}))
    assert cpu["HorizontalPodAutoscaler"]["spec"]["metrics"][0]["resource"] == {
        "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 60}}
    assert children["PodDisruptionBudget"]["spec"]["maxUnavailable"] == 1
    ingress = children["Ingress"]["spec"]
    assert ingress["ingressClassName"] == "nginx" and ingress["tls"] == [{"hosts": ["demo.example.com"],
                                                                          "secretName": "demo-tls"}]
    assert ingress["rules"][0]["http"]["paths"][0]["path"] == "/demo"
    service = children["Service"]["spec"]
    assert service["selector"] == {"serving.predictorapi.dev/api": "demo"}
    assert service["ports"] == [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]
    monitor = children["ServiceMonitor"]["spec"]
    assert monitor["endpoints"][0]["interval"] == "15s" and monitor["endpoints"][0]["path"] == "/metrics"
    assert "ServiceMonitor" not in build(FULL, service_monitor_available=False)
    assert "ServiceMonitor" not in build(manifest()) and "Ingress" not in build(manifest())


# --- property test: any valid spec builds valid objects --------------------------------------------------

quantities = st.sampled_from(["100m", "1", "2", "1500m", 4, "512Mi", "8Gi"])
int_or_percent = st.one_of(st.integers(0, 5), st.integers(0, 100).map(lambda n: f"{n}%"))


@st.composite
def valid_documents(draw) -> dict[str, Any]:
    low = draw(st.integers(1, 5))
    high = draw(st.integers(low, low + 5))
    mode = draw(st.sampled_from(["Surge", "NoSurge"]))
    surge, unavailable = draw(int_or_percent), draw(int_or_percent)
    if mode == "Surge" and surge in (0, "0%") and unavailable in (0, "0%"):
        surge = 1
    predictor: dict[str, Any] = {"path": draw(st.sampled_from(["predictor.py", "src/app.py"])),
                                 "config": draw(st.dictionaries(st.text(min_size=1, max_size=5),
                                                                st.integers() | st.text(max_size=5), max_size=3))}
    if draw(st.booleans()):
        predictor["image"] = "registry.example/p:1"
    else:
        predictor["source"] = {"git": {"repo": "https://git.example/r.git", "revision": draw(st.sampled_from(
            ["main", "v1.2.0", "3f2c1e9d0b7a4c65e8f1d2a3b4c5d6e7f8091a2b"]))}}
    spec: dict[str, Any] = {
        "predictor": predictor,
        "compute": {"cpu": draw(quantities), "memory": draw(st.sampled_from(["256Mi", "2Gi"])),
                    "gpu": draw(st.integers(0, 4))},
        "autoscaling": {"minReplicas": low, "maxReplicas": high,
                        "metric": draw(st.sampled_from(["concurrency", "cpu"])),
                        "targetConcurrency": draw(st.floats(0.1, 64).map(lambda f: round(f, 3)))},
        "updateStrategy": {"mode": mode, "maxSurge": surge, "maxUnavailable": unavailable},
        "maxConcurrency": draw(st.integers(1, 256)),
        "requestTimeoutSeconds": draw(st.integers(1, 3600)),
        "startupTimeoutSeconds": draw(st.integers(10, 86400)),
        "batching": {"maxBatchSize": draw(st.integers(1, 64))},
        "monitoring": {"serviceMonitor": draw(st.booleans())},
    }
    if draw(st.booleans()):
        spec["networking"] = {"ingress": {"host": "api.example.com", "path": "/v1"}}
    name = draw(st.from_regex(r"[a-z][a-z0-9-]{0,20}[a-z0-9]", fullmatch=True))
    return {**manifest(**spec), "metadata": {"name": name, "namespace": "ns"}}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(valid_documents())
def test_any_valid_spec_builds_valid_objects(document) -> None:
    assert validate_document(document) == []
    children = build_children(PredictorAPI.model_validate(document))
    assert_valid_kubernetes(children)
    kinds = [c["kind"] for c in children]
    assert kinds[:2] == ["Service", "Deployment"]
    assert ("HorizontalPodAutoscaler" in kinds) == ("replicas" not in children[1]["spec"])


def test_render_prints_the_children(tmp_path) -> None:
    path = tmp_path / "predictorapi.yaml"
    path.write_text(yaml.safe_dump(FULL))
    result = subprocess.run([*CLI, "render", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    documents = list(yaml.safe_load_all(result.stdout))
    assert [d["kind"] for d in documents] == ["Service", "Deployment", "HorizontalPodAutoscaler",
                                              "PodDisruptionBudget", "Ingress", "ServiceMonitor"]
    assert documents == list(build(FULL).values())
    path.write_text(yaml.safe_dump(manifest(autoscaling={"minReplicas": 2, "maxReplicas": 1})))
    refused = subprocess.run([*CLI, "render", str(path)], capture_output=True, text=True)
    assert refused.returncode == 1 and "spec.autoscaling: autoscaling.minReplicas" in refused.stderr
