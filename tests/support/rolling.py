"""The rolling-update harness: a rolling update under load, counting every request's outcome. Used
by tests/reliability (scaled down) and by bench/rolling.py (the full run, whose docstring has the usage).

Two runtime replicas run as real processes (`python -m predictorapi`). The client balances round-robin
over the replicas whose `/readyz` answered 200 at the last poll (every 50 ms), as Kubernetes endpoints
do. Mid-load each original replica in turn gets SIGTERM (it drains: `/readyz` 503, accepted requests
finish, exit 0) and a replacement is started, like a Deployment's rolling update.

Outcomes per request: `ok` (200); `refused` (connection refused: never accepted, so the client retried
it on another replica, as a proxy retries a failed connect); anything else (5xx, reset, disconnect,
timeout) is a `lost` request.
"""

from __future__ import annotations

import asyncio
import itertools
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from support.soak import KEEPALIVE_S, Runtime, percentile, write_predictor


@dataclass
class Endpoints:
    """The replicas a client may send to: those whose /readyz said 200 at the last poll."""

    replicas: list[Runtime] = field(default_factory=list)
    ready: list[Runtime] = field(default_factory=list)
    poll_interval: float = 0.05
    _turn: itertools.count = field(default_factory=itertools.count)

    def pick(self) -> Runtime | None:
        ready = self.ready
        return ready[next(self._turn) % len(ready)] if ready else None

    async def watch(self, client: httpx.AsyncClient, stop: asyncio.Event) -> None:
        while not stop.is_set():
            ready = []
            for replica in list(self.replicas):
                try:
                    response = await client.get(f"{replica.url}/readyz", timeout=1)
                    if response.status_code == 200:
                        ready.append(replica)
                except httpx.TransportError:
                    pass
            self.ready = ready
            await asyncio.sleep(self.poll_interval)


@dataclass
class Outcomes:
    counts: Counter = field(default_factory=Counter)
    lost: Counter = field(default_factory=Counter)
    by_replica: Counter = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    events: list[str] = field(default_factory=list)


async def drive(endpoints: Endpoints, total: int, concurrency: int, outcomes: Outcomes,
                hold: tuple[int, asyncio.Event] | None = None) -> None:
    """Send `total` requests; a refused connection is retried on the next ready replica. With `hold` (N, event),
    the last N requests wait for the event (the rollout's end), so the last new replica serves some of them
    however slowly the machine starts it."""
    remaining = iter(range(total))
    limits = httpx.Limits(max_connections=concurrency * 4, max_keepalive_connections=concurrency * 4,
                         keepalive_expiry=KEEPALIVE_S)

    async def one(client: httpx.AsyncClient, i: int) -> None:
        started = time.perf_counter()
        for _ in range(50):
            replica = endpoints.pick()
            if replica is None:
                outcomes.counts["no_endpoint_wait"] += 1
                await asyncio.sleep(0.02)
                continue
            try:
                response = await client.post(replica.url, json={"i": i})
            except httpx.ConnectError:
                outcomes.counts["refused"] += 1  # not accepted: safe to send elsewhere
                await asyncio.sleep(0.005)
                continue
            except (httpx.ReadError, httpx.RemoteProtocolError) as exc:
                if replica.proc.poll() is not None:
                    # Written on a keep-alive connection the drained replica closed as it exited, before
                    # the readiness poll noticed: never read by the server, but the client cannot know.
                    outcomes.counts["closed_unread"] += 1
                else:
                    outcomes.lost[type(exc).__name__] += 1
                break
            except httpx.HTTPError as exc:
                outcomes.lost[type(exc).__name__] += 1
                break
            if response.status_code == 200:
                outcomes.counts["ok"] += 1
                outcomes.by_replica[replica.port] += 1
                outcomes.latencies.append(time.perf_counter() - started)
            else:
                outcomes.lost[f"HTTP {response.status_code}"] += 1
            break
        else:
            outcomes.lost["gave_up"] += 1
        outcomes.counts["done"] += 1

    async def worker(client: httpx.AsyncClient) -> None:
        for i in remaining:
            if hold is not None and i >= total - hold[0]:
                await hold[1].wait()
            await one(client, i)

    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))


