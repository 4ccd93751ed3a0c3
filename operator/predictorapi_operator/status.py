"""Pure status: from the Deployment and its pods to `status` with Ready / Progressing / Degraded.

Ready means the current spec is fully rolled out and serving; Progressing means a rollout (or the
first start) is under way; Degraded means it cannot get there on its own (invalid spec, a rollout
past its deadline, crash-looping pods, code that cannot be fetched). Conditions follow the
Kubernetes conventions: `lastTransitionTime` changes only when `status` does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from predictorapi.contracts import termination
from predictorapi.contracts.pod import FETCH_CONTAINER

# Container waiting reasons that do not heal by waiting.
STUCK_REASONS = {"CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull", "InvalidImageName",
                 "CreateContainerConfigError", "CreateContainerError"}


@dataclass(frozen=True)
class Observed:
    """What the operator saw for one PredictorAPI."""

    generation: int
    deployment: dict[str, Any] | None = None
    pods: list[dict[str, Any]] = field(default_factory=list)
    invalid: str | None = None
    """Why the spec cannot be built (field-naming message), when it cannot."""
    notes: tuple[str, ...] = ()
    """Things the user asked for that were skipped, e.g. a ServiceMonitor without the Prometheus Operator."""
    url: str | None = None
    ingress_url: str | None = None
    selector: str | None = None


def _condition(type_: str, status: bool, reason: str, message: str, generation: int, now: str,
               previous: dict[str, dict[str, Any]]) -> dict[str, Any]:
    value = "True" if status else "False"
    before = previous.get(type_, {})
    since = before.get("lastTransitionTime") if before.get("status") == value and before.get(
        "lastTransitionTime") else now
    return {"type": type_, "status": value, "reason": reason, "message": message,
            "lastTransitionTime": since, "observedGeneration": generation}


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def pod_problem(pods: list[dict[str, Any]]) -> tuple[str, str] | None:
    """(reason, message) of the first pod stuck in a state that will not heal by waiting."""
    for pod in pods:
        status = pod.get("status") or {}
        name = (pod.get("metadata") or {}).get("name", "?")
        for init in status.get("initContainerStatuses") or []:
            if init.get("name") != FETCH_CONTAINER:
                continue
            for state in (init.get("state") or {}, init.get("lastState") or {}):
                terminated = state.get("terminated") or {}
                if terminated and terminated.get("exitCode", 0) != 0:
                    line = _one_line(terminated.get("message") or terminated.get("reason") or "fetch failed")
                    return termination.parse_failure(line)[0], f"{FETCH_CONTAINER}: {line}"
        for container in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or []):
            waiting = (container.get("state") or {}).get("waiting") or {}
            if waiting.get("reason") in STUCK_REASONS:
                last = ((container.get("lastState") or {}).get("terminated") or {})
                detail = waiting.get("message") or last.get("message") or last.get("reason") or ""
                message = f"pod {name}: container {container.get('name')} is in {waiting['reason']}"
                return waiting["reason"], _one_line(f"{message}: {detail}" if detail else message)
    return None


def revision(pods: list[dict[str, Any]]) -> str | None:
    """The commit SHA the newest pod fetched (`fetch-code` termination message), if code comes from git."""
    def started(pod: dict[str, Any]) -> str:
        return (pod.get("metadata") or {}).get("creationTimestamp") or ""

    for pod in sorted(pods, key=started, reverse=True):
        for init in (pod.get("status") or {}).get("initContainerStatuses") or []:
            terminated = (init.get("state") or {}).get("terminated") or {}
            if init.get("name") == FETCH_CONTAINER and terminated.get("exitCode") == 0 and terminated.get("message"):
                return termination.parse_revision(terminated["message"])
    return None


def rollout(deployment: dict[str, Any]) -> tuple[bool, str]:
    """(complete, human description) of a Deployment's rollout, as `kubectl rollout status` judges it."""
    spec, status = deployment.get("spec") or {}, deployment.get("status") or {}
    generation = (deployment.get("metadata") or {}).get("generation", 0)
    desired = spec.get("replicas", 1)
    updated, replicas = status.get("updatedReplicas", 0), status.get("replicas", 0)
    ready = status.get("readyReplicas", 0)
    if status.get("observedGeneration", 0) < generation:
        return False, "waiting for the Deployment controller to observe the new spec"
    if updated < desired:
        return False, f"{updated} of {desired} replicas updated"
    if replicas > updated:
        return False, f"{replicas - updated} old replicas pending termination"
    if ready < 1 or not any(c.get("type") == "Available" and c.get("status") == "True"
                            for c in status.get("conditions") or []):
        return False, f"{ready} of {desired} replicas ready"
    return True, f"{ready} of {desired} replicas ready"


