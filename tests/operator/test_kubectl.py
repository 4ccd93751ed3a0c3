"""Real kubectl against the emulated API server: list, YAML, and the CRD's printer columns."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
import yaml

from predictorapi.crd import PRINTER_COLUMNS

from .test_reconcile import api, deployment_status

pytestmark = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")


def kubectl(cluster, *args: str) -> str:
    env = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig)}
    result = subprocess.run(["kubectl", *args], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_kubectl_shows_the_api_and_its_columns(emulated) -> None:
    cluster = emulated
    cluster.kube.create(api("shown", "team-k", autoscaling={"minReplicas": 2, "maxReplicas": 2}))
    cluster.wait_for(lambda: cluster.get("Deployment", "team-k", "shown"), what="the Deployment")
    generation = cluster.get("Deployment", "team-k", "shown")["metadata"]["generation"]
    cluster.kube.patch("Deployment", "team-k", "shown", {"status": deployment_status(generation, 2, 2, 2)},
                       subresource="status")
    cluster.wait_for(lambda: cluster.get("PredictorAPI", "team-k", "shown").get("status", {}).get("phase") == "Ready",
                     what="Ready")

    listing = kubectl(cluster, "get", "predictorapis", "-A")
    assert "shown" in listing and "team-k" in listing

    (document,) = yaml.safe_load(kubectl(cluster, "get", "papi", "-n", "team-k", "-o", "yaml"))["items"]
    assert document["status"]["phase"] == "Ready"
    assert document["status"]["url"] == "http://shown.team-k.svc.cluster.local"

    columns = ",".join(f"{c['name'].upper()}:{c['jsonPath']}" for c in PRINTER_COLUMNS)
    table = kubectl(cluster, "get", "papi", "shown", "-n", "team-k", "-o", f"custom-columns={columns}")
    header, row = table.splitlines()
    assert header.split() == [c["name"].upper() for c in PRINTER_COLUMNS]
    values = row.split()
    assert values[:4] == ["2/2", "Ready", "http://shown.team-k.svc.cluster.local", "2"]  # 2 replicas running
    assert values[4] == "<none>"  # no code from git: no revision
    assert values[5] == "AsExpected"
    assert values[6] == "<none>"  # no canary in flight: no canary weight
    assert values[7].startswith("20")  # creationTimestamp


def test_kubectl_scale_pins_the_replica_count(emulated) -> None:
    """`kubectl scale papi NAME --replicas=N` on the default spec (min = max = 1) gives N replicas: the scale
    subresource writes `spec.replicas`, which pins the count (no HPA); removing it hands the count back."""
    cluster = emulated
    cluster.kube.create(api("scaled", "team-s"))
    cluster.wait_for(lambda: cluster.get("Deployment", "team-s", "scaled"), what="the Deployment")
    assert cluster.get("Deployment", "team-s", "scaled")["spec"]["replicas"] == 1

    kubectl(cluster, "scale", "papi", "scaled", "-n", "team-s", "--replicas=3")
    assert cluster.get("PredictorAPI", "team-s", "scaled")["spec"]["replicas"] == 3
    cluster.wait_for(lambda: cluster.get("Deployment", "team-s", "scaled")["spec"].get("replicas") == 3,
                     what="3 replicas")
    assert cluster.get("HorizontalPodAutoscaler", "team-s", "scaled") is None
    scale = yaml.safe_load(kubectl(cluster, "get", "--raw",
                                   "/apis/serving.predictorapi.dev/v1alpha1/namespaces/team-s/predictorapis/scaled/scale"))
    assert scale["kind"] == "Scale" and scale["spec"]["replicas"] == 3

    cluster.kube.patch("PredictorAPI", "team-s", "scaled", {"spec": {"replicas": None,
                                                                     "autoscaling": {"maxReplicas": 4}}})
    cluster.wait_for(lambda: cluster.get("HorizontalPodAutoscaler", "team-s", "scaled"), what="the HPA back")
