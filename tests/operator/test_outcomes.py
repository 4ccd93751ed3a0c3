"""Every outcome is written: children the API server refuses (`Degraded`, reason `ApplyFailed`, with its own
message), an exact status (fields that no longer apply are removed), and no patch churn for quantities the
API server canonicalises."""

from __future__ import annotations

import contextlib
import copy
import http.client
import json
import socket
import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from kubernetes.client.exceptions import ApiException

from predictorapi_operator.kube import Kube
from predictorapi_operator.reconcile import reconcile
from predictorapi_operator.settings import OperatorSettings

from .test_ownership import after_resyncs, owned
from .test_reconcile import _events, api, condition

CREATE_REFUSED = ('Deployment.apps "refused" is invalid: spec.template.spec.containers[0].resources.limits[memory]: '
                  'Invalid value: "1Gi": must be greater than or equal to memory request')
PATCH_REFUSED = ('Deployment.apps "repatch" is invalid: spec.template.spec.containers[0].env[3].name: '
                 'Invalid value: "1BAD": a valid environment variable name must consist of alphabetic characters')
# One namespace per test that counts Events: the emulator stores one Event per namespace (kopf names
# Events by `generateName`).


@contextmanager
def written_statuses(cluster, namespace: str) -> Iterator[dict[str, list[dict[str, Any]]]]:
    """Every distinct status written to a PredictorAPI of `namespace`, in order, by name (read from a watch
    stream, so that a status soon replaced is seen too)."""
    seen: dict[str, list[dict[str, Any]]] = {}
    url = urllib.parse.urlsplit(cluster.emulator.url)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=120)
    connection.request("GET", f"/apis/serving.predictorapi.dev/v1alpha1/namespaces/{namespace}/predictorapis"
                              "?watch=true")
    response = connection.getresponse()

    def read() -> None:
        with contextlib.suppress(OSError, ValueError, http.client.HTTPException):
            for line in response:
                obj = json.loads(line)["object"]
                history = seen.setdefault(obj["metadata"]["name"], [])
                if obj.get("status") and (not history or history[-1] != obj["status"]):
                    history.append(obj["status"])

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        yield seen
    finally:
        with contextlib.suppress(OSError):
            connection.sock.shutdown(socket.SHUT_RDWR)  # wakes the reader: its stream ends
        reader.join(10)
        connection.close()


def status_of(cluster, namespace: str, name: str) -> dict[str, Any]:
    return (cluster.get("PredictorAPI", namespace, name) or {}).get("status") or {}


def apply_failed(status: dict[str, Any]) -> dict[str, Any] | None:
    degraded = condition(status, "Degraded")
    return degraded if degraded.get("status") == "True" and degraded.get("reason") == "ApplyFailed" else None


