#!/usr/bin/env python
"""Streaming: time to first token and tokens/s through the runtime vs the same generator in-process.

    .venv/bin/python bench/streaming.py                    # the tiny causal LM the tests build (offline)
    .venv/bin/python bench/streaming.py --model PATH       # a local model folder, e.g. SmolLM2-135M-Instruct
    .venv/bin/python bench/streaming.py --tokens 128 --runs 5

examples/text-generation's predictor generates exactly `--tokens` tokens per request (`min_new_tokens`
= `max_new_tokens`). In-process: `predict` is called and its generator consumed directly. Through the
runtime: `predictorapi serve examples/text-generation` on loopback, one stream at a time, as a chunked
text body and as Server-Sent Events. Time to first token is from the call (the request sent) to the
first non-empty piece (chunk); tokens/s is `--tokens` over the time from the first piece to the last.
Prints the median of `--runs` runs of each, side by side.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import yaml

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "text-generation"
sys.path.insert(0, str(REPO / "tests"))

Timing = tuple[float, float]
"""(seconds to the first piece, seconds from the first piece to the last)."""


def timed(pieces: Iterator[object], started: float | None = None) -> Timing:
    """Consume `pieces`; when the first non-empty one arrived (from `started`, default now) and the last."""
    started, first = time.perf_counter() if started is None else started, None
    for piece in pieces:
        if first is None and piece:
            first = time.perf_counter()
    end = time.perf_counter()
    first = end if first is None else first
    return first - started, end - first


def in_process(config: dict, body: dict) -> Callable[[], Timing]:
    """The example's predictor loaded here; one run consumes its generator."""
    spec = importlib.util.spec_from_file_location("text_generation", EXAMPLE / "predictor.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    predictor = module.PythonPredictor(config)
    return lambda: timed(predictor.predict(dict(body)))


def through_runtime(url: str, body: dict, sse: bool) -> Callable[[], Timing]:
    """One run streams one response from the runtime at `url` over a kept-alive connection."""
    client = httpx.Client(timeout=600)
    headers = {"accept": "text/event-stream"} if sse else {}

    def run() -> Timing:
        started = time.perf_counter()  # the headers come with the first item: count from the request
        with client.stream("POST", url, json=body, headers=headers) as response:
            response.raise_for_status()
            return timed(response.iter_raw(), started)

    return run


def measure(run: Callable[[], Timing], runs: int, tokens: int) -> tuple[float, float]:
    """Median time to first token (ms) and tokens/s over `runs` runs (after one warm-up)."""
    run()
    results = [run() for _ in range(runs)]
    ttft = statistics.median(first for first, _ in results) * 1000
    rate = statistics.median(tokens / rest if rest > 0 else float("inf") for _, rest in results)
    return ttft, rate


def serve(folder: Path, config: dict, env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    """`predictorapi serve` of the example (its manifest with `config`, in `folder`) on a loopback port."""
    from support.processes import CLI, free_port, wait_ready

    manifest = yaml.safe_load((EXAMPLE / "predictorapi.yaml").read_text())
    manifest["spec"]["predictor"]["config"] = config
    (folder / "predictorapi.yaml").write_text(yaml.safe_dump(manifest))
    shutil.copy(EXAMPLE / "predictor.py", folder / "predictor.py")
    port = free_port()
    proc = subprocess.Popen([*CLI, "serve", str(folder), "--port", str(port)], cwd=REPO,
                            env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    wait_ready(f"{url}/readyz", proc, timeout=600)
    return proc, url


def model_env(model: str | None, home: Path) -> tuple[dict, dict[str, str]]:
    """The predictor config and environment: a local model folder, or the tiny LM saved under `home`."""
    from support.tiny_models import offline_hf_env, save_tiny_causal_lm

    if model:
        return {"model": model, "max_new_tokens": 4096}, {}
    env = offline_hf_env(home)
    os.environ.update(env)  # before transformers is imported: the in-process predictor reads the same cache
    save_tiny_causal_lm(home)
    return {"max_new_tokens": 4096}, env


def main() -> None:
    """Measure and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="a local causal LM folder (default: the tests' tiny LM)")
    parser.add_argument("--tokens", type=int, default=64, help="tokens generated per request")
    parser.add_argument("--runs", type=int, default=5, help="runs of each (median reported)")
    args = parser.parse_args()
    body = {"prompt": "Kubernetes runs the replicas and", "max_new_tokens": args.tokens,
            "min_new_tokens": args.tokens}
    with tempfile.TemporaryDirectory() as scratch:
        config, env = model_env(args.model, Path(scratch) / "hf")
        rows = [("in-process generator", measure(in_process(config, body), args.runs, args.tokens))]
        proc, url = serve(Path(scratch), config, env)
        try:
            rows.append(("runtime, chunked text", measure(through_runtime(url, body, False), args.runs, args.tokens)))
            rows.append(("runtime, SSE", measure(through_runtime(url, body, True), args.runs, args.tokens)))
        finally:
            proc.terminate()
            proc.wait(60)
    print(f"model: {args.model or 'tiny Llama (tests/support/tiny_models.py)'}; {args.tokens} tokens per "
          f"request, median of {args.runs} runs, one stream at a time, CPU")
    print(f"| {'path':<24} | {'time to first token (ms)':>24} | {'tokens/s':>10} |")
    print(f"|{'-' * 26}|{'-' * 26}:|{'-' * 11}:|")
    for name, (ttft, rate) in rows:
        print(f"| {name:<24} | {ttft:>24.1f} | {rate:>10.1f} |")


if __name__ == "__main__":
    main()
