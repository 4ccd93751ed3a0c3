"""The operator end to end against the emulated API server: children, updates, drift, status, errors."""

from __future__ import annotations

import copy
import json
import time
from typing import Any

import kubernetes_validate
from support.manifests import manifest

from predictorapi.contracts.labels import SPEC_HASH_ANNOTATION

from .conftest import RESYNC_SECONDS

CHILD_KINDS = ("Service", "Deployment", "HorizontalPodAutoscaler", "PodDisruptionBudget", "Ingress",
               "ServiceMonitor")


def api(name: str, namespace: str, **spec: Any) -> dict[str, Any]:
    document = manifest(**spec)
    document["metadata"] = {"name": name, "namespace": namespace}
    return document


def children_of(cluster, namespace: str, name: str) -> dict[str, dict[str, Any]]:
    found = {kind: cluster.get(kind, namespace, name) for kind in CHILD_KINDS}
    return {kind: obj for kind, obj in found.items() if obj is not None}


def condition(status: dict[str, Any], type_: str) -> dict[str, Any]:
    return next((c for c in status.get("conditions", []) if c["type"] == type_), {})


FULL_SPEC = dict(
    autoscaling={"minReplicas": 1, "maxReplicas": 4, "targetConcurrency": 2},
    networking={"ingress": {"host": "demo.example.com"}},
    monitoring={"serviceMonitor": True},
)


def test_create_builds_every_child_owned_by_the_api(cluster) -> None:
    created = cluster.kube.create(api("full", "team-a", **FULL_SPEC))
    uid = created["metadata"]["uid"]
    children = cluster.wait_for(lambda: (c := children_of(cluster, "team-a", "full")) and len(c) == 6 and c,
                                what="six children")
    for kind, child in children.items():
        (owner,) = child["metadata"]["ownerReferences"]
        assert owner == {"apiVersion": "serving.predictorapi.dev/v1alpha1", "kind": "PredictorAPI",
                         "name": "full", "uid": uid, "controller": True, "blockOwnerDeletion": True}, kind
        if kind != "ServiceMonitor":
            live = {k: v for k, v in child.items() if k != "status"}
            kubernetes_validate.validate(live, "1.37.0", strict=True)
    assert "replicas" not in children["Deployment"]["spec"]
    status = cluster.wait_for(lambda: (cluster.get("PredictorAPI", "team-a", "full") or {}).get("status"),
                              what="a status")
    assert status["url"] == "http://full.team-a.svc.cluster.local"
    assert status["ingressUrl"] == "http://demo.example.com"
    assert status["selector"] == "serving.predictorapi.dev/api=full"
    assert status["observedGeneration"] == 1
    assert {c["type"] for c in status["conditions"]} == {"Ready", "Progressing", "Degraded"}
    assert condition(status, "Progressing")["status"] == "True"


def _hash(deployment: dict[str, Any]) -> str:
    return deployment["spec"]["template"]["metadata"]["annotations"][SPEC_HASH_ANNOTATION]


