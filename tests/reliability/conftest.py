"""Fixtures: runtime replicas as real `python -m predictorapi` processes (see bench/soak.py)."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
for entry in (HERE, HERE.parents[1] / "bench"):  # reliability_helpers; bench/soak.py, bench/rolling.py
    if str(entry) not in sys.path:
        sys.path.insert(0, str(entry))

from reliability_helpers import ECHO_PREDICTOR  # noqa: E402
from soak import Runtime  # noqa: E402

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
