"""Streamed predictions over real HTTP, against real runtime processes (`python -m predictorapi`).

The predictor blocks between items on flag files the test creates, so "incremental" is shown by order
(the first chunk is at the client before the second can exist), never by time; what the generator saw
(its end, `GeneratorExit`, cancellation) it writes to files in a `finally`.
"""

from __future__ import annotations

import json
import textwrap
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from httpx_sse import connect_sse
from prometheus_client.parser import text_string_to_metric_families
from support.soak import Runtime

STREAMING = """
    import asyncio
    import os
    import time
    from pathlib import Path

    def wait_for(path):
        while not path.exists():
            time.sleep(0.01)


    class PythonPredictor:
        \"\"\"A sync generator: each step runs in the thread pool.\"\"\"

        def __init__(self, config):
            self.dir = Path(config["dir"])

        def predict(self, payload):
            name = payload.get("name", "stream")
            try:
                yield from self.items(payload, name)
            except GeneratorExit:
                (self.dir / f"{name}.exit").write_text("GeneratorExit")
                raise
            finally:
                (self.dir / f"{name}.closed").write_text("closed")

        def items(self, payload, name):
            mode = payload.get("mode")
            if mode == "raise_first":
                raise ValueError("before the first item")
            if mode == "stall_first":
                wait_for(self.dir / f"{name}.go")
            for i, item in enumerate(payload.get("items", ["a", "b", "c"])):
                if i and mode in ("gated", "stall"):
                    wait_for(self.dir / f"{name}.go")
                yield item.encode() if mode == "bytes" else item
            if mode == "raise":
                raise ValueError("after the first item")
            while mode == "forever":
                time.sleep(0.01)
                yield "tick"


    class AsyncPredictor:
        \"\"\"An async generator (`async def` with `yield`), iterated on the event loop.\"\"\"

        def __init__(self, config):
            self.dir = Path(config["dir"])

        async def predict(self, payload):
            name = payload.get("name", "stream")
            mode = payload.get("mode")
            try:
                if mode == "raise_first":
                    raise ValueError("before the first item")
                while mode == "stall_first" and not (self.dir / f"{name}.go").exists():
                    await asyncio.sleep(0.01)
                for i, item in enumerate(payload.get("items", ["a", "b", "c"])):
                    while i and mode in ("gated", "stall") and not (self.dir / f"{name}.go").exists():
                        await asyncio.sleep(0.01)
                    yield item.encode() if mode == "bytes" else item
                if mode == "raise":
                    raise ValueError("after the first item")
                while mode == "forever":
                    await asyncio.sleep(0.01)
                    yield "tick"
            except (GeneratorExit, asyncio.CancelledError) as exc:
                (self.dir / f"{name}.exit").write_text(type(exc).__name__)
                raise
            finally:
                (self.dir / f"{name}.closed").write_text("closed")


    class BatchedPredictor:
        # Not a generator function, so batching starts; it returns one generator per request.

        def __init__(self, config):
            pass

        def predict(self, payload):
            return [(item for item in ["a"]) for _ in payload]
"""

CLASSES = ["PythonPredictor", "AsyncPredictor"]
HANG_GUARD_S = 60.0


def metric(url: str, name: str, **labels: str) -> float:
    """One sample's value from `/metrics` (0 when not exported)."""
    for family in text_string_to_metric_families(httpx.get(f"{url}/metrics").text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    return 0.0


def eventually(check: Callable[[], bool], what: str) -> None:
    """Wait until `check()` holds (a hang guard, not a time limit on the behaviour)."""
    deadline = time.monotonic() + HANG_GUARD_S
    while not check():
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.02)


def ended(url: str, reason: str) -> float:
    return metric(url, "predictorapi_streams_ended_total", reason=reason)


StartRuntime = Callable[..., Runtime]


@pytest.fixture(scope="module")
def start_runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StartRuntime]:
    """Start (and later stop) runtime processes serving STREAMING; `config.dir` is their flag folder."""
    started: list[Runtime] = []

    def start(predictor_class: str, *, ready: bool = True, **settings: Any) -> Runtime:
        folder = tmp_path_factory.mktemp("streaming")
        (folder / "predictor.py").write_text(textwrap.dedent(STREAMING))
        runtime = Runtime(folder / "predictor.py", folder / "runtime.log", api_name="streaming",
                          predictor_class=predictor_class, predictor_config={"dir": str(folder)}, **settings)
        runtime.folder = folder  # type: ignore[attr-defined]
        started.append(runtime)
        if ready:
            runtime.wait_ready()
        return runtime

    yield start
    for runtime in started:
        runtime.stop()


@pytest.fixture(scope="module", params=CLASSES)
def capped(request: pytest.FixtureRequest, start_runtime: StartRuntime) -> Runtime:
    """One stream at a time (maxConcurrency 1, no queue); no idle timeout."""
    return start_runtime(request.param, max_concurrency=1, max_queue_length=0)