def test_spec_change_rolls_pods_and_autoscaling_change_does_not(cluster) -> None:
    cluster.kube.create(api("roll", "team-a", autoscaling={"minReplicas": 1, "maxReplicas": 3}))
    first = cluster.wait_for(lambda: cluster.get("Deployment", "team-a", "roll"), what="the Deployment")
    # An HPA scales the Deployment, as the controller would: the operator must leave it alone.
    cluster.kube.patch("Deployment", "team-a", "roll", {"spec": {"replicas": 3}})
    cluster.kube.patch("PredictorAPI", "team-a", "roll", {"spec": {"predictor": {"config": {"beam": 4}}}})
    rolled = cluster.wait_for(lambda: (d := cluster.get("Deployment", "team-a", "roll")) and _hash(d) != _hash(
        first) and d, what="a new pod template")
    env = {e["name"]: e.get("value") for e in rolled["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert json.loads(env["PREDICTORAPI_PREDICTOR_CONFIG"]) == {"beam": 4}
    assert rolled["spec"]["replicas"] == 3, "the operator overwrote the HPA's replica count"
    cluster.wait_for(lambda: cluster.get("PredictorAPI", "team-a", "roll")["status"]["observedGeneration"] == 2,
                     what="observedGeneration 2")

    cluster.kube.patch("PredictorAPI", "team-a", "roll", {"spec": {"autoscaling": {"maxReplicas": 7}}})
    cluster.wait_for(lambda: cluster.get("HorizontalPodAutoscaler", "team-a", "roll")["spec"]["maxReplicas"] == 7,
                     what="the HPA update")
    after = cluster.get("Deployment", "team-a", "roll")
    assert _hash(after) == _hash(rolled) and after["spec"]["replicas"] == 3


def test_children_edited_or_deleted_by_hand_are_restored(cluster) -> None:
    cluster.kube.create(api("drift", "team-a"))
    cluster.wait_for(lambda: cluster.get("Service", "team-a", "drift"), what="the Service")
    cluster.kube.delete("Service", "team-a", "drift")
    cluster.kube.patch("Deployment", "team-a", "drift", {"spec": {"template": {"spec": {"containers": [
        {"name": "runtime", "image": "evil/image:latest"}]}}}})
    cluster.wait_for(lambda: cluster.get("Service", "team-a", "drift"), what="the Service to come back")
    cluster.wait_for(lambda: cluster.get("Deployment", "team-a", "drift")["spec"]["template"]["spec"][
        "containers"][0]["image"] == "registry.example/demo:1", what="the image to be restored")


def _events(cluster, namespace: str, name: str) -> list[dict[str, Any]]:
    items = cluster.kube.request("GET", f"/api/v1/namespaces/{namespace}/events").get("items", [])
    return [e for e in items if (e.get("involvedObject") or {}).get("name") == name]


def test_invalid_spec_is_degraded_with_an_event_and_others_proceed(cluster) -> None:
    bad = api("broken", "team-b", autoscaling={"minReplicas": 5, "maxReplicas": 2})
    cluster.create_invalid(bad)
    cluster.kube.create(api("healthy", "team-b"))
    status = cluster.wait_for(lambda: (cluster.get("PredictorAPI", "team-b", "broken") or {}).get("status"),
                              what="a status on the broken API")
    degraded = condition(status, "Degraded")
    assert degraded["status"] == "True" and degraded["reason"] == "InvalidSpec"
    assert "spec.autoscaling" in degraded["message"] and "minReplicas" in degraded["message"]
    assert status["phase"] == "Degraded" and condition(status, "Ready")["status"] == "False"
    assert cluster.get("Deployment", "team-b", "broken") is None
    events = cluster.wait_for(lambda: _events(cluster, "team-b", "broken"), what="an event")
    assert any(e["type"] == "Warning" and e["reason"] == "InvalidSpec" and "minReplicas" in e["message"]
               for e in events)
    cluster.wait_for(lambda: cluster.get("Deployment", "team-b", "healthy"), what="the healthy API's Deployment")
    # No hot loop: several resync periods later, still one InvalidSpec event.
    time.sleep(5)
    assert len([e for e in _events(cluster, "team-b", "broken") if e["reason"] == "InvalidSpec"]) == 1
    # Fixing the spec heals it.
    cluster.kube.patch("PredictorAPI", "team-b", "broken", {"spec": {"autoscaling": {"maxReplicas": 6}}})
    cluster.wait_for(lambda: cluster.get("Deployment", "team-b", "broken"), what="the fixed API's Deployment")
    cluster.wait_for(lambda: condition(cluster.get("PredictorAPI", "team-b", "broken")["status"], "Degraded")[
        "status"] == "False", what="Degraded=False after the fix")


def deployment_status(generation: int, replicas: int, ready: int, updated: int, available: bool = True,
                      progressing: tuple[str, str] = ("True", "NewReplicaSetAvailable")) -> dict[str, Any]:
    return {"observedGeneration": generation, "replicas": replicas, "readyReplicas": ready,
            "updatedReplicas": updated, "availableReplicas": ready, "conditions": [
                {"type": "Available", "status": "True" if available else "False", "reason": "x"},
                {"type": "Progressing", "status": progressing[0], "reason": progressing[1],
                 "message": f"rollout: {progressing[1]}"}]}


def test_status_follows_the_deployment(emulated) -> None:
    cluster = emulated
    cluster.kube.create(api("status", "team-c", autoscaling={"minReplicas": 2, "maxReplicas": 2}))
    cluster.wait_for(lambda: cluster.get("Deployment", "team-c", "status"), what="the Deployment")
    generation = cluster.get("Deployment", "team-c", "status")["metadata"]["generation"]
    cluster.kube.patch("Deployment", "team-c", "status",
                       {"status": deployment_status(generation, 3, 1, 1, progressing=("True", "ReplicaSetUpdated"))},
                       subresource="status")

    def phase(expected: str, ready: str | None = None):
        return lambda: (s := cluster.get("PredictorAPI", "team-c", "status").get("status", {})).get(
            "phase") == expected and (ready is None or s.get("ready") == ready) and s

    status = cluster.wait_for(phase("Progressing", "1/2"), what="Progressing")
    assert condition(status, "Progressing")["status"] == "True" and status["ready"] == "1/2"
    assert condition(status, "Ready")["status"] == "False"
    cluster.kube.patch("Deployment", "team-c", "status", {"status": deployment_status(generation, 2, 2, 2)},
                       subresource="status")
    status = cluster.wait_for(phase("Ready"), what="Ready")
    assert (status["ready"], status["readyReplicas"], status["updatedReplicas"]) == ("2/2", 2, 2)
    ready = condition(status, "Ready")
    assert ready["status"] == "True" and ready["observedGeneration"] == 1
    cluster.kube.patch("Deployment", "team-c", "status", {"status": deployment_status(
        generation, 2, 1, 1, progressing=("False", "ProgressDeadlineExceeded"))}, subresource="status")
    status = cluster.wait_for(phase("Degraded"), what="Degraded on a missed deadline")
    assert condition(status, "Degraded")["reason"] == "ProgressDeadlineExceeded"


def _pod(name: str, api_name: str, namespace: str, status: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {
        "name": name, "namespace": namespace, "labels": {"serving.predictorapi.dev/api": api_name,
                                                         "app.kubernetes.io/managed-by": "predictorapi-operator"}},
        "spec": {"containers": [{"name": "runtime", "image": "x"}]}, "status": status}


def test_crash_loops_and_fetch_failures_are_degraded_and_the_revision_is_recorded(emulated) -> None:
    cluster = emulated
    source = {"git": {"repo": "https://git.example/m.git", "revision": "main"}}
    cluster.kube.create(api("gitapi", "team-d", predictor={"source": source, "path": "predictor.py"}))
    cluster.wait_for(lambda: cluster.get("Deployment", "team-d", "gitapi"), what="the Deployment")
    sha = "3f2c1e9d0b7a4c65e8f1d2a3b4c5d6e7f8091a2b"
    cluster.kube.create(_pod("gitapi-ok", "gitapi", "team-d", {"initContainerStatuses": [
        {"name": "fetch-code", "state": {"terminated": {"exitCode": 0, "message": sha}}}]}))
    cluster.wait_for(lambda: cluster.get("PredictorAPI", "team-d", "gitapi").get("status", {}).get("revision") == sha,
                     what="status.revision")
    cluster.kube.create(_pod("gitapi-bad", "gitapi", "team-d", {"initContainerStatuses": [
        {"name": "fetch-code", "state": {"waiting": {"reason": "CrashLoopBackOff"}}, "lastState": {"terminated": {
            "exitCode": 1, "message": "RevisionNotFound: no branch, tag or commit 'mian' in https://git.example"}}}]}))
    status = cluster.wait_for(lambda: (s := cluster.get("PredictorAPI", "team-d", "gitapi").get("status", {})).get(
        "phase") == "Degraded" and s, what="Degraded on a failed fetch")
    degraded = condition(status, "Degraded")
    assert degraded["reason"] == "RevisionNotFound"
    assert degraded["message"].startswith("fetch-code: RevisionNotFound: no branch")
    cluster.kube.delete("Pod", "team-d", "gitapi-bad")
    cluster.kube.create(_pod("gitapi-crash", "gitapi", "team-d", {"containerStatuses": [
        {"name": "runtime", "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 5m0s"}}}]}))
    status = cluster.wait_for(
        lambda: (s := cluster.get("PredictorAPI", "team-d", "gitapi").get("status", {}))
        and condition(s, "Degraded").get("reason") == "CrashLoopBackOff" and s, what="Degraded on a crash loop")
    assert "gitapi-crash" in condition(status, "Degraded")["message"]


