"""Canary releases end to end: the operator against the emulator, the test playing Argo Rollouts' controller.

The test writes the Rollout's status through the phases Argo Rollouts goes through (support/argo_phases.py)
and the PredictorAPI's status must follow; a cluster without Argo Rollouts gets `RolloutsNotInstalled` and
nothing else; switching a live API between a Deployment and a Rollout keeps one of them serving throughout.
"""

from __future__ import annotations

from typing import Any

from support import argo_phases as argo

from predictorapi_operator import canary
from predictorapi_operator.canary import CANARY_ABORTED, ROLLOUTS_NOT_INSTALLED

from .conftest import Cluster
from .test_kubectl import kubectl
from .test_reconcile import _events, api, condition, deployment_status

CANARY = {"strategy": "Canary"}
HANG_GUARD = 180
"""Seconds any wait may take before the test fails: only a hang guard (this machine may be very busy)."""


def _status(cluster: Cluster, namespace: str, name: str) -> dict[str, Any]:
    return (cluster.get("PredictorAPI", namespace, name) or {}).get("status") or {}


def _play(cluster: Cluster, namespace: str, name: str, phase: Any, *args: Any) -> dict[str, Any]:
    """Write the Rollout's status as Argo Rollouts would, for the Rollout's current generation."""
    generation = cluster.get("Rollout", namespace, name)["metadata"]["generation"]
    status = phase(generation, *args)
    cluster.kube.patch("Rollout", namespace, name, {"status": status}, subresource="status")
    return status


def _wait(cluster: Cluster, check: Any, what: str) -> Any:
    return cluster.wait_for(check, timeout=HANG_GUARD, what=what)


def _until(cluster: Cluster, namespace: str, name: str, what: str, check: Any) -> dict[str, Any]:
    return _wait(cluster, lambda: (s := _status(cluster, namespace, name)) and check(s) and s, what=what)


def test_canary_builds_a_rollout_and_the_status_follows_its_phases(emulated) -> None:
    cluster, ns, name = emulated, "canary-a", "demo"
    cluster.kube.create(api(name, ns, rollout=CANARY, autoscaling={"minReplicas": 2, "maxReplicas": 4},
                            monitoring={"serviceMonitor": True}))
    rollout = _wait(cluster, lambda: cluster.get("Rollout", ns, name), what="the Rollout")
    template = _wait(cluster, lambda: cluster.get("AnalysisTemplate", ns, name), what="the AnalysisTemplate")
    assert cluster.get("Deployment", ns, name) is None, "a canary has no Deployment"
    hpa = _wait(cluster, lambda: cluster.get("HorizontalPodAutoscaler", ns, name), what="the HPA")
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "name": name}
    assert cluster.get("PodDisruptionBudget", ns, name)["spec"]["selector"] == rollout["spec"]["selector"]
    monitor = _wait(cluster, lambda: cluster.get("ServiceMonitor", ns, name), what="the ServiceMonitor")
    assert monitor["spec"]["podTargetLabels"] == ["rollouts-pod-template-hash"]
    steps = rollout["spec"]["strategy"]["canary"]["steps"]
    assert [s.get("setWeight") for s in steps if "setWeight" in s] == [10, 50]
    assert {m["name"] for m in template["spec"]["metrics"]} == {"error-ratio", "latency-p99"}

    _play(cluster, ns, name, argo.healthy, 2, len(steps))  # the first revision goes straight to 100%
    status = _until(cluster, ns, name, "Ready", lambda s: s.get("phase") == "Ready")
    assert status["canary"]["weight"] == 100 and status["canary"]["stableRevision"] == argo.STABLE

    cluster.kube.patch("PredictorAPI", ns, name, {"spec": {"predictor": {"image": "registry.example/demo:2"}}})
    _wait(cluster, lambda: cluster.get("Rollout", ns, name)["spec"]["template"]["spec"]["containers"][0][
        "image"] == "registry.example/demo:2", what="the new revision in the Rollout")
    _play(cluster, ns, name, argo.paused_at_step)
    status = _until(cluster, ns, name, "canary at 10%", lambda s: (s.get("canary") or {}).get("weight") == 10)
    assert condition(status, "Progressing")["status"] == "True" and status["phase"] == "Progressing"
    assert condition(status, "Progressing")["reason"] == "CanaryInProgress"
    shown = {key: status["canary"][key] for key in ("step", "steps", "weight", "analysis", "stableRevision",
                                                    "canaryRevision")}
    assert shown == {"step": 1, "steps": 2, "weight": 10, "analysis": "Pending", "stableRevision": argo.STABLE,
                     "canaryRevision": argo.CANARY}
    assert "10" in kubectl(cluster, "get", "papi", name, "-n", ns, "-o", "wide").splitlines()[1].split()

    _play(cluster, ns, name, argo.analysing, f"{name}-{argo.CANARY}-2")
    _until(cluster, ns, name, "analysis Running", lambda s: s["canary"].get("analysis") == "Running")
    _play(cluster, ns, name, argo.healthy, 2, len(steps), argo.CANARY)
    status = _until(cluster, ns, name, "promoted", lambda s: s.get("phase") == "Ready")
    assert status["canary"]["stableRevision"] == argo.CANARY and status["canary"]["weight"] == 100
    assert condition(status, "Progressing")["reason"] == "RolloutComplete"


