"""One reconcile of one PredictorAPI: validate → build (pure) → apply children → write status."""

from __future__ import annotations

import dataclasses
import datetime
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import kopf

from predictorapi import spec
from predictorapi.spec import PredictorAPI
from predictorapi.validation import validate_document
from predictorapi_operator.builders import BuildOptions, build_children
from predictorapi_operator.builders.meta import API_LABEL, in_cluster_url, ingress_url, selector_string
from predictorapi_operator.kube import Kube
from predictorapi_operator.settings import OperatorSettings
from predictorapi_operator.status import Observed, changed, compute_status

log = logging.getLogger("predictorapi_operator")

OPTIONAL_KINDS = ("HorizontalPodAutoscaler", "PodDisruptionBudget", "Ingress", "ServiceMonitor")
MONITORING_API = "monitoring.coreos.com/v1"


@dataclass(frozen=True)
class Outcome:
    """What a reconcile did: the status written and, for a bad spec, why it was refused."""

    status: dict[str, Any]
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
    meta = body["metadata"]
    namespace, name, uid = meta["namespace"], meta["name"], meta.get("uid", "")
    generation = meta.get("generation", 1)
    previous = dict(body.get("status") or {})
    if meta.get("deletionTimestamp"):  # being deleted: the garbage collector takes the children
        return Outcome(status=previous)
    options = BuildOptions(runtime_image=settings.runtime_image, cluster_domain=settings.cluster_domain)
    document = _document(body)
    problems = validate_document(document)
    invalid = "; ".join(str(p) for p in problems) or None
    notes: list[str] = []
    actions: list[str] = []
    api: PredictorAPI | None = None
    if invalid is None:
        api = PredictorAPI.model_validate(document)
        wants_monitor = api.spec.monitoring.service_monitor
        available = wants_monitor and kube.serves(MONITORING_API)
        if wants_monitor and not available:
            notes.append(f"ServiceMonitor not created: the cluster does not serve {MONITORING_API} "
                         "(install the Prometheus Operator)")
        options = dataclasses.replace(options, service_monitor_available=available)
        children = build_children(api, options)
        kopf.adopt(children, owner=dict(body))
        for child in children:
            actions.append(f"{child['kind']} {kube.apply(child)}")
        built = {child["kind"] for child in children}
        for kind in OPTIONAL_KINDS:
            if kind in built:
                continue
            stale = kube.get(kind, namespace, name)
            if stale is not None and _owned_by(stale, uid):
                kube.delete(kind, namespace, name)
                actions.append(f"{kind} deleted")
    deployment = kube.get("Deployment", namespace, name)
    if deployment is not None and uid and not _owned_by(deployment, uid):
        deployment = None  # someone else's Deployment of that name: not ours to report
    pods = kube.list("Pod", namespace, {API_LABEL: name}) if deployment else []
    observed = Observed(
        generation=generation, deployment=deployment, pods=pods, invalid=invalid, notes=tuple(notes),
        url=in_cluster_url(api, options) if api else previous.get("url"),
        ingress_url=ingress_url(api) if api else previous.get("ingressUrl"),
        selector=selector_string(api) if api else previous.get("selector"),
    )
    status = compute_status(observed, previous, _now())
    if changed(previous, status):
        kube.patch(spec.KIND, namespace, name, {"status": status}, subresource="status")
    return Outcome(status=status, invalid=invalid, actions=tuple(actions))
