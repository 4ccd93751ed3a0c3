"""One reconcile of one PredictorAPI: validate → build (pure) → apply children → write status."""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import kopf
from kubernetes.client.exceptions import ApiException

from predictorapi import spec
from predictorapi.contracts import kinds
from predictorapi.spec import PredictorAPI
from predictorapi.validation import check_document
from predictorapi_operator import canary, handover
from predictorapi_operator.builders import BuildOptions, build_children, scales_to_zero
from predictorapi_operator.builders.activator import activator_children
from predictorapi_operator.builders.meta import in_cluster_url, ingress_url, is_canary, selector_string
from predictorapi_operator.kube import Kube, NotOwned, api_message, owned_by, refused
from predictorapi_operator.settings import OperatorSettings
from predictorapi_operator.status import (
    INSTALL_KEDA,
    KEDA_NOT_INSTALLED,
    Conflict,
    Observed,
    Refusal,
    announcement,
    compute_status,
    operator_verdict,
    status_patch,
)

MONITORING_API = kinds.SERVICE_MONITOR.api_version
TARGETS = {kinds.HPA.kind: kinds.DEPLOYMENT.kind, kinds.SCALED_OBJECT.kind: kinds.DEPLOYMENT.kind,
           kinds.INGRESS.kind: kinds.SERVICE.kind}
"""Children that act on another child by name (an HPA scales the Deployment, an Ingress routes to the
Service). While that name is taken by an object the API does not own, they are held back (and ours
deleted): an HPA must not scale someone else's Deployment, an Ingress must not expose their Service.
(An HPA's or ScaledObject's target is the kind in its `scaleTargetRef`: a canary's HPA scales the Rollout.)"""
SCALERS = (kinds.HPA.kind, kinds.SCALED_OBJECT.kind)
"""Children whose target is the kind in their `scaleTargetRef` (the Deployment, or a canary's Rollout)."""


@dataclass(frozen=True)
class Outcome:
    """What a reconcile did and met, for the handlers to log, announce and retry."""

    invalid: str | None = None
    """Why the spec was refused (it names the field)."""
    actions: tuple[str, ...] = ()
    """What was done to each child, e.g. `Deployment created`, `Ingress deleted`, `Service conflict`."""
    conflicts: tuple[Conflict, ...] = ()
    refused: tuple[Refusal, ...] = ()
    verdict: tuple[str, str] | None = None
    """(reason, message) of a Degraded condition the operator's own work caused (InvalidSpec,
    NameConflict, ApplyFailed), as now written; None when there is none."""
    announce: tuple[str, str] | None = None
    """`verdict`, when it is new relative to the status the object had: worth one Warning Event."""
    status_error: str | None = None
    """Why the API server refused the status (it could not be written)."""
    transient: str | None = None
    """An error that a later attempt can get past (5xx, no connection, a conflict): retry soon."""

    @property
    def settled(self) -> bool:
        """Whether nothing is left that a retry could fix (an invalid spec waits for a new spec)."""
        return not (self.conflicts or self.refused or self.status_error or self.transient)


@dataclass
class _Applied:
    actions: list[str] = dataclasses.field(default_factory=list)
    conflicts: list[Conflict] = dataclasses.field(default_factory=list)
    refused: list[Refusal] = dataclasses.field(default_factory=list)
    held: list[str] = dataclasses.field(default_factory=list)
    """Kinds held back because the child they act on is not ours (see TARGETS)."""
    notes: list[str] = dataclasses.field(default_factory=list)
    live: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    """The children applied, as the API server answered (or as last seen, when unchanged), by kind."""
    transient: str | None = None
    blocked: tuple[str, str] | None = None
    """Nothing was applied: this cluster cannot run the spec (RolloutsNotInstalled)."""

    @property
    def absent(self) -> set[str]:
        """Kinds of the spec that are not ours in the cluster this time."""
        return {conflict.kind for conflict in self.conflicts} | set(self.held)

    def failed(self, kind: str, name: str, exc: ApiException) -> None:
        if refused(exc):
            self.refused.append(Refusal(kind, name, api_message(exc)))
        elif self.transient is None:
            self.transient = f"{kind} {name}: {api_message(exc)}"


