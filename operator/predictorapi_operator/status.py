"""Pure status: from the Deployment and its pods to `status` with Ready / Progressing / Degraded.

Ready means the current spec is fully rolled out and serving; Progressing means a rollout (or the
first start) is under way; Degraded means it cannot get there on its own (invalid spec, a child name
taken by an object the API does not own, a child the API server refused, a rollout past its
deadline, crash-looping pods, code that cannot be fetched). Conditions follow the Kubernetes
conventions: `lastTransitionTime` changes only when `status` does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from predictorapi.contracts import termination
from predictorapi.contracts.pod import FAILING_INIT_CONTAINERS, FETCH_CONTAINER, MODEL_CONTAINER
from predictorapi_operator import canary

# Container waiting reasons that do not heal by waiting.
STUCK_REASONS = {"CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull", "InvalidImageName",
                 "CreateContainerConfigError", "CreateContainerError"}
INVALID_SPEC = "InvalidSpec"
NAME_CONFLICT = "NameConflict"
APPLY_FAILED = "ApplyFailed"
KEDA_NOT_INSTALLED = "KEDANotInstalled"
SCALED_TO_ZERO = "ScaledToZero"
SCALING_FROM_ZERO = "ScalingFromZero"
"""Ready's reason while the first replica after zero starts: the API still takes requests (the activator holds
them), so it stays Ready instead of flapping to Progressing on every wake."""
INSTALL_KEDA = (
    "spec.autoscaling.minReplicas is 0 (scale to zero) but the cluster does not serve keda.sh/v1alpha1 "
    "ScaledObjects: install KEDA (helm repo add kedacore https://kedacore.github.io/charts && helm install keda "
    "kedacore/keda --namespace keda --create-namespace, or kubectl apply --server-side -f "
    "https://github.com/kedacore/keda/releases/latest/download/keda.yaml), or set spec.autoscaling.minReplicas "
    "to 1 or more; nothing was changed")
"""The Degraded message when scale to zero is asked for where KEDA is missing (never a silent replica kept)."""
ANNOUNCED_REASONS = (INVALID_SPEC, NAME_CONFLICT, APPLY_FAILED, canary.ROLLOUTS_NOT_INSTALLED, KEDA_NOT_INSTALLED)
"""Degraded reasons that come from the operator's own work: each new one (reason or message) gets one
Warning Event, and the Event says what the condition says."""
MESSAGE_LIMIT = 1000
"""Longest condition message (kopf cuts Event messages at 1024 characters)."""


@dataclass(frozen=True)
class Conflict:
    """A child's name is taken by an object that does not carry this PredictorAPI's ownerReference."""

    kind: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind} {self.name} exists and is not owned by this PredictorAPI; rename or delete it"


@dataclass(frozen=True)
class Refusal:
    """The API server refused to create or patch a child (a 4xx), in its own words."""

    kind: str
    name: str
    message: str

    def __str__(self) -> str:
        return f"{self.kind} {self.name} was refused by the API server: {self.message}"


@dataclass(frozen=True)
class Observed:
    """What the operator saw for one PredictorAPI."""

    generation: int
    deployment: dict[str, Any] | None = None
    rollout: dict[str, Any] | None = None
    """The Argo Rollout of a canary API (`spec.rollout.strategy: Canary`): its workload instead of the Deployment."""
    analysis_run: dict[str, Any] | None = None
    """The canary step's AnalysisRun, read when the canary was aborted (it holds the failing measurement)."""
    blocked: tuple[str, str] | None = None
    """(reason, message) when this cluster cannot run the spec at all and nothing was applied (RolloutsNotInstalled)."""
    pods: list[dict[str, Any]] = field(default_factory=list)
    invalid: str | None = None
    """Why the spec cannot be built (field-naming message), when it cannot."""
    notes: tuple[str, ...] = ()
    """Things the user asked for that were skipped, e.g. a ServiceMonitor without the Prometheus Operator."""
    conflicts: tuple[Conflict, ...] = ()
    """Children not applied because an object of that name exists that this API does not own."""
    refused: tuple[Refusal, ...] = ()
    """Children the API server refused this time."""
    url: str | None = None
    ingress_url: str | None = None
    selector: str | None = None
    from_git: bool = False
    """Whether the code comes from git (only then is there a `revision`)."""
    scales_to_zero: bool = False
    """Whether a KEDA ScaledObject may take the workload to zero replicas (`autoscaling.minReplicas: 0`): at zero
    the API is Ready (reason ScaledToZero), since the activator takes its requests."""


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
            if (init_name := init.get("name")) not in FAILING_INIT_CONTAINERS:
                continue
            default = termination.default_reason(init_name)
            for state in (init.get("state") or {}, init.get("lastState") or {}):
                terminated = state.get("terminated") or {}
                if terminated and terminated.get("exitCode", 0) != 0:
                    line = _one_line(terminated.get("message") or terminated.get("reason") or "fetch failed",
                                     MESSAGE_LIMIT)  # pip's or git's own words, up to the error itself
                    return termination.parse_failure(line, default)[0], f"{init_name}: {line}"
        for container in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or []):
            waiting = (container.get("state") or {}).get("waiting") or {}
            if waiting.get("reason") in STUCK_REASONS:
                last = ((container.get("lastState") or {}).get("terminated") or {})
                # The last termination's message (the runtime's own error line, or its log tail) says why;
                # the waiting message under CrashLoopBackOff is only Kubernetes' back-off text.
                detail = last.get("message") or waiting.get("message") or last.get("reason") or ""
                message = f"pod {name}: container {container.get('name')} is in {waiting['reason']}"
                return waiting["reason"], _one_line(f"{message}: {detail}" if detail else message, MESSAGE_LIMIT)
    return None


