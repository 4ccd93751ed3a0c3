"""Switching a live API between a Deployment (RollingUpdate) and an Argo Rollout (Canary) without dropping traffic.

The order, in both directions: the new workload is created beside the old one (same pod labels, so the
Service sends traffic to the pods of both); while an HPA owns the replica count, the new workload starts
with the old one's count (`seed_replicas`), so capacity does not drop either. The old workload is deleted
only once the new one is available (a Rollout Healthy on its current spec, a Deployment rolled out), and
its pods then drain as in any scale-down (preStop pause, graceful drain). A reconcile of a spec that changed
meanwhile (a stale event or timer) deletes no workload. The Rollout's AnalysisTemplate
and routing Services go with it. Only objects this API owns are ever deleted (`Kube.delete_owned`).
"""

from __future__ import annotations

from typing import Any

from predictorapi.contracts import kinds
from predictorapi.spec import PredictorAPI
from predictorapi_operator import canary
from predictorapi_operator.builders.meta import is_canary
from predictorapi_operator.builders.rollout import routing_services
from predictorapi_operator.kube import Kube, owned_by
from predictorapi_operator.status import rollout as deployment_rollout


def workload_kinds(canary_wanted: bool) -> tuple[str, str]:
    """(the kind that runs the pods, the kind it replaces)."""
    if canary_wanted:
        return kinds.ROLLOUT.kind, kinds.DEPLOYMENT.kind
    return kinds.DEPLOYMENT.kind, kinds.ROLLOUT.kind


def available(obj: dict[str, Any] | None) -> bool:
    """Whether a workload serves its current spec: a Rollout promoted (Healthy), a Deployment rolled out."""
    if obj is None:
        return False
    return canary.promoted(obj) if obj.get("kind") == kinds.ROLLOUT.kind else deployment_rollout(obj)[0]


def _owned(kube: Kube, kind: str, namespace: str, name: str, uid: str) -> dict[str, Any] | None:
    live = kube.observed(kind, namespace, name)
    return live if owned_by(live, uid) else None


def seed_replicas(children: list[dict[str, Any]], kube: Kube, uid: str, rollouts_served: bool) -> None:
    """Give a new workload whose count an HPA owns the replicas of the workload it replaces (in place)."""
    workload = next((c for c in children if c["kind"] in (kinds.ROLLOUT.kind, kinds.DEPLOYMENT.kind)), None)
    if workload is None or "replicas" in workload["spec"]:
        return
    _, old_kind = workload_kinds(workload["kind"] == kinds.ROLLOUT.kind)
    if old_kind == kinds.ROLLOUT.kind and not rollouts_served:
        return
    meta = workload["metadata"]
    old = _owned(kube, old_kind, meta["namespace"], meta["name"], uid)
    if old is None or kube.observed(workload["kind"], meta["namespace"], meta["name"]) is not None:
        return
    if (replicas := (old.get("spec") or {}).get("replicas")) is not None:
        workload["spec"] = {"replicas": replicas, **workload["spec"]}


def _leftovers(api: PredictorAPI, old_kind: str) -> list[tuple[str, str]]:
    """(kind, name) of what goes once the old workload is replaced."""
    name = api.metadata.name
    if old_kind == kinds.DEPLOYMENT.kind:
        return [(kinds.DEPLOYMENT.kind, name)]
    stale = [(kinds.ROLLOUT.kind, name), (kinds.ANALYSIS_TEMPLATE.kind, name)]
    return stale + [(kinds.SERVICE.kind, f"{name}-{role}") for role in ("stable", "canary")]


def _current(kube: Kube, api: PredictorAPI, generation: int | None) -> bool:
    """Whether the PredictorAPI still has the spec this reconcile acts on (a stale one must delete nothing)."""
    live = kube.get(kinds.PREDICTORAPI.kind, api.metadata.namespace or "default", api.metadata.name)
    return live is not None and (live.get("metadata") or {}).get("generation") == generation


def hand_over(api: PredictorAPI, uid: str, kube: Kube, rollouts_served: bool,
              generation: int | None = None) -> tuple[list[str], list[str]]:
    """Delete the replaced workload (and what served it) once the new one is available, if `generation` (of
    the spec acted on) is still the PredictorAPI's; (actions, notes). Also removes routing Services a canary
    no longer needs. Raises `ApiException` from the API server."""
    namespace, name = api.metadata.namespace or "default", api.metadata.name
    wanted_kind, old_kind = workload_kinds(is_canary(api))
    actions: list[str] = []
    if old_kind == kinds.ROLLOUT.kind and not rollouts_served:
        return actions, []
    if wanted_kind == kinds.ROLLOUT.kind and routing_services(api) is None:
        for role in ("stable", "canary"):
            if kube.delete_owned(kinds.SERVICE.kind, namespace, f"{name}-{role}", uid):
                actions.append(f"Service {name}-{role} deleted")
    if _owned(kube, old_kind, namespace, name, uid) is None:
        return actions, []
    if not available(_owned(kube, wanted_kind, namespace, name, uid)):
        return actions, [f"handing over from the {old_kind} to the {wanted_kind}: the {old_kind} keeps serving "
                         f"until the {wanted_kind} is available"]
    if not _current(kube, api, generation):  # the spec changed meanwhile: its own reconcile decides
        return actions, []
    for kind, child in _leftovers(api, old_kind):
        if kube.delete_owned(kind, namespace, child, uid):
            actions.append(f"{kind} {child} deleted")
    return actions, []
