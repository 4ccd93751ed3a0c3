"""Many models behind one API (issue 27), served by `predictorapi serve` as a user runs it: Cortex v0.30's own
`model-caching` Python predictor (`__init__(self, config, python_client)`, `load_model(self, model_path)`,
`predict` calling `self.client.get_model(name, version)` from the query), its models in moto's S3 on loopback
(`spec.models.dir`) or in a local `pvc://` folder (`spec.models.uri`, several worker processes); and, in process,
a streamed prediction and a batch. Behaviour only: answers, files, log lines; every wait has a hang guard."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client import CollectorRegistry
from support.processes import CLI, REPO, free_port, stop, wait_ready
from support.runtime_threads import uvicorn_thread
from support.s3 import S3, s3_server

from predictorapi.models.store import ModelStore, StoreConfig
from predictorapi.models.store_server import start_store_thread
from predictorapi.runtime.app import create_app
from predictorapi.runtime.settings import RuntimeSettings

HANG_GUARD = 120.0

# Cortex v0.30's test/apis/model-caching/python/mpg-estimator predictor, its model a JSON linear model instead of an
# mlflow.sklearn one (load_model reads the version's folder), the model's name from the query as in Cortex's
# multi-model examples; plus what the tests exercise: a predictor that hides ModelNotFound, and post_predict.
PREDICTOR = '''
import json, os, pathlib, time


class PythonPredictor:
    def __init__(self, config, python_client):
        self.client = python_client
        self.config = config

    def load_model(self, model_path):
        model = json.loads((pathlib.Path(model_path) / "model.json").read_text())
        return {**model, "pid": os.getpid()}

    def predict(self, payload, query_params):
        model_name = query_params.get("model")
        model_version = query_params.get("version", "latest")
        if query_params.get("hide") == "raise":
            try:
                model = self.client.get_model(model_name, model_version)
            except Exception as exc:
                raise RuntimeError("could not get the model") from exc
        elif query_params.get("hide") == "answer":
            try:
                model = self.client.get_model(model_name, model_version)
            except Exception:
                return {"prediction": None}
        else:
            model = self.client.get_model(model_name, model_version)
        features = [payload["cylinders"], payload["displacement"], payload["horsepower"], payload["weight"]]
        result = model["intercept"] + sum(c * x for c, x in zip(model["coef"], features))
        return {"prediction": result, "model": {"name": model["name"], "version": model["version"]},
                "pid": model["pid"]}

    def post_predict(self, response, payload, query_params, headers):
        if query_params.get("post") == "fail":
            raise ValueError("post_predict failed on purpose")
        if query_params.get("post") == "record":
            gate = pathlib.Path(self.config["gate"])
            deadline = time.monotonic() + 120
            while not gate.exists() and time.monotonic() < deadline:
                time.sleep(0.01)
            with open(self.config["record"], "a") as out:
                out.write(json.dumps({"response": response, "cylinders": payload["cylinders"],
                                      "request_id": headers.get("x-request-id")}) + "\\n")
'''
CAR = {"cylinders": 4, "displacement": 100.0, "horsepower": 90.0, "weight": 2000.0}


def model_json(name: str, version: int, scale: float) -> bytes:
    """A linear 'mpg estimator': each model and version gives another prediction for CAR."""
    return json.dumps({"name": name, "version": version, "intercept": scale,
                       "coef": [scale, 0.0, 0.0, 0.0]}).encode()


def expected(scale: float) -> float:
    return scale + scale * CAR["cylinders"]


VERSIONS = {("mpg-estimator", 1): 1.0, ("mpg-estimator", 2): 2.0, ("other", 1): 10.0}


@pytest.fixture(scope="module")
def s3() -> Iterator[S3]:
    with s3_server() as server:
        server.put("models", {f"many/{name}/{version}/model.json": model_json(name, version, scale)
                              for (name, version), scale in VERSIONS.items()})
        yield server


def write_api(folder: Path, models: dict[str, Any], **spec: Any) -> Path:
    """A manifest serving PREDICTOR with `spec.models`, its post_predict files beside it."""
    (folder / "predictor.py").write_text(PREDICTOR)
    config = {"gate": str(folder / "gate"), "record": str(folder / "record.jsonl")}
    (folder / "predictorapi.yaml").write_text(yaml.safe_dump({
        "apiVersion": "serving.predictorapi.dev/v1alpha1", "kind": "PredictorAPI", "metadata": {"name": "mpg"},
        "spec": {"predictor": {"image": "registry.example/mpg:1", "path": "predictor.py", "config": config},
                 "models": models, **spec}}))
    return folder


@contextmanager
def serving(folder: Path, env: dict[str, str]) -> Iterator[tuple[str, Path]]:
    """`predictorapi serve FOLDER` on a free port, its output in a file; (base URL, log file)."""
    port = free_port()
    log = folder / "serve.log"
    environment = {**{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PREDICTORAPI_"))},
                   "PREDICTORAPI_MODEL_CACHE_DIR": str(folder / "cache"), **env}
    with log.open("w") as out:
        proc = subprocess.Popen([*CLI, "serve", str(folder), "--port", str(port)], cwd=REPO, env=environment,
                                stdout=out, stderr=subprocess.STDOUT)
        try:
            wait_ready(f"http://127.0.0.1:{port}/readyz", proc, HANG_GUARD)
            yield f"http://127.0.0.1:{port}", log
        finally:
            stop(proc)


def wait_for(condition: Callable[[], Any], what: str) -> Any:
    deadline = time.monotonic() + HANG_GUARD
    while not (found := condition()):
        assert time.monotonic() < deadline, f"still waiting after {HANG_GUARD:g}s for: {what}"
        time.sleep(0.05)
    return found


@pytest.fixture(scope="module")
def s3_api(s3: S3, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, Path]]:
    """The model-caching predictor on `spec.models.dir: s3://models/many/`: (URL, log file, manifest folder)."""
    folder = write_api(tmp_path_factory.mktemp("s3-models"), {"dir": "s3://models/many/", "cacheSize": 2,
                                                               "secretRef": {"name": "models-credentials"}})
    with serving(folder, s3.env()) as (url, log):
        yield url, log, folder


def ask(url: str, params: dict[str, str], **kwargs: Any) -> httpx.Response:
    return httpx.post(f"{url}/predict", params=params, json=CAR, timeout=HANG_GUARD, **kwargs)


@pytest.mark.parametrize(("name", "version", "answered", "scale"), [
    ("mpg-estimator", "1", 1, 1.0), ("mpg-estimator", "2", 2, 2.0), ("mpg-estimator", "latest", 2, 2.0),
    ("other", "latest", 1, 10.0), ("other", "1", 1, 10.0)])
def test_each_model_and_version_answers_from_its_own_folder(s3_api, name, version, answered, scale) -> None:
    response = ask(s3_api[0], {"model": name, "version": version})
    assert response.status_code == 200, response.text
    assert response.json()["model"] == {"name": name, "version": answered}
    assert response.json()["prediction"] == expected(scale)


def test_models_alternate_through_a_small_cache(s3_api) -> None:
    """cacheSize 2, three versions asked in turn: each answer still comes from the version asked for."""
    for _ in range(2):
        for (name, version), scale in VERSIONS.items():
            response = ask(s3_api[0], {"model": name, "version": str(version)})
            assert response.status_code == 200 and response.json()["prediction"] == expected(scale), response.text


@pytest.mark.parametrize("hide", ["", "raise", "answer"])
@pytest.mark.parametrize(("params", "reason", "named"), [
    ({"model": "no-such-model"}, "model_not_found", "'no-such-model'"),
    ({"model": "mpg-estimator", "version": "7"}, "version_not_found", "version 7")])
def test_an_unknown_model_or_version_is_a_404_naming_it(s3_api, params, reason, named, hide) -> None:
    """Whatever the predictor does with get_model's error: let it through, raise another, or answer anyway."""
    response = ask(s3_api[0], {**params, **({"hide": hide} if hide else {})})
    assert response.status_code == 404, response.text
    body = response.json()
    assert body["reason"] == reason and body["model"] == params["model"] and named in body["error"]
    assert body["request_id"] == response.headers["x-request-id"]


