"""examples/s3-model served by `predictorapi serve` exactly as a user runs it, its model in a real S3 API on
loopback (moto's server): the prediction uses the downloaded files, and a second start downloads nothing."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from support.processes import CLI, REPO, free_port, running
from support.s3 import S3, s3_server

EXAMPLE = REPO / "examples" / "s3-model"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def s3() -> Iterator[S3]:
    with s3_server() as server:
        server.put("models", {f"sentiment/v3/{p.name}": p.read_bytes() for p in (EXAMPLE / "model").iterdir()})
        yield server


def _predict(s3: S3, cache: Path) -> dict:
    port = free_port()
    env = {**s3.env(), "PREDICTORAPI_MODEL_CACHE_DIR": str(cache)}
    with running([*CLI, "serve", str(EXAMPLE), "--port", str(port)], port, env):
        response = httpx.post(f"http://127.0.0.1:{port}/", json={"text": "great and fast"}, timeout=60)
    assert response.status_code == 200, response.text
    return response.json()


def test_the_example_serves_with_its_model_from_s3_and_reuses_the_download(s3: S3, tmp_path: Path) -> None:
    assert _predict(s3, tmp_path) == {"label": "POSITIVE", "score": 2.0, "model_version": "v3"}
    downloads = dict(s3.object_gets)
    assert downloads == {"/models/sentiment/v3/weights.json": 1, "/models/sentiment/v3/VERSION": 1}
    assert _predict(s3, tmp_path)["model_version"] == "v3"
    assert dict(s3.object_gets) == downloads  # the second start found the cache


def test_a_download_failure_stops_serve_with_the_reason(s3: S3, tmp_path: Path) -> None:
    env = {**s3.env(AWS_SECRET_ACCESS_KEY="wrong"), "PREDICTORAPI_MODEL_CACHE_DIR": str(tmp_path)}
    result = subprocess.run([*CLI, "serve", str(EXAMPLE), "--port", str(free_port())], cwd=REPO, capture_output=True,
                            text=True, env={**os.environ, **env}, timeout=120)
    assert result.returncode == 1
    assert "ModelDownloadFailed: s3://models/sentiment/v3/: access denied" in result.stderr
