"""The server freezes its heap once the predictor is loaded (so that full garbage collections under load
scan only what requests create); an app built inside another process (a test) leaves that process alone."""

from __future__ import annotations

import gc
import json
import urllib.request
from pathlib import Path

from support.soak import Runtime

from .conftest import Serve

PREDICTOR = """
import gc

MODEL = [[float(i)] for i in range(50_000)]  # a model's worth of Python objects (lists: tracked by gc)


class PythonPredictor:
    def __init__(self, config):
        self.model = [list(row) for row in MODEL]

    def predict(self, payload):
        return {"frozen": gc.get_freeze_count(), "model": len(self.model)}
"""


def test_the_server_freezes_the_loaded_heap(tmp_path: Path) -> None:
    predictor = tmp_path / "predictor.py"
    predictor.write_text(PREDICTOR)
    with Runtime(predictor, tmp_path / "runtime.log", api_name="heap") as runtime:
        runtime.wait_ready()
        request = urllib.request.Request(f"{runtime.url}/predict", b"{}", {"content-type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:
            answer = json.loads(response.read())
    assert answer["model"] == 50_000
    assert answer["frozen"] > 100_000  # the module's rows and the predictor's copies, at least


def test_an_app_served_inside_another_process_does_not_freeze_it(serve_source: Serve) -> None:
    gc.unfreeze()
    url = serve_source(PREDICTOR)  # loaded in the background, as the server loads it
    request = urllib.request.Request(f"{url}/predict", b"{}", {"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        assert json.loads(response.read()) == {"frozen": 0, "model": 50_000}