def test_post_predict_runs_after_the_response_is_sent(s3_api) -> None:
    url, _, folder = s3_api
    record = folder / "record.jsonl"
    response = ask(url, {"model": "other", "post": "record"}, headers={"X-Request-ID": "post-predict-record"})
    # post_predict is held until the gate exists: the client has its answer before post_predict is done.
    assert response.status_code == 200, response.text
    assert not record.exists() or "post-predict-record" not in record.read_text()
    (folder / "gate").touch()
    line = wait_for(lambda: record.exists() and record.read_text().strip(), "post_predict's record")
    recorded = json.loads(line.splitlines()[-1])
    assert recorded == {"response": response.json(), "cylinders": CAR["cylinders"],
                        "request_id": "post-predict-record"}


def test_a_failing_post_predict_is_logged_and_the_server_stays_up(s3_api) -> None:
    url, log, _ = s3_api
    response = ask(url, {"model": "other", "post": "fail"}, headers={"X-Request-ID": "post-predict-fails"})
    assert response.status_code == 200, response.text
    line = wait_for(lambda: next((line for line in log.read_text().splitlines()
                                  if "post_predict raised an exception" in line), None), "post_predict's error log")
    assert "[post-predict-fails]" in line
    assert "ValueError: post_predict failed on purpose" in log.read_text()
    assert ask(url, {"model": "other"}).status_code == 200
    metrics = httpx.get(f"{url}/metrics", timeout=HANG_GUARD).text
    assert 'predictorapi_post_predict_total{api="mpg",outcome="error"} 1.0' in metrics


