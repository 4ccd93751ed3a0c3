"""Pure status: from the Deployment and its pods to `status` with Ready / Progressing / Degraded.

Ready means the current spec is fully rolled out and serving; Progressing means a rollout (or the
first start) is under way; Degraded means it cannot get there on its own (invalid spec, a rollout
past its deadline, crash-looping pods, code that cannot be fetched). Conditions follow the
Kubernetes conventions: `lastTransitionTime` changes only when `status` does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from predictorapi_operator.builders.deployment import FETCH_CONTAINER

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
                    reason = line.split(": ", 1)[0] if ": " in line else "FetchFailed"
                    return (reason if reason.isalnum() else "FetchFailed"), f"{FETCH_CONTAINER}: {line}"
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
                return terminated["message"].strip()[:64]
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


def compute_status(observed: Observed, previous: dict[str, Any] | None, now: str) -> dict[str, Any]:
    """The whole `status` of a PredictorAPI."""
    previous_conditions = {c.get("type"): c for c in (previous or {}).get("conditions") or []}
    generation = observed.generation
    deployment = observed.deployment
    dep_status = (deployment or {}).get("status") or {}
    desired = ((deployment or {}).get("spec") or {}).get("replicas", 0)
    ready = dep_status.get("readyReplicas", 0)
    dep_conditions = {c.get("type"): c for c in dep_status.get("conditions") or []}
    deadline = dep_conditions.get("Progressing", {})
    failure = dep_conditions.get("ReplicaFailure", {})
    stuck = pod_problem(observed.pods)
    complete, progress = rollout(deployment) if deployment else (False, "creating the Deployment")

    if observed.invalid:
        degraded = (True, "InvalidSpec", observed.invalid)
    elif deadline.get("status") == "False" and deadline.get("reason") == "ProgressDeadlineExceeded":
        degraded = (True, "ProgressDeadlineExceeded", _one_line(deadline.get("message") or progress))
    elif stuck:
        degraded = (True, *stuck)
    elif failure.get("status") == "True":
        degraded = (True, failure.get("reason") or "ReplicaFailure", _one_line(failure.get("message") or ""))
    else:
        degraded = (False, "AsExpected", "")

    if observed.invalid:
        progressing = (False, "InvalidSpec", "not rolled out: the spec is invalid")
    elif complete:
        progressing = (False, "RolloutComplete", progress)
    else:
        progressing = (not degraded[0], "RollingOut" if deployment else "Creating", progress)

    notes = "; ".join(observed.notes)
    if complete and not observed.invalid:
        ready_condition = (True, "Serving", "; ".join(filter(None, [progress, notes])))
    else:
        reason = "InvalidSpec" if observed.invalid else "RollingOut" if deployment else "Creating"
        ready_condition = (False, reason, "; ".join(filter(None, [progress, notes])))

    conditions = [
        _condition("Ready", *ready_condition, generation, now, previous_conditions),
        _condition("Progressing", *progressing, generation, now, previous_conditions),
        _condition("Degraded", *degraded, generation, now, previous_conditions),
    ]
    phase = ("Degraded" if degraded[0] else "Progressing" if progressing[0] else
             "Ready" if ready_condition[0] else "Pending")
    status: dict[str, Any] = {
        "observedGeneration": generation,
        "phase": phase,
        "ready": f"{ready}/{desired}",
        "replicas": dep_status.get("replicas", 0),
        "readyReplicas": ready,
        "updatedReplicas": dep_status.get("updatedReplicas", 0),
        "desiredReplicas": desired,
        "url": observed.url,
        "ingressUrl": observed.ingress_url,
        "selector": observed.selector,
        "revision": revision(observed.pods) or (previous or {}).get("revision"),
        "conditions": conditions,
    }
    return {k: v for k, v in status.items() if v is not None}


def changed(previous: dict[str, Any] | None, new: dict[str, Any]) -> bool:
    """Whether writing `new` would change anything (avoids a status-write loop)."""
    previous = previous or {}
    return any(previous.get(key) != value for key, value in new.items())
