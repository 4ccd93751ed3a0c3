"""kopf handlers: thin wrappers that call :func:`predictorapi_operator.reconcile.reconcile`.

Run with `kopf run -m predictorapi_operator.handlers --all-namespaces`, or
`python -m predictorapi_operator`, which reads the namespaces and the rest from `PREDICTORAPI_OPERATOR_*`.

Drift: the Deployment, Service, HPA, PodDisruptionBudget and Ingress of every API are watched (by
label) and any change or deletion of one re-reconciles its PredictorAPI at once; a timer also
re-applies every PredictorAPI every `resync_seconds` (covering ServiceMonitors and missed events).
Argo Rollouts' Rollouts (a canary's workload) are watched the same way where the cluster serves
`argoproj.io/v1alpha1` (kopf's discovery finds them, also once Argo Rollouts is installed later): every
status change Argo Rollouts writes (step, pause, analysis verdict, abort) updates the PredictorAPI's status.
KEDA's ScaledObjects (the autoscaler of an API that scales to zero) are watched likewise where the cluster
serves `keda.sh/v1alpha1`.

Failures: every outcome is in the status (`reconcile` writes it even when children fail). A spec change
is handled at once (the spec handler does not stay in a retry loop on refusals: it finishes). What a
retry could fix (a refused or name-conflicting child, a refused status, a transient API error) is retried
by the resync timer with a growing delay (`RETRY_DELAYS`, never longer than the resync period).
Reads: kopf's watch streams of the PredictorAPIs, their children and pods fill one index per kind
(`seen-<plural>`), from which reconciles read instead of sending GETs (`view.Seen`, `Kube.observed`).
Events: one Warning Event per new Degraded verdict of the operator's own (InvalidSpec, NameConflict,
ApplyFailed, RolloutsNotInstalled, KEDANotInstalled) and per new status-write failure, not one per retry.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import kopf
from kubernetes.client.exceptions import ApiException

from predictorapi import spec
from predictorapi.contracts import kinds
from predictorapi.contracts.labels import API_LABEL, MANAGED_BY, MANAGED_BY_LABEL
from predictorapi_operator.kube import Kube, api_message, load_config
from predictorapi_operator.reconcile import Outcome, reconcile
from predictorapi_operator.settings import OperatorSettings
from predictorapi_operator.storage import MemoryDiffBase
from predictorapi_operator.view import Key, Seen, index_key

RESOURCE = (spec.GROUP, spec.VERSION, spec.PLURAL)
CHILD_LABELS = {MANAGED_BY_LABEL: MANAGED_BY}
SEEN_KINDS = (*kinds.WATCHED_CHILDREN, kinds.SERVICE_MONITOR, kinds.POD, kinds.ROLLOUT, kinds.SCALED_OBJECT)
"""The kinds whose objects (those with the operator's labels) reconciles read from the watch streams."""
HANDLER_THREADS = 16  # sync handlers mostly wait on the API server, not on the CPU
# Read once when kopf imports this module: kopf needs the timer interval at registration.
RESYNC_SECONDS = OperatorSettings().resync_seconds
RETRY_DELAYS = (1, 2, 5, 10, 30, 60)
"""Seconds before the n-th retry of a reconcile that failed (capped at the resync period): no hot loop."""
STATUS_WRITE_FAILED = "StatusWriteFailed"


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **indices: Any) -> None:
    """Connect to the API server with reads answered from kopf's indexes; keep kopf's bookkeeping out of
    `status`: the last handled spec in memory (`storage.py`), a failing handler's progress in annotations."""
    memo.settings = OperatorSettings()
    memo.seen = Seen({kind.kind: indices[_index_id(kind)] for kind in (*SEEN_KINDS, kinds.PREDICTORAPI)})
    memo.kube = Kube(load_config(connections=HANDLER_THREADS), memo.seen)
    # kopf's own prefix: an annotation only while a handler retries, and no `<prefix>/kopf-managed` marker write
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage()
    memo.diff_base = settings.persistence.diffbase_storage = MemoryDiffBase()  # no write per spec change
    settings.posting.level = logging.WARNING  # Kubernetes Events only for problems
    settings.queueing.error_delays = [1, 2, 5, 10, 30, 60]  # backoff on the framework's own API errors
    settings.execution.max_workers = HANDLER_THREADS
    # A PredictorAPI deleted while its resync runs waits for that reconcile to end before kopf lets it go:
    # check again soon (kopf's default is a minute) so deleting is not held up by one slow resync.
    settings.background.cancellation_polling = 2
    memo.announced = {}
    memo.announced_lock = threading.Lock()


def _index_id(kind: kinds.Kind) -> str:
    return f"seen-{kind.plural}"


async def seen(body: kopf.Body, memo: kopf.Memo, param: str, **_: Any) -> dict[Key, dict[str, Any]]:
    """kopf index of one kind (`param`): each object under `view.index_key`; also tells the view that an event
    of the object arrived (see `Seen.delivered`). Async: in-memory work, run on the event loop, no thread hop.
    `managedFields` (often the larger part of an object a real API server sends) is not kept: nothing reads it."""
    key = index_key({**body, "kind": param})  # items of an initial listing carry no `kind`
    if key is None:
        return {}
    if hasattr(memo, "seen"):
        memo.seen.delivered(key, body)
    meta = {k: v for k, v in (body.get("metadata") or {}).items() if k != "managedFields"}
    return {key: {**body, "metadata": meta}}


for _kind in SEEN_KINDS:
    kopf.index(_kind.group, _kind.version, _kind.plural, labels={API_LABEL: kopf.PRESENT, **CHILD_LABELS},
               id=_index_id(_kind), param=_kind.kind)(seen)
