"""The soak and overload harness: a real runtime process (`python -m predictorapi`) driven by a load
generator. Used by tests/reliability (scaled down) and by bench/soak.py and bench/rolling.py (full runs).

Every non-503 error (other status, connection error, timeout) is counted.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
# A client must drop idle connections before the server does (uvicorn: 5 s), or a request written just as
# the server closes an idle connection fails with a read error (httpx's default expiry is also 5 s).
KEEPALIVE_S = 2.0

SLEEPY_PREDICTOR = '''\
"""A predictor with realistic latency: sleeps a random time between min_ms and max_ms."""

import random
import time


class PythonPredictor:
    def __init__(self, config):
        self.low = config.get("min_ms", 5) / 1000
        self.high = config.get("max_ms", 20) / 1000

    def predict(self, payload):
        time.sleep(random.uniform(self.low, self.high))
        return {"ok": True, "echo": payload.get("i") if isinstance(payload, dict) else None}
'''


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rss_bytes(pid: int) -> int:
    """Resident set size of process `pid` (from /proc, else psutil)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    import psutil  # not on Linux: fall back to psutil

    return psutil.Process(pid).memory_info().rss


def percentile(values: list[float], pct: float) -> float:
    """The `pct` percentile (nearest rank) of `values`; 0 when empty."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


class Runtime:
    """One runtime replica: `python -m predictorapi` configured by PREDICTORAPI_* variables.

    Output goes to a log file (a pipe nobody reads would fill up and block the server).
    """

    def __init__(self, predictor_path: Path, log_path: Path, port: int | None = None, **settings: Any) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        env = {key: value for key, value in env.items() if not key.startswith("PREDICTORAPI_")}
        env.update({"PREDICTORAPI_PREDICTOR_PATH": str(predictor_path), "PREDICTORAPI_HOST": "127.0.0.1",
                    "PREDICTORAPI_PORT": str(self.port)})
        for key, value in settings.items():
            env[f"PREDICTORAPI_{key.upper()}"] = json.dumps(value) if isinstance(value, dict) else str(value)
        src = str(REPO / "runtime")
        env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
        self._log = open(log_path, "ab")  # noqa: SIM115 - closed in wait()/stop()
        self.proc = subprocess.Popen([sys.executable, "-m", "predictorapi"], cwd=REPO, env=env,
                                     stdout=self._log, stderr=subprocess.STDOUT)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def rss(self) -> int:
        return rss_bytes(self.proc.pid)

    def log(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Poll /readyz until 200; raise if the process exits first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"runtime exited with {self.proc.returncode} before ready:\n{self.log()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise TimeoutError(f"{self.url}/readyz not ready after {timeout}s")

    def terminate(self) -> None:
        """SIGTERM: the runtime drains (readyz 503, in-flight requests finish) and exits."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)

    def wait(self, timeout: float = 30.0) -> int:
        try:
            return self.proc.wait(timeout)
        finally:
            if self.proc.poll() is not None:
                self._log.close()

    def stop(self) -> int | None:
        """Terminate and wait; kill if it does not exit in time. Returns the exit code."""
        self.terminate()
        try:
            return self.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            self._log.close()
            return None

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


@dataclass
class Stats:
    """What a load run saw: statuses, client-side errors, latencies by outcome."""

    statuses: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)
    latencies: dict[str, list[float]] = field(default_factory=dict)
    retry_after: Counter = field(default_factory=Counter)
    elapsed: float = 0.0

    def record(self, outcome: str, seconds: float) -> None:
        self.latencies.setdefault(outcome, []).append(seconds)

    @property
    def sent(self) -> int:
        return sum(self.statuses.values()) + sum(self.errors.values())

    @property
    def bad(self) -> int:
        """Everything but 200 and back-pressure 503."""
        return self.sent - self.statuses[200] - self.statuses[503]

    def summary(self) -> dict[str, Any]:
        lat = {name: {"n": len(values), "p50_ms": round(percentile(values, 50) * 1000, 2),
                      "p99_ms": round(percentile(values, 99) * 1000, 2),
                      "max_ms": round(max(values) * 1000, 2)}
               for name, values in sorted(self.latencies.items()) if values}
        return {"sent": self.sent, "statuses": dict(sorted(self.statuses.items())), "errors": dict(self.errors),
                "non_503_errors": self.bad, "elapsed_s": round(self.elapsed, 2),
                "rps": round(self.sent / self.elapsed, 1) if self.elapsed else 0.0, "latency": lat}


async def hammer(url: str, total: int, concurrency: int, timeout: float = 30.0,
                 stats: Stats | None = None) -> Stats:
    """POST `total` small JSON requests to `url` from `concurrency` workers."""
    stats = stats or Stats()
    remaining = iter(range(total))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency,
                          keepalive_expiry=KEEPALIVE_S)

    async def worker(client: httpx.AsyncClient) -> None:
        for i in remaining:
            started = time.perf_counter()
            try:
                response = await client.post(url, json={"i": i})
            except httpx.HTTPError as exc:
                stats.errors[type(exc).__name__] += 1
                continue
            seconds = time.perf_counter() - started
            stats.statuses[response.status_code] += 1
            stats.record(str(response.status_code), seconds)
            if response.status_code == 503:
                stats.retry_after[response.headers.get("retry-after")] += 1

    started = time.perf_counter()
    async with httpx.AsyncClient(limits=limits, timeout=timeout) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
    stats.elapsed = time.perf_counter() - started
    return stats


