"""The operator's ClusterRole grants exactly what its code uses: compared with the requests it really makes."""

from __future__ import annotations

from typing import Any

import yaml
from support.processes import REPO

from predictorapi.contracts import kinds
from predictorapi_operator.handlers import SEEN_KINDS

from .conftest import TEST_USER_AGENT
from .test_canary import exercise_canary
from .test_reconcile import FULL_SPEC, api

RBAC = REPO / "operator" / "deploy" / "rbac.yaml"
# Granted but not exercised against the emulator: kopf's CRD watch (resource discovery refresh) and
# peering (the tests run kopf --standalone).
NOT_EXERCISED = {("apiextensions.k8s.io", "customresourcedefinitions", "list"),
                 ("apiextensions.k8s.io", "customresourcedefinitions", "watch"),
                 *(("kopf.dev", "clusterkopfpeerings", verb) for verb in ("get", "list", "watch", "patch"))}
# KEDA's ScaledObjects (scale to zero): the emulator here serves no KEDA; test_scale_to_zero compares these grants
# with what the operator uses in a cluster that serves it.
KEDA_GRANTS = {(kinds.SCALED_OBJECT.group, kinds.SCALED_OBJECT.plural, verb)
               for verb in ("get", "list", "watch", "create", "patch", "delete")}
# Granted and never requested: the OwnerReferencesPermissionEnforcement admission plugin (OpenShift)
# lets a client set `blockOwnerDeletion: true` on an ownerReference only if it may `update` the owner's
# `finalizers` subresource; the API server checks that permission, the operator never calls it.
NEVER_REQUESTED = {("serving.predictorapi.dev", "predictorapis/finalizers", "update")}
# Granted and requested only when a create meets a same-named object the watch streams did not show (409):
# reads of watched children come from kopf's indexes (`view.Seen`); test_ownership exercises that path.
READ_AFTER_CONFLICT = {(kind.group, kind.plural, "get") for kind in SEEN_KINDS if kind is not kinds.POD}


def granted() -> set[tuple[str, str, str]]:
    role = next(d for d in yaml.safe_load_all(RBAC.read_text()) if d["kind"] == "ClusterRole")
    return {(group, resource, verb) for rule in role["rules"] for group in rule["apiGroups"]
            for resource in rule["resources"] for verb in rule["verbs"]}


def used_by_operator(cluster) -> set[tuple[str, str, str]]:
    return {(group, resource, verb) for agent, group, resource, verb in set(cluster.emulator.emulator.verbs)
            if agent != TEST_USER_AGENT}


def _exercise(cluster) -> None:
    """Every path of the code: create all children, drop optional ones, an invalid spec, a pod, a canary."""
    cluster.kube.create(api("rbac", "team-r", **FULL_SPEC))
    cluster.wait_for(lambda: cluster.get("ServiceMonitor", "team-r", "rbac"), what="the ServiceMonitor")
    # Hand edits the API server accepts (the strict emulator refuses invalid ones) and the operator reverts.
    edits = {"Service": {"ports": [{"name": "other", "port": 81, "targetPort": 81, "protocol": "TCP"}]},
             "HorizontalPodAutoscaler": {"maxReplicas": 99}, "PodDisruptionBudget": {"maxUnavailable": 5},
             "Ingress": {"rules": [{"host": "elsewhere.example.com"}]},
             "ServiceMonitor": {"endpoints": [{"port": "other"}]}}
    for kind, edit in edits.items():
        wanted = cluster.get(kind, "team-r", "rbac")["spec"]
        cluster.kube.patch(kind, "team-r", "rbac", {"spec": edit})
        cluster.wait_for(lambda k=kind, w=wanted: all(cluster.get(k, "team-r", "rbac")["spec"][f] == w[f]
                                                      for f in edits[k]), what=f"{kind} restored")
    cluster.kube.patch("PredictorAPI", "team-r", "rbac", {"spec": {
        "autoscaling": {"maxReplicas": 1}, "networking": {"ingress": None}, "monitoring": {"serviceMonitor": False}}})
    cluster.wait_for(lambda: cluster.get("Ingress", "team-r", "rbac") is None and cluster.get(
        "ServiceMonitor", "team-r", "rbac") is None, what="optional children deleted")
    cluster.create_invalid(api("rbac-bad", "team-r", maxConcurrency=0))
    cluster.wait_for(lambda: (cluster.get("PredictorAPI", "team-r", "rbac-bad") or {}).get("status"), what="status")
    pod: dict[str, Any] = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "rbac-1", "namespace": "team-r",
                           "labels": {"serving.predictorapi.dev/api": "rbac",
                                      "app.kubernetes.io/managed-by": "predictorapi-operator"}},
                           "spec": {"containers": [{"name": "runtime", "image": "x"}]}}
    cluster.kube.create(pod)
    cluster.wait_for(lambda: any(r == "events" for _, r, v in used_by_operator(cluster) if v == "create"),
                     what="an event")
    exercise_canary(cluster, "team-r", "rbac-canary")


def test_role_grants_exactly_what_the_operator_uses(emulated) -> None:
    _exercise(emulated)
    used = used_by_operator(emulated)
    role = granted()
    assert used - role == set(), "the operator needs permissions its ClusterRole lacks"
    assert role - used - NOT_EXERCISED - NEVER_REQUESTED - READ_AFTER_CONFLICT - KEDA_GRANTS == set(), \
        "the ClusterRole grants permissions the operator never uses"
    assert role >= NEVER_REQUESTED and not NEVER_REQUESTED & used


def test_children_ask_for_blocked_owner_deletion_which_the_role_allows(emulated) -> None:
    """The permission the admission plugin checks is there because the children ask for it."""
    cluster = emulated
    cluster.kube.create(api("rbac-owner", "team-r"))
    service = cluster.wait_for(lambda: cluster.get("Service", "team-r", "rbac-owner"), what="the Service")
    assert all(ref["blockOwnerDeletion"] for ref in service["metadata"]["ownerReferences"])
    assert ("serving.predictorapi.dev", "predictorapis/finalizers", "update") in granted()


def test_the_operator_cannot_read_secrets() -> None:
    """Secrets reach pods by reference only (env valueFrom, volumes): the operator never sees them."""
    assert not any(resource == "secrets" for _, resource, _ in granted())
