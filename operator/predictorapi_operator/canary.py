"""Pure: what an Argo Rollout (and its current AnalysisRun) says about a canary, for the PredictorAPI's status.

Argo Rollouts runs the canary; the operator only reads its `status`: `phase` (Progressing, Paused, Healthy,
Degraded), `currentStepIndex` into the Rollout's steps, `stableRS` / `currentPodHash` (the stable and the
canary revision), `abort` (set when an analysis failed: the Rollout is back on the stable revision), and
`canary.currentStepAnalysisRunStatus` (the step's AnalysisRun and its verdict). The failing measurement is
read from that AnalysisRun's `metricResults`.
"""

from __future__ import annotations

from typing import Any

CANARY_ABORTED = "CanaryAborted"
ROLLOUTS_NOT_INSTALLED = "RolloutsNotInstalled"
CANARY_IN_PROGRESS = "CanaryInProgress"
CANARY_WAITING = "CanaryWaiting"
INSTALL_ARGO_ROLLOUTS = (
    "spec.rollout.strategy is Canary but the cluster does not serve argoproj.io/v1alpha1 Rollouts: install Argo "
    "Rollouts (kubectl create namespace argo-rollouts && kubectl apply -n argo-rollouts -f "
    "https://github.com/argoproj/argo-rollouts/releases/latest/download/install.yaml), or set "
    "spec.rollout.strategy: RollingUpdate; nothing was changed")
"""The Degraded message when a canary is asked for where Argo Rollouts is missing (never a silent rolling update)."""


def _status(rollout: dict[str, Any]) -> dict[str, Any]:
    return rollout.get("status") or {}


def _steps(rollout: dict[str, Any]) -> list[dict[str, Any]]:
    return (((rollout.get("spec") or {}).get("strategy") or {}).get("canary") or {}).get("steps") or []


def _observed(rollout: dict[str, Any]) -> bool:
    generation = (rollout.get("metadata") or {}).get("generation", 0)
    return str(_status(rollout).get("observedGeneration", "")) == str(generation)


def promoted(rollout: dict[str, Any]) -> bool:
    """Whether the Rollout runs its current spec fully: Healthy, observed, the canary revision is the stable one."""
    status = _status(rollout)
    return (_observed(rollout) and status.get("phase") == "Healthy" and not status.get("abort")
            and bool(status.get("stableRS")) and status.get("currentPodHash") == status.get("stableRS"))


def step_analysis(rollout: dict[str, Any]) -> dict[str, Any]:
    """`status.canary.currentStepAnalysisRunStatus` (name, status, message), or {}."""
    return (_status(rollout).get("canary") or {}).get("currentStepAnalysisRunStatus") or {}


def weight(rollout: dict[str, Any]) -> int:
    """Percent on the canary revision now: the traffic weight Argo reports, else the last `setWeight` reached."""
    status = _status(rollout)
    routed = (((status.get("canary") or {}).get("weights") or {}).get("canary") or {}).get("weight")
    if routed is not None:
        return int(routed)
    if promoted(rollout):
        return 100
    if status.get("abort"):
        return 0
    steps, index = _steps(rollout), status.get("currentStepIndex") or 0
    if index >= len(steps):
        return 100
    reached = [step["setWeight"] for step in steps[: index + 1] if "setWeight" in step]
    return int(reached[-1]) if reached else 0


def canary_status(rollout: dict[str, Any]) -> dict[str, Any]:
    """`status.canary` of the PredictorAPI: step (1-based, of the spec's steps), weight, revisions, verdict;
    only the steps and the stable revision until Argo Rollouts has observed the Rollout's current spec."""
    status, steps = _status(rollout), _steps(rollout)
    index = min(status.get("currentStepIndex") or 0, len(steps))
    weighted = sum(1 for step in steps if "setWeight" in step)
    reached = sum(1 for step in steps[: index + 1] if "setWeight" in step)
    analysis = step_analysis(rollout)
    if not _observed(rollout):  # Argo Rollouts has not started on this spec yet: no step to show
        return {key: value for key, value in {"steps": weighted, "stableRevision": status.get("stableRS")}.items()
                if value not in (None, "")}
    out = {
        "step": weighted if promoted(rollout) else max(1, min(reached, weighted)) if weighted else None,
        "steps": weighted,
        "weight": weight(rollout),
        "stableRevision": status.get("stableRS"),
        "canaryRevision": status.get("currentPodHash"),
        "analysis": analysis.get("status") or ("Pending" if not promoted(rollout) else None),
        "message": analysis.get("message") or status.get("message"),
    }
    return {key: value for key, value in out.items() if value not in (None, "")}


def failing_measurement(analysis_run: dict[str, Any] | None) -> str | None:
    """`error-ratio measured [0.2] (failureCondition ...)` for each failed metric of an AnalysisRun."""
    run = analysis_run or {}
    conditions = {m.get("name"): m.get("failureCondition") for m in (run.get("spec") or {}).get("metrics") or []}
    found = []
    for result in (run.get("status") or {}).get("metricResults") or []:
        if result.get("phase") != "Failed":
            continue
        failed = [m for m in result.get("measurements") or [] if m.get("phase") == "Failed"]
        value = (failed or result.get("measurements") or [{}])[-1].get("value", "?")
        condition = conditions.get(result.get("name"))
        found.append(f"{result.get('name')} measured {value}" + (f" ({condition})" if condition else ""))
    return "; ".join(found) or None


def aborted(rollout: dict[str, Any], analysis_run: dict[str, Any] | None) -> tuple[str, str] | None:
    """(CanaryAborted, message) when Argo Rollouts aborted the canary (and went back to the stable revision)."""
    status = _status(rollout)
    if not status.get("abort"):
        return None
    measured = failing_measurement(analysis_run) or step_analysis(rollout).get("message")
    why = measured or status.get("message") or "aborted"
    return CANARY_ABORTED, (f"canary of revision {status.get('currentPodHash', '?')} aborted: {why}; Argo Rollouts "
                            f"rolled back to the stable revision {status.get('stableRS', '?')}. git revert the "
                            "change, or fix it and commit")


def progress(rollout: dict[str, Any]) -> tuple[bool, str]:
    """(promoted, human description) of a Rollout, like `status.rollout` for a Deployment."""
    status = _status(rollout)
    ready, desired = status.get("readyReplicas", 0), (rollout.get("spec") or {}).get("replicas", 1)
    if not _observed(rollout):
        return False, "waiting for Argo Rollouts to observe the new spec"
    if promoted(rollout):
        return True, f"{ready} of {desired} replicas ready"
    canary = canary_status(rollout)
    text = f"canary step {canary.get('step', '?')} of {canary.get('steps', '?')} at {canary['weight']}%"
    if analysis := canary.get("analysis"):
        text += f", analysis {analysis}"
    if waiting(rollout):
        name = (rollout.get("metadata") or {}).get("name", "NAME")
        text += (": too few requests to judge (below analysis.minRequests), the rollout is paused; `kubectl argo "
                 f"rollouts promote {name}` goes on, `kubectl argo rollouts abort {name}` goes back")
    return False, text


def waiting(rollout: dict[str, Any]) -> bool:
    """Whether the Rollout is paused on an inconclusive analysis (not enough requests to judge the step)."""
    return any(c.get("reason") == "InconclusiveAnalysis" for c in _status(rollout).get("pauseConditions") or [])
