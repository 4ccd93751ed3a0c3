#!/usr/bin/env python
"""Time to ready with a model artifact (`spec.model`), without a cache vs with a warm one, against a real S3 API
on loopback (moto's server).

    .venv/bin/python bench/model_download.py                 # a 64 MiB model, 3 runs of each
    .venv/bin/python bench/model_download.py --mib 256 --runs 5

Two measurements, each cold (an empty cache folder: the artifact is downloaded) and warm (the folder
already holds it: what a second replica on the cache claim, or a restarted pod, does):
- `fetch-model`: the init container alone (process start → exit), as a pod runs it;
- `serve → ready`: `predictorapi serve` of a manifest with `spec.model` from process start until
  `/readyz` answers 200 (download + a predictor that reads the whole file).
Prints the medians side by side, and the S3 GETs each kind of start made.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from support.processes import CLI, free_port, stop, wait_ready  # noqa: E402
from support.s3 import S3, s3_server  # noqa: E402

URI = "s3://models/bench/v1/"
PREDICTOR = """
from pathlib import Path

class PythonPredictor:
    def __init__(self, config):
        self.size = len((Path(config["model_path"]) / "weights.bin").read_bytes())

    def predict(self, payload):
        return {"bytes": self.size}
"""


def _env(s3: S3, cache: Path) -> dict[str, str]:
    return {**os.environ, **s3.env(), "PREDICTORAPI_MODEL_CACHE_DIR": str(cache)}


def fetch_seconds(s3: S3, cache: Path) -> float:
    """`predictorapi fetch-model` from start to exit."""
    started = time.perf_counter()
    subprocess.run([*CLI, "fetch-model", "--uri", URI], env=_env(s3, cache), check=True, capture_output=True)
    return time.perf_counter() - started


def ready_seconds(s3: S3, cache: Path, folder: Path) -> float:
    """`predictorapi serve` from start to `/readyz` 200."""
    port = free_port()
    started = time.perf_counter()
    proc = subprocess.Popen([*CLI, "serve", str(folder), "--port", str(port)], env=_env(s3, cache),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_ready(f"http://127.0.0.1:{port}/readyz", proc, timeout=600)
        return time.perf_counter() - started
    finally:
        stop(proc)


def measure(s3: S3, runs: int, timed: Callable[[Path], float], work: Path) -> tuple[float, float, int, int]:
    """(median cold seconds, median warm seconds, S3 GETs per cold start, per warm start)."""
    cold, warm, gets = [], [], []
    for _ in range(runs):
        cache = Path(tempfile.mkdtemp(dir=work))
        before = sum(s3.object_gets.values())
        cold.append(timed(cache))
        middle = sum(s3.object_gets.values())
        warm.append(timed(cache))
        gets.append((middle - before, sum(s3.object_gets.values()) - middle))
    return statistics.median(cold), statistics.median(warm), gets[-1][0], gets[-1][1]


def main() -> None:
    """Run both measurements and print them side by side."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mib", type=int, default=64, help="model size in MiB (default %(default)s)")
    parser.add_argument("--runs", type=int, default=3, help="runs of each (default %(default)s)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, s3_server() as s3:
        work = Path(tmp)
        s3.put("models", {"bench/v1/weights.bin": os.urandom(args.mib << 20), "bench/v1/config.json": b"{}"})
        folder = work / "api"
        folder.mkdir()
        (folder / "predictor.py").write_text(PREDICTOR)
        (folder / "predictorapi.yaml").write_text(yaml.safe_dump({
            "apiVersion": "serving.predictorapi.dev/v1alpha1", "kind": "PredictorAPI", "metadata": {"name": "bench"},
            "spec": {"predictor": {"image": "registry.example/bench:1", "path": "predictor.py"},
                     "model": {"uri": URI}}}))
        rows = [("fetch-model (init container)", measure(s3, args.runs, lambda c: fetch_seconds(s3, c), work)),
                ("serve -> ready (download + load)", measure(s3, args.runs, lambda c: ready_seconds(s3, c, folder),
                                                              work))]
    print(f"model: {args.mib} MiB + 1 small file at {URI} (moto's S3 server on loopback), median of {args.runs} runs")
    print(f"{'':34}{'no cache':>12}{'warm cache':>12}{'saved':>9}   S3 GETs cold/warm")
    for name, (cold, warm, cold_gets, warm_gets) in rows:
        print(f"{name:34}{cold:>11.2f}s{warm:>11.2f}s{cold - warm:>8.2f}s   {cold_gets}/{warm_gets}")
    print(f"download rate (fetch-model cold, minus the warm start): "
          f"{args.mib / max(rows[0][1][0] - rows[0][1][1], 1e-9):.0f} MiB/s")


if __name__ == "__main__":
    main()
