"""Fixtures: runtime replicas as real `python -m predictorapi` processes (see tests/support/soak.py)."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from support.runtimes import ECHO_PREDICTOR
from support.soak import Runtime

StartRuntime = Callable[..., Runtime]


@pytest.fixture
def start_runtime(tmp_path: Path) -> Iterator[StartRuntime]:
    """Start a runtime process for predictor `source` (dedented); stopped after the test.

    `ready=False` returns at once (for predictors that must not become ready).
    """
    started: list[Runtime] = []

    def start(source: str = ECHO_PREDICTOR, *, ready: bool = True, **settings: Any) -> Runtime:
        n = len(started)
        predictor = tmp_path / f"predictor_{n}.py"
        predictor.write_text(textwrap.dedent(source))
        settings.setdefault("api_name", "reliability")
        runtime = Runtime(predictor, tmp_path / f"runtime_{n}.log", **settings)
        started.append(runtime)
        if ready:
            runtime.wait_ready()
        return runtime

    yield start
    for runtime in started:
        runtime.stop()
