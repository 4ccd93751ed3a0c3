"""A runtime process's ModelCache against a real store on loopback (issue 27): get_model returns load_model's
object, one load for concurrent first calls, an LRU of cacheSize with its metrics, pins that outlive eviction,
live reloading of new and removed versions, and ModelNotFound recorded in the request's scope."""

from __future__ import annotations

import contextvars
import shutil
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from many_models.models_support import (
    CLAIM,
    HANG_GUARD,
    Loads,
    model_cache,
    s3_files,
    sample,
    store_on_loopback,
    wait_for,
    write_version,
)
from prometheus_client import CollectorRegistry
from support.s3 import s3_server

from predictorapi.contracts import metrics as names
from predictorapi.contracts.models import ensure_path
from predictorapi.models.errors import ModelNotFound, ModelUnavailable

REQUESTS = f"{names.MODEL_CACHE_REQUESTS}_total"


@pytest.fixture
def models(tmp_path: Path) -> Path:
    """`pvc://claim/models`: mpg (versions 1, 2), iris (1), wine (1), plain (no version folders)."""
    root = tmp_path / CLAIM / "models"
    for model, version in (("mpg", 1), ("mpg", 2), ("iris", 1), ("wine", 1)):
        write_version(root, model, version, f"{model} v{version}")
    write_version(root, "plain", None, "plain")
    return root


@pytest.fixture
def store_url(models: Path, tmp_path: Path) -> Iterator[str]:
    with store_on_loopback({"dir": f"pvc://{CLAIM}/models", "pollSeconds": 0.1}, tmp_path / "cache",
                           pvc_root=tmp_path) as served:
        yield served.url


def test_get_model_returns_what_load_model_returned(models: Path, tmp_path: Path) -> None:
    load, registry = Loads(), CollectorRegistry()
    with store_on_loopback({"uri": f"pvc://{CLAIM}/models/mpg"}, tmp_path / "cache", pvc_root=tmp_path) as served, \
            model_cache(served.url, load, single=True, registry=registry) as cache:
        client = cache.client()
        latest = client.get_model()
        assert latest == {"path": str(models / "mpg" / "2"), "content": "mpg v2"}
        assert client.get_model(model_version=1)["content"] == "mpg v1"
        assert client.get_model(model_version="1") is client.get_model(model_version=1)
        assert client.get_model(model_version="latest") is latest
        assert load.total == 2
        assert sample(registry, REQUESTS, model="_", result="miss") == 2
        assert sample(registry, REQUESTS, model="_", result="hit") == 3
        assert sample(registry, f"{names.MODEL_LOADS}_total", model="_", outcome="ok") == 2
        assert sample(registry, f"{names.MODEL_LOAD_SECONDS}_count", model="_") == 2
        assert sample(registry, names.MODELS_IN_MEMORY) == 2


def test_a_folder_without_versions_is_version_one(store_url: str, models: Path) -> None:
    with model_cache(store_url, Loads()) as cache:
        assert cache.client().get_model("plain") == {"path": str(models / "plain"), "content": "plain"}
        assert cache.client().get_model("plain", 1)["content"] == "plain"
        with pytest.raises(ValueError, match="needs model_name"):
            cache.client().get_model()


@pytest.mark.parametrize("version", [2, "latest"])
def test_twenty_concurrent_first_calls_load_once(store_url: str, version: int | str) -> None:
    load, registry = Loads(gate=threading.Event()), CollectorRegistry()
    with model_cache(store_url, load, registry=registry) as cache, ThreadPoolExecutor(20) as pool:
        futures = [pool.submit(cache.client().get_model, "mpg", version) for _ in range(20)]
        wait_for(lambda: sample(registry, REQUESTS, model="mpg", result="miss") == 20, "20 calls waiting")
        load.gate.set()
        results = [future.result(timeout=HANG_GUARD) for future in futures]
        assert load.total == 1
        assert all(result is results[0] for result in results) and results[0]["content"] == "mpg v2"


