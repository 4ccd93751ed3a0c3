"""The pure status functions: conditions from a Deployment and its pods."""

from __future__ import annotations

from typing import Any

from predictorapi_operator.kube import is_subset
from predictorapi_operator.status import Observed, compute_status, pod_problem, revision, rollout

NOW, LATER = "2026-01-01T00:00:00Z", "2026-01-01T00:05:00Z"


def deployment(replicas: int = 2, ready: int = 2, updated: int = 2, total: int = 2, generation: int = 1,
               observed: int = 1, available: str = "True", progressing: tuple[str, str] = ("True", "Done")
               ) -> dict[str, Any]:
    return {"metadata": {"generation": generation}, "spec": {"replicas": replicas},
            "status": {"observedGeneration": observed, "replicas": total, "readyReplicas": ready,
                       "updatedReplicas": updated, "conditions": [
                           {"type": "Available", "status": available},
                           {"type": "Progressing", "status": progressing[0], "reason": progressing[1],
                            "message": "deadline"}]}}


def conditions(status: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c["reason"]) for c in status["conditions"]}


def test_rollout_is_judged_like_kubectl_rollout_status() -> None:
    assert rollout(deployment()) == (True, "2 of 2 replicas ready")
    assert rollout(deployment(observed=0))[0] is False
    assert rollout(deployment(updated=1)) == (False, "1 of 2 replicas updated")
    assert rollout(deployment(total=3)) == (False, "1 old replicas pending termination")
    assert rollout(deployment(available="False"))[0] is False


def test_ready_progressing_degraded() -> None:
    ready = compute_status(Observed(generation=3, deployment=deployment()), None, NOW)
    assert conditions(ready) == {"Ready": ("True", "Serving"), "Progressing": ("False", "RolloutComplete"),
                                 "Degraded": ("False", "AsExpected")}
    assert (ready["phase"], ready["ready"], ready["observedGeneration"]) == ("Ready", "2/2", 3)
    assert all(c["observedGeneration"] == 3 for c in ready["conditions"])
    rolling = compute_status(Observed(generation=3, deployment=deployment(updated=1, ready=1)), None, NOW)
    assert rolling["phase"] == "Progressing" and conditions(rolling)["Ready"] == ("False", "RollingOut")
    stuck = compute_status(Observed(generation=3, deployment=deployment(
        updated=1, progressing=("False", "ProgressDeadlineExceeded"))), None, NOW)
    assert conditions(stuck)["Degraded"] == ("True", "ProgressDeadlineExceeded")
    assert conditions(stuck)["Progressing"][0] == "False" and stuck["phase"] == "Degraded"
    invalid = compute_status(Observed(generation=4, invalid="spec.maxConcurrency: must be >= 1"), None, NOW)
    assert conditions(invalid)["Degraded"] == ("True", "InvalidSpec") and invalid["phase"] == "Degraded"
    assert "spec.maxConcurrency" in invalid["conditions"][2]["message"]
    creating = compute_status(Observed(generation=1), None, NOW)
    assert creating["phase"] == "Progressing" and conditions(creating)["Progressing"] == ("True", "Creating")


def test_last_transition_time_moves_only_when_the_status_does() -> None:
    first = compute_status(Observed(generation=1, deployment=deployment()), None, NOW)
    same = compute_status(Observed(generation=1, deployment=deployment()), first, LATER)
    assert [c["lastTransitionTime"] for c in same["conditions"]] == [NOW, NOW, NOW]
    changed = compute_status(Observed(generation=2, deployment=deployment(updated=1)), first, LATER)
    times = {c["type"]: c["lastTransitionTime"] for c in changed["conditions"]}
    assert times == {"Ready": LATER, "Progressing": LATER, "Degraded": NOW}


def pod(name: str, created: str, status: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"name": name, "creationTimestamp": created}, "status": status}