def test_one_model_on_a_claim_served_by_every_worker_process(tmp_path: Path) -> None:
    """`spec.models.uri` (get_model without a name) on a local `pvc://` folder (the claim beside the manifest, read
    where it is), with two worker processes: each has its own memory tier, both answer from the right version."""
    model = tmp_path / "weights" / "mpg"
    for version in (1, 3):
        (model / str(version)).mkdir(parents=True)
        (model / str(version) / "model.json").write_bytes(model_json("_", version, float(version)))
    folder = write_api(tmp_path, {"uri": "pvc://weights/mpg"}, processesPerReplica=2)
    pids: set[int] = set()
    with serving(folder, {}) as (url, _):
        def both_processes_answered() -> bool:
            with httpx.Client(timeout=HANG_GUARD) as client:  # a new connection: either process may take it
                response = client.post(f"{url}/predict", params={"version": "1"}, json=CAR)
            assert response.status_code == 200, response.text
            assert response.json()["prediction"] == expected(1.0)
            pids.add(response.json()["pid"])
            return len(pids) == 2

        wait_for(both_processes_answered, "an answer from each worker process")
        latest = ask(url, {})
        assert latest.status_code == 200 and latest.json()["model"]["version"] == 3, latest.text


# --- in process: a streamed prediction, a batch ------------------------------------------------------------------

STREAMING = '''
import pathlib, time


class PythonPredictor:
    def __init__(self, config, python_client):
        self.client = python_client
        self.gate = pathlib.Path(config["gate"])

    def load_model(self, model_path):
        return open(model_path + "/model.json").read()

    def predict(self, query_params):
        model = self.client.get_model(query_params["model"])
        yield "one:" + model[:1] + "\\n"
        deadline = time.monotonic() + 120
        while query_params.get("hold") and not self.gate.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        yield "two:" + model[:1] + "\\n"
'''

BATCHED = '''
class PythonPredictor:
    def __init__(self, python_client):
        self.client = python_client

    def load_model(self, model_path):
        return model_path

    def predict(self, query_params):
        return [self.client.get_model(params["model"]) and params["model"] for params in query_params]
'''


@contextmanager
def in_process(tmp_path: Path, source: str, **settings: Any) -> Iterator[tuple[str, Any]]:
    """The runtime app in this process against a store thread on a `pvc://` folder holding models a and b."""
    for name in ("a", "b"):
        (tmp_path / "claims" / "m" / name).mkdir(parents=True, exist_ok=True)
        (tmp_path / "claims" / "m" / name / "model.json").write_text("{}")
    (tmp_path / "predictor.py").write_text(source)
    store = ModelStore(StoreConfig.from_spec({"dir": "pvc://m"}), tmp_path / "cache", pvc_root=tmp_path / "claims",
                       api="inproc", registry=CollectorRegistry())
    running = start_store_thread(store, registry=CollectorRegistry())
    try:
        app = create_app(settings=RuntimeSettings(
            predictor_path=str(tmp_path / "predictor.py"), api_name="inproc", models={"cacheSize": 1},
            model_store_url=running.url, **settings), registry=CollectorRegistry())
        with uvicorn_thread(app) as url:
            wait_for(lambda: httpx.get(f"{url}/readyz").status_code == 200, "the predictor loaded")
            yield url, app.state.runtime.models
    finally:
        running.stop()


