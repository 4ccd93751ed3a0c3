"""The model store on loopback (issue 27): ensures download once, the disk LRU evicts beyond diskCacheSize on every
download but never a folder a runtime is loading, unknown models and versions are 404s naming them, and a listing
that fails keeps serving the last good one. Real S3 (moto's server), real HTTP."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from many_models.models_support import (
    API,
    CLAIM,
    HANG_GUARD,
    s3_files,
    sample,
    store_on_loopback,
    wait_for,
    write_version,
)
from prometheus_client import CollectorRegistry
from support.processes import CLI, REPO, free_port, stop, wait_ready
from support.s3 import S3, s3_server

from predictorapi.artifacts import cache
from predictorapi.contracts import metrics as names
from predictorapi.contracts.models import MODEL_STORE_ENV_PREFIX, ensure_path
from predictorapi.models.store_server import build_app


@pytest.fixture
def s3() -> Iterator[S3]:
    with s3_server() as server:
        yield server


def ensure(url: str, name: str, version: str | int = "latest") -> httpx.Response:
    return httpx.post(url + ensure_path(name, version), timeout=HANG_GUARD)


def on_disk(cache_dir: Path) -> list[str]:
    """The complete folders in the disk tier."""
    return sorted(p.name for p in cache_dir.iterdir() if p.is_dir() and not p.name.startswith("."))


def test_concurrent_ensures_of_one_version_download_it_once(s3: S3, tmp_path: Path) -> None:
    s3.put("bucket", s3_files("models/", {"mpg": [1, 2]}))
    registry = CollectorRegistry()
    with store_on_loopback({"dir": "s3://bucket/models/"}, tmp_path, env=s3.env(), registry=registry) as served:
        with ThreadPoolExecutor(20) as pool:
            answers = list(pool.map(lambda _: ensure(served.url, "mpg", 2), range(20)))
        assert {a.status_code for a in answers} == {200}
        bodies = [a.json() for a in answers]
        assert {(b["name"], b["version"], b["path"]) for b in bodies} == {("mpg", 2, bodies[0]["path"])}
        assert (Path(bodies[0]["path"]) / "model.txt").read_text() == "mpg v2"
        assert s3.object_gets["/bucket/models/mpg/2/model.txt"] == 1
        assert sample(registry, f"{names.MODEL_DOWNLOADS}_total", model="mpg", outcome="ok") == 1
        latest = ensure(served.url, "mpg").json()
        assert latest == bodies[0]  # latest is version 2, already on disk
        assert s3.object_gets["/bucket/models/mpg/2/model.txt"] == 1
        listing = httpx.get(f"{served.url}/models").json()
        assert listing["models"] == {"mpg": {"versions": [1, 2], "latest": 2}} and listing["error"] is None


def test_disk_lru_evicts_beyond_disk_cache_size_on_every_download(s3: S3, tmp_path: Path) -> None:
    s3.put("bucket", s3_files("models/", {"a": [1], "b": [1], "c": [1], "d": [1]}))
    registry = CollectorRegistry()
    spec = {"dir": "s3://bucket/models/", "diskCacheSize": 2}
    other_api = tmp_path / "someone-elses-model"  # another API's folder in a shared claim: never ours to evict
    other_api.mkdir()
    (other_api / cache.INFO_FILE).write_text(json.dumps({"uri": "s3://bucket/elsewhere/"}))
    with store_on_loopback(spec, tmp_path, env=s3.env(), registry=registry) as served:
        path = {name: ensure(served.url, name).json()["path"] for name in ("a", "b")}
        assert sample(registry, names.MODELS_ON_DISK) == 2
        path["c"] = ensure(served.url, "c").json()["path"]  # a is the least recently used
        assert not Path(path["a"]).exists() and Path(path["b"]).exists() and Path(path["c"]).exists()
        assert sample(registry, f"{names.MODEL_DISK_EVICTIONS}_total", model="a") == 1
        ensure(served.url, "b")  # a use: c is now the least recently used
        path["d"] = ensure(served.url, "d").json()["path"]
        assert not Path(path["c"]).exists() and Path(path["b"]).exists() and Path(path["d"]).exists()
        assert on_disk(tmp_path) == sorted([Path(path["b"]).name, Path(path["d"]).name, other_api.name])
        assert sample(registry, names.MODELS_ON_DISK) == 2
        again = ensure(served.url, "a").json()["path"]  # evicted: downloaded again
        assert (Path(again) / "model.txt").read_text() == "a v1"
        assert s3.object_gets["/bucket/models/a/1/model.txt"] == 2
        assert sample(registry, f"{names.MODEL_DOWNLOADS}_total", model="a", outcome="ok") == 2


def test_a_folder_a_runtime_is_loading_is_never_evicted(s3: S3, tmp_path: Path) -> None:
    s3.put("bucket", s3_files("models/", {"a": [1], "b": [1], "c": [1]}))
    with store_on_loopback({"dir": "s3://bucket/models/", "diskCacheSize": 1}, tmp_path, env=s3.env()) as served:
        held = Path(ensure(served.url, "a").json()["path"])
        with cache.reading(held) as present:  # what ModelCache holds around load_model
            assert present
            for name in ("b", "c"):
                assert ensure(served.url, name).status_code == 200
                assert (held / "model.txt").read_text() == "a v1"
            assert len(on_disk(tmp_path)) == 2  # over diskCacheSize while a is held
        last = Path(ensure(served.url, "b").json()["path"])  # the next download evicts down to 1
        assert on_disk(tmp_path) == [last.name] and not held.exists()


def test_unknown_models_and_versions_are_404s_naming_them(s3: S3, tmp_path: Path) -> None:
    s3.put("bucket", s3_files("models/", {"mpg": [1, 2]}))
    with store_on_loopback({"paths": [{"name": "mpg", "uri": "s3://bucket/models/mpg/"},
                                      {"name": "empty", "uri": "s3://bucket/models/empty/"}]},
                           tmp_path, env=s3.env()) as served:
        unknown = ensure(served.url, "nope", 1)
        assert unknown.status_code == 404
        assert unknown.json() == {"error": "model 'nope' not found", "reason": "model_not_found", "model": "nope",
                                  "version": 1}
        no_version = ensure(served.url, "mpg", 3)
        assert no_version.status_code == 404
        assert no_version.json()["reason"] == "version_not_found" and "no version 3" in no_version.json()["error"]
        assert ensure(served.url, "mpg", "three").json()["reason"] == "version_not_found"
        assert ensure(served.url, "empty").json()["reason"] == "version_not_found"
        s3.put("bucket", s3_files("models/", {"mpg": [3]}))  # listed on demand: a miss lists again
        assert ensure(served.url, "mpg", 3).json()["version"] == 3


def test_a_failed_listing_keeps_serving_the_last_good_one(tmp_path: Path) -> None:
    registry = CollectorRegistry()
    spec = {"dir": "s3://bucket/models/", "pollSeconds": 0.1}
    with contextlib.ExitStack() as stack:
        with s3_server() as s3:
            s3.put("bucket", s3_files("models/", {"mpg": [1, 2]}))
            served = stack.enter_context(store_on_loopback(spec, tmp_path, env=s3.env(), registry=registry))
            assert ensure(served.url, "mpg").json()["version"] == 2
        # the S3 server is stopped: the store keeps running
        wait_for(lambda: sample(registry, f"{names.MODEL_LISTING_ERRORS}_total") >= 1, "a listing error")
        listing = httpx.get(f"{served.url}/models").json()
        assert listing["models"] == {"mpg": {"versions": [1, 2], "latest": 2}}
        assert "s3://bucket/models/" in listing["error"] and "unreachable" in listing["error"]
        assert ensure(served.url, "mpg", 2).status_code == 200  # on disk: served without S3
        failed = ensure(served.url, "mpg", 1)
        assert failed.status_code == 502 and failed.json()["reason"] == "download_failed"


def test_a_store_that_never_listed_answers_503_not_404(tmp_path: Path) -> None:
    env = {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}", "AWS_ACCESS_KEY_ID": "k",
           "AWS_SECRET_ACCESS_KEY": "s", "AWS_DEFAULT_REGION": "us-east-1"}  # nothing listens there
    registry = CollectorRegistry()
    with store_on_loopback({"dir": "s3://bucket/models/"}, tmp_path, env=env, registry=registry) as served:
        answer = ensure(served.url, "mpg")
        assert answer.status_code == 503 and answer.json()["reason"] == "listing_failed"
        assert "'mpg' is not listed" in answer.json()["error"] and "unreachable" in answer.json()["error"]
        listing = httpx.get(f"{served.url}/models").json()
        assert listing["models"] == {} and listing["listedAt"] is None and listing["error"]
        assert sample(registry, f"{names.MODEL_LISTING_ERRORS}_total") >= 1


async def test_only_metrics_and_healthz_answer_other_peers(tmp_path: Path) -> None:
    write_version(tmp_path / CLAIM / "models", "mpg", 1, "mpg v1")
    registry = CollectorRegistry()
    with store_on_loopback({"dir": f"pvc://{CLAIM}/models"}, tmp_path / "cache", pvc_root=tmp_path,
                           registry=registry) as served:
        app = build_app(served.store, registry)

        def peer(address: str) -> httpx.AsyncClient:
            return httpx.AsyncClient(transport=httpx.ASGITransport(app, client=(address, 40000)), base_url="http://s")

        async with peer("10.1.2.3") as outside, peer("::ffff:127.0.0.1") as inside:
            assert (await outside.get("/healthz")).status_code == 200
            assert (await outside.get("/metrics")).status_code == 200
            assert (await outside.get("/models")).status_code == 403
            refused = await outside.post(ensure_path("mpg", 1))
            assert refused.status_code == 403 and refused.json()["reason"] == "forbidden"
            found = (await inside.post(ensure_path("mpg", 1))).json()
            assert found["path"] == str(tmp_path / CLAIM / "models" / "mpg" / "1")
        metrics = httpx.get(f"{served.url}/metrics").text
        assert f'{names.MODELS_ON_DISK}{{api="{API}"}}' in metrics


def test_the_model_store_command_serves_from_the_environment(tmp_path: Path) -> None:
    write_version(tmp_path / CLAIM / "models", "mpg", 1, "mpg v1")
    write_version(tmp_path / CLAIM / "models", "mpg", 2, "mpg v2")
    port = free_port()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PREDICTORAPI_"))},
           f"{MODEL_STORE_ENV_PREFIX}MODELS": json.dumps({"uri": f"pvc://{CLAIM}/models/mpg", "diskCacheSize": 5}),
           f"{MODEL_STORE_ENV_PREFIX}PORT": str(port), f"{MODEL_STORE_ENV_PREFIX}HOST": "127.0.0.1",
           f"{MODEL_STORE_ENV_PREFIX}DIR": str(tmp_path / "cache"),
           f"{MODEL_STORE_ENV_PREFIX}PVC_ROOT": str(tmp_path), f"{MODEL_STORE_ENV_PREFIX}API_NAME": API}
    proc = subprocess.Popen([*CLI, "model-store"], cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        wait_ready(f"http://127.0.0.1:{port}/healthz", proc, HANG_GUARD)
        url = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{url}/models").json()["models"] == {"_": {"versions": [1, 2], "latest": 2}}
        assert ensure(url, "_").json() == {"name": "_", "version": 2,
                                           "path": str(tmp_path / CLAIM / "models" / "mpg" / "2")}
    finally:
        stop(proc)
    bad = subprocess.run([*CLI, "model-store", "--models", '{"cacheSize": 1}'], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=HANG_GUARD)
    assert bad.returncode == 2 and "exactly one of uri, paths, dir" in bad.stderr
