"""`predictorapi serve` with `autoscaling.minReplicas: 0`: listening with no predictor loaded, the first
request loads it and is answered, the runtime stops again after `idleSeconds`."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import textwrap
import threading
from pathlib import Path

import httpx
import pytest
import uvicorn
import yaml
from activator.activator_support import HANG_GUARD, Clients, wait_for
from support.processes import CLI, free_port, stop

from predictorapi.activator.local import LocalRuntime, local_scale_to_zero, serve_local
from predictorapi.activator.proxy import ActivatorApp

# Each __init__ appends a line to config["inits"]: how many times the predictor was loaded.
COUNTING_PREDICTOR = """
    class PythonPredictor:
        def __init__(self, config):
            with open(config["inits"], "a") as inits:
                inits.write("init\\n")

        def predict(self, payload):
            return {"ok": True}
"""


def inits(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


def refuses(url: str) -> bool:
    try:
        httpx.get(url + "/readyz", timeout=5)
    except httpx.TransportError:
        return True
    return False


class LocalThread:
    """`serve_local` in a background thread's loop, as `predictorapi serve` runs it."""

    def __init__(self, settings: dict, idle_seconds: float, cold_start_timeout: float = 120) -> None:
        self.cold_start_timeout = cold_start_timeout
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.settings = settings
        self.idle_seconds = idle_seconds
        self.local: LocalRuntime | None = None
        self.server: uvicorn.Server | None = None
        self.thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    async def _main(self) -> None:
        self.local = local_scale_to_zero(self.settings, "sentiment", self.idle_seconds,
                                         cold_start_timeout=self.cold_start_timeout)
        self.server = uvicorn.Server(uvicorn.Config(ActivatorApp(self.local.activator), host="127.0.0.1",
                                                    port=self.port, log_config=None, access_log=False))
        await serve_local(self.local, self.server)

    def __enter__(self) -> LocalThread:
        self.thread.start()
        wait_for(lambda: self.server is not None and self.server.started, "the local activator to listen", 60)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=HANG_GUARD)
        assert not self.thread.is_alive()


def test_local_scale_to_zero_starts_on_demand_and_stops_when_idle(tmp_path: Path) -> None:
    predictor = tmp_path / "predictor.py"
    predictor.write_text(textwrap.dedent(COUNTING_PREDICTOR))
    count = tmp_path / "inits"
    settings = {"predictor_path": str(predictor), "api_name": "sentiment", "predictor_config": {"inits": str(count)}}
    clients = Clients()
    with LocalThread(settings, idle_seconds=1.0) as served:
        assert httpx.get(served.url + "/readyz", timeout=30).status_code == 200
        assert inits(count) == 0 and not served.local.running

        assert httpx.post(served.url + "/", json={}, timeout=HANG_GUARD).json() == {"ok": True}
        assert inits(count) == 1
        runtime_url = served.local.url
        wait_for(lambda: not served.local.running, "the runtime stopped after idleSeconds")
        assert refuses(runtime_url)
        assert httpx.get(served.url + "/readyz", timeout=30).status_code == 200  # ready at zero

        # A burst at zero: one start, every request answered.
        futures = [clients.post(served.url + "/") for _ in range(20)]
        assert [f.result(timeout=HANG_GUARD).status_code for f in futures] == [200] * 20
        assert inits(count) == 2 and served.local.starts == 2
        wait_for(lambda: not served.local.running, "stopped again")
    assert refuses(runtime_url)
    clients.close()


FAILING_PREDICTOR = """
    class PythonPredictor:
        def __init__(self, config):
            raise RuntimeError("no model here")

        def predict(self, payload):
            return "unreachable"
"""


def test_a_runtime_that_exits_while_starting_answers_held_requests_at_once(tmp_path: Path) -> None:
    predictor = tmp_path / "predictor.py"
    predictor.write_text(textwrap.dedent(FAILING_PREDICTOR))
    clients = Clients()
    # A cold-start bound far beyond the clients' hang guard: the 503s come from the exit, not the bound.
    with LocalThread({"predictor_path": str(predictor), "api_name": "sentiment"}, idle_seconds=1.0,
                     cold_start_timeout=3600) as served:
        futures = [clients.post(served.url + "/") for _ in range(5)]
        for future in futures:
            response = future.result(timeout=HANG_GUARD)
            assert response.status_code == 503 and response.json()["reason"] == "runtime_exited"
            assert "exited with code" in response.json()["error"] and response.headers["retry-after"]
        assert httpx.get(served.url + "/readyz", timeout=30).status_code == 200
    clients.close()