def revision(pods: list[dict[str, Any]]) -> str | None:
    """The commit SHA the newest pod fetched (`fetch-code` termination message), if code comes from git."""
    for pod in sorted(pods, key=_started, reverse=True):
        for init in (pod.get("status") or {}).get("initContainerStatuses") or []:
            terminated = (init.get("state") or {}).get("terminated") or {}
            if init.get("name") == FETCH_CONTAINER and terminated.get("exitCode") == 0 and terminated.get("message"):
                return termination.parse_revision(terminated["message"])
    return None


def model_revision(pods: list[dict[str, Any]]) -> str | None:
    """The revision `spec.model` resolved to in the newest pod (`fetch-model` termination message)."""
    for pod in sorted(pods, key=_started, reverse=True):
        for init in (pod.get("status") or {}).get("initContainerStatuses") or []:
            terminated = (init.get("state") or {}).get("terminated") or {}
            if init.get("name") == MODEL_CONTAINER and terminated.get("exitCode") == 0 and terminated.get("message"):
                fetched = termination.parse_model_fetched(terminated["message"])
                if fetched is not None and fetched.revision:
                    return fetched.revision
    return None


def _started(pod: dict[str, Any]) -> str:
    return (pod.get("metadata") or {}).get("creationTimestamp") or ""


def _fetches_model(workload: dict[str, Any] | None) -> bool:
    """Whether the workload's pods download `spec.model` (a `fetch-model` init container)."""
    pod = (((workload or {}).get("spec") or {}).get("template") or {}).get("spec") or {}
    return any(init.get("name") == MODEL_CONTAINER for init in pod.get("initContainers") or [])


def scaled_to_zero(deployment: dict[str, Any]) -> bool:
    """Whether a Deployment was scaled to zero (by KEDA) and runs no pod any more, its current spec observed."""
    spec, status = deployment.get("spec") or {}, deployment.get("status") or {}
    generation = (deployment.get("metadata") or {}).get("generation", 0)
    return (spec.get("replicas", 1) == 0 and status.get("observedGeneration", 0) >= generation
            and not status.get("replicas", 0))


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


def _apply_problem(observed: Observed) -> tuple[str, str] | None:
    """(reason, message) when some child could not be applied: name conflicts first, then refusals."""
    problems = [*observed.conflicts, *observed.refused]
    if not problems:
        return None
    reason = NAME_CONFLICT if observed.conflicts else APPLY_FAILED
    return reason, _one_line("; ".join(map(str, problems)), MESSAGE_LIMIT)


def _degraded(observed: Observed, progress: str) -> Verdict:
    """Degraded: the spec cannot be rolled out without someone acting."""
    dep_status = (observed.deployment or {}).get("status") or {}
    dep_conditions = {c.get("type"): c for c in dep_status.get("conditions") or []}
    deadline = dep_conditions.get("Progressing", {})
    failure = dep_conditions.get("ReplicaFailure", {})
    stuck = pod_problem(observed.pods)
    if observed.invalid:
        return True, INVALID_SPEC, observed.invalid
    if (problem := _apply_problem(observed)) is not None:
        return True, *problem
    if observed.blocked:
        return True, *observed.blocked
    if observed.rollout and (abort := canary.aborted(observed.rollout, observed.analysis_run)) is not None:
        return True, *abort
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
        return False, INVALID_SPEC, "not rolled out: the spec is invalid"
    if (problem := _apply_problem(observed)) is not None:
        return False, problem[0], f"not rolled out: {progress}"
    if observed.blocked:
        return False, observed.blocked[0], f"not rolled out: {progress}"
    if complete:
        return False, "RolloutComplete", progress
    return not degraded, _rolling_reason(observed), progress


def _rolling_reason(observed: Observed) -> str:
    """Why the spec is not rolled out yet, when nothing is wrong."""
    if observed.rollout:
        if (observed.rollout.get("status") or {}).get("abort"):
            return canary.CANARY_ABORTED
        return canary.CANARY_WAITING if canary.waiting(observed.rollout) else canary.CANARY_IN_PROGRESS
    return "RollingOut" if observed.deployment else "Creating"