def test_pod_problems_and_revision() -> None:
    fetch_failed = pod("a", NOW, {"initContainerStatuses": [{"name": "fetch-code", "state": {"waiting": {
        "reason": "CrashLoopBackOff"}}, "lastState": {"terminated": {
            "exitCode": 1, "message": "AuthenticationFailed: https://git.example refused the credentials\n"}}}]})
    assert pod_problem([fetch_failed]) == ("AuthenticationFailed",
                                           "fetch-code: AuthenticationFailed: https://git.example refused the "
                                           "credentials")
    oom = pod("i", NOW, {"initContainerStatuses": [{"name": "install-packages", "state": {"terminated": {
        "exitCode": 137, "reason": "OOMKilled"}}}]})
    assert pod_problem([oom]) == ("DependencyInstallFailed", "install-packages: OOMKilled"), \
        "the install container's failures are recognised, even without a message"
    image = pod("b", NOW, {"containerStatuses": [{"name": "runtime", "state": {"waiting": {
        "reason": "ImagePullBackOff", "message": "pull access denied"}}}]})
    assert pod_problem([image]) == ("ImagePullBackOff",
                                    "pod b: container runtime is in ImagePullBackOff: pull access denied")
    crashing = pod("d", NOW, {"containerStatuses": [{"name": "runtime", "state": {"waiting": {
        "reason": "CrashLoopBackOff", "message": "back-off 10s restarting failed container=runtime"}},
        "lastState": {"terminated": {"exitCode": 1, "message": "PredictorLoadFailed: KeyError: 'model'"}}}]})
    assert pod_problem([crashing]) == ("CrashLoopBackOff", "pod d: container runtime is in CrashLoopBackOff: "
                                       "PredictorLoadFailed: KeyError: 'model'"), "the error, not the back-off text"
    assert pod_problem([pod("c", NOW, {"containerStatuses": [{"name": "runtime", "state": {"running": {}}}]})]) \
        is None
    old = pod("old", NOW, {"initContainerStatuses": [{"name": "fetch-code", "state": {"terminated": {
        "exitCode": 0, "message": "a" * 40}}}]})
    new = pod("new", LATER, {"initContainerStatuses": [{"name": "fetch-code", "state": {"terminated": {
        "exitCode": 0, "message": "b" * 40 + "\n"}}}]})
    assert revision([old, new]) == "b" * 40
    assert revision([]) is None


def test_is_subset_ignores_server_added_fields() -> None:
    desired = {"spec": {"ports": [{"name": "http", "port": 80}], "selector": {"a": "b"}}}
    live = {"spec": {"ports": [{"name": "http", "port": 80, "protocol": "TCP"}], "selector": {"a": "b"},
                     "clusterIP": "10.0.0.1"}, "status": {}}
    assert is_subset(desired, live)
    assert not is_subset(desired, {"spec": {"ports": [], "selector": {"a": "b"}}})
    assert not is_subset({"spec": {"replicas": 2}}, {"spec": {"replicas": 3}})
    assert is_subset({"cpu": 2}, {"cpu": "2"})


def test_removals_null_only_what_was_applied_before() -> None:
    from predictorapi_operator.kube import removals

    last = {"template": {"spec": {"nodeSelector": {"pool": "gpu"}, "containers": [1]}}, "replicas": 2,
            "tls": [{"secretName": "x"}]}
    desired = {"template": {"spec": {"containers": [2]}}, "replicas": 2}
    assert removals(last, desired) == {"template": {"spec": {"nodeSelector": None}}, "tls": None}
    assert removals(desired, desired) is None


def test_name_conflicts_and_refusals_are_degraded_with_actionable_messages() -> None:
    from predictorapi_operator.status import Conflict, Refusal

    conflict = Conflict("Service", "shop")
    refusal = Refusal("Deployment", "shop", 'Deployment.apps "shop" is invalid: spec.replicas: Invalid value: -1')
    both = compute_status(Observed(generation=2, deployment=deployment(), conflicts=(conflict,),
                                   refused=(refusal,)), None, NOW)
    degraded = next(c for c in both["conditions"] if c["type"] == "Degraded")
    assert (degraded["status"], degraded["reason"]) == ("True", "NameConflict")
    assert degraded["message"] == ("Service shop exists and is not owned by this PredictorAPI; rename or delete it; "
                                   "Deployment shop was refused by the API server: Deployment.apps \"shop\" is "
                                   "invalid: spec.replicas: Invalid value: -1")
    assert both["phase"] == "Degraded" and both["observedGeneration"] == 2
    # A complete rollout of what was there before is not Ready for the current spec.
    assert conditions(both)["Ready"] == ("False", "NameConflict")
    assert conditions(both)["Progressing"] == ("False", "NameConflict")
    refused = compute_status(Observed(generation=2, deployment=deployment(), refused=(refusal,)), None, NOW)
    assert conditions(refused)["Degraded"] == ("True", "ApplyFailed")
    # An invalid spec comes first: nothing was applied.
    invalid = compute_status(Observed(generation=2, invalid="spec.x: bad", refused=(refusal,)), None, NOW)
    assert conditions(invalid)["Degraded"] == ("True", "InvalidSpec")