def _document(body: Mapping[str, Any]) -> dict[str, Any]:
    """The user's object as committed (what `predictorapi validate` checks)."""
    meta = body.get("metadata") or {}
    return {"apiVersion": body.get("apiVersion"), "kind": body.get("kind"), "spec": dict(body.get("spec") or {}),
            "metadata": {k: meta[k] for k in ("name", "namespace", "labels", "annotations") if k in meta}}


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def reconcile(body: Mapping[str, Any], kube: Kube, settings: OperatorSettings) -> Outcome:
    """Make the children match the spec and report the status; idempotent. Every child is tried even
    when another one fails; refusals and name conflicts end in the written status. Raises
    `ApiException` only for transient errors before any child was tried (discovery)."""
    if body["metadata"].get("deletionTimestamp"):  # being deleted: the garbage collector takes the children
        return Outcome()
    options = BuildOptions(runtime_image=settings.runtime_image, cluster_domain=settings.cluster_domain,
                           prometheus_url=settings.prometheus_url)
    api, problems = check_document(_document(body))
    invalid = "; ".join(map(str, problems)) or None
    notes: list[str] = []
    applied = _Applied()
    if api is not None:
        options = _discover(api, options, kube, notes)
        applied = _apply_workload(api, body, kube, options)
    observed = _observe(body, api, options, kube, invalid, notes, applied)
    written = _write_status(body, observed, kube)
    return dataclasses.replace(written, invalid=invalid, actions=tuple(applied.actions),
                               conflicts=tuple(applied.conflicts), refused=tuple(applied.refused),
                               transient=applied.transient or written.transient)


def _discover(api: PredictorAPI, options: BuildOptions, kube: Kube, notes: list[str]) -> BuildOptions:
    """`options` with what the cluster serves; a note for each thing asked for that it cannot have."""
    wants_monitor = api.spec.monitoring.service_monitor
    available = wants_monitor and kube.serves(MONITORING_API)
    if wants_monitor and not available:
        notes.append(f"ServiceMonitor not created: the cluster does not serve {MONITORING_API} "
                     "(install the Prometheus Operator)")
    return dataclasses.replace(options, service_monitor_available=available)


def _apply_workload(api: PredictorAPI, body: Mapping[str, Any], kube: Kube, options: BuildOptions) -> _Applied:
    """Apply the children, then hand over from the replaced workload (Deployment ↔ Rollout). A canary where
    Argo Rollouts is missing applies nothing at all: never a silent rolling update instead."""
    served = _rollouts_served(api, kube)
    if is_canary(api) and not served:
        return _Applied(blocked=(canary.ROLLOUTS_NOT_INSTALLED, canary.INSTALL_ARGO_ROLLOUTS))
    keda_served = _keda_served(api, kube)
    if scales_to_zero(api) and not keda_served:
        return _Applied(blocked=(KEDA_NOT_INSTALLED, INSTALL_KEDA))
    if scales_to_zero(api):
        namespace = api.metadata.namespace or "default"
        options = dataclasses.replace(options, at_zero=at_zero(kube.observed(kinds.DEPLOYMENT.kind, namespace,
                                                                              api.metadata.name)))
    applied = _apply_children(api, body, kube, options, served, keda_served)
    try:
        meta = body["metadata"]
        actions, notes = handover.hand_over(api, meta.get("uid", ""), kube, served, meta.get("generation"))
    except ApiException as exc:
        applied.failed(kinds.ROLLOUT.kind if is_canary(api) else kinds.DEPLOYMENT.kind, api.metadata.name, exc)
    else:
        applied.actions += actions
        applied.notes += notes
    return applied


