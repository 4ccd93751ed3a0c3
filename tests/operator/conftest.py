"""An emulated cluster (kmock over real HTTP) with the real operator running against it (kopf, a subprocess)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kubernetes import config
from support.emulator import TEST_USER_AGENT, RunningEmulator, emulator_running, kube_for

from predictorapi import spec
from predictorapi_operator.kube import Kube

RESYNC_SECONDS = "2"
__all__ = ["TEST_USER_AGENT"]  # re-exported: test_rbac and test_requests import it from here


def operator_command() -> list[str]:
    return [sys.executable, "-m", "kopf", "run", "-m", "predictorapi_operator.handlers", "--all-namespaces",
            "--standalone", "--verbose"]


@dataclass
class Cluster:
    """The emulator (or a real cluster), a client for it, and the operator process."""

    emulator: RunningEmulator | None
    kube: Kube
    log: Path
    kubeconfig: Path
    operator: subprocess.Popen | None = None

    @property
    def real(self) -> bool:
        return self.emulator is None

    def start_operator(self) -> None:
        env = {**os.environ, "KUBECONFIG": str(self.kubeconfig),
               "PREDICTORAPI_OPERATOR_RESYNC_SECONDS": RESYNC_SECONDS,
               "PREDICTORAPI_OPERATOR_RUNTIME_IMAGE": "registry.example/runtime:test"}
        with self.log.open("a") as log:
            self.operator = subprocess.Popen(operator_command(), env=env, stdout=log, stderr=subprocess.STDOUT)

    def stop_operator(self, kill: bool = False) -> None:
        if self.operator is not None and self.operator.poll() is None:
            (self.operator.kill if kill else self.operator.terminate)()
            self.operator.wait(30)
        self.operator = None

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        return self.kube.get(kind, namespace, name)

    def create_invalid(self, document: dict[str, Any]) -> dict[str, Any]:
        """Store a PredictorAPI the CRD's rules refuse, as if written before a stricter CRD was installed
        (how the operator meets invalid specs). Emulator only: a real API server refuses it."""
        if self.emulator is None:
            pytest.skip("stores a PredictorAPI the CRD refuses: emulator only")
        with self.emulator.emulator.lenient(spec.PLURAL):
            return self.kube.create(document)

    def wait_for(self, check: Callable[[], Any], timeout: float = 120, what: str = "condition") -> Any:
        """Poll `check` until it returns something truthy; fail with the operator's log tail otherwise."""
        deadline = time.monotonic() + timeout
        while True:
            result = check()
            if result:
                return result
            if time.monotonic() > deadline:
                tail = "\n".join(self.log.read_text().splitlines()[-40:])
                pytest.fail(f"timed out waiting for {what}; operator log tail:\n{tail}")
            time.sleep(0.2)


@contextmanager
def operator_against(emulator: RunningEmulator | None, kube: Kube, kubeconfig: Path, log: Path) -> Iterator[Cluster]:
    running = Cluster(emulator, kube, log, kubeconfig)
    running.start_operator()
    try:
        yield running
    finally:
        running.stop_operator()


@pytest.fixture(scope="module")
def cluster(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """The operator against the emulator, or against the real cluster given with `--kube-config`."""
    directory = tmp_path_factory.mktemp("cluster")
    real = request.config.getoption("--kube-config")
    if real:
        kube = Kube(config.new_client_from_config(config_file=real))
        with operator_against(None, kube, Path(real), directory / "operator.log") as running:
            yield running
        return
    with emulator_running(directory) as emulator, operator_against(
            emulator, kube_for(emulator.url), emulator.kubeconfig, directory / "operator.log") as running:
        yield running


@pytest.fixture
def emulated(cluster: Cluster) -> Cluster:
    """The cluster, when it is the emulator (tests that play the controllers' part)."""
    if cluster.real:
        pytest.skip("plays the Deployment controller: emulator only")
    return cluster


def _cluster_without(request: pytest.FixtureRequest, tmp_path: Path, what: str, **served: bool) -> Iterator[Cluster]:
    """An emulated cluster (and the operator against it) that does not serve the API groups `served` turns off."""
    if request.config.getoption("--kube-config"):
        pytest.skip(f"needs a cluster without {what}: emulator only")
    with emulator_running(tmp_path, **served) as emulator, operator_against(
            emulator, kube_for(emulator.url), emulator.kubeconfig, tmp_path / "operator.log") as running:
        yield running


@pytest.fixture
def no_monitoring_cluster(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Cluster]:
    """A second emulated cluster that does not serve `monitoring.coreos.com` (no Prometheus Operator)."""
    yield from _cluster_without(request, tmp_path, "the Prometheus Operator", monitoring=False)


@pytest.fixture
def no_rollouts_cluster(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Cluster]:
    """An emulated cluster that does not serve `argoproj.io/v1alpha1` (no Argo Rollouts)."""
    yield from _cluster_without(request, tmp_path, "Argo Rollouts", rollouts=False)


@pytest.fixture(scope="module")
def keda_cluster(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """An emulated cluster that also serves KEDA (`keda.sh/v1alpha1` ScaledObjects), the operator against it."""
    if request.config.getoption("--kube-config"):
        pytest.skip("needs a cluster serving KEDA: emulator only")
    directory = tmp_path_factory.mktemp("keda-cluster")
    with emulator_running(directory, keda=True) as emulator, operator_against(
            emulator, kube_for(emulator.url), emulator.kubeconfig, directory / "operator.log") as running:
        yield running
