"""Ownership at the cluster boundary: objects the PredictorAPI does not own are never modified, adopted or
deleted; a taken name is reported (`Degraded`, reason `NameConflict`) and heals once the name is free."""

from __future__ import annotations

import json
import re
import shutil
from typing import Any

from .test_kubectl import kubectl
from .test_reconcile import _events, api, condition

# One namespace per test: the emulator stores one Event per namespace (kopf names Events by `generateName`).
PLURALS = {"Service": "services", "Deployment": "deployments", "Ingress": "ingresses"}


def user_service(namespace: str, name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": namespace,
                                                                "labels": {"app": "shop-frontend"}},
            "spec": {"type": "ClusterIP", "selector": {"app": "shop-frontend"},
                     "ports": [{"name": "web", "port": 8443, "targetPort": 8443, "protocol": "TCP"}]}}


def user_deployment(namespace: str, name: str) -> dict[str, Any]:
    labels = {"app": "shop-frontend"}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": namespace,
                                                                        "labels": labels},
            "spec": {"replicas": 2, "selector": {"matchLabels": labels}, "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "web", "image": "registry.example/shop-frontend:7"}]}}}}


def user_ingress(namespace: str, name: str) -> dict[str, Any]:
    backend = {"service": {"name": name, "port": {"name": "web"}}}
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": name, "namespace": namespace, "labels": {"app": "shop-frontend"}},
            "spec": {"rules": [{"host": "shop.example.com", "http": {"paths": [
                {"path": "/", "pathType": "Prefix", "backend": backend}]}}]}}


USER_OBJECTS = {"Service": user_service, "Deployment": user_deployment, "Ingress": user_ingress}


def raw(cluster, namespace: str, kind: str, name: str) -> str | None:
    """The emulator's stored object, serialised: equal strings mean byte-for-byte the same object."""
    found = [o for o in cluster.emulator.objects(PLURALS[kind])
             if o["metadata"]["namespace"] == namespace and o["metadata"]["name"] == name]
    return json.dumps(found[0], sort_keys=True) if found else None


def squat(cluster, namespace: str, name: str, *kinds: str) -> dict[str, str | None]:
    """Create the user's own objects named `name`; their raw form."""
    for kind in kinds:
        cluster.kube.create(USER_OBJECTS[kind](namespace, name))
    return {kind: raw(cluster, namespace, kind, name) for kind in kinds}


def status_of(cluster, namespace: str, name: str) -> dict[str, Any]:
    return (cluster.get("PredictorAPI", namespace, name) or {}).get("status") or {}


def degraded_by(cluster, namespace: str, name: str, reason: str):
    return lambda: (s := status_of(cluster, namespace, name)) and condition(s, "Degraded").get(
        "reason") == reason and s


def owned(cluster, namespace: str, kind: str, name: str, uid: str) -> dict[str, Any] | None:
    """The object, when it carries an ownerReference to `uid`."""
    obj = cluster.get(kind, namespace, name)
    refs = (obj or {}).get("metadata", {}).get("ownerReferences") or []
    return obj if any(ref.get("uid") == uid for ref in refs) else None


def resyncs(cluster, namespace: str, name: str) -> int:
    """How many resync runs of this API the operator has logged (succeeded or retried)."""
    return sum(1 for line in cluster.log.read_text().splitlines()
               if f"[{namespace}/{name}] Timer 'resync'" in line and "invoked" not in line)


def after_resyncs(cluster, namespace: str, name: str, count: int = 2) -> None:
    """Wait until the operator has run `count` more resyncs of this API (each one reconciles it)."""
    start = resyncs(cluster, namespace, name)
    cluster.wait_for(lambda: resyncs(cluster, namespace, name) >= start + count,
                     what=f"{count} resyncs of {namespace}/{name}")


def wide_row(cluster, namespace: str, name: str) -> dict[str, str]:
    """`kubectl get papi NAME -o wide` (the emulator serves the CRD's printer columns as a Table), as
    {column: value}; cells are cut at the header's column offsets, since empty ones print as blanks."""
    header, row = kubectl(cluster, "get", "papi", name, "-n", namespace, "-o", "wide").splitlines()[:2]
    starts = [match.start() for match in re.finditer(r"\S+", header)]
    bounds = zip(starts, [*starts[1:], None], strict=True)
    return {header[a:b].strip(): row[a:b].strip() for a, b in bounds}