@pytest.mark.parametrize(("cache_size", "loads"), [(1, 3), (2, 2)])
def test_a_b_a_loads_by_cache_size(store_url: str, cache_size: int, loads: int) -> None:
    load = Loads()
    with model_cache(store_url, load, cache_size=cache_size) as cache:
        for name in ("mpg", "iris", "mpg"):
            assert cache.client().get_model(name)["content"] == f"{name} v{2 if name == 'mpg' else 1}"
        assert load.total == loads


def test_lru_of_cache_size_with_hits_misses_and_evictions(store_url: str) -> None:
    load, registry = Loads(), CollectorRegistry()
    with model_cache(store_url, load, cache_size=2, registry=registry) as cache:
        get = cache.client().get_model
        get("mpg"), get("iris"), get("mpg"), get("wine")  # iris is the least recently used when wine loads
        assert cache.loaded() == [("mpg", 2), ("wine", 1)]
        assert sample(registry, f"{names.MODEL_EVICTIONS}_total", model="iris") == 1
        assert sample(registry, f"{names.MODEL_EVICTIONS}_total", model="mpg") == 0
        assert sample(registry, REQUESTS, model="mpg", result="hit") == 1
        assert sample(registry, REQUESTS, model="mpg", result="miss") == 1
        assert sample(registry, names.MODELS_IN_MEMORY) == 2
        get("iris")
        assert cache.loaded() == [("wine", 1), ("iris", 1)] and load.total == 4


def test_a_pinned_model_is_not_evicted_while_its_request_scope_is_open(store_url: str) -> None:
    load, registry = Loads(), CollectorRegistry()
    with model_cache(store_url, load, cache_size=1, registry=registry) as cache:
        get = cache.client().get_model
        with cache.request_scope():
            context = contextvars.copy_context()  # as the runtime runs a sync predict: in a worker thread
            with ThreadPoolExecutor(1) as worker:
                mpg = worker.submit(context.run, get, "mpg").result(timeout=HANG_GUARD)
                # another request, without a scope here (the worker's own context): mpg is pinned, iris is not
                worker.submit(get, "iris").result(timeout=HANG_GUARD)
                assert set(cache.loaded()) == {("mpg", 2), ("iris", 1)}
                worker.submit(get, "wine").result(timeout=HANG_GUARD)  # iris goes, mpg stays
                assert set(cache.loaded()) == {("mpg", 2), ("wine", 1)}
            assert context.run(get, "mpg") is mpg and load.calls[mpg["path"]] == 1  # still loaded, now most recent
        assert cache.loaded() == [("mpg", 2)]  # released: evicted down to cacheSize (wine, least recently used)
        assert sample(registry, f"{names.MODEL_EVICTIONS}_total", model="wine") == 1
        assert sample(registry, f"{names.MODEL_EVICTIONS}_total", model="mpg") == 0
        assert sample(registry, names.MODELS_IN_MEMORY) == 1


def test_unknown_names_and_versions_are_recorded_in_the_scope(store_url: str) -> None:
    with model_cache(store_url, Loads()) as cache:
        client = cache.client()
        with cache.request_scope() as scope:
            with pytest.raises(ModelNotFound) as caught:
                client.get_model("nope")
            assert (caught.value.model, caught.value.reason) == ("nope", "model_not_found")
            with pytest.raises(ModelNotFound, match="no version 7"):  # the first one stays recorded
                client.get_model("mpg", 7)
        assert scope.not_found is caught.value and "'nope'" in str(scope.not_found)
        with cache.request_scope() as scope:
            with pytest.raises(ModelNotFound):
                client.get_model("mpg", "seven")
            assert scope.not_found is not None and scope.not_found.reason == "version_not_found"
            assert client.get_model("mpg", 1)["content"] == "mpg v1"
        with cache.request_scope() as scope:
            client.get_model("mpg")
        assert scope.not_found is None