def test_a_stream_keeps_its_model_pinned_until_it_ends(tmp_path: Path) -> None:
    """cacheSize 1: a model used by a stream in progress is not unloaded when another is loaded; once the stream has
    ended it is (the cache is back to one model)."""
    gate = tmp_path / "gate"
    with in_process(tmp_path, STREAMING, predictor_config={"gate": str(gate)}) as (url, cache):
        with httpx.stream("POST", f"{url}/predict", params={"model": "a", "hold": "1"}, timeout=HANG_GUARD) as held:
            lines = held.iter_lines()
            assert next(lines) == "one:{"
            other = httpx.post(f"{url}/predict", params={"model": "b"}, timeout=HANG_GUARD)
            assert other.status_code == 200 and other.text == "one:{\ntwo:{\n", other.text
            assert ("a", 1) in cache.loaded()  # pinned by the stream still running: b was evicted instead
            gate.touch()
            assert list(lines) == ["two:{"]

        def b_replaced_a() -> bool:  # once a's stream has ended, a is unpinned: loading b evicts it
            assert httpx.post(f"{url}/predict", params={"model": "b"}, timeout=HANG_GUARD).status_code == 200
            return cache.loaded() == [("b", 1)]

        wait_for(b_replaced_a, "a unloaded for b once its stream ended")
        missing = httpx.post(f"{url}/predict", params={"model": "zz"}, timeout=HANG_GUARD)
        assert missing.status_code == 404 and missing.json()["model"] == "zz", missing.text


def test_a_batch_asking_for_an_unknown_model_is_answered_404(tmp_path: Path) -> None:
    with in_process(tmp_path, BATCHED, batch_max_size=2, batch_timeout_ms=50) as (url, _):
        with httpx.Client(timeout=HANG_GUARD) as client:
            assert client.post(f"{url}/predict", params={"model": "a"}).text == "a"
            missing = client.post(f"{url}/predict", params={"model": "zz"})
        assert missing.status_code == 404 and missing.json()["reason"] == "model_not_found", missing.text


# --- the predictor interface: what is checked at load, and post_predict's bound -------------------------------------


def test_the_interface_is_checked_when_the_predictor_loads() -> None:
    from predictorapi.runtime.loader import PredictorLoadError, check_models, construct, inspect_predictor

    class NoLoadModel:
        def __init__(self, config, python_client): ...
        def predict(self, payload): ...

    class WrongPostPredict:
        def predict(self, payload): ...
        def post_predict(self, response, result): ...

    class Cortex:
        def __init__(self, python_client, config):
            self.client, self.config = python_client, config

        def load_model(self, model_path): ...
        def predict(self, query_params): ...
        def post_predict(self, response, headers): ...

    with pytest.raises(PredictorLoadError, match="load_model"):
        check_models(NoLoadModel)
    with pytest.raises(PredictorLoadError, match="post_predict has unknown parameter 'result'"):
        inspect_predictor(WrongPostPredict)
    with pytest.raises(PredictorLoadError, match=r"python_client, which only spec\.models"):
        construct(Cortex, {})
    check_models(Cortex)
    client = object()
    built = construct(Cortex, {"k": 1}, client)
    assert built.client is client and built.config == {"k": 1}
    interface = inspect_predictor(Cortex)
    assert interface.post_predict_wants == {"response", "headers"} and interface.gathers == {"query_params", "headers"}


def test_post_predict_calls_beyond_the_queue_are_dropped_and_counted() -> None:
    import threading

    from prometheus_client import Counter

    from predictorapi.runtime.post_predict import PostPredict

    entered, release, seen = threading.Event(), threading.Event(), []

    def post_predict(response):
        entered.set()
        assert release.wait(HANG_GUARD)
        seen.append(response)

    registry = CollectorRegistry()
    counter = Counter("predictorapi_post_predict", "calls", ["api", "outcome"], registry=registry)
    calls = PostPredict(post_predict, frozenset({"response"}), counter, "t", limit=1, threads=1)
    calls.submit(1, {})
    assert entered.wait(HANG_GUARD)  # the only thread runs call 1
    calls.submit(2, {})  # waits in the queue (1 at most)
    calls.submit(3, {})  # dropped
    assert registry.get_sample_value("predictorapi_post_predict_total", {"api": "t", "outcome": "dropped"}) == 1
    release.set()
    wait_for(lambda: seen == [1, 2], "the queued call to run")
    wait_for(lambda: registry.get_sample_value("predictorapi_post_predict_total",
                                               {"api": "t", "outcome": "ok"}) == 2, "both calls counted")
    calls.stop()