def test_delete_collects_the_children(cluster) -> None:
    cluster.kube.create(api("gone", "team-e", **FULL_SPEC))
    cluster.wait_for(lambda: len(children_of(cluster, "team-e", "gone")) == 6, what="six children")
    cluster.kube.delete("PredictorAPI", "team-e", "gone")
    cluster.wait_for(lambda: not children_of(cluster, "team-e", "gone"), what="garbage collection")


def test_reconcile_is_idempotent(cluster) -> None:
    cluster.kube.create(api("idem", "team-f", **FULL_SPEC))
    cluster.wait_for(lambda: len(children_of(cluster, "team-f", "idem")) == 6, what="six children")
    cluster.wait_for(lambda: cluster.get("PredictorAPI", "team-f", "idem").get("status"), what="status")
    time.sleep(1)
    before = {k: v["metadata"]["resourceVersion"] for k, v in children_of(cluster, "team-f", "idem").items()}
    time.sleep(float(RESYNC_SECONDS) * 2 + 1)  # two resync periods
    after = {k: v["metadata"]["resourceVersion"] for k, v in children_of(cluster, "team-f", "idem").items()}
    assert after == before, "a resync rewrote children that had not changed"


def test_service_monitor_asked_without_prometheus_operator(no_monitoring_cluster) -> None:
    cluster = no_monitoring_cluster
    cluster.kube.create(api("nomon", "team-g", monitoring={"serviceMonitor": True}))
    cluster.wait_for(lambda: cluster.get("Deployment", "team-g", "nomon"), what="the Deployment")
    status = cluster.wait_for(lambda: cluster.get("PredictorAPI", "team-g", "nomon").get("status"), what="status")
    assert "monitoring.coreos.com/v1" in condition(status, "Ready")["message"]
    assert cluster.get("Service", "team-g", "nomon") is not None