def test_aborted_canary_is_degraded_with_the_failing_measurement(emulated) -> None:
    cluster, ns, name = emulated, "canary-b", "bad"
    cluster.kube.create(api(name, ns, rollout=CANARY, replicas=2))
    _wait(cluster, lambda: cluster.get("Rollout", ns, name), what="the Rollout")
    _play(cluster, ns, name, argo.healthy)
    _until(cluster, ns, name, "Ready", lambda s: s.get("phase") == "Ready")
    cluster.kube.patch("PredictorAPI", ns, name, {"spec": {"predictor": {"image": "registry.example/demo:2"}}})
    _wait(cluster, lambda: cluster.get("Rollout", ns, name)["metadata"]["generation"] == 2, what="new revision")
    run = f"{name}-{argo.CANARY}-2"
    _play(cluster, ns, name, argo.waiting, run)
    status = _until(cluster, ns, name, "waiting", lambda s: condition(s, "Progressing")["reason"] == "CanaryWaiting")
    assert "minRequests" in condition(status, "Progressing")["message"]
    cluster.kube.create(argo.analysis_run(run, ns))
    _play(cluster, ns, name, argo.aborted, run)
    status = _until(cluster, ns, name, "Degraded", lambda s: s.get("phase") == "Degraded")
    degraded = condition(status, "Degraded")
    assert degraded["reason"] == CANARY_ABORTED
    assert "error-ratio measured [0.2]" in degraded["message"] and "git revert" in degraded["message"]
    assert status["canary"]["analysis"] == "Failed" and status["canary"]["weight"] == 0
    assert status["canary"]["stableRevision"] == argo.STABLE


def test_without_argo_rollouts_a_canary_is_refused_and_nothing_changes(no_rollouts_cluster) -> None:
    cluster, ns = no_rollouts_cluster, "canary-c"
    cluster.kube.create(api("live", ns))
    before = _wait(cluster, lambda: cluster.get("Deployment", ns, "live"), what="the Deployment")
    cluster.kube.patch("PredictorAPI", ns, "live", {"spec": {"rollout": CANARY,
                                                             "predictor": {"image": "registry.example/demo:2"}}})
    status = _until(cluster, ns, "live", "RolloutsNotInstalled",
                    lambda s: condition(s, "Degraded").get("reason") == ROLLOUTS_NOT_INSTALLED)
    assert "install Argo Rollouts" in condition(status, "Degraded")["message"]
    _wait(cluster, lambda: any(e.get("reason") == ROLLOUTS_NOT_INSTALLED for e in _events(cluster, ns, "live")),
                     what="a Warning Event")
    assert condition(status, "Degraded")["status"] == "True" and status["phase"] == "Degraded"
    after = cluster.get("Deployment", ns, "live")
    assert after["spec"] == before["spec"], "never a silent rolling update instead of the canary"
    cluster.kube.create(api("fresh", ns, rollout=CANARY))
    _until(cluster, ns, "fresh", "RolloutsNotInstalled",
           lambda s: condition(s, "Degraded").get("reason") == ROLLOUTS_NOT_INSTALLED)
    assert cluster.get("Deployment", ns, "fresh") is None and cluster.get("Service", ns, "fresh") is None


def _serving(cluster: Cluster, ns: str, name: str) -> set[str]:
    return {kind for kind in ("Deployment", "Rollout") if cluster.get(kind, ns, name) is not None}