def test_status_patch_removes_what_no_longer_applies() -> None:
    from predictorapi_operator.status import status_patch

    before = compute_status(Observed(generation=1, deployment=deployment(), url="http://a", ingress_url="http://x",
                                     from_git=True, pods=[]), None, NOW)
    before["revision"] = "a" * 40
    after = compute_status(Observed(generation=2, deployment=deployment(), url="http://a"), before, LATER)
    assert "ingressUrl" not in after and "revision" not in after
    patch = status_patch(before, after)
    assert patch is not None and patch["ingressUrl"] is None and patch["revision"] is None
    assert patch["observedGeneration"] == 2
    assert status_patch(after, after) is None
    assert status_patch({**after, "stale": 1}, after) == {**after, "stale": None}


def test_one_announcement_per_new_verdict() -> None:
    from predictorapi_operator.status import Refusal, announcement, operator_verdict

    refused = compute_status(Observed(generation=1, refused=(Refusal("Deployment", "d", "no"),)), None, NOW)
    assert announcement(None, refused) == ("ApplyFailed", "Deployment d was refused by the API server: no")
    assert announcement(refused, refused) is None  # a retry meeting the same refusal
    other = compute_status(Observed(generation=1, refused=(Refusal("Deployment", "d", "other"),)), refused, NOW)
    assert announcement(refused, other) == ("ApplyFailed", "Deployment d was refused by the API server: other")
    healthy = compute_status(Observed(generation=1, deployment=deployment()), refused, NOW)
    assert announcement(refused, healthy) is None and operator_verdict(healthy) is None
    stuck = compute_status(Observed(generation=1, deployment=deployment(
        updated=1, progressing=("False", "ProgressDeadlineExceeded"))), None, NOW)
    assert announcement(None, stuck) is None  # not the operator's own outcome: no Event from it


def test_equal_quantities_are_equal() -> None:
    resources = {"requests": {"cpu": "1.5", "memory": "0.5Gi"}, "limits": {"memory": "0.5Gi"}}
    live = {"requests": {"cpu": "1500m", "memory": "512Mi"}, "limits": {"memory": "512Mi"}}
    assert is_subset({"resources": resources}, {"resources": live})
    assert not is_subset({"resources": resources}, {"resources": {**live, "requests": {"cpu": "2", "memory": "512Mi"}}})
    assert is_subset({"target": {"type": "AverageValue", "averageValue": "1.5"}},
                     {"target": {"type": "AverageValue", "averageValue": "1500m"}})
    assert is_subset({"emptyDir": {"medium": "Memory", "sizeLimit": "1Gi"}},
                     {"emptyDir": {"medium": "Memory", "sizeLimit": "1024Mi"}})
    # Only quantity fields: an env value or a label is compared as written.
    assert not is_subset({"env": [{"name": "X", "value": "1.5"}]}, {"env": [{"name": "X", "value": "1500m"}]})
    assert not is_subset({"labels": {"size": "0.5Gi"}}, {"labels": {"size": "512Mi"}})


def test_api_errors_are_sorted_into_refusals_and_transient_ones() -> None:
    import json

    from kubernetes.client.exceptions import ApiException

    from predictorapi_operator.kube import api_message, owned_by, refused

    body = json.dumps({"kind": "Status", "status": "Failure", "code": 422, "reason": "Invalid",
                       "message": 'Service "s" is invalid: spec.ports[0].port: Invalid value: 0'})
    invalid = ApiException(status=422, reason="Unprocessable Entity", body=body)
    assert refused(invalid) and api_message(invalid) == 'Service "s" is invalid: spec.ports[0].port: Invalid value: 0'
    assert refused(ApiException(status=403, reason="Forbidden"))
    for status in (0, 404, 409, 429, 500, 503):
        assert not refused(ApiException(status=status, reason="x")), status
    assert api_message(ApiException(status=500, reason="Internal Server Error", body="<html>")) == \
        "500 Internal Server Error"
    ours = {"metadata": {"ownerReferences": [{"uid": "u1"}, {"uid": "u2"}]}}
    assert owned_by(ours, "u2") and not owned_by(ours, "u3") and not owned_by({"metadata": {}}, "u1")
    assert not owned_by(ours, "")