def test_serve_cli_with_min_replicas_zero(tmp_path: Path) -> None:
    from predictorapi.manifest import ManifestError, load_manifest

    (tmp_path / "predictor.py").write_text(textwrap.dedent(COUNTING_PREDICTOR))
    count = tmp_path / "inits"
    manifest = tmp_path / "predictorapi.yaml"
    manifest.write_text(yaml.safe_dump({
        "apiVersion": "serving.predictorapi.dev/v1alpha1", "kind": "PredictorAPI",
        "metadata": {"name": "sentiment"},
        "spec": {"predictor": {"image": "x", "path": "predictor.py", "config": {"inits": str(count)}},
                 "autoscaling": {"minReplicas": 0, "maxReplicas": 1, "idleSeconds": 30}},
    }))
    try:
        load_manifest(manifest)
    except ManifestError as exc:  # the spec side of issue 26 is not in this tree yet
        pytest.skip(f"the spec refuses minReplicas: 0 here: {exc}")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([*CLI, "serve", str(tmp_path), "--port", str(port)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    output = Output(proc)
    try:
        wait_for(lambda: proc.poll() is not None or not refuses(url), "serve to listen", 120)
        assert proc.poll() is None, str(output)
        assert httpx.get(url + "/readyz", timeout=30).status_code == 200
        assert inits(count) == 0  # listening, predictor not loaded
        assert httpx.post(url + "/", json={}, timeout=HANG_GUARD).json() == {"ok": True}
        assert inits(count) == 1
        # idleSeconds (30, the spec's minimum) without a request: the runtime stops; the next request starts it.
        wait_for(lambda: "runtime stopped" in str(output), "the runtime stopped after idleSeconds")
        assert httpx.post(url + "/", json={}, timeout=HANG_GUARD).json() == {"ok": True}
        assert inits(count) == 2
    finally:
        stop(proc)


def children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (Linux `/proc`)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:  # it ended while we looked
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    """Whether process `pid` still runs (a zombie does not)."""
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_sigterm_to_serve_at_zero_stops_the_runtime_it_started(tmp_path: Path) -> None:
    """uvicorn raises the SIGTERM it caught again once it has served: the runtime must be stopped before that (at
    lifespan shutdown), not after, or it outlives `predictorapi serve` as an orphan."""
    (tmp_path / "predictor.py").write_text(textwrap.dedent(COUNTING_PREDICTOR))
    (tmp_path / "predictorapi.yaml").write_text(yaml.safe_dump({
        "apiVersion": "serving.predictorapi.dev/v1alpha1", "kind": "PredictorAPI", "metadata": {"name": "parked"},
        "spec": {"predictor": {"image": "x", "path": "predictor.py", "config": {"inits": str(tmp_path / "inits")}},
                 "autoscaling": {"minReplicas": 0, "maxReplicas": 1, "idleSeconds": 300}},
    }))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([*CLI, "serve", str(tmp_path), "--port", str(port)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    output = Output(proc)
    runtimes: list[int] = []
    try:
        wait_for(lambda: proc.poll() is not None or not refuses(url), "serve to listen", 120)
        assert httpx.post(url + "/", json={}, timeout=HANG_GUARD).json() == {"ok": True}  # a cold start
        runtimes = children(proc.pid)
        assert len(runtimes) == 1, (runtimes, str(output))
        proc.terminate()
        assert proc.wait(timeout=HANG_GUARD) is not None
        wait_for(lambda: not alive(runtimes[0]), "the runtime to end with serve", 30)
        assert "runtime stopped" in str(output)
    finally:
        stop(proc)
        for pid in runtimes:  # never leave one behind, even when the test fails
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


class Output:
    """A process's output, read line by line by a helper thread (a pipe nobody reads would block it)."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.lines: list[str] = []
        self.thread = threading.Thread(target=self._read, args=(proc,), daemon=True)
        self.thread.start()

    def _read(self, proc: subprocess.Popen) -> None:
        for line in proc.stdout:
            self.lines.append(line)

    def __str__(self) -> str:
        return "".join(self.lines)