def test_switching_strategy_hands_over_without_a_gap(emulated) -> None:
    """Deployment → Rollout and back: the new workload starts with the old one's replicas, and the old one is
    deleted only once the new one is available; at every point one of them serves."""
    cluster, ns, name = emulated, "canary-d", "switch"
    cluster.kube.create(api(name, ns, autoscaling={"minReplicas": 2, "maxReplicas": 6}))
    _wait(cluster, lambda: cluster.get("Deployment", ns, name), what="the Deployment")
    cluster.kube.patch("Deployment", ns, name, {"spec": {"replicas": 3}})  # the HPA's count
    generation = cluster.get("Deployment", ns, name)["metadata"]["generation"]
    cluster.kube.patch("Deployment", ns, name, {"status": deployment_status(generation, 3, 3, 3)},
                       subresource="status")
    _until(cluster, ns, name, "Ready", lambda s: s.get("phase") == "Ready")

    cluster.kube.patch("PredictorAPI", ns, name, {"spec": {"rollout": CANARY}})
    rollout = _wait(cluster, lambda: cluster.get("Rollout", ns, name), what="the Rollout")
    assert rollout["spec"]["replicas"] == 3, "the Rollout starts with the Deployment's replicas"
    status = _until(cluster, ns, name, "handing over", lambda s: "handing over" in condition(s, "Ready")["message"])
    assert _serving(cluster, ns, name) == {"Deployment", "Rollout"}, status
    _wait(cluster, lambda: cluster.get("HorizontalPodAutoscaler", ns, name)["spec"]["scaleTargetRef"][
        "kind"] == "Rollout", what="the HPA scaling the Rollout")
    _play(cluster, ns, name, argo.healthy, 3, 6)
    _wait(cluster, lambda: _serving(cluster, ns, name) == {"Rollout"}, what="the Deployment deleted")
    _until(cluster, ns, name, "Ready on the Rollout", lambda s: s.get("phase") == "Ready")
    assert cluster.get("Rollout", ns, name)["spec"]["replicas"] == 3, "the count stays the HPA's"

    cluster.kube.patch("PredictorAPI", ns, name, {"spec": {"rollout": {"strategy": "RollingUpdate"}}})
    deployment = _wait(cluster, lambda: cluster.get("Deployment", ns, name), what="the Deployment again")
    assert deployment["spec"]["replicas"] == 3
    _until(cluster, ns, name, "handing back", lambda s: "handing over" in condition(s, "Ready")["message"])
    assert _serving(cluster, ns, name) == {"Deployment", "Rollout"}
    generation = deployment["metadata"]["generation"]
    cluster.kube.patch("Deployment", ns, name, {"status": deployment_status(generation, 3, 3, 3)},
                       subresource="status")
    _wait(cluster, lambda: _serving(cluster, ns, name) == {"Deployment"} and cluster.get(
        "AnalysisTemplate", ns, name) is None, what="the Rollout and its AnalysisTemplate deleted")
    status = _until(cluster, ns, name, "Ready on the Deployment", lambda s: s.get("phase") == "Ready")
    assert "canary" not in status


def test_traffic_routing_adds_stable_and_canary_services(emulated) -> None:
    cluster, ns, name = emulated, "canary-e", "routed"
    cluster.kube.create(api(name, ns, rollout={**CANARY, "trafficRouting": {"istio": {"virtualService": "vs"}}}))
    rollout = _wait(cluster, lambda: cluster.get("Rollout", ns, name), what="the Rollout")
    canary = rollout["spec"]["strategy"]["canary"]
    assert (canary["stableService"], canary["canaryService"]) == (f"{name}-stable", f"{name}-canary")
    assert canary["trafficRouting"] == {"istio": {"virtualService": {"name": "vs"}}}
    assert _wait(cluster, lambda: cluster.get("Service", ns, f"{name}-canary"), what="the canary Service")
    cluster.kube.patch("PredictorAPI", ns, name, {"spec": {"rollout": {"trafficRouting": {"istio": None}}}})
    _wait(cluster, lambda: cluster.get("Service", ns, f"{name}-canary") is None and cluster.get(
        "Service", ns, f"{name}-stable") is None, what="the routing Services deleted")
    assert "trafficRouting" not in cluster.get("Rollout", ns, name)["spec"]["strategy"]["canary"]