kopf.index(*RESOURCE, id=_index_id(kinds.PREDICTORAPI), param=kinds.PREDICTORAPI.kind)(seen)


def retry_delay(retry: int, resync: float = RESYNC_SECONDS) -> float:
    """The delay before retry number `retry` (0-based): growing, never past the resync period."""
    return min(RETRY_DELAYS[min(retry, len(RETRY_DELAYS) - 1)], resync)


def _announce(body: kopf.Body, memo: kopf.Memo, key: str, verdict: tuple[str, str] | None,
              new: tuple[str, str] | None) -> None:
    """One Warning Event per new verdict: `new` is new relative to the object's status, and is posted
    unless this process already posted it (the status may lag behind, or not be writable at all)."""
    with memo.announced_lock:
        last = memo.announced.get(key)
        if verdict is None:
            memo.announced.pop(key, None)
        else:
            memo.announced[key] = verdict
    if new is not None and new != last:
        kopf.event(body, type="Warning", reason=new[0], message=new[1])


def _run(body: kopf.Body, memo: kopf.Memo, logger: logging.Logger) -> Outcome:
    """Reconcile, log what changed and what failed, post the Events; the caller decides on retries."""
    try:
        outcome = reconcile(body, memo.kube, memo.settings)
    except ApiException as exc:  # reading the cluster failed (discovery, the Deployment): nothing to report
        return Outcome(transient=f"API error: {api_message(exc)}")
    uid = body.get("metadata", {}).get("uid", "")
    _announce(body, memo, uid, outcome.verdict, outcome.announce)
    status_failure = (STATUS_WRITE_FAILED, outcome.status_error) if outcome.status_error else None
    _announce(body, memo, f"{uid}/status", status_failure, status_failure)
    changed = [a for a in outcome.actions if not a.endswith("unchanged")]
    if changed:
        logger.info("reconciled: %s", ", ".join(changed))
    for problem in (*outcome.conflicts, *outcome.refused, outcome.status_error, outcome.transient):
        if problem:
            logger.warning("%s", problem)
    return outcome


@kopf.on.resume(*RESOURCE)
@kopf.on.create(*RESOURCE)
@kopf.on.update(*RESOURCE)
def on_spec(body: kopf.Body, memo: kopf.Memo, logger: logging.Logger, retry: int, **_: Any) -> None:
    """A PredictorAPI appeared, changed or was found at start-up. Refusals and name conflicts are in the
    status and retried by the resync timer, so that the next spec change is handled at once; an invalid
    spec waits for the next spec change; only transient errors are retried here."""
    outcome = _run(body, memo, logger)
    if outcome.transient:
        raise kopf.TemporaryError(f"{outcome.transient}; retrying", delay=retry_delay(retry))
    if outcome.invalid:
        raise kopf.PermanentError(outcome.invalid)


@kopf.timer(*RESOURCE, interval=RESYNC_SECONDS, initial_delay=RESYNC_SECONDS)
def resync(body: kopf.Body, memo: kopf.Memo, logger: logging.Logger, retry: int, **_: Any) -> None:
    """Periodic re-apply: restores children edited by hand, refreshes the status, and retries what
    failed, sooner than the period at first (a removed name squatter heals here)."""
    outcome = _run(body, memo, logger)
    if not outcome.settled:
        raise kopf.TemporaryError("not settled; retrying", delay=retry_delay(retry))


def _owner_event(event: dict[str, Any], memo: kopf.Memo, logger: logging.Logger) -> None:
    obj = event.get("object") or {}
    meta = obj.get("metadata") or {}
    name, namespace = (meta.get("labels") or {}).get(API_LABEL), meta.get("namespace")
    if not name or not hasattr(memo, "kube"):
        return
    try:
        owner = memo.kube.observed(spec.KIND, namespace, name)
    except ApiException as exc:
        logger.warning("cannot read %s %s/%s (the resync retries): %s", spec.KIND, namespace, name, api_message(exc))
        return
    if owner is None or (owner.get("metadata") or {}).get("deletionTimestamp"):
        return
    _run(kopf.Body(owner), memo, logger)  # an event handler is not retried: what it cannot settle, the timer does


def on_child(event: dict[str, Any], memo: kopf.Memo, logger: logging.Logger, **_: Any) -> None:
    """A child changed or vanished (restore it), or a pod changed (crash loops, fetches, readiness: status)."""
    kind = (event.get("object") or {}).get("kind")
    if event.get("type") in (None, "ADDED") and kind != "Pod":
        return  # created by us (or listed at start-up, when `on.resume` reconciles every owner anyway)
    _owner_event(event, memo, logger)


for _kind in (*kinds.WATCHED_CHILDREN, kinds.POD, kinds.ROLLOUT, kinds.SCALED_OBJECT):
    kopf.on.event(_kind.group, _kind.version, _kind.plural, labels={API_LABEL: kopf.PRESENT, **CHILD_LABELS},
                  id=f"child-{_kind.plural}")(on_child)


@kopf.on.event(*RESOURCE, id="forget")
async def forget(event: dict[str, Any], memo: kopf.Memo, **_: Any) -> None:
    """A PredictorAPI is gone: drop kopf's in-memory bookkeeping of it."""
    if event.get("type") == "DELETED" and hasattr(memo, "diff_base"):
        memo.diff_base.forget(((event.get("object") or {}).get("metadata") or {}).get("uid", ""))


@kopf.on.probe(id="api")
def probe(memo: kopf.Memo, **_: Any) -> bool:
    """Liveness detail: the operator has connected to the API server."""
    return hasattr(memo, "kube")