def _rollouts_served(api: PredictorAPI, kube: Kube) -> bool:
    """Whether the cluster serves Argo Rollouts, as far as this API needs to know: a canary asks discovery; a
    plain API only needs to know whether a Rollout it replaces is left, which the watch streams show."""
    if is_canary(api) or not kube.watches(kinds.ROLLOUT.kind):
        return kube.serves(kinds.ROLLOUTS_API)
    return kube.observed(kinds.ROLLOUT.kind, api.metadata.namespace or "default", api.metadata.name) is not None


def at_zero(deployment: Mapping[str, Any] | None) -> bool:
    """Whether a workload that scales to zero has no ready replica now, or is being scaled to zero (its last pod
    drains): the API's Service then selects the activator, which holds requests until a replica is ready."""
    if deployment is None:
        return True
    replicas = (deployment.get("spec") or {}).get("replicas", 1)
    return replicas == 0 or not (deployment.get("status") or {}).get("readyReplicas")


def _keda_served(api: PredictorAPI, kube: Kube) -> bool:
    """Whether the cluster serves KEDA, as far as this API needs to know: one that scales to zero asks discovery;
    another only needs to know whether a ScaledObject it replaces is left, which the watch streams show."""
    if scales_to_zero(api) or not kube.watches(kinds.SCALED_OBJECT.kind):
        return kube.serves(kinds.KEDA_API)
    return kube.observed(kinds.SCALED_OBJECT.kind, api.metadata.namespace or "default", api.metadata.name) is not None


def _apply_children(api: PredictorAPI, body: Mapping[str, Any], kube: Kube, options: BuildOptions,
                    rollouts_served: bool = False, keda_served: bool = False) -> _Applied:
    """Apply every child the spec asks for and delete our optional children it no longer asks for.
    Objects this API does not own are never touched (`kube.apply` / `kube.delete_owned` decide). Deletions
    come after every apply: switching between HPA and ScaledObject creates the new one before the old one goes,
    so the replica count is never left without an autoscaler."""
    namespace, name, uid = api.metadata.namespace, api.metadata.name, body["metadata"].get("uid", "")
    children = sorted(build_children(api, options), key=lambda child: child["kind"] in TARGETS)  # targets first
    kopf.adopt(children, owner=dict(body))  # sets our ownerReference on what we build; adopts nothing live
    handover.seed_replicas(children, kube, uid, rollouts_served)
    applied = _Applied()
    for child in children:
        kind = child["kind"]
        target = child["spec"]["scaleTargetRef"]["kind"] if kind in SCALERS else TARGETS.get(kind)
        if target is not None and target in {conflict.kind for conflict in applied.conflicts}:
            applied.held.append(kind)
            applied.notes.append(f"{kind} not applied: it would act on {target} {name}, which is not ours")
            try:
                if kube.delete_owned(kind, namespace, name, uid, claimed=True):
                    applied.actions.append(f"{kind} deleted")
            except NotOwned:
                applied.conflicts.append(Conflict(kind, name))
            except ApiException as exc:
                applied.failed(kind, name, exc)
            continue
        try:
            action, live = kube.apply(child, uid)
            if child["metadata"]["name"] == name:
                applied.actions.append(f"{kind} {action}")
                applied.live[kind] = live
            else:  # the activator's children (an API that scales to zero)
                applied.actions.append(f"{kind} {child['metadata']['name']} {action}")
        except NotOwned:
            applied.conflicts.append(Conflict(kind, child["metadata"]["name"]))
            applied.actions.append(f"{kind} conflict")
        except ApiException as exc:
            applied.failed(kind, child["metadata"]["name"], exc)
            applied.actions.append(f"{kind} failed")
    _delete_unwanted(api, kube, uid, {child["kind"] for child in children}, keda_served, applied)
    return applied


def _delete_unwanted(api: PredictorAPI, kube: Kube, uid: str, built: set[str], keda_served: bool,
                     applied: _Applied) -> None:
    """Delete (when ours) the optional children the spec no longer asks for, and the activator's children of an
    API that no longer scales to zero."""
    namespace, name = api.metadata.namespace, api.metadata.name
    optional = (*kinds.OPTIONAL_CHILDREN, *((kinds.SCALED_OBJECT,) if keda_served else ()))
    unwanted = [(kind.kind, name, f"{kind.kind} deleted") for kind in optional if kind.kind not in built]
    if not scales_to_zero(api):
        unwanted += [(kind, child, f"{kind} {child} deleted") for kind, child in activator_children(api)]
    for kind, child, action in unwanted:
        try:
            if kube.delete_owned(kind, namespace, child, uid):
                applied.actions.append(action)
        except ApiException as exc:
            applied.failed(kind, child, exc)


