#!/usr/bin/env python
"""Tracing's cost, side by side in one run: tracing off, sampling 10 % and sampling 100 % (and, with `--previous`,
the release before tracing), for two predictors.

    .venv/bin/python bench/tracing.py                              # 10 s per point, 3 rounds, c=32
    .venv/bin/python bench/tracing.py --previous /tmp/old          # add a checkout of the previous release
    .venv/bin/python bench/tracing.py --quick                      # 3 s per point, 1 round: a smoke test

The two predictors bracket what tracing costs relative to a request:

- the no-op predictor (`bench/apps/noop_predictor.py`, sync): a request costs only the runtime, so this is the
  worst case;
- `bench/apps/cpu_predictor.py` doing about 1 ms of pure-Python work per call (`--work-iterations`), a small
  model's cost on CPU, one call at a time (`max_concurrency: 1`, as a CPU-bound Python predictor is best served).

Spans go to an OTLP/HTTP receiver on loopback that answers every export and keeps nothing (it counts the bytes), so
the runtime pays for recording and exporting spans, not for a collector. Each configuration is one
`python -m predictorapi` (sync `predict`, access log on, room for every connection) pinned to CPU 0, driven by wrk
on CPU 1 (as is this script, with the receiver); rounds alternate the configurations. Prints requests/s (median of
the rounds), p99, the server's CPU time per request (least of the rounds: the steadiest figure on a shared machine)
and each against tracing off.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from run import BENCH, NOOP_BODY, PY, ROOMY, Server, free_port, log, machine_info, running, runtime_env, table, wrk

SERVER_CPU, CLIENT_CPU = "0", "1"
OFF, PREVIOUS = "tracing off", "previous release (no tracing)"
RATIOS = (("tracing on, 10 %", "0.1"), ("tracing on, 100 %", "1"))


class _Discard(BaseHTTPRequestHandler):
    """Answers an OTLP export with an empty success, keeping nothing."""

    received = 0

    def do_POST(self) -> None:
        _Discard.received += len(self.rfile.read(int(self.headers.get("content-length", 0))))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def discarding_receiver() -> Iterator[str]:
    """An OTLP/HTTP receiver on loopback; its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Discard)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def workloads(iterations: int) -> dict[str, dict[str, str]]:
    """The predictors measured: name → their runtime environment (without the port's)."""
    return {"no-op predictor": runtime_env("noop_predictor.py", "SyncPredictor", **ROOMY),
            "~1 ms predictor": runtime_env("cpu_predictor.py", "CpuPredictor", predictor_config={"iterations":
                                                                                                 iterations},
                                           max_concurrency=1, max_queue_length=64)}


def configurations(previous: Path | None) -> list[tuple[str, str | None]]:
    """(name, sampling ratio or None for off) of each configuration, the previous release's first when given."""
    return [*([(PREVIOUS, None)] if previous is not None else []), (OFF, None), *RATIOS]


def server(name: str, env: dict[str, str], ratio: str | None, endpoint: str, previous: Path | None) -> Server:
    """One runtime: traced at `ratio` (None: off), or the previous release's code for PREVIOUS."""
    env = dict(env)
    if ratio is not None:
        env |= {"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
                "OTEL_TRACES_SAMPLER_ARG": ratio}
    if name == PREVIOUS and previous is not None:
        env["PYTHONPATH"] = str(previous / "runtime")
    return Server(name, [PY, "-m", "predictorapi"], "/predict", "/readyz", env)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process `pid` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def predict_ms(iterations: int) -> float:
    """What one call of the ~1 ms predictor costs in-process (least of 20), in ms."""
    import sys

    sys.path.insert(0, str(BENCH / "apps"))
    from cpu_predictor import CpuPredictor

    predictor = CpuPredictor({"iterations": iterations})
    best = float("inf")
    for _ in range(20):
        started = time.perf_counter()
        predictor.predict({})
        best = min(best, time.perf_counter() - started)
    return best * 1000


def measure(args: argparse.Namespace, endpoint: str, logdir: Path) -> dict[str, dict[str, list[dict]]]:
    """Every workload's and configuration's wrk runs, rounds alternating the configurations."""
    confs = configurations(args.previous)
    results = {work: {name: [] for name, _ in confs} for work in workloads(args.work_iterations)}
    for round_number in range(args.rounds):
        for work, env in workloads(args.work_iterations).items():
            for name, ratio in confs:
                port = free_port()
                with running(server(name, env, ratio, endpoint, args.previous), port, logdir, SERVER_CPU) as proc:
                    url = f"http://127.0.0.1:{port}/predict"
                    wrk(url, args.connections, 1, [NOOP_BODY], CLIENT_CPU)  # warm-up
                    before = cpu_seconds(proc.pid)
                    run = wrk(url, args.connections, args.seconds, [NOOP_BODY], CLIENT_CPU)
                    run["cpu_us"] = (cpu_seconds(proc.pid) - before) / max(1, run["requests"]) * 1e6
                log(f"round {round_number + 1}, {work}, {name}: {run['rps']:.0f} req/s, p99 {run['p99_ms']:.1f} ms, "
                    f"{run['cpu_us']:.0f} µs CPU/request")
                results[work][name].append(run)
    return results


def report(results: dict[str, dict[str, list[dict]]]) -> str:
    """The table: per workload and configuration, req/s, p99, CPU per request, and each against tracing off."""
    rows = []
    for work, by_configuration in results.items():
        base_rps = statistics.median(run["rps"] for run in by_configuration[OFF])
        base_cpu = min(run["cpu_us"] for run in by_configuration[OFF])
        for name, runs in by_configuration.items():
            rps = statistics.median(run["rps"] for run in runs)
            cpu = min(run["cpu_us"] for run in runs)
            rows.append([work, name, f"{rps:,.0f}", f"{rps / base_rps - 1:+.1%}",
                         f"{statistics.median(run['p99_ms'] for run in runs):.2f}", f"{cpu:.0f}",
                         f"{cpu - base_cpu:+.0f}", sum(run["non2xx"] + run["errors"] for run in runs)])
    return table(["predictor", "configuration", "req/s", "req/s vs off", "p99 ms", "CPU µs/request",
                  "vs off", "errors"], rows)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the comparison and print its table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="3 s per point, 1 round")
    parser.add_argument("--seconds", type=float, default=10.0, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--work-iterations", type=int, default=16000,
                        help="the ~1 ms predictor's loop iterations per call")
    parser.add_argument("--previous", type=Path, help="a checkout of the release before tracing, run as a row")
    args = parser.parse_args(argv)
    if args.quick:
        args.seconds, args.rounds = 3.0, 1
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {int(CLIENT_CPU)})  # the receiver's thread stays off the server's CPU
    info = machine_info()
    log(f"~1 ms predictor: {predict_ms(args.work_iterations):.2f} ms per call in-process")
    with tempfile.TemporaryDirectory(prefix="bench-tracing-") as folder, discarding_receiver() as endpoint:
        results = measure(args, endpoint, Path(folder))
    info["load average at end (1/5/15 min)"] = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    print(table(["", ""], list(info.items())))
    print()
    print(report(results))
    print(f"\nOTLP bytes received: {_Discard.received:,}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