def test_chunks_arrive_incrementally_and_the_open_stream_holds_its_slot(capped: Runtime) -> None:
    url, folder = capped.url, capped.folder
    with httpx.Client(timeout=HANG_GUARD_S) as client, client.stream(
            "POST", url, json={"mode": "gated", "name": "inc", "items": ["first ", "second ", "third"]}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        chunks = response.iter_bytes()
        first = next(chunks)
        assert first == b"first "  # at the client while the generator waits for the flag below
        assert not (folder / "inc.closed").exists()
        # The stream is the request: in flight, holding the one slot; a second request is refused.
        assert metric(url, "predictorapi_in_flight_requests") == 1
        assert metric(url, "predictorapi_busy_slots") == 1
        second = httpx.post(url, json={"items": ["x"]}, timeout=HANG_GUARD_S)
        assert second.status_code == 503 and "Retry-After" in second.headers
        (folder / "inc.go").write_text("go")
        rest = b"".join(chunks)
    assert first + rest == b"first second third"
    eventually(lambda: metric(url, "predictorapi_in_flight_requests") == 0, "the stream's admission released")
    assert metric(url, "predictorapi_busy_slots") == 0
    assert httpx.post(url, json={"items": ["again"]}, timeout=HANG_GUARD_S).text == "again"
    assert metric(url, "predictorapi_stream_time_to_first_item_seconds_count") >= 2
    assert metric(url, "predictorapi_stream_items_sum") >= 4


def test_dict_items_are_server_sent_events(capped: Runtime) -> None:
    items = [{"token": "a", "i": 0}, {"token": "b", "i": 1}, ["a", "list"]]
    with httpx.Client(timeout=HANG_GUARD_S) as client, connect_sse(
            client, "POST", capped.url, json={"items": items}) as source:
        assert source.response.headers["content-type"].startswith("text/event-stream")
        events = list(source.iter_sse())
    assert [event.event for event in events] == ["message"] * 3
    assert [event.json() for event in events] == items


def test_accept_event_stream_sends_text_items_as_events(capped: Runtime) -> None:
    with httpx.Client(timeout=HANG_GUARD_S) as client, connect_sse(
            client, "POST", capped.url, json={"items": ["one", "two\nlines", "[DONE]"]}) as source:
        events = [event.data for event in source.iter_sse()]
    assert events == ["one", "two\nlines", "[DONE]"]


def test_bytes_items_are_an_octet_stream(capped: Runtime) -> None:
    response = httpx.post(capped.url, json={"items": ["x", "y"], "mode": "bytes"}, timeout=HANG_GUARD_S)
    assert response.status_code == 200 and response.content == b"xy"
    assert response.headers["content-type"] == "application/octet-stream"


def test_an_exception_after_the_first_item_is_an_error_event_with_the_request_id(capped: Runtime) -> None:
    before = ended(capped.url, "error")
    headers = {"x-request-id": "stream-err-1"}
    with httpx.Client(timeout=HANG_GUARD_S) as client, connect_sse(
            client, "POST", capped.url, json={"items": [{"n": 1}], "mode": "raise"}, headers=headers) as source:
        assert source.response.status_code == 200  # the headers were sent with the first item
        events = list(source.iter_sse())
    assert [event.event for event in events] == ["message", "error"]
    assert events[1].json()["request_id"] == "stream-err-1"
    assert ended(capped.url, "error") == before + 1
    assert "stream-err-1" in capped.log() and "after the first item" in capped.log()


def test_an_exception_before_the_first_item_is_a_500(capped: Runtime) -> None:
    response = httpx.post(capped.url, json={"mode": "raise_first"}, timeout=HANG_GUARD_S)
    assert response.status_code == 500 and set(response.json()) == {"error", "request_id"}
    assert response.json()["request_id"] == response.headers["x-request-id"]


def test_client_disconnect_closes_the_generator(capped: Runtime) -> None:
    url, folder = capped.url, capped.folder
    before = ended(url, "disconnect")
    with httpx.Client(timeout=HANG_GUARD_S) as client, client.stream(
            "POST", url, json={"mode": "forever", "name": "gone", "items": ["start"]}) as response:
        assert next(response.iter_bytes()).startswith(b"start")
    # The client has left: the generator is closed inside the predictor, the slot and admission freed.
    eventually(lambda: (folder / "gone.closed").exists(), "the generator was closed")
    assert (folder / "gone.exit").read_text() in {"GeneratorExit", "CancelledError"}
    eventually(lambda: ended(url, "disconnect") == before + 1, "the disconnect counted")
    eventually(lambda: metric(url, "predictorapi_in_flight_requests") == 0, "the admission released")
    assert httpx.post(url, json={"items": ["next"]}, timeout=HANG_GUARD_S).text == "next"


@pytest.mark.parametrize("predictor_class", CLASSES)
def test_idle_timeout_ends_the_stream_with_an_error_event_and_closes_the_generator(
        start_runtime: StartRuntime, predictor_class: str) -> None:
    runtime = start_runtime(predictor_class, stream_idle_timeout_seconds=0.5)
    with httpx.Client(timeout=HANG_GUARD_S) as client, connect_sse(
            client, "POST", runtime.url, json={"mode": "stall", "name": "idle", "items": [{"n": 0}, {"n": 1}]}
    ) as source:
        events = list(source.iter_sse())
    assert [event.event for event in events] == ["message", "error"]
    assert "no item" in events[1].json()["error"]
    # A sync step cannot be interrupted: once it returns, the generator is closed (an async one at once).
    (runtime.folder / "idle.go").write_text("go")
    eventually(lambda: (runtime.folder / "idle.closed").exists(), "the generator was closed")
    assert (runtime.folder / "idle.exit").exists()
    eventually(lambda: metric(runtime.url, "predictorapi_busy_slots") == 0, "the slot released")
    assert ended(runtime.url, "idle_timeout") == 1


@pytest.mark.parametrize("predictor_class", CLASSES)
def test_request_timeout_bounds_the_whole_stream(start_runtime: StartRuntime, predictor_class: str) -> None:
    runtime = start_runtime(predictor_class, request_timeout_seconds=1)
    with httpx.Client(timeout=HANG_GUARD_S) as client, connect_sse(
            client, "POST", runtime.url, json={"mode": "forever", "name": "long", "items": [{"n": 0}]}) as source:
        events = list(source.iter_sse())  # ticks keep coming: only the whole-stream bound ends it
    assert events[0].json() == {"n": 0} and events[-1].event == "error"
    assert events[-1].json()["request_id"] == source.response.headers["x-request-id"]
    eventually(lambda: (runtime.folder / "long.closed").exists(), "the generator was closed")
    assert ended(runtime.url, "timeout") == 1
    # No first item in time: the usual 504 (nothing was sent yet), and the generator is closed too.
    late = httpx.post(runtime.url, json={"mode": "stall_first", "name": "late"}, timeout=HANG_GUARD_S)
    assert late.status_code == 504 and late.json()["request_id"] == late.headers["x-request-id"]
    (runtime.folder / "late.go").write_text("go")  # lets a sync step that cannot be interrupted return
    eventually(lambda: (runtime.folder / "late.closed").exists(), "the generator was closed")
    eventually(lambda: metric(runtime.url, "predictorapi_busy_slots") == 0, "the slot released")


def test_a_chunked_stream_that_fails_is_cut_short(capped: Runtime) -> None:
    with pytest.raises(httpx.RemoteProtocolError), httpx.Client(timeout=HANG_GUARD_S) as client, \
            client.stream("POST", capped.url, json={"items": ["a"], "mode": "raise"}) as response:
        b"".join(response.iter_bytes())


def test_streaming_with_batching_is_refused_at_start_up(start_runtime: StartRuntime) -> None:
    runtime = start_runtime("PythonPredictor", ready=False, batch_max_size=4)
    assert runtime.wait(HANG_GUARD_S) == 1
    assert "streaming cannot be batched: set batching.maxBatchSize to 1" in runtime.log()


def test_generators_from_a_batched_call_are_a_500_that_says_so(start_runtime: StartRuntime) -> None:
    runtime = start_runtime("BatchedPredictor", batch_max_size=4)
    response = httpx.post(runtime.url, json={}, timeout=HANG_GUARD_S)
    assert response.status_code == 500 and "streaming cannot be batched" in response.json()["error"]


@pytest.mark.parametrize("predictor_class", CLASSES)
def test_sigterm_mid_stream_lets_the_stream_complete_then_exits_0(start_runtime: StartRuntime,
                                                                   predictor_class: str) -> None:
    runtime = start_runtime(predictor_class, drain_min_seconds=0, drain_quiet_seconds=0.1)
    with httpx.Client(timeout=HANG_GUARD_S) as client, client.stream(
            "POST", runtime.url, json={"mode": "gated", "name": "drain", "items": ["a", "b"]}) as response:
        chunks = response.iter_bytes()  # kept: a dropped iterator closes the connection
        assert next(chunks) == b"a"
        runtime.terminate()
        eventually(lambda: "draining: 1 request(s) in flight" in runtime.log(), "draining")
        assert httpx.get(f"{runtime.url}/readyz").status_code == 503
        (runtime.folder / "drain.go").write_text("go")
        assert b"".join(chunks) == b"b"
    assert runtime.wait(HANG_GUARD_S) == 0
    assert not (runtime.folder / "drain.exit").exists()  # it ran to its end, nobody closed it


def test_the_first_event_carries_json_as_one_data_line(capped: Runtime) -> None:
    response = httpx.post(capped.url, json={"items": [{"a": "x\ny"}]}, timeout=HANG_GUARD_S)
    assert response.text == 'data: {"a":"x\\ny"}\n\n'  # a newline inside JSON stays escaped
    assert json.loads(response.text.removeprefix("data: ")) == {"a": "x\ny"}
