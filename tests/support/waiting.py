"""Waiting in tests: poll until something is true, with a hang guard (never a timing assertion)."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest


def wait_for(condition: Callable[[], bool], what: str, timeout: float, interval: float = 0.02) -> None:
    """Poll `condition` until true; fail naming `what` after `timeout` seconds (a hang guard)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"still waiting after {timeout:g}s for: {what}")
        time.sleep(interval)