Verdict = tuple[bool, str, str]
"""(condition is True, reason, message)."""


def _degraded(observed: Observed, progress: str) -> Verdict:
    """Degraded: the spec cannot be rolled out without someone acting."""
    dep_status = (observed.deployment or {}).get("status") or {}
    dep_conditions = {c.get("type"): c for c in dep_status.get("conditions") or []}
    deadline = dep_conditions.get("Progressing", {})
    failure = dep_conditions.get("ReplicaFailure", {})
    stuck = pod_problem(observed.pods)
    if observed.invalid:
        return True, "InvalidSpec", observed.invalid
    if deadline.get("status") == "False" and deadline.get("reason") == "ProgressDeadlineExceeded":
        return True, "ProgressDeadlineExceeded", _one_line(deadline.get("message") or progress)
    if stuck:
        return True, *stuck
    if failure.get("status") == "True":
        return True, failure.get("reason") or "ReplicaFailure", _one_line(failure.get("message") or "")
    return False, "AsExpected", ""


def _progressing(observed: Observed, complete: bool, progress: str, degraded: bool) -> Verdict:
    """Progressing: a rollout (or the first start) is under way and can finish on its own."""
    if observed.invalid:
        return False, "InvalidSpec", "not rolled out: the spec is invalid"
    if complete:
        return False, "RolloutComplete", progress
    return not degraded, "RollingOut" if observed.deployment else "Creating", progress


def _ready(observed: Observed, complete: bool, progress: str) -> Verdict:
    """Ready: the current spec is fully rolled out and serving."""
    message = "; ".join(filter(None, [progress, *observed.notes]))
    if complete and not observed.invalid:
        return True, "Serving", message
    reason = "InvalidSpec" if observed.invalid else "RollingOut" if observed.deployment else "Creating"
    return False, reason, message


def _phase(ready: Verdict, progressing: Verdict, degraded: Verdict) -> str:
    return ("Degraded" if degraded[0] else "Progressing" if progressing[0] else
            "Ready" if ready[0] else "Pending")


def compute_status(observed: Observed, previous: dict[str, Any] | None, now: str) -> dict[str, Any]:
    """The whole `status` of a PredictorAPI."""
    previous_conditions = {c.get("type"): c for c in (previous or {}).get("conditions") or []}
    generation, deployment = observed.generation, observed.deployment
    dep_status = (deployment or {}).get("status") or {}
    desired = ((deployment or {}).get("spec") or {}).get("replicas", 0)
    complete, progress = rollout(deployment) if deployment else (False, "creating the Deployment")
    degraded = _degraded(observed, progress)
    progressing = _progressing(observed, complete, progress, degraded[0])
    ready = _ready(observed, complete, progress)
    status: dict[str, Any] = {
        "observedGeneration": generation,
        "phase": _phase(ready, progressing, degraded),
        "ready": f"{dep_status.get('readyReplicas', 0)}/{desired}",
        "replicas": dep_status.get("replicas", 0),
        "readyReplicas": dep_status.get("readyReplicas", 0),
        "updatedReplicas": dep_status.get("updatedReplicas", 0),
        "desiredReplicas": desired,
        "url": observed.url,
        "ingressUrl": observed.ingress_url,
        "selector": observed.selector,
        "revision": revision(observed.pods) or (previous or {}).get("revision"),
        "conditions": [
            _condition(type_, *verdict, generation, now, previous_conditions)
            for type_, verdict in (("Ready", ready), ("Progressing", progressing), ("Degraded", degraded))
        ],
    }
    return {k: v for k, v in status.items() if v is not None}


def changed(previous: dict[str, Any] | None, new: dict[str, Any]) -> bool:
    """Whether writing `new` would change anything (avoids a status-write loop)."""
    previous = previous or {}
    return any(previous.get(key) != value for key, value in new.items())
