"""`predictorapi serve` with `spec.model`: the predictor gets the local folder in `config["model_path"]` and in
`PREDICTORAPI_MODEL_PATH`, whether downloaded (S3, into the local cache) or a `pvc://` folder beside the manifest."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import yaml
from support.processes import CLI, free_port, running
from support.s3 import S3

pytestmark = pytest.mark.slow

PREDICTOR = """
import os, pathlib

class PythonPredictor:
    def __init__(self, config):
        self.folder = pathlib.Path(config["model_path"])
        self.env = os.environ["PREDICTORAPI_MODEL_PATH"]

    def predict(self, payload):
        return {"weights": (self.folder / payload["file"]).read_text(), "folder": str(self.folder), "env": self.env}
"""


def _api(folder: Path, model: dict) -> Path:
    (folder / "predictor.py").write_text(PREDICTOR)
    (folder / "predictorapi.yaml").write_text(yaml.safe_dump({
        "apiVersion": "serving.predictorapi.dev/v1alpha1", "kind": "PredictorAPI", "metadata": {"name": "local"},
        "spec": {"predictor": {"image": "registry.example/local:1", "path": "predictor.py"}, "model": model}}))
    return folder


def _predict(folder: Path, env: dict[str, str], file: str) -> dict:
    port = free_port()
    with running([*CLI, "serve", str(folder), "--port", str(port)], port, env):
        response = httpx.post(f"http://127.0.0.1:{port}/", json={"file": file}, timeout=60)
    assert response.status_code == 200, response.text
    return response.json()


def test_an_s3_model_is_downloaded_into_the_local_cache(s3: S3, tmp_path: Path) -> None:
    api = _api(tmp_path, {"uri": "s3://models/sentiment/v3/", "secretRef": {"name": "model-credentials"}})
    cache = tmp_path / "cache"
    answer = _predict(api, {**s3.env(), "PREDICTORAPI_MODEL_CACHE_DIR": str(cache)}, "weights.json")
    assert answer["weights"].startswith('{"positive"')
    assert Path(answer["folder"]).parent == cache and answer["env"] == answer["folder"]


def test_a_pvc_model_is_the_claim_folder_beside_the_manifest(tmp_path: Path) -> None:
    (tmp_path / "model-store" / "sentiment").mkdir(parents=True)
    (tmp_path / "model-store" / "sentiment" / "weights.json").write_text('{"w": 2}')
    api = _api(tmp_path, {"uri": "pvc://model-store/sentiment"})
    answer = _predict(api, {"PREDICTORAPI_MODEL_CACHE_DIR": str(tmp_path / "unused")}, "weights.json")
    assert answer["weights"] == '{"w": 2}' and answer["folder"] == str(tmp_path / "model-store" / "sentiment")
    assert not (tmp_path / "unused").exists()
