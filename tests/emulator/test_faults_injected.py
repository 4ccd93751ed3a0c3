"""Injected faults are answered as a real API server answers: a `Status` with the reason of the status code."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from support.emulator import RunningEmulator, emulator_running

MERGE = {"Content-Type": "application/merge-patch+json"}
DEPLOYMENTS = "/apis/apps/v1/namespaces/faults/deployments"


def deployment(name: str = "demo") -> dict[str, Any]:
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": "faults"},
            "spec": {"selector": {"matchLabels": labels}, "template": {"metadata": {"labels": labels}, "spec": {
                "containers": [{"name": "main", "image": "registry.example/demo:1"}]}}}}


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEmulator]:
    with emulator_running(tmp_path_factory.mktemp("faults")) as emulator:
        yield emulator


@pytest.fixture
def http(running: RunningEmulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=running.url, timeout=10) as session:
        yield session


def test_an_injected_422_is_an_invalid_status_carrying_the_message(running, http) -> None:
    message = ('Deployment.apps "refused" is invalid: spec.replicas: Invalid value: -1: must be greater than or '
               'equal to 0')
    fault = running.emulator.fail("POST", "deployments", 422, message=message)
    answer = http.post(DEPLOYMENTS, json=deployment("refused"))
    assert answer.status_code == 422
    body = answer.json()
    assert body["kind"] == "Status" and body["apiVersion"] == "v1" and body["status"] == "Failure"
    assert body["reason"] == "Invalid" and body["code"] == 422 and body["message"] == message
    assert body["details"]["name"] == "refused" and body["details"]["kind"] == "Deployment"
    assert body["details"]["group"] == "apps"
    assert fault.times == 0 and fault.hits == ["refused"]
    assert http.post(DEPLOYMENTS, json=deployment("refused")).status_code == 201, "only `times` requests fail"


def test_an_injected_422_without_a_message_reads_like_the_api_server(running, http) -> None:
    running.emulator.fail("PATCH", "deployments", 422)
    http.post(DEPLOYMENTS, json=deployment("plain"))
    answer = http.patch(f"{DEPLOYMENTS}/plain", json={"spec": {"replicas": 2}}, headers=MERGE)
    assert answer.status_code == 422
    assert answer.json()["message"].startswith('Deployment.apps "plain" is invalid: ')


@pytest.mark.parametrize(("method", "status", "reason"), [
    ("POST", 409, "AlreadyExists"), ("PATCH", 409, "Conflict"), ("PATCH", 404, "NotFound"),
    ("POST", 500, "InternalError"), ("POST", 503, "ServiceUnavailable"), ("POST", 429, "TooManyRequests"),
    ("POST", 403, "Forbidden"), ("POST", 400, "BadRequest"), ("DELETE", 500, "InternalError"),
])
def test_other_statuses_carry_their_reason(running, http, method: str, status: int, reason: str) -> None:
    name = f"{method.lower()}-{status}"
    if method != "POST":
        assert http.post(DEPLOYMENTS, json=deployment(name)).status_code == 201
    running.emulator.fail(method, "deployments", status, times=1, message=f"no: {status}")
    if method == "POST":
        answer = http.post(DEPLOYMENTS, json=deployment(name))
    elif method == "PATCH":
        answer = http.patch(f"{DEPLOYMENTS}/{name}", json={"spec": {"replicas": 2}}, headers=MERGE)
    else:
        answer = http.delete(f"{DEPLOYMENTS}/{name}")
    assert answer.status_code == status
    body = answer.json()
    assert (body["kind"], body["status"], body["code"], body["reason"], body["message"]) == (
        "Status", "Failure", status, reason, f"no: {status}")
    assert body["details"]["name"] == name


def test_the_positional_signature_and_default_messages(running, http) -> None:
    running.emulator.fail("post", "deployments", 500, 2)
    for _ in range(2):
        answer = http.post(DEPLOYMENTS, json=deployment("twice"))
        assert (answer.status_code, answer.json()["reason"]) == (500, "InternalError")
        assert answer.json()["message"] == "Internal error occurred: injected 500"
    assert http.post(DEPLOYMENTS, json=deployment("twice")).status_code == 201


def test_the_kubernetes_client_sees_an_api_exception_with_the_status(running) -> None:
    configuration = client.Configuration()
    configuration.host = running.url
    apps = client.AppsV1Api(client.ApiClient(configuration))
    running.emulator.fail("POST", "deployments", 422, message="spec.replicas: Invalid value: -1: no")
    with pytest.raises(ApiException) as caught:
        apps.create_namespaced_deployment("faults", deployment("via-client"))
    assert caught.value.status == 422
    assert json.loads(caught.value.body)["message"] == "spec.replicas: Invalid value: -1: no"


def test_an_existing_object_is_409_already_exists(running, http) -> None:
    http.post(DEPLOYMENTS, json=deployment("twin"))
    answer = http.post(DEPLOYMENTS, json=deployment("twin"))
    assert answer.status_code == 409
    body = answer.json()
    assert body["reason"] == "AlreadyExists" and body["message"] == 'deployments.apps "twin" already exists'
    assert body["details"] == {"name": "twin", "group": "apps", "kind": "deployments"}


def test_patching_a_missing_object_is_404_not_found(http) -> None:
    answer = http.patch(f"{DEPLOYMENTS}/ghost", json={"spec": {"replicas": 1}}, headers=MERGE)
    assert answer.status_code == 404
    assert answer.json()["reason"] == "NotFound" and answer.json()["message"] == 'deployments.apps "ghost" not found'


def test_the_fault_list_is_visible_for_assertions(tmp_path: Path) -> None:
    with emulator_running(tmp_path, monitoring=False) as running:
        fault = running.emulator.fail("PATCH", "predictorapis", 500, times=3)
        assert fault in running.emulator._faults and fault.times == 3
