"""Fixtures: the runtime app served by a real uvicorn on a loopback port, in a thread."""

from __future__ import annotations

import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from support.runtime_threads import uvicorn_thread

from predictorapi.runtime.app import create_app
from predictorapi.runtime.settings import RuntimeSettings


def write_predictor(directory: Path, source: str, name: str = "predictor.py") -> Path:
    """Write a predictor module from (dedented) source; returns its path."""
    path = directory / name
    path.write_text(textwrap.dedent(source))
    return path


Serve = Callable[..., str]


@pytest.fixture
def serve_source(tmp_path: Path) -> Iterator[Serve]:
    """Serve predictor source code; returns the URL once the predictor is loaded."""
    stack = []

    def start(source: str, *, wait_ready: bool = True, **settings: object) -> str:
        path = write_predictor(tmp_path, source, f"predictor_{len(stack)}.py")
        registry = CollectorRegistry()
        app = create_app(settings=RuntimeSettings(predictor_path=str(path), api_name="test", **settings),
                         registry=registry)
        context = uvicorn_thread(app)
        url = context.__enter__()
        stack.append(context)
        if wait_ready:
            import httpx

            deadline = time.monotonic() + 30
            while httpx.get(f"{url}/readyz").status_code != 200:
                assert time.monotonic() < deadline, "predictor not ready"
                time.sleep(0.05)
        return url

    yield start
    for context in reversed(stack):
        context.__exit__(None, None, None)
