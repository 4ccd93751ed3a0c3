"""One reconcile of one PredictorAPI: validate → build (pure) → apply children → write status."""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import kopf

from predictorapi import spec
from predictorapi.contracts import kinds
from predictorapi.contracts.labels import API_LABEL
from predictorapi.spec import PredictorAPI
from predictorapi.validation import check_document
from predictorapi_operator.builders import BuildOptions, build_children
from predictorapi_operator.builders.meta import in_cluster_url, ingress_url, selector_string
from predictorapi_operator.kube import Kube
from predictorapi_operator.settings import OperatorSettings
from predictorapi_operator.status import Observed, changed, compute_status

MONITORING_API = kinds.SERVICE_MONITOR.api_version


@dataclass(frozen=True)
class Outcome:
    """What a reconcile did: for a bad spec, why it was refused; the children it applied or deleted."""

    invalid: str | None = None
    actions: tuple[str, ...] = ()


def _document(body: Mapping[str, Any]) -> dict[str, Any]:
    """The user's object as committed (what `predictorapi validate` checks)."""
    meta = body.get("metadata") or {}
    return {"apiVersion": body.get("apiVersion"), "kind": body.get("kind"), "spec": dict(body.get("spec") or {}),
            "metadata": {k: meta[k] for k in ("name", "namespace", "labels", "annotations") if k in meta}}


def _owned_by(obj: Mapping[str, Any], uid: str) -> bool:
    return any(ref.get("uid") == uid for ref in (obj.get("metadata") or {}).get("ownerReferences") or [])


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def reconcile(body: Mapping[str, Any], kube: Kube, settings: OperatorSettings) -> Outcome:
    """Make the children match the spec and report the status; idempotent."""
    if body["metadata"].get("deletionTimestamp"):  # being deleted: the garbage collector takes the children
        return Outcome()
    options = BuildOptions(runtime_image=settings.runtime_image, cluster_domain=settings.cluster_domain)
    api, problems = check_document(_document(body))
    invalid = "; ".join(map(str, problems)) or None
    notes: list[str] = []
    actions: list[str] = []
    if api is not None:
        options = _discover(api, options, kube, notes)
        actions = _apply_children(api, body, kube, options)
    _write_status(body, api, options, kube, invalid, notes)
    return Outcome(invalid=invalid, actions=tuple(actions))


def _discover(api: PredictorAPI, options: BuildOptions, kube: Kube, notes: list[str]) -> BuildOptions:
    """`options` with what the cluster serves; a note for each thing asked for that it cannot have."""
    wants_monitor = api.spec.monitoring.service_monitor
    available = wants_monitor and kube.serves(MONITORING_API)
    if wants_monitor and not available:
        notes.append(f"ServiceMonitor not created: the cluster does not serve {MONITORING_API} "
                     "(install the Prometheus Operator)")
    return dataclasses.replace(options, service_monitor_available=available)


def _apply_children(api: PredictorAPI, body: Mapping[str, Any], kube: Kube, options: BuildOptions) -> list[str]:
    """Apply every child the spec asks for and delete our optional children it no longer asks for."""
    namespace, name, uid = api.metadata.namespace, api.metadata.name, body["metadata"].get("uid", "")
    children = build_children(api, options)
    kopf.adopt(children, owner=dict(body))
    actions = [f"{child['kind']} {kube.apply(child)}" for child in children]
    built = {child["kind"] for child in children}
    for kind in kinds.OPTIONAL_CHILDREN:
        if kind.kind in built:
            continue
        stale = kube.get(kind.kind, namespace, name)
        if stale is not None and _owned_by(stale, uid):
            kube.delete(kind.kind, namespace, name)
            actions.append(f"{kind.kind} deleted")
    return actions


def _write_status(body: Mapping[str, Any], api: PredictorAPI | None, options: BuildOptions, kube: Kube,
                  invalid: str | None, notes: list[str]) -> None:
    """Observe our Deployment and its pods, and write the status when it changed."""
    meta = body["metadata"]
    namespace, name, uid = meta["namespace"], meta["name"], meta.get("uid", "")
    previous = dict(body.get("status") or {})
    deployment = kube.get(kinds.DEPLOYMENT.kind, namespace, name)
    if deployment is not None and uid and not _owned_by(deployment, uid):
        deployment = None  # someone else's Deployment of that name: not ours to report
    pods = kube.list(kinds.POD.kind, namespace, {API_LABEL: name}) if deployment else []
    observed = Observed(
        generation=meta.get("generation", 1), deployment=deployment, pods=pods, invalid=invalid,
        notes=tuple(notes),
        url=in_cluster_url(api, options) if api else previous.get("url"),
        ingress_url=ingress_url(api) if api else previous.get("ingressUrl"),
        selector=selector_string(api) if api else previous.get("selector"),
    )
    status = compute_status(observed, previous, _now())
    if changed(previous, status):
        kube.patch(spec.KIND, namespace, name, {"status": status}, subresource="status")
