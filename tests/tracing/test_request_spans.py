"""The spans of real requests, as a real OTLP/HTTP receiver decodes them: a sync, an async, a batched and a streamed
prediction, each with the right tree; the caller's trace continued; unsampled traces export nothing."""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import yaml
from support.otlp import Receiver, Span
from support.processes import CLI, REPO, free_port, stop, wait_ready

from .conftest import SYNC, Served, runtime, traceresponse

ASYNC = SYNC.replace("def predict", "async def predict")

BATCHED = """
    class PythonPredictor:
        def __init__(self, config):
            pass

        def predict(self, payload):
            return [{"echo": one} for one in payload]
"""

STREAMED = """
    from opentelemetry import trace


    class PythonPredictor:
        def __init__(self, config):
            self.tracer = trace.get_tracer("user")

        def predict(self, payload):
            for index in range(3):
                with self.tracer.start_as_current_span(f"item {index}"):
                    yield {"index": index}
"""

CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"


def tree(spans: list[Span]) -> dict[str, list[str]]:
    """Each span's name -> the sorted names of its children (the spans of one trace)."""
    by_id = {s.span_id: s for s in spans}
    children: dict[str, list[str]] = {s.name: [] for s in spans}
    for s in spans:
        if s.parent_id in by_id:
            children[by_id[s.parent_id].name].append(s.name)
    return {name: sorted(names) for name, names in children.items()}


def one(spans: list[Span], name: str) -> Span:
    found = [s for s in spans if s.name == name]
    assert len(found) == 1, (name, [s.name for s in spans])
    return found[0]


@pytest.fixture(scope="module")
def async_runtime(tmp_path_factory: pytest.TempPathFactory, receiver: Receiver) -> Iterator[Served]:
    with runtime(tmp_path_factory.mktemp("async"), ASYNC, receiver, PREDICTORAPI_LOG_JSON="true") as served:
        yield served


def test_a_sync_request_is_a_server_span_with_predict_and_encode(sync_runtime: Served, receiver: Receiver) -> None:
    response = httpx.post(f"{sync_runtime.url}/predict", json={"x": 1}, headers={"User-Agent": "tracing-test"})
    assert response.status_code == 200 and response.json() == {"echo": {"x": 1}}
    trace_id, span_id, sampled = traceresponse(response)
    assert sampled
    spans = receiver.trace(trace_id, 4)
    assert tree(spans) == {"POST /predict": ["encode", "predict"], "predict": ["user work"], "user work": [],
                           "encode": []}
    server = one(spans, "POST /predict")
    assert (server.span_id, server.parent_id, server.kind, server.service) == (span_id, "", "SERVER", "traced")
    assert server.attributes["http.request.method"] == "POST"
    assert server.attributes["url.path"] == server.attributes["http.route"] == "/predict"
    assert server.attributes["http.response.status_code"] == 200
    assert server.attributes["server.address"] == "127.0.0.1"
    assert server.attributes["user_agent.original"] == "tracing-test"
    assert "error.type" not in server.attributes
    predict, encode = one(spans, "predict"), one(spans, "encode")
    assert server.start_ns <= predict.start_ns <= predict.end_ns <= encode.start_ns <= encode.end_ns <= server.end_ns


def test_an_async_predictors_own_span_nests_under_the_request(async_runtime: Served, receiver: Receiver) -> None:
    response = httpx.post(f"{async_runtime.url}/predict", json=[1, 2])
    trace_id, span_id, _ = traceresponse(response)
    spans = receiver.trace(trace_id, 4)
    assert tree(spans)["predict"] == ["user work"]
    assert one(spans, "predict").parent_id == span_id


def test_the_callers_trace_is_continued(sync_runtime: Served, receiver: Receiver) -> None:
    response = httpx.post(f"{sync_runtime.url}/predict", json={},
                          headers={"traceparent": f"00-{CALLER_TRACE}-{CALLER_SPAN}-01", "tracestate": "vendor=1"})
    trace_id, span_id, sampled = traceresponse(response)
    assert (trace_id, sampled) == (CALLER_TRACE, True)
    server = one(receiver.trace(CALLER_TRACE, 4), "POST /predict")
    assert (server.span_id, server.parent_id) == (span_id, CALLER_SPAN)


def test_a_failing_request_is_an_error_span(sync_runtime: Served, receiver: Receiver) -> None:
    response = httpx.post(f"{sync_runtime.url}/predict", content=b"{not json",
                          headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    server = one(receiver.trace(traceresponse(response)[0], 1), "POST /predict")
    assert server.attributes["http.response.status_code"] == 400 and "error.type" not in server.attributes


SLOW = """
    import time


    class PythonPredictor:
        def __init__(self, config):
            pass

        def predict(self, payload):
            time.sleep(0.3)
            return payload
"""


def test_waiting_for_a_run_slot_is_a_queue_span(tmp_path: Path, receiver: Receiver) -> None:
    with runtime(tmp_path, SLOW, receiver, PREDICTORAPI_MAX_CONCURRENCY="1") as served, ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda n: httpx.post(f"{served.url}/predict", json=n, timeout=10), [1, 2]))
    trees = [tree(receiver.trace(traceresponse(a)[0], 3)) for a in answers]
    assert sorted(t["POST /predict"] for t in trees) == [["encode", "predict"], ["encode", "predict", "queue"]]
    queued = next(receiver.trace(traceresponse(a)[0], 4) for a, t in zip(answers, trees, strict=True) if "queue" in t)
    queue, predict = one(queued, "queue"), one(queued, "predict")
    assert queue.end_ns - queue.start_ns > 0.1e9 and queue.end_ns <= predict.start_ns


