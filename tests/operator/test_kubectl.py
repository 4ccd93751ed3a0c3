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
    assert values[:3] == ["2/2", "Ready", "http://shown.team-k.svc.cluster.local"]
    assert values[3] == "<none>"  # no code from git: no revision
    assert values[4] == "AsExpected"
    assert values[5].startswith("20")  # creationTimestamp