def test_squatted_children_are_untouched_reported_and_survive_the_apis_deletion(emulated) -> None:
    cluster, ns = emulated, "squat-a"
    before = squat(cluster, ns, "shop", "Service", "Deployment", "Ingress")
    created = cluster.kube.create(api("shop", ns, autoscaling={"minReplicas": 1, "maxReplicas": 3},
                                      networking={"ingress": {"host": "api.example.com"}}))
    uid = created["metadata"]["uid"]

    status = cluster.wait_for(degraded_by(cluster, ns, "shop", "NameConflict"), what="Degraded=NameConflict")
    message = condition(status, "Degraded")["message"]
    for kind in ("Service", "Deployment", "Ingress"):
        assert f"{kind} shop exists and is not owned by this PredictorAPI; rename or delete it" in message
    assert status["phase"] == "Degraded" and status["observedGeneration"] == 1
    assert condition(status, "Ready")["status"] == "False" and condition(status, "Progressing")["status"] == "False"
    assert "url" not in status and "ingressUrl" not in status, "URLs of objects that are not ours"
    # The children whose names are free still reconcile, except those that would act on the user's
    # objects: an HPA would scale their Deployment.
    assert cluster.wait_for(lambda: owned(cluster, ns, "PodDisruptionBudget", "shop", uid), what="our PDB")
    assert cluster.get("HorizontalPodAutoscaler", ns, "shop") is None
    assert "HorizontalPodAutoscaler not applied: it would act on Deployment shop" in condition(status, "Ready")[
        "message"]
    events = cluster.wait_for(lambda: [e for e in _events(cluster, ns, "shop") if e["reason"] == "NameConflict"],
                              what="a NameConflict event")
    assert events[0]["type"] == "Warning" and "Service shop exists" in events[0]["message"]
    if shutil.which("kubectl"):
        assert wide_row(cluster, ns, "shop")["REASON"] == "NameConflict"

    after_resyncs(cluster, ns, "shop")  # retries and resyncs meet the same objects again
    assert {kind: raw(cluster, ns, kind, "shop") for kind in before} == before, "a user's object was modified"
    assert len([e for e in _events(cluster, ns, "shop") if e["reason"] == "NameConflict"]) == 1

    cluster.kube.delete("PredictorAPI", ns, "shop")
    cluster.wait_for(lambda: cluster.get("PredictorAPI", ns, "shop") is None, what="the API deleted")
    cluster.wait_for(lambda: cluster.get("PodDisruptionBudget", ns, "shop") is None, what="our PDB collected")
    assert {kind: raw(cluster, ns, kind, "shop") for kind in before} == before, "a user's object was collected"


def test_removing_the_squatter_heals_on_the_next_reconcile(emulated) -> None:
    cluster, ns = emulated, "squat-b"
    squat(cluster, ns, "heal", "Service")
    uid = cluster.kube.create(api("heal", ns))["metadata"]["uid"]
    cluster.wait_for(degraded_by(cluster, ns, "heal", "NameConflict"), what="Degraded=NameConflict")
    assert owned(cluster, ns, "Deployment", "heal", uid), "the Deployment's name is free: it is created"

    cluster.kube.delete("Service", ns, "heal")
    service = cluster.wait_for(lambda: owned(cluster, ns, "Service", "heal", uid), what="our Service, created")
    assert service["spec"]["selector"] == {"serving.predictorapi.dev/api": "heal"}
    status = cluster.wait_for(lambda: (s := status_of(cluster, ns, "heal")) and condition(s, "Degraded").get(
        "status") == "False" and s, what="Degraded=False once the name is free")
    assert status["url"] == f"http://heal.{ns}.svc.cluster.local"


def test_removing_the_ingress_never_deletes_an_ingress_we_do_not_own(emulated) -> None:
    cluster, ns = emulated, "squat-c"
    before = squat(cluster, ns, "gate", "Ingress")
    cluster.kube.create(api("gate", ns, networking={"ingress": {"host": "gate.example.com"}}))
    cluster.wait_for(degraded_by(cluster, ns, "gate", "NameConflict"), what="Degraded=NameConflict")

    cluster.kube.patch("PredictorAPI", ns, "gate", {"spec": {"networking": {"ingress": None}}})
    status = cluster.wait_for(lambda: (s := status_of(cluster, ns, "gate")) and s.get("observedGeneration") == 2
                              and condition(s, "Degraded").get("status") == "False" and s,
                              what="the new spec reconciled, no conflict left")
    assert "ingressUrl" not in status
    after_resyncs(cluster, ns, "gate")
    assert raw(cluster, ns, "Ingress", "gate") == before["Ingress"], "the user's Ingress was modified or deleted"