def _observe(body: Mapping[str, Any], api: PredictorAPI | None, options: BuildOptions, kube: Kube,
             invalid: str | None, notes: list[str], applied: _Applied) -> Observed:
    """What the status is computed from: our Deployment (or a canary's Rollout) and its pods, and what
    applying met."""
    meta = body["metadata"]
    namespace, name, uid = meta["namespace"], meta["name"], meta.get("uid", "")
    previous = dict(body.get("status") or {})
    deployment, rollout, run = _workload(api, previous, kube, namespace, name, uid, applied)
    pods = kube.pods(namespace, name) if deployment or rollout else []
    absent = applied.absent
    if api is not None:
        url = None if kinds.SERVICE.kind in absent else in_cluster_url(api, options)
        external = None if kinds.INGRESS.kind in absent else ingress_url(api)
        selector, from_git = selector_string(api), api.spec.predictor.source is not None
        zero = scales_to_zero(api)
    else:  # an invalid spec builds nothing: what was true of the last good one still is
        url, external, selector = previous.get("url"), previous.get("ingressUrl"), previous.get("selector")
        from_git, zero = bool(previous.get("revision")), False
    return Observed(
        generation=meta.get("generation", 1), deployment=deployment, rollout=rollout, analysis_run=run,
        blocked=applied.blocked, pods=pods, invalid=invalid,
        notes=(*notes, *applied.notes), conflicts=tuple(applied.conflicts), refused=tuple(applied.refused),
        url=url, ingress_url=external, selector=selector, from_git=from_git, scales_to_zero=zero,
    )


def _workload(api: PredictorAPI | None, previous: Mapping[str, Any], kube: Kube, namespace: str, name: str,
              uid: str, applied: _Applied) -> tuple[dict[str, Any] | None, ...]:
    """(our Deployment, our Rollout, the aborted canary's AnalysisRun): what runs the pods and is reported. A
    canary reports its Rollout (the Deployment it replaces only serves until the handover); an invalid spec
    reports the workload of the last good one. The workload just applied is the API server's answer."""
    wants_rollout = (is_canary(api) if api is not None else "canary" in previous) and not applied.blocked
    kind = kinds.ROLLOUT.kind if wants_rollout else kinds.DEPLOYMENT.kind
    live = applied.live.get(kind) or kube.observed(kind, namespace, name)
    if live is not None and not owned_by(live, uid):
        live = None  # someone else's object of that name: not ours to report
    if not wants_rollout:
        return live, None, None
    run_name = canary.step_analysis(live).get("name") if live and (live.get("status") or {}).get("abort") else None
    run = kube.get(kinds.ANALYSIS_RUN.kind, namespace, run_name) if run_name else None
    return None, live, run


def _write_status(body: Mapping[str, Any], observed: Observed, kube: Kube) -> Outcome:
    """Write the status when it changed (exactly: keys that no longer apply are removed)."""
    meta = body["metadata"]
    previous = dict(body.get("status") or {})
    status = compute_status(observed, previous, _now())
    outcome = Outcome(verdict=operator_verdict(status), announce=announcement(previous, status))
    patch = status_patch(previous, status)
    if patch is None:
        return outcome
    try:
        kube.patch(spec.KIND, meta["namespace"], meta["name"], {"status": patch}, subresource="status")
    except ApiException as exc:
        if exc.status == 404:  # deleted meanwhile
            return outcome
        text = f"the status of {spec.KIND} {meta['name']} was not written: {api_message(exc)}"
        return dataclasses.replace(outcome, **{"status_error" if refused(exc) else "transient": text})
    return outcome
