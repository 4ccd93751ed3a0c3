"""The emulator serves Argo Rollouts' kinds as a cluster running Argo Rollouts does (discovery, admission,
scale), and not at all with `rollouts=False`."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from support.emulator import emulator_running
from support.manifests import manifest

from predictorapi.spec import PredictorAPI
from predictorapi_operator.builders import build_children
from predictorapi_operator.kube import Kube, api_message


def kube_for(url: str) -> Kube:
    configuration = client.Configuration()
    configuration.host = url
    return Kube(client.ApiClient(configuration))


def canary_children() -> dict[str, dict]:
    document = manifest(rollout={"strategy": "Canary"}, replicas=2)
    document["metadata"]["namespace"] = "ns"
    return {c["kind"]: c for c in build_children(PredictorAPI.model_validate(document))}


def refusal(kube: Kube, obj: dict) -> str:
    with pytest.raises(ApiException) as raised:
        kube.create(obj)
    assert raised.value.status == 422
    return api_message(raised.value)


def test_rollouts_are_served_and_admitted_strictly(tmp_path: Path) -> None:
    built = canary_children()
    with emulator_running(tmp_path) as emulator:
        kube = kube_for(emulator.url)
        assert kube.serves("argoproj.io/v1alpha1")
        for kind in ("AnalysisTemplate", "Rollout"):
            kube.create(built[kind])
        bad = copy.deepcopy(built["Rollout"])
        bad["metadata"]["name"] = "mismatch"
        bad["spec"]["selector"] = {"matchLabels": {"serving.predictorapi.dev/api": "other"}}
        assert "spec.template.metadata.labels" in refusal(kube, bad)
        bad = copy.deepcopy(built["Rollout"])
        bad["metadata"]["name"] = "no-surge"
        bad["spec"]["strategy"]["canary"].update(maxSurge=0, maxUnavailable=0)
        assert "spec.strategy.canary.maxUnavailable" in refusal(kube, bad)
        bad = copy.deepcopy(built["Rollout"])
        bad["metadata"]["name"] = "bad-pod"
        bad["spec"]["template"]["spec"]["containers"][0]["resources"] = {"requests": {"cpu": "lots"}}
        assert "spec.template.spec.containers[0].resources.requests" in refusal(kube, bad)
        scale = kube.request("GET", "/apis/argoproj.io/v1alpha1/namespaces/ns/rollouts/demo/scale")
        assert scale["spec"]["replicas"] == 2
        kube.patch("Rollout", "ns", "demo", {"status": {"phase": "Healthy", "HPAReplicas": 2}}, subresource="status")
        with pytest.raises(ApiException) as raised:
            kube.patch("Rollout", "ns", "demo", {"status": {"currentStepIndex": "one"}}, subresource="status")
        assert raised.value.status == 422 and "status.currentStepIndex" in api_message(raised.value)


def test_without_argo_rollouts_nothing_is_served(tmp_path: Path) -> None:
    with emulator_running(tmp_path, rollouts=False) as emulator:
        kube = kube_for(emulator.url)
        assert not kube.serves("argoproj.io/v1alpha1")
        with pytest.raises(ApiException) as raised:
            kube.create(canary_children()["Rollout"])
        assert raised.value.status == 404
