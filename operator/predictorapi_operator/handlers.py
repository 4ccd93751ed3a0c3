"""kopf handlers: thin wrappers that call :func:`predictorapi_operator.reconcile.reconcile`.

Run with `kopf run -m predictorapi_operator.handlers --all-namespaces`, or
`python -m predictorapi_operator`, which reads the namespaces and the rest from `PREDICTORAPI_OPERATOR_*`.

Drift: the Deployment, Service, HPA, PodDisruptionBudget and Ingress of every API are watched (by
label) and any change or deletion of one re-reconciles its PredictorAPI at once; a timer also
re-applies every PredictorAPI every `resync_seconds` (covering ServiceMonitors and missed events).
"""

from __future__ import annotations

import logging
from typing import Any

import kopf
from kubernetes.client.exceptions import ApiException

from predictorapi import spec
from predictorapi.contracts import kinds
from predictorapi.contracts.labels import API_LABEL, MANAGED_BY, MANAGED_BY_LABEL
from predictorapi_operator.kube import Kube, load_config
from predictorapi_operator.reconcile import reconcile
from predictorapi_operator.settings import OperatorSettings

RESOURCE = (spec.GROUP, spec.VERSION, spec.PLURAL)
CHILD_LABELS = {MANAGED_BY_LABEL: MANAGED_BY}
HANDLER_THREADS = 16  # sync handlers mostly wait on the API server, not on the CPU
# Read once when kopf imports this module: kopf needs the timer interval at registration.
RESYNC_SECONDS = OperatorSettings().resync_seconds


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    """Connect to the API server; keep kopf's bookkeeping in our own annotations, not in `status`."""
    memo.settings = OperatorSettings()
    memo.kube = Kube(load_config(connections=HANDLER_THREADS))
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=spec.GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=spec.GROUP, key="last-handled-configuration")
    settings.posting.level = logging.WARNING  # Kubernetes Events only for problems
    settings.batching.error_delays = [1, 2, 5, 10, 30, 60]  # backoff on API errors, no hot loop
    settings.execution.max_workers = HANDLER_THREADS


def _reconcile(body: kopf.Body, memo: kopf.Memo, logger: logging.Logger, *, announce: bool) -> None:
    try:
        outcome = reconcile(body, memo.kube, memo.settings)
    except ApiException as exc:
        if exc.status in (400, 403, 422):  # the API server refused what we built: no retry will fix it
            kopf.event(body, type="Warning", reason="ApplyFailed", message=f"{exc.status} {exc.reason}")
            raise kopf.PermanentError(f"the API server refused a child: {exc.status} {exc.reason}") from exc
        raise kopf.TemporaryError(f"API error {exc.status} {exc.reason}; retrying", delay=2) from exc
    if outcome.invalid:
        if announce:
            kopf.event(body, type="Warning", reason="InvalidSpec", message=outcome.invalid)
            raise kopf.PermanentError(outcome.invalid)
        return
    changed = [a for a in outcome.actions if not a.endswith("unchanged")]
    if changed:
        logger.info("reconciled: %s", ", ".join(changed))


@kopf.on.resume(*RESOURCE)
@kopf.on.create(*RESOURCE)
@kopf.on.update(*RESOURCE)
def on_spec(body: kopf.Body, memo: kopf.Memo, logger: logging.Logger, **_: Any) -> None:
    """A PredictorAPI appeared, changed or was found at start-up."""
    _reconcile(body, memo, logger, announce=True)


@kopf.timer(*RESOURCE, interval=RESYNC_SECONDS, initial_delay=RESYNC_SECONDS)
def resync(body: kopf.Body, memo: kopf.Memo, logger: logging.Logger, **_: Any) -> None:
    """Periodic re-apply: restores children edited by hand, refreshes the status."""
    _reconcile(body, memo, logger, announce=False)


def _owner_event(event: dict[str, Any], memo: kopf.Memo, logger: logging.Logger) -> None:
    obj = event.get("object") or {}
    meta = obj.get("metadata") or {}
    name, namespace = (meta.get("labels") or {}).get(API_LABEL), meta.get("namespace")
    if not name or not hasattr(memo, "kube"):
        return
    owner = memo.kube.get(spec.KIND, namespace, name)
    if owner is None or (owner.get("metadata") or {}).get("deletionTimestamp"):
        return
    _reconcile(kopf.Body(owner), memo, logger, announce=False)


def on_child(event: dict[str, Any], memo: kopf.Memo, logger: logging.Logger, **_: Any) -> None:
    """A child changed or vanished (restore it), or a pod changed (crash loops, fetches, readiness: status)."""
    kind = (event.get("object") or {}).get("kind")
    if event.get("type") in (None, "ADDED") and kind != "Pod":
        return  # created by us (or listed at start-up, when `on.resume` reconciles every owner anyway)
    _owner_event(event, memo, logger)


for _kind in (*kinds.WATCHED_CHILDREN, kinds.POD):
    kopf.on.event(_kind.group, _kind.version, _kind.plural, labels={API_LABEL: kopf.PRESENT, **CHILD_LABELS},
                  id=f"child-{_kind.plural}")(on_child)


@kopf.on.probe(id="api")
def probe(memo: kopf.Memo, **_: Any) -> bool:
    """Liveness detail: the operator has connected to the API server."""
    return hasattr(memo, "kube")
