#!/usr/bin/env python
"""Scale to zero (issue 26): the activator's cold-start overhead, its warm-path cost, and cycles without failures.

    .venv/bin/python bench/cold_start.py                  # 5 cold starts, 500 warm requests, 20 cycles
    .venv/bin/python bench/cold_start.py --runs 7 --cycles 5 --warm 2000

Three measurements, side by side in one run, on loopback with a trivial predictor (so the figures are the
platform's, not a model's):
- cold-start overhead: the first response of a request sent at zero through the local activator
  (`predictorapi serve` with `minReplicas: 0`: starts the runtime, holds the request until `/readyz`)
  minus the runtime's own spawn -> ready time (`python -m predictorapi` started directly, `/readyz` polled
  every 5 ms); medians of `--runs` each (goal: <= 0.3 s);
- warm path: sequential requests straight to a ready runtime vs through the activator in front of it
  (p50 / p99, goal: equal within noise; in a cluster the activator is out of the path once a pod is ready);
- cycles: `--cycles` times idle -> zero -> a burst of `--burst` concurrent requests; failed requests (goal 0).
The idle time here is the activator's `idle_seconds` set to 0.5 s (the spec's minimum is 30 s).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import uvicorn

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from support.processes import free_port  # noqa: E402
from support.soak import Runtime  # noqa: E402

from predictorapi.activator.core import Activator  # noqa: E402
from predictorapi.activator.local import local_scale_to_zero, serve_local  # noqa: E402
from predictorapi.activator.proxy import ActivatorApp  # noqa: E402
from predictorapi.activator.server import serve_activator  # noqa: E402

PREDICTOR = """
class PythonPredictor:
    def __init__(self, config):
        pass

    def predict(self, payload):
        return {"ok": True}
"""


class Served:
    """A coroutine factory served in a background thread's loop; `server` is its uvicorn server."""

    def __init__(self, build) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.build = build
        self.state = None
        self.server: uvicorn.Server | None = None
        self.thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    async def _main(self) -> None:
        self.state, app, run = self.build()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_config=None,
                                                    access_log=False, lifespan="on"))
        await run(self.server)

    def __enter__(self) -> Served:
        self.thread.start()
        while self.server is None or not self.server.started:
            time.sleep(0.01)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=120)


def local(settings: dict, idle: float) -> Served:
    def build():
        state = local_scale_to_zero(settings, "bench", idle, cold_start_timeout=120)
        return state, ActivatorApp(state.activator), lambda server: serve_local(state, server)
    return Served(build)


def fronting(url: str) -> Served:
    def build():
        state = Activator.for_urls("bench", [url])
        return state, ActivatorApp(state), lambda server: serve_activator(state, "127.0.0.1", 0, None, server)
    return Served(build)


def spawn_to_ready(predictor: Path, tmp: Path) -> float:
    # One client made beforehand: `httpx.get` builds a client (and its TLS context) per call, ~20 ms of CPU
    # that would compete with the starting runtime and coarsen the polling.
    with httpx.Client(timeout=5) as client:
        started = time.monotonic()
        with Runtime(predictor, tmp / "direct.log", api_name="bench") as runtime:
            while True:
                try:
                    if client.get(runtime.url + "/readyz").status_code == 200:
                        return time.monotonic() - started
                except httpx.TransportError:
                    pass
                time.sleep(0.005)


def wait_zero(served: Served) -> None:
    while served.state.running:
        time.sleep(0.02)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def warm(url: str, count: int) -> list[float]:
    times = []
    with httpx.Client(timeout=60) as client:
        for _ in range(10):
            client.post(url + "/", json={})
        for _ in range(count):
            started = time.perf_counter()
            client.post(url + "/", json={}).raise_for_status()
            times.append(time.perf_counter() - started)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--warm", type=int, default=500)
    parser.add_argument("--cycles", type=int, default=20)
    parser.add_argument("--burst", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        predictor = tmp / "predictor.py"
        predictor.write_text(PREDICTOR)
        settings = {"predictor_path": str(predictor), "api_name": "bench"}

        direct, cold = [], []
        with local(settings, idle=0.5) as served:
            for _ in range(args.runs):  # alternated, so drift (page cache, load) hits both
                direct.append(spawn_to_ready(predictor, tmp))
                wait_zero(served)
                with httpx.Client(timeout=120) as client:  # made before the clock starts (see spawn_to_ready)
                    started = time.monotonic()
                    client.post(served.url + "/", json={}).raise_for_status()
                    cold.append(time.monotonic() - started)

            failed = 0
            pool = ThreadPoolExecutor(max_workers=args.burst)
            for _ in range(args.cycles):
                wait_zero(served)
                futures = [pool.submit(httpx.post, served.url + "/", json={}, timeout=120)
                           for _ in range(args.burst)]
                for future in futures:
                    try:
                        failed += future.result().status_code != 200
                    except httpx.HTTPError:
                        failed += 1
            pool.shutdown()
            starts = served.state.starts

        with Runtime(predictor, tmp / "warm.log", api_name="bench") as runtime:
            runtime.wait_ready()
            with fronting(runtime.url) as proxy:
                while not proxy.state.ready_count:
                    time.sleep(0.01)
                straight, through, halves = [], [], []
                for _ in range(2):  # interleaved halves, so drift hits both sides
                    halves.append(warm(runtime.url, args.warm // 2))
                    straight += halves[-1]
                    through += warm(proxy.url, args.warm // 2)

    spawn, first = statistics.median(direct), statistics.median(cold)
    print(f"cold start (median of {args.runs}): runtime spawn->ready {spawn:.3f} s, first response at zero "
          f"{first:.3f} s, activator overhead {first - spawn:+.3f} s (goal <= 0.3 s)")
    print(f"  each run: spawn->ready {', '.join(f'{v:.3f}' for v in direct)} s; "
          f"first response {', '.join(f'{v:.3f}' for v in cold)} s")
    print(f"warm path ({len(straight)} sequential requests each): direct p50 {percentile(straight, .5) * 1e3:.2f} ms "
          f"p99 {percentile(straight, .99) * 1e3:.2f} ms | through the activator p50 "
          f"{percentile(through, .5) * 1e3:.2f} ms p99 {percentile(through, .99) * 1e3:.2f} ms "
          f"(added p50 {(percentile(through, .5) - percentile(straight, .5)) * 1e3:+.2f} ms)")
    print(f"  noise: direct p50 of the two halves {percentile(halves[0], .5) * 1e3:.2f} / "
          f"{percentile(halves[1], .5) * 1e3:.2f} ms")
    print(f"cycles: {args.cycles} x (idle -> zero -> burst of {args.burst}): {failed} failed requests, "
          f"{starts} runtime starts in all")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