def predictor_config(deployment: dict[str, Any]) -> dict[str, Any]:
    env = {e["name"]: e.get("value") for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    return json.loads(env.get("PREDICTORAPI_PREDICTOR_CONFIG") or "{}")


def patches_logged(cluster, namespace: str, name: str) -> int:
    """How many reconciles of this API the operator logged as patching a child."""
    return sum(1 for line in cluster.log.read_text().splitlines()
               if f"[{namespace}/{name}] reconciled:" in line and "patched" in line)


def test_a_refused_create_is_in_the_first_status_and_the_rest_reconciles(emulated) -> None:
    cluster, ns = emulated, "refuse-create"
    with written_statuses(cluster, ns) as statuses:
        fault = cluster.emulator.emulator.fail("POST", "deployments", 422, times=1, message=CREATE_REFUSED)
        uid = cluster.kube.create(api("refused", ns))["metadata"]["uid"]
        assert cluster.wait_for(lambda: owned(cluster, ns, "Service", "refused", uid), what="the Service")
        # A later attempt, when the API server accepts it, creates it and clears the condition.
        cluster.wait_for(lambda: owned(cluster, ns, "Deployment", "refused", uid), what="the Deployment, retried")
        cluster.wait_for(lambda: condition(status_of(cluster, ns, "refused"), "Degraded").get("status") == "False",
                         what="Degraded=False after the retry")
        cluster.wait_for(lambda: len(statuses.get("refused", [])) >= 2, what="both statuses seen")
    assert fault.times == 0
    first = statuses["refused"][0]  # written by the reconcile that met the refusal
    degraded = apply_failed(first)
    assert degraded, first
    assert degraded["message"] == f"Deployment refused was refused by the API server: {CREATE_REFUSED}"
    assert first["observedGeneration"] == 1 and degraded["observedGeneration"] == 1
    assert first["phase"] == "Degraded" and condition(first, "Ready")["status"] == "False"
    events = [e for e in _events(cluster, ns, "refused") if e["reason"] == "ApplyFailed"]
    assert len(events) == 1 and events[0]["type"] == "Warning"
    assert events[0]["message"] == degraded["message"]


def test_a_refused_patch_is_degraded_once_and_retried_until_accepted(emulated) -> None:
    cluster, ns = emulated, "refuse-patch"
    uid = cluster.kube.create(api("repatch", ns, autoscaling={"minReplicas": 1, "maxReplicas": 3}))[
        "metadata"]["uid"]
    cluster.wait_for(lambda: owned(cluster, ns, "HorizontalPodAutoscaler", "repatch", uid), what="the HPA")
    cluster.wait_for(lambda: status_of(cluster, ns, "repatch"), what="a first status")
    fault = cluster.emulator.emulator.fail("PATCH", "deployments", 422, times=10**6, message=PATCH_REFUSED)
    try:
        cluster.kube.patch("PredictorAPI", ns, "repatch", {"spec": {
            "predictor": {"config": {"beam": 2}}, "autoscaling": {"maxReplicas": 5}}})
        status = cluster.wait_for(lambda: (s := status_of(cluster, ns, "repatch")) and apply_failed(s) and s,
                                  what="Degraded=ApplyFailed")
        assert status["observedGeneration"] == 2 and apply_failed(status)["observedGeneration"] == 2
        assert apply_failed(status)["message"] == f"Deployment repatch was refused by the API server: {PATCH_REFUSED}"
        # The other children took the new spec.
        assert cluster.get("HorizontalPodAutoscaler", ns, "repatch")["spec"]["maxReplicas"] == 5
        assert owned(cluster, ns, "Service", "repatch", uid)
        hits = len(fault.hits)
        after_resyncs(cluster, ns, "repatch")  # retried with backoff, refused again: no new Event
        assert len(fault.hits) > hits, "the refused patch is retried"
        # Retries do not hold up the next spec change: it is reconciled (and still refused) at once.
        cluster.kube.patch("PredictorAPI", ns, "repatch", {"spec": {"autoscaling": {"maxReplicas": 6}}})
        cluster.wait_for(lambda: cluster.get("HorizontalPodAutoscaler", ns, "repatch")["spec"]["maxReplicas"] == 6,
                         what="the next spec change applied")
        status = cluster.wait_for(lambda: (s := status_of(cluster, ns, "repatch")) and s["observedGeneration"] == 3
                                  and apply_failed(s) and s, what="observedGeneration 3, still ApplyFailed")
        events = [e for e in _events(cluster, ns, "repatch") if e["reason"] == "ApplyFailed"]
        assert len(events) == 1 and PATCH_REFUSED in events[0]["message"]
    finally:
        fault.times = 0
    cluster.wait_for(lambda: predictor_config(cluster.get("Deployment", ns, "repatch")) == {"beam": 2},
                     what="the Deployment patched once accepted")
    cluster.wait_for(lambda: condition(status_of(cluster, ns, "repatch"), "Degraded").get("status") == "False",
                     what="Degraded=False once accepted")


def test_status_fields_that_no_longer_apply_are_removed(cluster) -> None:
    ns = "exact"
    cluster.kube.create(api("exact", ns, networking={"ingress": {"host": "exact.example.com"}}))
    cluster.wait_for(lambda: status_of(cluster, ns, "exact").get("ingressUrl") == "http://exact.example.com",
                     what="status.ingressUrl")
    cluster.kube.patch("PredictorAPI", ns, "exact", {"spec": {"networking": {"ingress": None}}})
    status = cluster.wait_for(lambda: (s := status_of(cluster, ns, "exact")) and s.get("observedGeneration") == 2
                              and s, what="the new spec's status")
    assert "ingressUrl" not in status
    assert cluster.get("Ingress", ns, "exact") is None
    assert status["url"] == "http://exact.exact.svc.cluster.local"


def test_canonicalised_quantities_are_not_patched_again(emulated) -> None:
    cluster, ns = emulated, "quantities"
    cluster.kube.create(api("quant", ns, compute={"cpu": "1.5", "memory": "0.5Gi"},
                            autoscaling={"minReplicas": 1, "maxReplicas": 3, "targetConcurrency": 1.5}))
    deployment = cluster.wait_for(lambda: cluster.get("Deployment", ns, "quant"), what="the Deployment")
    cluster.wait_for(lambda: status_of(cluster, ns, "quant"), what="a status")
    # What the API server stores, and the strict emulator by itself: canonical quantities. Written here as
    # well, so that the test holds against an emulator (or a cluster) that stores them as sent.
    containers = copy.deepcopy(deployment["spec"]["template"]["spec"]["containers"])
    containers[0]["resources"] = {"requests": {"cpu": "1500m", "memory": "512Mi"}, "limits": {"memory": "512Mi"}}
    cluster.kube.patch("Deployment", ns, "quant", {"spec": {"template": {"spec": {"containers": containers}}}})
    canonical = cluster.get("Deployment", ns, "quant")
    patches = patches_logged(cluster, ns, "quant")
    after_resyncs(cluster, ns, "quant", 3)
    assert patches_logged(cluster, ns, "quant") == patches, "canonical quantities were patched back"
    after = cluster.get("Deployment", ns, "quant")
    assert after["metadata"]["resourceVersion"] == canonical["metadata"]["resourceVersion"]
    assert after["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["cpu"] == "1500m"


class _StatusRefused(Kube):
    """A Kube whose API server accepts the children and refuses the status (e.g. a schema it does not match)."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], dict[str, Any]] = {}

    def get(self, kind: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        return copy.deepcopy(self.objects.get((kind, name)))

    def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        self.objects[(obj["kind"], obj["metadata"]["name"])] = copy.deepcopy(obj)
        return obj

    def list(self, kind: str, namespace: str | None, labels: dict[str, str]) -> list[dict[str, Any]]:
        return []

    def serves(self, group_version: str) -> bool:
        return False

    def patch(self, kind: str, namespace: str | None, name: str, patch: dict[str, Any],
              subresource: str | None = None) -> dict[str, Any]:
        body = json.dumps({"kind": "Status", "status": "Failure", "reason": "Invalid", "code": 422,
                           "message": 'PredictorAPI.serving.predictorapi.dev "s" is invalid: status.ready: '
                                      'Invalid value: "integer": must be a string'})
        raise ApiException(status=422, reason="Unprocessable Entity", body=body)


def test_a_refused_status_write_is_reported_for_a_retry() -> None:
    body = {**api("s", "unit"), "metadata": {"name": "s", "namespace": "unit", "uid": "u-1", "generation": 1}}
    outcome = reconcile(body, _StatusRefused(), OperatorSettings())
    assert outcome.status_error is not None and "status.ready: Invalid value" in outcome.status_error
    assert "PredictorAPI s" in outcome.status_error
    assert not outcome.settled and not outcome.transient
    assert {a.split()[0] for a in outcome.actions} >= {"Service", "Deployment"}


def test_retries_back_off_up_to_the_resync_period() -> None:
    from predictorapi_operator.handlers import retry_delay

    delays = [retry_delay(retry, resync=60) for retry in range(8)]
    assert delays == sorted(delays) and delays[0] >= 1 and delays[-1] == 60
    assert max(retry_delay(retry, resync=2) for retry in range(8)) == 2
