"""The two deployables: each wheel builds, declares only its own dependencies, and installs and runs
without the other's (no kopf or kubernetes client beside the runtime, no FastAPI, uvicorn or torch
beside the operator).

Each wheel goes into a fresh virtual environment with its dependencies from the package index (pip's
cache makes this quick after `scripts/setup.sh`).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import venv
import zipfile
from pathlib import Path

import httpx
import pytest
import yaml
from support.emulator import emulator_running
from support.manifests import manifest
from support.processes import REPO, free_port, running, stop

from predictorapi_operator.kube import Kube

SERVER_ONLY = ("fastapi", "uvicorn", "starlette", "prometheus_client", "git", "orjson", "boto3")
OPERATOR_ONLY = ("kopf", "kubernetes")
ML = ("torch", "transformers")

pytestmark = pytest.mark.slow


def _build(tmp: Path) -> dict[str, Path]:
    """Both wheels, built from copies of the folders (a build writes build/ and *.egg-info/ in place)."""
    out = tmp / "wheels"
    ignore = shutil.ignore_patterns("build", "*.egg-info", "__pycache__")
    sources = [shutil.copytree(REPO / name, tmp / "src" / name, ignore=ignore) for name in ("runtime", "operator")]
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(out), *map(str, sources)], check=True, capture_output=True)
    wheels = {path.name.split("-")[0]: path for path in out.glob("*.whl")}
    assert set(wheels) == {"predictorapi", "predictorapi_operator"}, wheels
    return wheels


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return _build(tmp_path_factory.mktemp("dist"))


def _requires(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        metadata = archive.read(name).decode()
    return [line.split(":", 1)[1].strip() for line in metadata.splitlines() if line.startswith("Requires-Dist:")]


def _name(requirement: str) -> str:
    return requirement.split(";")[0].split("[")[0].split("=")[0].split(">")[0].split("<")[0].strip().lower()


def test_runtime_wheel_declares_no_operator_dependency(wheels: dict[str, Path]) -> None:
    requires = _requires(wheels["predictorapi"])
    unconditional = {_name(r) for r in requires if ";" not in r}
    server = {_name(r) for r in requires if 'extra == "server"' in r}
    assert {"pydantic", "pyyaml", "jsonschema"} <= unconditional
    assert not unconditional & {"kopf", "kubernetes", "fastapi", "uvicorn", "torch", "predictorapi-operator"}
    assert {"fastapi", "uvicorn", "prometheus-client", "gitpython"} <= server
    # spec.model downloads (`fetch-model` in the runtime image, `predictorapi serve`)
    assert {"boto3", "google-cloud-storage", "huggingface-hub"} <= {name.replace("_", "-") for name in server}
    assert not {_name(r) for r in requires} & {"kopf", "kubernetes", "predictorapi-operator"}


def test_operator_wheel_declares_no_server_dependency(wheels: dict[str, Path]) -> None:
    requires = _requires(wheels["predictorapi_operator"])
    names = {_name(r) for r in requires}
    assert {"predictorapi", "kopf", "kubernetes"} <= names
    assert "predictorapi==0.1.0" in requires  # the bare spec package: no [server] extra
    assert not names & {"fastapi", "uvicorn", "starlette", "torch", "transformers", "gitpython", "orjson"}


def _venv(where: Path, *requirements: str) -> Path:
    venv.create(where, with_pip=True)
    python = where / "bin" / "python"
    subprocess.run([python, "-m", "pip", "install", "-q", "--disable-pip-version-check", *requirements],
                   check=True, capture_output=True, text=True)
    return python


def _importable(python: Path, modules: tuple[str, ...]) -> dict[str, bool]:
    code = ("import importlib.util, json, sys; "
            "print(json.dumps({m: importlib.util.find_spec(m) is not None for m in sys.argv[1:]}))")
    result = subprocess.run([python, "-c", code, *modules], check=True, capture_output=True, text=True)
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def runtime_python(wheels: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    wheel = wheels["predictorapi"]
    return _venv(tmp_path_factory.mktemp("runtime-venv") / "venv", f"predictorapi[server] @ {wheel.as_uri()}")


@pytest.fixture(scope="module")
def operator_python(wheels: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _venv(tmp_path_factory.mktemp("operator-venv") / "venv", str(wheels["predictorapi"]),
                 str(wheels["predictorapi_operator"]))


def test_runtime_installs_and_serves_without_the_operator(runtime_python: Path, tmp_path: Path) -> None:
    importable = _importable(runtime_python, (*OPERATOR_ONLY, "predictorapi_operator", "fastapi"))
    assert importable == {"kopf": False, "kubernetes": False, "predictorapi_operator": False, "fastapi": True}
    cli = runtime_python.parent / "predictorapi"
    validate = subprocess.run([cli, "validate", REPO / "examples"], capture_output=True, text=True)
    assert validate.returncode == 0, validate.stdout + validate.stderr
    render = subprocess.run([cli, "render", REPO / "examples/summarizer"], capture_output=True, text=True)
    assert render.returncode == 2 and "invalid choice: 'render'" in render.stderr  # the operator's command

    (tmp_path / "predictor.py").write_text(
        "class PythonPredictor:\n    def predict(self, payload):\n        return {'echo': payload}\n")
    document = manifest()
    document["metadata"] = {"name": "echo"}
    (tmp_path / "predictorapi.yaml").write_text(yaml.safe_dump(document))
    port = free_port()
    with running([str(cli), "serve", str(tmp_path), "--port", str(port)], port):
        answer = httpx.post(f"http://127.0.0.1:{port}/predict", json={"x": 1}, timeout=10)
    assert answer.status_code == 200 and answer.json() == {"echo": {"x": 1}}


def test_operator_installs_and_reconciles_without_the_runtime_server(operator_python: Path,
                                                                     tmp_path: Path) -> None:
    importable = _importable(operator_python, (*SERVER_ONLY, *ML, "kopf", "predictorapi.spec"))
    assert importable == {**dict.fromkeys((*SERVER_ONLY, *ML), False), "kopf": True, "predictorapi.spec": True}
    side_effects = subprocess.run(
        [operator_python, "-c", "import sys, predictorapi_operator; print(sorted(m for m in ('kopf', 'kubernetes',"
         " 'predictorapi_operator.handlers') if m in sys.modules))"], check=True, capture_output=True, text=True)
    assert side_effects.stdout.strip() == "[]"  # importing the package registers nothing, loads no client
    render = subprocess.run([operator_python.parent / "predictorapi", "render", REPO / "examples/summarizer"],
                            capture_output=True, text=True)
    assert render.returncode == 0, render.stderr
    assert [d["kind"] for d in yaml.safe_load_all(render.stdout)][:2] == ["Service", "Deployment"]

    with emulator_running(tmp_path) as emulator:
        kube = Kube(_client(emulator.url))
        kube.create(manifest())
        operator = subprocess.Popen(
            [operator_python, "-m", "kopf", "run", "-m", "predictorapi_operator.handlers", "--all-namespaces",
             "--standalone"],
            # kmock replays existing objects on a new watch, so kopf's first patch of an object listed at
            # start-up can meet a stale resourceVersion; the resync (2 s here, as in tests/operator) retries.
            env={"KUBECONFIG": str(emulator.kubeconfig), "PATH": "/usr/bin:/bin",
                 "PREDICTORAPI_OPERATOR_RESYNC_SECONDS": "2"},
            stdout=(tmp_path / "operator.log").open("w"), stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            while not emulator.objects("deployments") and time.monotonic() < deadline:
                assert operator.poll() is None, (tmp_path / "operator.log").read_text()
                time.sleep(0.2)
        finally:
            stop(operator)
        log = (tmp_path / "operator.log").read_text()
        assert [d["metadata"]["name"] for d in emulator.objects("deployments")] == ["demo"], log


def _client(url: str):
    from kubernetes import client

    configuration = client.Configuration()
    configuration.host = url
    return client.ApiClient(configuration)