def write_predictor(directory: Path, source: str = SLEEPY_PREDICTOR, name: str = "predictor.py") -> Path:
    path = Path(directory) / name
    path.write_text(source)
    return path


def metric_value(url: str, name: str) -> float | None:
    """A sample's value from the runtime's /metrics (first match of `name{...}` or `name`)."""
    for line in httpx.get(f"{url}/metrics", timeout=5).text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    return None


def access_log_durations(log: str) -> dict[str, list[float]]:
    """Server-side durations (ms) by status from the runtime's access log lines (`POST / 503 0.42ms`)."""
    found: dict[str, list[float]] = {}
    for match in re.finditer(r"predictorapi.access \S* POST /\S* (\d{3}) ([0-9.]+)ms", log):
        found.setdefault(match.group(1), []).append(float(match.group(2)))
    return found


def soak(total: int = 20_000, concurrency: int = 64, max_concurrency: int = 16, max_queue_length: int = 64,
         min_ms: int = 5, max_ms: int = 20, warmup: int = 500, workdir: Path | None = None) -> dict[str, Any]:
    """Run the soak; returns its figures (statuses, errors, latency, RSS)."""
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(workdir or tmp)
        predictor = write_predictor(directory)
        with Runtime(predictor, directory / "soak-runtime.log", max_concurrency=max_concurrency,
                     max_queue_length=max_queue_length, predictor_config={"min_ms": min_ms, "max_ms": max_ms},
                     api_name="soak") as runtime:
            runtime.wait_ready()
            rss_ready = runtime.rss()
            asyncio.run(hammer(runtime.url, warmup, concurrency))
            rss_start = runtime.rss()
            samples = []

            async def run() -> Stats:
                task = asyncio.create_task(hammer(runtime.url, total, concurrency))
                while not task.done():
                    samples.append(runtime.rss())
                    await asyncio.sleep(0.5)
                return await task

            stats = asyncio.run(run())
            rss_end = runtime.rss()
            in_flight = metric_value(runtime.url, "predictorapi_in_flight_requests")
            alive = httpx.get(f"{runtime.url}/healthz").status_code == 200
            exit_code = runtime.stop()
    mib = 1024 * 1024
    return {**stats.summary(), "requests": total, "concurrency": concurrency,
            "server": {"max_concurrency": max_concurrency, "max_queue_length": max_queue_length,
                       "sleep_ms": [min_ms, max_ms]},
            "rss_mib": {"ready": round(rss_ready / mib, 1), "start": round(rss_start / mib, 1),
                        "peak": round(max([*samples, rss_end]) / mib, 1), "end": round(rss_end / mib, 1),
                        "growth": round((rss_end - rss_start) / mib, 1)},
            "in_flight_after": in_flight, "healthz_after": alive, "exit_code": exit_code}


def overload(factor: int = 4, max_concurrency: int = 4, max_queue_length: int = 4, sleep_ms: int = 100,
             duration: float = 5.0, workdir: Path | None = None) -> dict[str, Any]:
    """Baseline at `max_concurrency` clients, then `factor` x (concurrency + queue) clients for `duration`."""
    clients = factor * (max_concurrency + max_queue_length)

    async def for_a_while(url: str, workers: int, seconds: float) -> Stats:
        stats = Stats()
        stop_at = time.monotonic() + seconds

        async def worker(client: httpx.AsyncClient) -> None:
            while time.monotonic() < stop_at:
                started = time.perf_counter()
                try:
                    response = await client.post(url, json={"i": 0})
                except httpx.HTTPError as exc:
                    stats.errors[type(exc).__name__] += 1
                    continue
                stats.statuses[response.status_code] += 1
                stats.record(str(response.status_code), time.perf_counter() - started)
                if response.status_code == 503:
                    stats.retry_after[response.headers.get("retry-after")] += 1
                    # a well-behaved client backs off; a short pause keeps the offered load at `workers`
                    await asyncio.sleep(0.01)

        started = time.perf_counter()
        limits = httpx.Limits(max_connections=workers, max_keepalive_connections=workers,
                              keepalive_expiry=KEEPALIVE_S)
        async with httpx.AsyncClient(limits=limits, timeout=30) as client:
            await asyncio.gather(*(worker(client) for _ in range(workers)))
        stats.elapsed = time.perf_counter() - started
        return stats

    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(workdir or tmp)
        predictor = write_predictor(directory)
        with Runtime(predictor, directory / "overload-runtime.log", max_concurrency=max_concurrency,
                     max_queue_length=max_queue_length, api_name="overload",
                     predictor_config={"min_ms": sleep_ms, "max_ms": sleep_ms}) as runtime:
            runtime.wait_ready()
            baseline = asyncio.run(for_a_while(runtime.url, max_concurrency, duration / 2))
            loaded = asyncio.run(for_a_while(runtime.url, clients, duration))
            in_flight = metric_value(runtime.url, "predictorapi_in_flight_requests")
            runtime.stop()
            server_side = access_log_durations(runtime.log())
    return {"server_side_ms": {code: {"n": len(values), "p50": round(percentile(values, 50), 2),
                                      "p99": round(percentile(values, 99), 2)}
                               for code, values in sorted(server_side.items())},
            "server": {"max_concurrency": max_concurrency, "max_queue_length": max_queue_length,
                       "sleep_ms": sleep_ms},
            "clients": clients, "baseline": baseline.summary(), "overload": loaded.summary(),
            "retry_after": dict(loaded.retry_after), "in_flight_after": in_flight}
