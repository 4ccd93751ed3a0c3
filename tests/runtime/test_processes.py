"""`processes > 1` (`spec.processesPerReplica`): a supervisor runs that many worker processes on one port.

Real processes (`python -m predictorapi`) on loopback. Which worker a connection reaches is the kernel's
choice (SO_REUSEPORT), so the tests open kept-alive connections until they hold some to each worker (a
connection stays with its worker) and act through those; requests are held in `predict` (or a worker's event
loop blocked, or a worker's start held) on file flags.
"""

from __future__ import annotations

import json
import os
import signal
import textwrap
import time
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from support.runtimes import runtime_in
from support.soak import Runtime

API = "workers"
HANG_GUARD = 120.0

# Answers with its pid. Payload `hold`: waits for config["release"]; `exit`: the process exits with 3.
# config["claim"]: the first worker to create this file is the odd one: it fails to load (config["fail_one"])
# or waits in __init__ for config["release_init"] (config["block_one"]). config["hold_init"]: while that
# file exists, every worker that starts waits in __init__ for config["release_init"].
PREDICTOR = """
    import os
    import time


    def wait_for(path):
        while not os.path.exists(path):
            time.sleep(0.01)


    class PythonPredictor:
        def __init__(self, config):
            self.config = config
            if config.get("claim"):
                try:
                    os.close(os.open(config["claim"], os.O_CREAT | os.O_EXCL))
                except FileExistsError:
                    pass
                else:
                    if config.get("fail_one"):
                        raise RuntimeError("this worker fails to load")
                    wait_for(config["release_init"])
            if config.get("hold_init") and os.path.exists(config["hold_init"]):
                wait_for(config["release_init"])

        def predict(self, payload):
            if payload.get("hold"):
                wait_for(self.config["release"])
            if payload.get("exit"):
                os._exit(3)
            return {"pid": os.getpid()}
"""

# Answers with its pid; payload `block`: blocks the event loop (a sync wait in an async predict) until
# config["release"] exists, having written its pid to config["release"] + ".blocked".
LOOP_BLOCKER = """
    import os
    import time


    class PythonPredictor:
        def __init__(self, config):
            self.release = config["release"]

        async def predict(self, payload):
            if payload.get("block"):
                marker = f"{self.release}.blocked"
                with open(f"{marker}.tmp", "w") as file:
                    file.write(str(os.getpid()))
                os.replace(f"{marker}.tmp", marker)
                while not os.path.exists(self.release):
                    time.sleep(0.01)
            return {"pid": os.getpid()}
"""

# A sitecustomize that holds every worker process at interpreter start-up, before the worker module runs,
# until the file $HOLD_WORKERS exists; each writes $HOLD_WORKERS.<pid> first.
HOLD_WORKERS = """
import os
import time

if "PREDICTORAPI_WORKER_INDEX" in os.environ:
    open(f"{os.environ['HOLD_WORKERS']}.{os.getpid()}", "w").close()
    while not os.path.exists(os.environ["HOLD_WORKERS"]):
        time.sleep(0.01)
"""


