"""Scale to zero end to end: the operator against the strict emulator, with KEDA's ScaledObjects served (or not).

With `autoscaling.minReplicas: 0` the operator builds a KEDA ScaledObject (admitted against KEDA's published
schema and its webhook's checks) in place of the HPA; the test plays KEDA by scaling the Deployment to 0 and
back. Switching `minReplicas` between 0 and 1 creates the new autoscaler before it deletes the old one. A
cluster without KEDA gets `KEDANotInstalled` and nothing else changes.
"""

from __future__ import annotations

from typing import Any

import yaml

from predictorapi.contracts import kinds
from predictorapi.contracts.labels import ACTIVATOR_LABEL, API_LABEL
from predictorapi_operator.status import KEDA_NOT_INSTALLED, SCALED_TO_ZERO, SCALING_FROM_ZERO

from .conftest import TEST_USER_AGENT, Cluster
from .test_kubectl import kubectl
from .test_rbac import KEDA_GRANTS, granted
from .test_reconcile import _events, api, condition, deployment_status

ZERO = {"minReplicas": 0, "maxReplicas": 4}
HANG_GUARD = 180
"""Seconds any wait may take before the test fails: only a hang guard (this machine may be very busy)."""


def _status(cluster: Cluster, namespace: str, name: str) -> dict[str, Any]:
    return (cluster.get("PredictorAPI", namespace, name) or {}).get("status") or {}


def _wait(cluster: Cluster, check: Any, what: str) -> Any:
    return cluster.wait_for(check, timeout=HANG_GUARD, what=what)


def _until(cluster: Cluster, namespace: str, name: str, what: str, check: Any) -> dict[str, Any]:
    return _wait(cluster, lambda: (s := _status(cluster, namespace, name)) and check(s) and s, what=what)


def _play_keda(cluster: Cluster, namespace: str, name: str, replicas: int) -> None:
    """Do what KEDA (through its HPA) and the Deployment controller do: set the count, then report the pods."""
    cluster.kube.patch("Deployment", namespace, name, {"spec": {"replicas": replicas}})
    generation = cluster.get("Deployment", namespace, name)["metadata"]["generation"]
    cluster.kube.patch("Deployment", namespace, name, {"status": deployment_status(
        generation, replicas, replicas, replicas, available=replicas > 0)}, subresource="status")


def _selector(cluster: Cluster, namespace: str, name: str) -> dict[str, str] | None:
    return ((cluster.get("Service", namespace, name) or {}).get("spec") or {}).get("selector")


def _reconciled_lines(cluster: Cluster, ns: str | None = None, name: str | None = None) -> list[str]:
    """The operator's `reconciled: ...` log lines (of the API `ns/name` only, when given)."""
    tag = f"[{ns}/{name}] " if ns and name else ""
    return [line for line in cluster.log.read_text().splitlines() if "reconciled: " in line and tag in line]


