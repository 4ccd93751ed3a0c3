"""An emulated cluster (kmock over real HTTP) with the real operator running against it (kopf, a subprocess)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from support.emulator import RunningEmulator, emulator_running

from predictorapi_operator.kube import Kube

RESYNC_SECONDS = "2"


def operator_command() -> list[str]:
    return [sys.executable, "-m", "kopf", "run", "-m", "predictorapi_operator.handlers", "--all-namespaces",
            "--standalone", "--verbose"]


@dataclass
class Cluster:
    """The emulator, a client for it, and the operator process."""

    emulator: RunningEmulator
    kube: Kube
    log: Path
    operator: subprocess.Popen | None = None

    def start_operator(self) -> None:
        env = {**os.environ, "KUBECONFIG": str(self.emulator.kubeconfig),
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

    def wait_for(self, check: Callable[[], Any], timeout: float = 30, what: str = "condition") -> Any:
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


def kube_for(url: str) -> Kube:
    configuration = client.Configuration()
    configuration.host = url
    return Kube(client.ApiClient(configuration))


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    directory = tmp_path_factory.mktemp("cluster")
    with emulator_running(directory) as emulator:
        running = Cluster(emulator, kube_for(emulator.url), directory / "operator.log")
        running.start_operator()
        try:
            yield running
        finally:
            running.stop_operator()
