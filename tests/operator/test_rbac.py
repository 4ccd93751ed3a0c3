"""The operator's ClusterRole grants exactly what its code uses: compared with the requests it really makes."""

from __future__ import annotations

from typing import Any

import yaml
from support.processes import REPO

from .conftest import TEST_USER_AGENT
from .test_reconcile import FULL_SPEC, api

RBAC = REPO / "operator" / "deploy" / "rbac.yaml"
# Granted but not exercised against the emulator: kopf's CRD watch (resource discovery refresh) and
# peering (the tests run kopf --standalone).
NOT_EXERCISED = {("apiextensions.k8s.io", "customresourcedefinitions", "list"),
                 ("apiextensions.k8s.io", "customresourcedefinitions", "watch"),
                 *(("kopf.dev", "clusterkopfpeerings", verb) for verb in ("get", "list", "watch", "patch"))}


def granted() -> set[tuple[str, str, str]]:
    role = next(d for d in yaml.safe_load_all(RBAC.read_text()) if d["kind"] == "ClusterRole")
    return {(group, resource, verb) for rule in role["rules"] for group in rule["apiGroups"]
            for resource in rule["resources"] for verb in rule["verbs"]}


def used_by_operator(cluster) -> set[tuple[str, str, str]]:
    return {(group, resource, verb) for agent, group, resource, verb in set(cluster.emulator.emulator.verbs)
            if agent != TEST_USER_AGENT}


def _exercise(cluster) -> None:
    """Every path of the code: create all children, drop optional ones, an invalid spec, a pod."""
    cluster.kube.create(api("rbac", "team-r", **FULL_SPEC))
    cluster.wait_for(lambda: cluster.get("ServiceMonitor", "team-r", "rbac"), what="the ServiceMonitor")
    edits = {"Service": {"ports": []}, "HorizontalPodAutoscaler": {"maxReplicas": 99},
             "PodDisruptionBudget": {"maxUnavailable": 5}, "Ingress": {"rules": []},
             "ServiceMonitor": {"endpoints": []}}
    for kind, edit in edits.items():
        wanted = cluster.get(kind, "team-r", "rbac")["spec"]
        cluster.kube.patch(kind, "team-r", "rbac", {"spec": edit})
        cluster.wait_for(lambda k=kind, w=wanted: all(cluster.get(k, "team-r", "rbac")["spec"][f] == w[f]
                                                      for f in edits[k]), what=f"{kind} restored")
    cluster.kube.patch("PredictorAPI", "team-r", "rbac", {"spec": {
        "autoscaling": {"maxReplicas": 1}, "networking": {"ingress": None}, "monitoring": {"serviceMonitor": False}}})
    cluster.wait_for(lambda: cluster.get("Ingress", "team-r", "rbac") is None and cluster.get(
        "ServiceMonitor", "team-r", "rbac") is None, what="optional children deleted")
    cluster.kube.create(api("rbac-bad", "team-r", maxConcurrency=0))
    cluster.wait_for(lambda: (cluster.get("PredictorAPI", "team-r", "rbac-bad") or {}).get("status"), what="status")
    pod: dict[str, Any] = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "rbac-1", "namespace": "team-r",
                           "labels": {"serving.predictorapi.dev/api": "rbac",
                                      "app.kubernetes.io/managed-by": "predictorapi-operator"}},
                           "spec": {"containers": [{"name": "runtime", "image": "x"}]}}
    cluster.kube.create(pod)
    cluster.wait_for(lambda: any(r == "events" for _, r, v in used_by_operator(cluster) if v == "create"),
                     what="an event")


def test_role_grants_exactly_what_the_operator_uses(emulated) -> None:
    _exercise(emulated)
    used = used_by_operator(emulated)
    role = granted()
    assert used - role == set(), "the operator needs permissions its ClusterRole lacks"
    assert role - used - NOT_EXERCISED == set(), "the ClusterRole grants permissions the operator never uses"


def test_the_operator_cannot_read_secrets() -> None:
    """Secrets reach pods by reference only (env valueFrom, volumes): the operator never sees them."""
    assert not any(resource == "secrets" for _, resource, _ in granted())