def _ready(observed: Observed, complete: bool, progress: str, waking: bool = False) -> Verdict:
    """Ready: the current spec is fully rolled out and serving (or scaled to zero, or starting from zero: the
    activator takes the requests meanwhile)."""
    message = "; ".join(filter(None, [progress, *observed.notes]))
    problem = _apply_problem(observed)
    if complete and not observed.invalid and problem is None and not observed.blocked:
        reason = SCALING_FROM_ZERO if waking else SCALED_TO_ZERO if _at_zero(observed) else "Serving"
        return True, reason, message
    reason = (INVALID_SPEC if observed.invalid else problem[0] if problem else
              observed.blocked[0] if observed.blocked else _rolling_reason(observed))
    return False, reason, message


def _at_zero(observed: Observed) -> bool:
    """Whether the API is scaled to zero as its spec allows (no replica, and none wanted for now)."""
    return observed.scales_to_zero and observed.deployment is not None and scaled_to_zero(observed.deployment)


def _waking(observed: Observed, previous: dict[str, dict[str, Any]]) -> bool:
    """Whether the API was Ready at zero and KEDA now starts its first replicas (none ready yet, none of an older
    spec): a cold start, not a rollout. The Deployment controller may not have observed KEDA's new count yet."""
    if not observed.scales_to_zero or observed.deployment is None:
        return False
    before = previous.get("Ready", {})
    if before.get("status") != "True" or before.get("reason") not in (SCALED_TO_ZERO, SCALING_FROM_ZERO):
        return False
    spec, status = observed.deployment.get("spec") or {}, observed.deployment.get("status") or {}
    return (spec.get("replicas", 1) >= 1 and not status.get("readyReplicas", 0)
            and status.get("updatedReplicas", 0) == status.get("replicas", 0) <= spec.get("replicas", 1))


def _phase(ready: Verdict, progressing: Verdict, degraded: Verdict) -> str:
    return ("Degraded" if degraded[0] else "Progressing" if progressing[0] else
            "Ready" if ready[0] else "Pending")


def compute_status(observed: Observed, previous: dict[str, Any] | None, now: str) -> dict[str, Any]:
    """The whole `status` of a PredictorAPI."""
    previous_conditions = {c.get("type"): c for c in (previous or {}).get("conditions") or []}
    generation, deployment = observed.generation, observed.rollout or observed.deployment
    dep_status = (deployment or {}).get("status") or {}
    desired = ((deployment or {}).get("spec") or {}).get("replicas", 0)
    waking = False
    if observed.rollout:
        complete, progress = canary.progress(observed.rollout)
    elif _at_zero(observed):
        complete, progress = True, "scaled to zero: the first request waits for a replica to start"
    elif waking := _waking(observed, previous_conditions):
        complete, progress = True, f"scaling from zero: 0 of {desired} replicas ready, requests are held"
    else:
        complete, progress = rollout(deployment) if deployment else (False, "creating the Deployment")
    degraded = _degraded(observed, progress)
    progressing = _progressing(observed, complete, progress, degraded[0])
    ready = _ready(observed, complete, progress, waking)
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
        "revision": (revision(observed.pods) or (previous or {}).get("revision")) if observed.from_git else None,
        "modelRevision": (model_revision(observed.pods) or (previous or {}).get("modelRevision"))
        if _fetches_model(deployment) else None,
        "canary": canary.canary_status(observed.rollout) if observed.rollout else None,
        "conditions": [
            _condition(type_, *verdict, generation, now, previous_conditions)
            for type_, verdict in (("Ready", ready), ("Progressing", progressing), ("Degraded", degraded))
        ],
    }
    return {k: v for k, v in status.items() if v is not None}


def status_patch(previous: dict[str, Any] | None, new: dict[str, Any]) -> dict[str, Any] | None:
    """The merge patch that makes the written status exactly `new`: its values, and null for every key
    `previous` has and `new` has not (e.g. `ingressUrl` once the ingress is gone); None when nothing
    would change (no status-write loop)."""
    previous = previous or {}
    patch: dict[str, Any] = {key: None for key in previous if key not in new}
    if patch or any(previous.get(key) != value for key, value in new.items()):
        return {**new, **patch}
    return None


def changed(previous: dict[str, Any] | None, new: dict[str, Any]) -> bool:
    """Whether writing `new` would change anything (avoids a status-write loop)."""
    return status_patch(previous, new) is not None


def announcement(previous: dict[str, Any] | None, new: dict[str, Any]) -> tuple[str, str] | None:
    """(reason, message) for a Warning Event when `new` is newly Degraded by the operator's own work
    (invalid spec, name conflict, refused child), or is Degraded for a new message; None otherwise, so
    a retry that meets the same problem posts nothing."""
    now = operator_verdict(new)
    return now if now is not None and now != operator_verdict(previous) else None


def operator_verdict(status: dict[str, Any] | None) -> tuple[str, str] | None:
    """(reason, message) of a Degraded=True condition whose reason is one of ANNOUNCED_REASONS."""
    found = next((c for c in (status or {}).get("conditions") or [] if c.get("type") == "Degraded"), {})
    if found.get("status") != "True" or found.get("reason") not in ANNOUNCED_REASONS:
        return None
    return found["reason"], found.get("message") or found["reason"]