def metric(url: str, name: str, **labels: str) -> float:
    """One sample's value from one scrape of `/metrics` (a new connection: any worker)."""
    for family in text_string_to_metric_families(httpx.get(f"{url}/metrics", timeout=30).text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    raise KeyError(f"{name}{labels} not exported")


def eventually(check, what: str, runtime: Runtime | None = None) -> None:
    """Wait until `check()` is true (a hang guard, not a timing assertion); on failure, with `runtime`'s log."""
    deadline = time.monotonic() + HANG_GUARD
    while not check():
        if time.monotonic() >= deadline:
            log = f"; the runtime's log:\n{runtime.log()}" if runtime is not None else ""
            raise AssertionError(f"not {what} after {HANG_GUARD}s{log}")
        time.sleep(0.05)


def connections_to_each_worker(url: str, stack: ExitStack, workers: int = 2,
                               each: int = 2) -> dict[int, list[httpx.Client]]:
    """`each` kept-alive connections to every one of `workers` workers, by worker pid."""
    found: dict[int, list[httpx.Client]] = defaultdict(list)
    for _ in range(400):
        # Never expired by the client (httpx drops a connection idle for 5 s and opens another, which could reach
        # another worker): each stays with the worker it reached.
        client = stack.enter_context(httpx.Client(base_url=url, timeout=HANG_GUARD,
                                                  limits=httpx.Limits(keepalive_expiry=None)))
        response = client.post("/", json={})
        if response.status_code != 200:
            continue
        pid = response.json()["pid"]
        if len(found[pid]) < each:
            found[pid].append(client)
        if len(found) == workers and all(len(c) == each for c in found.values()):
            return dict(found)
    raise AssertionError(f"connections reached {len(found)} worker(s) only")


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    config = {"release": str(tmp_path / "release"), "hold_init": str(tmp_path / "hold-init"),
              "release_init": str(tmp_path / "release-init")}
    with runtime_in(tmp_path, PREDICTOR, api_name=API, processes=2, max_concurrency=8, max_queue_length=0,
                    predictor_config=config, drain_min_seconds=0, drain_quiet_seconds=0.2,
                    request_timeout_seconds=300) as runtime:
        yield runtime


def test_both_workers_serve_and_one_scrape_shows_the_replica_totals(runtime: Runtime) -> None:
    with ExitStack() as stack:
        workers = connections_to_each_worker(runtime.url, stack)
        assert runtime.pid not in workers
        sent = 0
        for clients in workers.values():
            for client in clients:
                for _ in range(3):
                    assert client.post("/", json={}).status_code == 200
                    sent += 1
    answered = metric(runtime.url, "predictorapi_requests_total", api=API, code="200")
    assert answered >= sent + 4  # every request on every worker, the probing ones included
    assert metric(runtime.url, "predictorapi_request_duration_seconds_count", api=API) == answered
    assert metric(runtime.url, "predictorapi_max_concurrency", api=API) == 8  # 4 + 4
    log = runtime.log()
    assert "predictorapi.access worker=0 [" in log and "predictorapi.access worker=1 [" in log


def test_in_flight_requests_are_summed_across_workers(runtime: Runtime, tmp_path: Path) -> None:
    with ExitStack() as stack, ThreadPoolExecutor(8) as pool:
        workers = connections_to_each_worker(runtime.url, stack)
        held = [pool.submit(client.post, "/", json={"hold": True}) for c in workers.values() for client in c]
        eventually(lambda: metric(runtime.url, "predictorapi_in_flight_requests", api=API) == 4, "4 in flight")
        assert metric(runtime.url, "predictorapi_busy_slots", api=API) == 4
        assert not any(future.done() for future in held)
        (tmp_path / "release").touch()
        assert [future.result().status_code for future in held] == [200] * 4
    eventually(lambda: metric(runtime.url, "predictorapi_in_flight_requests", api=API) == 0, "0 in flight")


def test_ready_only_once_every_worker_has_loaded(tmp_path: Path) -> None:
    config = {"claim": str(tmp_path / "claim"), "release_init": str(tmp_path / "release-init")}
    runtime = Runtime(_predictor(tmp_path), tmp_path / "runtime.log", api_name=API, processes=2,
                      predictor_config=config)
    with runtime, ExitStack() as stack:
        loaded: list[httpx.Client] = []

        def a_loaded_worker_answers() -> bool:
            client = stack.enter_context(httpx.Client(base_url=runtime.url, timeout=HANG_GUARD))
            try:
                if client.post("/", json={}).status_code == 200:
                    loaded.append(client)
            except httpx.TransportError:  # not listening yet
                pass
            return bool(loaded)

        eventually(a_loaded_worker_answers, "served by the worker that loaded")
        readyz = loaded[0].get("/readyz")  # the loaded worker speaks for the replica
        assert readyz.status_code == 503
        assert readyz.json()["status"] == "loading" and sorted(readyz.json()["workers"]) == ["loading", "ready"]
        (tmp_path / "release-init").touch()
        runtime.wait_ready(HANG_GUARD)
        # each worker sees the others' status as of their last tick (0.1 s)
        eventually(lambda: loaded[0].get("/readyz").status_code == 200, "ready on the first worker too")
        assert loaded[0].get("/readyz").json() == {"status": "ready", "workers": ["ready", "ready"]}


def test_sigterm_drains_every_worker_and_exits_0(runtime: Runtime, tmp_path: Path) -> None:
    with ExitStack() as stack, ThreadPoolExecutor(8) as pool:
        workers = connections_to_each_worker(runtime.url, stack)
        held = [pool.submit(client.post, "/", json={"hold": True}) for c in workers.values() for client in c]
        eventually(lambda: metric(runtime.url, "predictorapi_in_flight_requests", api=API) == 4, "4 in flight")
        runtime.terminate()
        for clients in workers.values():  # each worker drains
            eventually(lambda c=clients[0]: _status(c) == "draining", "draining")
        assert runtime.proc.poll() is None and not any(future.done() for future in held)
        (tmp_path / "release").touch()
        responses = [future.result() for future in held]
    assert [r.status_code for r in responses] == [200] * 4
    assert runtime.wait(HANG_GUARD) == 0
    log = runtime.log()
    assert "worker 0 (pid" in log and "worker 1 (pid" in log and "exited with 0" in log


def test_a_second_sigterm_stops_every_worker_at_once(runtime: Runtime) -> None:
    with ExitStack() as stack, ThreadPoolExecutor(8) as pool:
        workers = connections_to_each_worker(runtime.url, stack, each=1)
        held = [pool.submit(client.post, "/", json={"hold": True}) for c in workers.values() for client in c]
        eventually(lambda: metric(runtime.url, "predictorapi_in_flight_requests", api=API) == 2, "2 in flight")
        runtime.terminate()
        for clients in workers.values():
            eventually(lambda c=clients[0]: _status(c) == "draining", "draining")
        runtime.terminate()  # the requests are never released: only the forced stop ends them
        runtime.wait(HANG_GUARD)
        outcomes = [future.exception() or future.result() for future in held]
    # cut short: a 500 from the stopping worker, or the connection closed
    assert all(isinstance(o, httpx.TransportError) or o.status_code == 500 for o in outcomes), outcomes
    assert runtime.log().count("SIGTERM: forwarded to the workers") == 2


@pytest.mark.parametrize("crash", ["sigkill", "exit"])
def test_a_crashed_worker_is_restarted_and_the_replica_is_unready_meanwhile(
        runtime: Runtime, tmp_path: Path, crash: str) -> None:
    with ExitStack() as stack:
        workers = connections_to_each_worker(runtime.url, stack)
        before = metric(runtime.url, "predictorapi_requests_total", api=API, code="200")
        (tmp_path / "hold-init").touch()  # the replacement will wait in __init__
        victim, survivor = list(workers)
        if crash == "sigkill":
            os.kill(victim, signal.SIGKILL)
        else:
            with pytest.raises(httpx.TransportError):
                workers[victim][0].post("/", json={"exit": True})
        survivor_client = workers[survivor][0]
        eventually(lambda: survivor_client.get("/readyz").status_code == 503, "unready while restarting")
        assert survivor_client.get("/readyz").json()["status"] in ("starting", "loading")
        assert survivor_client.post("/", json={}).json() == {"pid": survivor}  # the survivor keeps serving
        assert runtime.proc.poll() is None
        (tmp_path / "release-init").touch()
        runtime.wait_ready(HANG_GUARD)
        after = connections_to_each_worker(runtime.url, stack, each=1)
    assert survivor in after and victim not in after
    assert metric(runtime.url, "predictorapi_requests_total", api=API, code="200") > before  # totals kept
    assert "exited with" in runtime.log() and "restarting it" in runtime.log()


def test_a_worker_that_fails_to_load_stops_the_replica(tmp_path: Path) -> None:
    config = {"claim": str(tmp_path / "claim"), "fail_one": True}
    termination = tmp_path / "termination-log"
    with Runtime(_predictor(tmp_path), tmp_path / "runtime.log", api_name=API, processes=2,
                 predictor_config=config, drain_min_seconds=0, drain_quiet_seconds=0.2,
                 termination_log=str(termination)) as runtime:
        code = runtime.wait(HANG_GUARD)
        log = runtime.log()
    assert code != 0, log
    assert "this worker fails to load" in log and "before its predictor loaded; stopping the replica" in log
    assert "restarting" not in log
    # the failing worker's error is the container's termination message (the operator's Degraded message)
    assert termination.read_text().startswith("PredictorLoadFailed: ") and "this worker fails to load" in \
        termination.read_text()


def test_json_log_lines_name_their_worker(tmp_path: Path) -> None:
    with runtime_in(tmp_path, PREDICTOR, api_name=API, processes=2, log_json=True) as runtime:
        with ExitStack() as stack:
            connections_to_each_worker(runtime.url, stack, each=1)
        runtime.stop()
        records = [json.loads(line) for line in runtime.log().splitlines() if line.startswith("{")]
    access = [r for r in records if r["logger"] == "predictorapi.access"]
    assert {r["worker"] for r in access} == {0, 1}
    assert all(r["message"].startswith("POST / 200") for r in access if r["path"] == "/")


def _predictor(directory: Path) -> Path:
    path = directory / "predictor.py"
    path.write_text(textwrap.dedent(PREDICTOR))
    return path


def _status(client: httpx.Client) -> str:
    return client.get("/readyz").json()["status"]


def test_a_blocked_worker_makes_the_replica_unready_on_every_worker(tmp_path: Path) -> None:
    release = tmp_path / "release"
    with runtime_in(tmp_path, LOOP_BLOCKER, api_name=API, processes=2, predictor_config={"release": str(release)},
                    heartbeat_timeout_seconds=3600) as runtime, ThreadPoolExecutor(1) as pool, ExitStack() as stack:
        stack.callback(release.touch)  # whatever happens, the worker is not left blocked
        workers = connections_to_each_worker(runtime.url, stack, each=1)
        victim, survivor = list(workers)
        blocked = pool.submit(workers[victim][0].post, "/", json={"block": True})
        probe = workers[survivor][0]
        eventually(lambda: probe.get("/readyz").status_code == 503, "unready on the worker that still answers")
        assert probe.get("/readyz").json() == {"status": "unresponsive",
                                               "workers": _by_index({victim: "unresponsive", survivor: "ready"})}
        assert probe.get("/healthz").json() == {"status": "alive"}  # the supervisor's to replace it, below
        release.touch()
        assert blocked.result().json() == {"pid": victim}
        eventually(lambda: probe.get("/readyz").status_code == 200, "ready again once it answers")


def test_a_worker_that_stops_reporting_is_killed_and_replaced(tmp_path: Path) -> None:
    release = tmp_path / "release"
    with runtime_in(tmp_path, LOOP_BLOCKER, api_name=API, processes=2, predictor_config={"release": str(release)},
                    heartbeat_timeout_seconds=5) as runtime, ThreadPoolExecutor(1) as pool, ExitStack() as stack:
        stack.callback(release.touch)  # only once the test is over: the worker is left blocked until killed
        workers = connections_to_each_worker(runtime.url, stack, each=1)
        victim = next(iter(workers))
        blocked = pool.submit(workers[victim][0].post, "/", json={"block": True})
        marker = tmp_path / "release.blocked"
        eventually(marker.exists, "the worker blocked", runtime)
        assert int(marker.read_text()) == victim
        eventually(lambda: not _alive(victim), "the blocked worker killed", runtime)
        assert isinstance(blocked.exception(HANG_GUARD), httpx.TransportError)
        runtime.wait_ready(HANG_GUARD)
        after = connections_to_each_worker(runtime.url, stack, each=1)
        assert victim not in after and runtime.proc.poll() is None
    log = runtime.log()
    assert "has not reported for" in log and "(its event loop is blocked); killing it" in log
    assert "restarting it in 1.0s" in log


def test_crashes_back_off_and_too_many_stop_the_replica_with_metrics_cleaned(tmp_path: Path) -> None:
    release = tmp_path / "release"
    termination = tmp_path / "termination-log"
    with runtime_in(tmp_path, PREDICTOR, api_name=API, processes=2, predictor_config={"release": str(release)},
                    worker_crash_limit=3, drain_min_seconds=0, drain_quiet_seconds=0.2, request_timeout_seconds=300,
                    termination_log=str(termination)) as runtime, ExitStack() as stack, ThreadPoolExecutor(1) as pool:
        worker = next(iter(connections_to_each_worker(runtime.url, stack, each=1)))
        folder = Path(_environ(worker)["PROMETHEUS_MULTIPROC_DIR"])
        for _ in range(2):  # two crashes: restarted, 1 s then 2 s later
            workers = connections_to_each_worker(runtime.url, stack, each=1)
            answered = metric(runtime.url, "predictorapi_requests_total", api=API, code="200")
            victim = min(workers)
            with pytest.raises(httpx.TransportError):
                workers[victim][0].post("/", json={"exit": True})
            eventually(lambda v=victim: not list(folder.glob(f"*_{v}.db")), "the dead worker's files removed")
            runtime.wait_ready(HANG_GUARD)
            assert metric(runtime.url, "predictorapi_requests_total", api=API, code="200") >= answered  # kept
        log = runtime.log()
        assert "restarting it in 1.0s" in log and "restarting it in 2.0s" in log
        workers = connections_to_each_worker(runtime.url, stack, each=1)
        # the live workers' files and the dead ones' sums, nothing else
        owners = {path.name.rpartition("_")[2].removesuffix(".db") for path in folder.glob("*.db")}
        assert owners == {str(pid) for pid in workers} | {"dead"}
        victim, survivor = sorted(workers)
        held = pool.submit(workers[survivor][0].post, "/", json={"hold": True})  # the survivor drains on it
        eventually(lambda: metric(runtime.url, "predictorapi_in_flight_requests", api=API) == 1, "1 in flight")
        with pytest.raises(httpx.TransportError):
            workers[victim][0].post("/", json={"exit": True})  # the third crash
        eventually(lambda: _healthz(runtime.url) == 503, "/healthz failing")  # only the survivor listens now
        assert httpx.get(f"{runtime.url}/healthz", timeout=HANG_GUARD).json() == {"status": "crash-looping"}
        release.touch()
        assert held.result().status_code == 200
        assert runtime.wait(HANG_GUARD) == 3  # the crashed worker's exit code
    assert "3 crashes within 600s; stopping the replica" in runtime.log()
    assert termination.read_text() == "WorkersCrashing: 3 worker crashes within 600s, the last exited with 3"
    assert not folder.exists()


def test_workers_do_not_outlive_a_supervisor_killed_before_they_were_tied_to_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(HOLD_WORKERS)
    hold = tmp_path / "hold"
    monkeypatch.setenv("HOLD_WORKERS", str(hold))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, (str(hook), os.environ.get("PYTHONPATH")))))
    workers: list[int] = []
    try:
        with Runtime(_predictor(tmp_path), tmp_path / "runtime.log", api_name=API, processes=2) as runtime:
            eventually(lambda: len(list(tmp_path.glob("hold.*"))) == 2, "both workers started")
            workers = [int(path.suffix[1:]) for path in tmp_path.glob("hold.*")]
            runtime.proc.kill()
            runtime.wait(HANG_GUARD)
            hold.touch()  # the workers go on, their supervisor gone
            eventually(lambda: not any(map(_alive, workers)), "the orphaned workers gone")
    finally:
        for pid in filter(_alive, workers):
            os.kill(pid, signal.SIGKILL)


def _healthz(url: str) -> int | None:
    """`/healthz`'s status on a new connection; None when the connection failed."""
    try:
        return httpx.get(f"{url}/healthz", timeout=HANG_GUARD).status_code
    except httpx.TransportError:
        return None


def _alive(pid: int) -> bool:
    """Whether process `pid` exists and is not a zombie (an orphan's reaper may be slow, or none)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _environ(pid: int) -> dict[str, str]:
    """Process `pid`'s environment."""
    variables = Path(f"/proc/{pid}/environ").read_bytes().decode().split("\0")
    return dict(variable.partition("=")[::2] for variable in variables if variable)


def _by_index(statuses: dict[int, str]) -> list[str]:
    """Worker statuses by index (as `/readyz` lists them), from statuses by worker pid."""
    index = {pid: int(_environ(pid)["PREDICTORAPI_WORKER_INDEX"]) for pid in statuses}
    return [status for _, status in sorted((index[pid], status) for pid, status in statuses.items())]