def test_scale_to_zero_builds_a_scaled_object_and_no_hpa(keda_cluster) -> None:
    cluster, ns, name = keda_cluster, "zero-a", "sleepy"
    created = cluster.kube.create(api(name, ns, autoscaling={**ZERO, "idleSeconds": 120, "targetConcurrency": 2}))
    scaled = _wait(cluster, lambda: cluster.get("ScaledObject", ns, name), what="the ScaledObject")
    assert [ref["uid"] for ref in scaled["metadata"]["ownerReferences"]] == [created["metadata"]["uid"]]
    spec = scaled["spec"]
    assert spec["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}
    assert (spec["minReplicaCount"], spec["maxReplicaCount"], spec["cooldownPeriod"]) == (0, 4, 120)
    assert spec["triggers"][0] == {"type": "external-push", "metadata": {
        "scalerAddress": f"{name}-activator.{ns}.svc.cluster.local:9090", "targetConcurrency": "2"}}
    assert [trigger["type"] for trigger in spec["triggers"]] == ["external-push", "prometheus"]
    deployment = _wait(cluster, lambda: cluster.get("Deployment", ns, name), what="the Deployment")
    assert cluster.get("HorizontalPodAutoscaler", ns, name) is None, "KEDA's ScaledObject replaces the HPA"
    activator = _wait(cluster, lambda: cluster.get("Deployment", ns, f"{name}-activator"), what="the activator")
    assert [ref["uid"] for ref in activator["metadata"]["ownerReferences"]] == [created["metadata"]["uid"]]
    assert cluster.get("Service", ns, f"{name}-activator") and cluster.get("Service", ns, f"{name}-replicas")
    assert _selector(cluster, ns, name) == {ACTIVATOR_LABEL: name}, "no ready replica yet: the activator holds"

    _play_keda(cluster, ns, name, 1)
    _wait(cluster, lambda: _selector(cluster, ns, name) == {API_LABEL: name},
          what="the Service on the runtime pods once one is ready")
    status = _until(cluster, ns, name, "Ready on one replica", lambda s: s.get("phase") == "Ready")
    assert condition(status, "Ready")["reason"] == "Serving" and status["replicas"] == 1
    _play_keda(cluster, ns, name, 0)  # idleSeconds without a request: KEDA scales to zero
    _wait(cluster, lambda: _selector(cluster, ns, name) == {ACTIVATOR_LABEL: name},
          what="the Service on the activator at zero")
    status = _until(cluster, ns, name, "ScaledToZero",
                    lambda s: condition(s, "Ready").get("reason") == SCALED_TO_ZERO)
    assert condition(status, "Ready")["status"] == "True" and status["phase"] == "Ready"
    assert condition(status, "Degraded")["status"] == "False"
    assert (status["replicas"], status["ready"]) == (0, "0/0")
    assert status["url"] == f"http://{name}.{ns}.svc.cluster.local", "the URL stays: the activator takes requests"
    assert "replicas" not in cluster.get("Deployment", ns, name)["spec"] or \
        cluster.get("Deployment", ns, name)["spec"]["replicas"] == 0, "the operator leaves KEDA's count alone"
    assert deployment["metadata"]["uid"] == cluster.get("Deployment", ns, name)["metadata"]["uid"]
    (document,) = yaml.safe_load(kubectl(cluster, "get", "papi", "-n", ns, "-o", "yaml"))["items"]
    row = kubectl(cluster, "get", "papi", name, "-n", ns).splitlines()
    header = row[0].split()
    assert "REPLICAS" in header and row[1].split()[header.index("REPLICAS")] == "0"
    assert document["status"]["replicas"] == 0

    # The first request wakes it: KEDA asks for a replica, which starts; the API stays Ready meanwhile (the
    # activator holds the requests), then serves.
    cluster.kube.patch("Deployment", ns, name, {"spec": {"replicas": 1}})
    generation = cluster.get("Deployment", ns, name)["metadata"]["generation"]
    cluster.kube.patch("Deployment", ns, name, {"status": deployment_status(generation, 1, 0, 1, available=False)},
                       subresource="status")
    status = _until(cluster, ns, name, "ScalingFromZero",
                    lambda s: condition(s, "Ready").get("reason") == SCALING_FROM_ZERO)
    assert condition(status, "Ready")["status"] == "True" and status["phase"] == "Ready"
    _play_keda(cluster, ns, name, 1)
    _until(cluster, ns, name, "Serving", lambda s: condition(s, "Ready").get("reason") == "Serving")

    # A hand edit of the ScaledObject is reverted like any child's.
    cluster.kube.patch("ScaledObject", ns, name, {"spec": {"maxReplicaCount": 40}})
    _wait(cluster, lambda: cluster.get("ScaledObject", ns, name)["spec"]["maxReplicaCount"] == 4,
          what="the ScaledObject restored")


def test_switching_min_replicas_swaps_scaled_object_and_hpa_without_a_gap(keda_cluster) -> None:
    """1 → 0 → 1: the new autoscaler is created before the old one is deleted, in the same reconcile, so the count
    always has an owner; the Deployment is the same object throughout."""
    cluster, ns, name = keda_cluster, "zero-b", "swap"
    cluster.kube.create(api(name, ns, autoscaling={"minReplicas": 1, "maxReplicas": 3}))
    hpa = _wait(cluster, lambda: cluster.get("HorizontalPodAutoscaler", ns, name), what="the HPA")
    assert hpa["spec"]["minReplicas"] == 1 and cluster.get("ScaledObject", ns, name) is None
    uid = cluster.get("Deployment", ns, name)["metadata"]["uid"]

    cluster.kube.patch("PredictorAPI", ns, name, {"spec": {"autoscaling": {"minReplicas": 0}}})
    _wait(cluster, lambda: cluster.get("ScaledObject", ns, name) is not None and cluster.get(
        "HorizontalPodAutoscaler", ns, name) is None, what="the ScaledObject in place of the HPA")
    # The reconcile that created the ScaledObject deleted the HPA after it. (A child's event handler may reconcile
    # the API at the same time and log the HPA's deletion too: the lines are picked by the creation.)
    swap = [line for line in _reconciled_lines(cluster, ns, name) if "ScaledObject created" in line]
    assert len(swap) == 1 and "HorizontalPodAutoscaler deleted" in swap[0], swap
    assert swap[0].index("ScaledObject created") < swap[0].index("HorizontalPodAutoscaler deleted")

    cluster.kube.patch("PredictorAPI", ns, name, {"spec": {"autoscaling": {"minReplicas": 1}}})
    _wait(cluster, lambda: cluster.get("HorizontalPodAutoscaler", ns, name) is not None and cluster.get(
        "ScaledObject", ns, name) is None, what="the HPA in place of the ScaledObject")
    created = [line for line in _reconciled_lines(cluster, ns, name) if "HorizontalPodAutoscaler created" in line]
    back = created[1:]  # created[0]: the API's creation, with minReplicas 1
    assert len(back) == 1 and "ScaledObject deleted" in back[0], created
    assert back[0].index("HorizontalPodAutoscaler created") < back[0].index("ScaledObject deleted")
    _wait(cluster, lambda: all(cluster.get(kind, ns, f"{name}-{suffix}") is None for kind, suffix in (
        ("Deployment", "activator"), ("Service", "activator"), ("Service", "replicas"))), what="the activator gone")
    assert _selector(cluster, ns, name) == {API_LABEL: name}
    assert cluster.get("Deployment", ns, name)["metadata"]["uid"] == uid, "the workload is never replaced"


def test_a_scaled_object_the_api_does_not_own_is_left_alone(keda_cluster) -> None:
    cluster, ns, name = keda_cluster, "zero-c", "squatted"
    theirs = {"apiVersion": kinds.KEDA_API, "kind": "ScaledObject", "metadata": {"name": name, "namespace": ns},
              "spec": {"scaleTargetRef": {"name": "elsewhere"}, "minReplicaCount": 1, "triggers": [
                  {"type": "external", "metadata": {"scalerAddress": "their-scaler:9090"}}]}}
    before = cluster.kube.create(theirs)
    cluster.kube.create(api(name, ns, autoscaling=ZERO))
    status = _until(cluster, ns, name, "NameConflict",
                    lambda s: condition(s, "Degraded").get("reason") == "NameConflict")
    assert "ScaledObject squatted exists and is not owned" in condition(status, "Degraded")["message"]
    after = cluster.get("ScaledObject", ns, name)
    assert after["spec"] == before["spec"] and after["metadata"]["resourceVersion"] == before["metadata"][
        "resourceVersion"], "left byte for byte as it was"
    cluster.kube.patch("PredictorAPI", ns, name, {"spec": {"autoscaling": {"minReplicas": 1}}})
    _wait(cluster, lambda: cluster.get("HorizontalPodAutoscaler", ns, name), what="the HPA")
    _until(cluster, ns, name, "no conflict", lambda s: condition(s, "Degraded").get("status") == "False")
    assert cluster.get("ScaledObject", ns, name)["metadata"]["resourceVersion"] == before["metadata"][
        "resourceVersion"], "the operator deletes only what it owns"


def test_the_role_grants_what_scale_to_zero_uses(keda_cluster) -> None:
    """The keda.sh grants of the ClusterRole (test_rbac's cluster serves no KEDA): each one is used here, except
    the `get` a create sends only after meeting an object the watch streams did not show (test above)."""
    used = {(group, resource, verb) for agent, group, resource, verb in set(keda_cluster.emulator.emulator.verbs)
            if agent != TEST_USER_AGENT and group == kinds.SCALED_OBJECT.group}
    assert used <= granted(), "the operator needs keda.sh permissions its ClusterRole lacks"
    assert granted() >= KEDA_GRANTS
    assert KEDA_GRANTS - used <= {(kinds.SCALED_OBJECT.group, kinds.SCALED_OBJECT.plural, "get")}, used


def test_without_keda_scale_to_zero_is_refused_and_nothing_changes(cluster) -> None:
    ns = "zero-d"
    cluster.kube.create(api("live", ns, autoscaling={"minReplicas": 1, "maxReplicas": 3}))
    before = _wait(cluster, lambda: cluster.get("Deployment", ns, "live"), what="the Deployment")
    hpa = _wait(cluster, lambda: cluster.get("HorizontalPodAutoscaler", ns, "live"), what="the HPA")
    cluster.kube.patch("PredictorAPI", ns, "live", {"spec": {"autoscaling": {"minReplicas": 0},
                                                             "predictor": {"image": "registry.example/demo:2"}}})
    status = _until(cluster, ns, "live", "KEDANotInstalled",
                    lambda s: condition(s, "Degraded").get("reason") == KEDA_NOT_INSTALLED)
    degraded = condition(status, "Degraded")
    assert degraded["status"] == "True" and status["phase"] == "Degraded"
    assert "install KEDA" in degraded["message"] and "helm install keda" in degraded["message"]
    assert "spec.autoscaling.minReplicas" in degraded["message"]
    _wait(cluster, lambda: any(e.get("reason") == KEDA_NOT_INSTALLED for e in _events(cluster, ns, "live")),
          what="a Warning Event")
    assert cluster.get("Deployment", ns, "live")["spec"] == before["spec"], "nothing else changes"
    assert cluster.get("HorizontalPodAutoscaler", ns, "live")["spec"] == hpa["spec"], "never silently kept at 1"

    cluster.kube.create(api("fresh", ns, autoscaling=ZERO))
    _until(cluster, ns, "fresh", "KEDANotInstalled",
           lambda s: condition(s, "Degraded").get("reason") == KEDA_NOT_INSTALLED)
    assert cluster.get("Deployment", ns, "fresh") is None and cluster.get("Service", ns, "fresh") is None
