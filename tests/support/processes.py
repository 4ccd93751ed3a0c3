"""Run a real server process on a loopback port and wait for it to become ready."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "predictorapi.cli"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_ready(url: str, proc: subprocess.Popen, timeout: float = 120.0) -> None:
    """Poll `url` until it answers 200; fail early if the process dies."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before it was ready")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{url} not ready after {timeout}s")


@contextmanager
def running(args: Sequence[str], port: int, env: dict[str, str] | None = None,
            ready_path: str = "/readyz", timeout: float = 120.0) -> Iterator[subprocess.Popen]:
    """Start `args` (a server listening on `port`), wait for `ready_path`, stop it afterwards."""
    proc = subprocess.Popen(list(args), cwd=REPO, env={**os.environ, **(env or {})},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_ready(f"http://127.0.0.1:{port}{ready_path}", proc, timeout)
        yield proc
    finally:
        stop(proc)


def stop(proc: subprocess.Popen, timeout: float = 30.0) -> None:
    """SIGTERM a process, SIGKILL it if it is still there after `timeout`, and reap it."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
