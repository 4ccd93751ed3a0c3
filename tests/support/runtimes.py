"""Predictors and a runtime-process helper shared by the reliability tests."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from support.soak import Runtime

# The predictor the fuzz, auth and misbehaviour tests use: echoes what it received, misbehaves on
# request. Any 500 it does not ask for is the runtime's own.
ECHO_PREDICTOR = """
    import sys
    import time


    class PythonPredictor:
        def __init__(self, config):
            self.config = config

        def predict(self, payload):
            kind = payload.get("kind") if isinstance(payload, dict) else None
            if kind == "hang":
                time.sleep(payload.get("seconds", 30))
            elif kind == "exit":
                sys.exit(3)
            elif kind == "object":
                return object()
            elif kind == "raise":
                raise ValueError("boom in predict")
            size = len(payload) if isinstance(payload, (str, bytes, dict, list)) else None
            return {"type": type(payload).__name__, "size": size}
"""


# Blocks in `predict` until the file `config["release"]` exists: holds a slot deterministically, no sleep.
BLOCKING_PREDICTOR = """
    import os
    import time


    class PythonPredictor:
        def __init__(self, config):
            self.release = config["release"]

        def predict(self, payload):
            while not os.path.exists(self.release):
                time.sleep(0.01)
            return {"released": True}
"""

@contextmanager
def runtime_in(directory: Path, source: str = ECHO_PREDICTOR, **settings: Any) -> Iterator[Runtime]:
    """A ready runtime process for `source` (dedented), stopped on exit (for module-scoped fixtures)."""
    predictor = directory / "predictor.py"
    predictor.write_text(textwrap.dedent(source))
    settings.setdefault("api_name", "reliability")
    with Runtime(predictor, directory / "runtime.log", **settings) as runtime:
        runtime.wait_ready()
        yield runtime