def rolling(total: int = 6000, concurrency: int = 32, max_concurrency: int = 16, max_queue_length: int = 64,
            min_ms: int = 5, max_ms: int = 20, workdir: Path | None = None) -> dict[str, Any]:
    """Run the rolling update; returns its counts."""
    outcomes = Outcomes()
    exit_codes: dict[str, int | None] = {}
    drain_seconds: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(workdir or tmp)
        predictor = write_predictor(directory)
        settings = {"max_concurrency": max_concurrency, "max_queue_length": max_queue_length,
                    "predictor_config": {"min_ms": min_ms, "max_ms": max_ms}, "drain_grace_seconds": 20,
                    "api_name": "rolling"}

        def replica(name: str) -> Runtime:
            return Runtime(predictor, directory / f"{name}.log", **settings)

        replicas = {"a": replica("a"), "b": replica("b")}
        try:
            for runtime in replicas.values():
                runtime.wait_ready()

            async def scenario() -> None:
                endpoints = Endpoints(list(replicas.values()))
                stop = asyncio.Event()
                async with httpx.AsyncClient() as probe:
                    watcher = asyncio.create_task(endpoints.watch(probe, stop))
                    while len(endpoints.ready) < 2:
                        await asyncio.sleep(0.01)
                    rolled_out, held = asyncio.Event(), total // 6
                    load = asyncio.create_task(drive(endpoints, total, concurrency, outcomes,
                                                     hold=(held, rolled_out)))
                    for old, new in (("a", "c"), ("b", "d")):
                        target = min(outcomes.counts["done"] + total // 3, total - held)
                        while outcomes.counts["done"] < target and not load.done():
                            await asyncio.sleep(0.01)
                        replicas[new] = replica(new)
                        endpoints.replicas.append(replicas[new])
                        started = time.monotonic()
                        replicas[old].terminate()  # maxUnavailable=1: stop the old one as the new one starts
                        outcomes.events.append(f"SIGTERM {old} after {outcomes.counts['ok']} ok; starting {new}")
                        code = await asyncio.to_thread(replicas[old].wait, 60)
                        drain_seconds[old] = round(time.monotonic() - started, 2)
                        exit_codes[old] = code
                        endpoints.replicas.remove(replicas[old])
                        await asyncio.to_thread(replicas[new].wait_ready)
                        outcomes.events.append(f"{old} exited {code} after {drain_seconds[old]}s; {new} ready")
                    while replicas["d"] not in endpoints.ready:  # the endpoints list it, as Kubernetes' would
                        await asyncio.sleep(0.01)
                    rolled_out.set()
                    await load
                    stop.set()
                    await watcher

            started = time.perf_counter()
            asyncio.run(scenario())
            elapsed = time.perf_counter() - started
        finally:
            for name, runtime in replicas.items():
                code = runtime.stop()
                exit_codes.setdefault(name, code)
    answered = outcomes.counts["ok"] + outcomes.counts["closed_unread"] + sum(outcomes.lost.values())
    return {"requests": total, "concurrency": concurrency, "answered": answered, "ok": outcomes.counts["ok"],
            "refused_then_retried": outcomes.counts["refused"],
            "no_endpoint_waits": outcomes.counts["no_endpoint_wait"],
            "closed_unread_after_exit": outcomes.counts["closed_unread"],
            "lost": sum(outcomes.lost.values()), "lost_by_kind": dict(outcomes.lost),
            "ok_by_replica_port": dict(outcomes.by_replica), "exit_codes": exit_codes, "drain_seconds": drain_seconds,
            "latency_ms": {"p50": round(percentile(outcomes.latencies, 50) * 1000, 1),
                           "p99": round(percentile(outcomes.latencies, 99) * 1000, 1),
                           "max": round(max(outcomes.latencies, default=0) * 1000, 1)},
            "elapsed_s": round(elapsed, 2), "events": outcomes.events}
