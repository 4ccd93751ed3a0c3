"""Argo Rollouts' part, played by the tests: a canary Rollout's `status` through its phases, and AnalysisRuns.

The status fields are those Argo Rollouts writes (`phase`, `currentStepIndex`, `stableRS`,
`currentPodHash`, `pauseConditions`, `abort`, `canary.currentStepAnalysisRunStatus`, string
`observedGeneration`); the steps are those the operator builds (setWeight, pause, analysis per spec step).
"""

from __future__ import annotations

from typing import Any

STABLE, CANARY = "6d5f8c7b9", "7c9b4d6f8"
T0 = "2026-01-01T00:00:00Z"
ABORT_MESSAGE = ('RolloutAborted: Rollout aborted update to revision 2: Metric "error-ratio" assessed Failed due '
                 "to failed (1) > failureLimit (0)")


def _base(generation: int, replicas: int, phase: str, index: int, current: str, stable: str) -> dict[str, Any]:
    return {"observedGeneration": str(generation), "phase": phase, "currentStepIndex": index,
            "currentPodHash": current, "stableRS": stable, "replicas": replicas, "updatedReplicas": replicas,
            "readyReplicas": replicas, "availableReplicas": replicas, "HPAReplicas": replicas,
            "selector": "serving.predictorapi.dev/api=demo"}


def healthy(generation: int = 1, replicas: int = 2, steps: int = 6, revision: str = STABLE) -> dict[str, Any]:
    """A Rollout fully promoted (the first revision of a Rollout goes straight there)."""
    return {**_base(generation, replicas, "Healthy", steps, revision, revision), "message": ""}


def paused_at_step(generation: int, run: str | None = None, replicas: int = 2) -> dict[str, Any]:
    """The canary at 10%, in its first pause (setWeight 10 done, index 1 is the pause)."""
    return {**_base(generation, replicas, "Paused", 1, CANARY, STABLE), "message": "CanaryPauseStep",
            "pauseConditions": [{"reason": "CanaryPauseStep", "startTime": T0}]}


def analysing(generation: int, run: str, replicas: int = 2) -> dict[str, Any]:
    """The first step's analysis is running (index 2)."""
    return {**_base(generation, replicas, "Progressing", 2, CANARY, STABLE), "message": "",
            "canary": {"currentStepAnalysisRunStatus": {"name": run, "status": "Running"}}}


def waiting(generation: int, run: str, replicas: int = 2) -> dict[str, Any]:
    """The first step's analysis was inconclusive (too few requests): Argo Rollouts pauses the rollout."""
    return {**_base(generation, replicas, "Paused", 2, CANARY, STABLE), "message": "InconclusiveAnalysis",
            "pauseConditions": [{"reason": "InconclusiveAnalysis", "startTime": T0}],
            "canary": {"currentStepAnalysisRunStatus": {"name": run, "status": "Inconclusive",
                                                        "message": "Metric \"error-ratio\" assessed Inconclusive"}}}


def aborted(generation: int, run: str, replicas: int = 2) -> dict[str, Any]:
    """The first step's analysis failed: Argo Rollouts aborted and scaled the stable revision back up."""
    return {**_base(generation, replicas, "Degraded", 2, CANARY, STABLE), "abort": True, "abortedAt": T0,
            "message": ABORT_MESSAGE,
            "canary": {"currentStepAnalysisRunStatus": {"name": run, "status": "Failed",
                                                        "message": "Metric \"error-ratio\" assessed Failed"}}}


def analysis_run(name: str, namespace: str, error_ratio: str = "[0.2]") -> dict[str, Any]:
    """A failed AnalysisRun as Argo Rollouts leaves it: error-ratio measured above its limit."""
    condition = "len(result) > 0 && result[0] > 0.01"
    return {
        "apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisRun",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"metrics": [{"name": "error-ratio", "failureCondition": condition,
                              "successCondition": "len(result) > 0 && result[0] <= 0.01",
                              "provider": {"prometheus": {"address": "http://prometheus:9090", "query": "q"}}}]},
        "status": {"phase": "Failed", "metricResults": [{
            "name": "error-ratio", "phase": "Failed", "count": 1, "failed": 1,
            "measurements": [{"phase": "Failed", "value": error_ratio, "startedAt": T0, "finishedAt": T0}]}]},
    }