def exercise_canary(cluster: Cluster, ns: str, name: str) -> None:
    """Every canary path of the operator (for the RBAC test): Deployment → routed Rollout, routing dropped, an
    analysis change, an abort with its AnalysisRun, back to a Deployment."""
    cluster.kube.create(api(name, ns))
    generation = _wait(cluster, lambda: cluster.get("Deployment", ns, name), what="Deployment")["metadata"][
        "generation"]
    cluster.kube.patch("Deployment", ns, name, {"status": deployment_status(generation, 1, 1, 1)},
                       subresource="status")
    cluster.kube.patch("PredictorAPI", ns, name, {"spec": {"rollout": {
        **CANARY, "trafficRouting": {"istio": {"virtualService": "vs"}}}}})
    _wait(cluster, lambda: cluster.get("Service", ns, f"{name}-canary") and cluster.get("Rollout", ns, name),
                     what="the routed Rollout")
    _play(cluster, ns, name, argo.healthy, 1)
    _wait(cluster, lambda: cluster.get("Deployment", ns, name) is None, what="the Deployment handed over")
    cluster.kube.patch("PredictorAPI", ns, name, {"spec": {"rollout": {"trafficRouting": {"istio": None},
                                                                       "analysis": {"maxErrorRatio": 0.05}}}})
    _wait(cluster, lambda: cluster.get("Service", ns, f"{name}-canary") is None, what="routing Services deleted")
    _wait(cluster, lambda: "0.05" in cluster.get("AnalysisTemplate", ns, name)["spec"]["metrics"][0][
        "successCondition"], what="the AnalysisTemplate patched")
    run = f"{name}-{argo.CANARY}-2"
    cluster.kube.create(argo.analysis_run(run, ns))
    _play(cluster, ns, name, argo.aborted, run)
    _until(cluster, ns, name, "aborted", lambda s: condition(s, "Degraded").get("reason") == CANARY_ABORTED)
    cluster.kube.patch("PredictorAPI", ns, name, {"spec": {"rollout": {"strategy": "RollingUpdate"}}})
    generation = _wait(cluster, lambda: cluster.get("Deployment", ns, name), what="Deployment back")["metadata"][
        "generation"]
    cluster.kube.patch("Deployment", ns, name, {"status": deployment_status(generation, 1, 1, 1)},
                       subresource="status")
    _wait(cluster, lambda: cluster.get("Rollout", ns, name) is None and cluster.get(
        "AnalysisTemplate", ns, name) is None, what="the Rollout handed back")


def _rollout(status: dict[str, Any] | None, generation: int = 2) -> dict[str, Any]:
    steps = [{"setWeight": 10}, {"pause": {"duration": "2m"}}, {"analysis": {}},
             {"setWeight": 50}, {"pause": {"duration": "5m"}}, {"analysis": {}}]
    return {"metadata": {"name": "demo", "generation": generation},
            "spec": {"strategy": {"canary": {"steps": steps}}}, **({"status": status} if status else {})}


def test_canary_status_is_read_from_the_rollout_alone() -> None:
    """The pure reading of a Rollout (support/argo_phases.py's phases) that the status is made of."""
    assert canary.canary_status(_rollout(None)) == {"steps": 2}, "nothing to show before Argo Rollouts starts"
    assert canary.progress(_rollout(None))[0] is False
    second = {**argo.analysing(2, "run"), "currentStepIndex": 4}
    assert (canary.canary_status(_rollout(second))["step"], canary.weight(_rollout(second))) == (2, 50)
    routed = {**argo.paused_at_step(2), "canary": {"weights": {"canary": {"weight": 7}, "stable": {"weight": 93}}}}
    assert canary.weight(_rollout(routed)) == 7, "with traffic routing, the weight Argo Rollouts reports"
    assert canary.promoted(_rollout(argo.healthy(2, revision=argo.CANARY)))
    assert not canary.promoted(_rollout(argo.healthy(1))), "Healthy on an older spec is not promoted"
    assert canary.aborted(_rollout(argo.analysing(2, "run")), None) is None
    reason, message = canary.aborted(_rollout(argo.aborted(2, "run")), None)
    assert reason == CANARY_ABORTED and 'Metric "error-ratio" assessed Failed' in message, "Argo's words"
    assert canary.failing_measurement(argo.analysis_run("run", "ns", "[0.5]")) == (
        "error-ratio measured [0.5] (len(result) > 0 && result[0] > 0.01)")