def test_restart_mid_reconcile_converges_without_duplicates(emulated) -> None:
    cluster = emulated
    cluster.stop_operator(kill=True)
    try:
        for index in range(5):
            cluster.kube.create(api(f"restart-{index}", "team-h", **copy.deepcopy(FULL_SPEC)))
        cluster.start_operator()
        time.sleep(1.0)
        cluster.stop_operator(kill=True)  # killed part-way through
    finally:
        cluster.start_operator()
    for index in range(5):
        cluster.wait_for(lambda i=index: len(children_of(cluster, "team-h", f"restart-{i}")) == 6,
                         what=f"children of restart-{index}")
    for plural in ("deployments", "services", "horizontalpodautoscalers"):
        names = [o["metadata"]["name"] for o in cluster.emulator.objects(plural)
                 if o["metadata"]["namespace"] == "team-h"]
        assert sorted(names) == [f"restart-{i}" for i in range(5)]


def test_fields_removed_from_the_spec_are_removed_from_the_children(cluster) -> None:
    spec = {"compute": {"nodeSelector": {"pool": "gpu"}},
            "networking": {"ingress": {"host": "x.example.com", "tls": {"secretName": "x-tls"}}}}
    cluster.kube.create(api("shrink", "team-i", **spec))
    cluster.wait_for(lambda: cluster.get("Ingress", "team-i", "shrink"), what="the Ingress")
    cluster.kube.patch("PredictorAPI", "team-i", "shrink", {"spec": {
        "compute": {"nodeSelector": None}, "networking": {"ingress": {"tls": None}}}})
    cluster.wait_for(lambda: "nodeSelector" not in cluster.get("Deployment", "team-i", "shrink")["spec"][
        "template"]["spec"], what="nodeSelector removed from the pod template")
    cluster.wait_for(lambda: "tls" not in cluster.get("Ingress", "team-i", "shrink")["spec"],
                     what="tls removed from the Ingress")