def test_a_batch_links_every_request_in_it(tmp_path: Path, receiver: Receiver) -> None:
    settings = {"PREDICTORAPI_BATCH_MAX_SIZE": "2", "PREDICTORAPI_BATCH_TIMEOUT_MS": "2000"}
    with runtime(tmp_path, BATCHED, receiver, **settings) as served, ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda n: httpx.post(f"{served.url}/predict", json=n, timeout=10), [1, 2]))
    assert [a.json() for a in answers] == [{"echo": 1}, {"echo": 2}]
    traces = [receiver.trace(traceresponse(a)[0], 3) for a in answers]
    waits = [one(spans, "batch wait") for spans in traces]
    for spans, wait in zip(traces, waits, strict=True):
        assert wait.parent_id == one(spans, "POST /predict").span_id
    batch = next(s for s in receiver.named("batch") if (s.trace_id, s.span_id) != ("", "") and
                 {link[1] for link in s.links} == {w.span_id for w in waits})
    assert batch.attributes["predictorapi.batch.size"] == 2
    assert batch.parent_id in {w.span_id for w in waits}
    batch_trace = receiver.trace(batch.trace_id, 1)
    assert one([s for s in batch_trace if s.parent_id == batch.span_id], "predict")


def test_a_stream_has_its_own_span_and_the_predictors_spans_nest(tmp_path: Path, receiver: Receiver) -> None:
    with runtime(tmp_path, STREAMED, receiver) as served:
        response = httpx.post(f"{served.url}/predict", json={})
    assert response.status_code == 200
    assert [json.loads(line[5:]) for line in response.text.splitlines() if line.startswith("data:")] == [
        {"index": 0}, {"index": 1}, {"index": 2}]
    trace_id, _, _ = traceresponse(response)
    spans = receiver.trace(trace_id, 6)
    assert tree(spans)["POST /predict"] == ["item 0", "item 1", "item 2", "predict", "stream"]
    stream = one(spans, "stream")
    assert stream.attributes["predictorapi.stream.items"] == 3
    assert stream.attributes["predictorapi.stream.outcome"] == "complete"
    assert stream.attributes["predictorapi.stream.first_item_seconds"] >= 0
    assert stream.events == ["first item"]
    assert one(spans, "POST /predict").end_ns >= stream.end_ns


def test_unsampled_traces_export_nothing_and_sampled_callers_are_continued(tmp_path: Path,
                                                                           receiver: Receiver) -> None:
    sampler = {"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0"}
    with runtime(tmp_path, SYNC, receiver, **sampler) as served:
        new = httpx.post(f"{served.url}/predict", json={})
        unsampled = httpx.post(f"{served.url}/predict", json={},
                               headers={"traceparent": f"00-{'1' * 32}-{CALLER_SPAN}-00"})
        sampled = httpx.post(f"{served.url}/predict", json={},
                             headers={"traceparent": f"00-{'2' * 32}-{CALLER_SPAN}-01"})
    assert traceresponse(new)[2] is traceresponse(unsampled)[2] is False
    assert traceresponse(unsampled)[0] == "1" * 32 and traceresponse(sampled)[:3:2] == ("2" * 32, True)
    assert len(receiver.trace("2" * 32, 4)) == 4  # exported after the other two: they had their chance
    assert receiver.trace(traceresponse(new)[0], 1, timeout=0) == []
    assert receiver.trace("1" * 32, 1, timeout=0) == []


MANY_MODELS = """
    import json
    import pathlib


    class PythonPredictor:
        def __init__(self, config, python_client):
            self.client = python_client

        def load_model(self, model_path):
            return json.loads((pathlib.Path(model_path) / "model.json").read_text())

        def predict(self, payload):
            return self.client.get_model()
"""


def test_a_model_load_is_a_load_model_span_under_predict(tmp_path: Path, receiver: Receiver) -> None:
    """`predictorapi serve` of an API with `spec.models` (a `pvc://` folder beside the manifest): the request that
    loads the model has a `load_model` span (its folder) under `predict`; the next one, served from memory, none."""
    (tmp_path / "weights" / "m" / "1").mkdir(parents=True)
    (tmp_path / "weights" / "m" / "1" / "model.json").write_text('{"version": 1}')
    (tmp_path / "predictor.py").write_text(textwrap.dedent(MANY_MODELS))
    (tmp_path / "predictorapi.yaml").write_text(yaml.safe_dump({
        "apiVersion": "serving.predictorapi.dev/v1alpha1", "kind": "PredictorAPI", "metadata": {"name": "many"},
        "spec": {"predictor": {"image": "registry.example/many:1", "path": "predictor.py"},
                 "models": {"uri": "pvc://weights/m"}}}))
    port = free_port()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "PREDICTORAPI_"))},
           "PREDICTORAPI_MODEL_CACHE_DIR": str(tmp_path / "cache"), "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
           "OTEL_BSP_SCHEDULE_DELAY": "50"}
    with (tmp_path / "serve.log").open("w") as out:
        proc = subprocess.Popen([*CLI, "serve", str(tmp_path), "--port", str(port)], cwd=REPO, env=env,
                                stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_ready(f"http://127.0.0.1:{port}/readyz", proc, timeout=120)
        first, second = (httpx.post(f"http://127.0.0.1:{port}/predict", json={}, timeout=60) for _ in range(2))
    finally:
        stop(proc)
    assert first.json() == second.json() == {"version": 1}, (first.text, second.text)
    spans = receiver.trace(traceresponse(first)[0], 4)
    assert tree(spans)["predict"] == ["load_model"]
    assert one(spans, "load_model").attributes["predictorapi.model.path"].endswith("/1")
    assert "load_model" not in tree(receiver.trace(traceresponse(second)[0], 3))