def test_live_reloading_moves_latest_and_unloads_removed_versions(models: Path, tmp_path: Path) -> None:
    failures: list[BaseException] = []
    served_contents: set[str] = set()
    stop = threading.Event()
    spec = {"uri": f"pvc://{CLAIM}/models/mpg", "pollSeconds": 0.1}
    with store_on_loopback(spec, tmp_path / "cache", pvc_root=tmp_path) as served, \
            model_cache(served.url, Loads(), cache_size=2, poll_seconds=0.1, single=True) as cache:
        client = cache.client()

        def requests() -> None:  # a steady stream of requests for latest, none of which may fail
            while not stop.is_set():
                try:
                    with cache.request_scope():
                        served_contents.add(client.get_model()["content"])
                except BaseException as exc:
                    failures.append(exc)

        assert client.get_model()["content"] == "mpg v2"
        background = threading.Thread(target=requests)
        background.start()
        try:
            write_version(models, "mpg", 3, "mpg v3")
            wait_for(lambda: client.get_model()["content"] == "mpg v3", "latest to move to version 3")
            shutil.rmtree(models / "mpg" / "3")
            wait_for(lambda: ("_", 3) not in cache.loaded(), "version 3 to be unloaded")
            wait_for(lambda: client.get_model()["content"] == "mpg v2", "latest to move back to version 2")
        finally:
            stop.set()
            background.join(HANG_GUARD)
        with pytest.raises(ModelNotFound, match="no version 3"):
            client.get_model(model_version=3)
        assert not failures, failures
        assert {"mpg v2", "mpg v3"} <= served_contents


def test_evicted_from_memory_but_on_disk_loads_without_a_download(tmp_path: Path) -> None:
    load = Loads()
    with s3_server() as s3:
        s3.put("bucket", s3_files("models/", {"a": [1], "b": [1]}))
        with store_on_loopback({"dir": "s3://bucket/models/", "diskCacheSize": 10}, tmp_path, env=s3.env()) as served, \
                model_cache(served.url, load, cache_size=1) as cache:
            for name in ("a", "b", "a"):
                assert cache.client().get_model(name)["content"] == f"{name} v1"
            assert load.total == 3
            assert s3.object_gets["/bucket/models/a/1/model.txt"] == 1


def test_the_store_never_evicts_a_folder_a_runtime_is_loading(tmp_path: Path) -> None:
    load = Loads(gate=threading.Event())
    with s3_server() as s3:
        s3.put("bucket", s3_files("models/", {"a": [1], "b": [1], "c": [1]}))
        spec = {"dir": "s3://bucket/models/", "diskCacheSize": 1}
        with store_on_loopback(spec, tmp_path, env=s3.env()) as served, model_cache(served.url, load) as cache, \
                ThreadPoolExecutor(1) as pool:
            loading = pool.submit(cache.client().get_model, "a")
            wait_for(lambda: load.total == 1, "load_model to start on a")
            for name in ("b", "c"):  # downloads, each followed by the disk LRU
                assert httpx.post(served.url + ensure_path(name, 1), timeout=HANG_GUARD).status_code == 200
            load.gate.set()
            assert loading.result(timeout=HANG_GUARD)["content"] == "a v1"


def test_a_store_that_is_gone_is_unavailable_not_not_found(tmp_path: Path) -> None:
    with store_on_loopback({"dir": f"pvc://{CLAIM}/models"}, tmp_path / "cache", pvc_root=tmp_path) as served:
        url = served.url
    (tmp_path / CLAIM / "models").mkdir(parents=True)
    with model_cache(url, Loads()) as cache, cache.request_scope() as scope:
        with pytest.raises(ModelUnavailable) as caught:
            cache.client().get_model("mpg")
        assert caught.value.reason == "model_store_unreachable" and scope.not_found is None
