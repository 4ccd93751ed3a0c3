"""Server-side batching over real HTTP: a real uvicorn on a loopback port, real httpx clients."""

from __future__ import annotations

import asyncio

import httpx
from prometheus_client.parser import text_string_to_metric_families

# Every response says how big its batch was and echoes its own payload, so the tests can check both
# the batch sizes predict saw and that element i went back to request i.
ECHO_SYNC = """
import threading

class PythonPredictor:
    def __init__(self, config):
        pass

    def predict(self, payload):
        thread = threading.current_thread().name
        return [{"batch": len(payload), "echo": p, "thread": thread} for p in payload]
"""

ECHO_ASYNC = """
import asyncio

class PythonPredictor:
    def __init__(self, config):
        pass

    async def predict(self, payload):
        await asyncio.sleep(0)
        return [{"batch": len(payload), "echo": p, "async": True} for p in payload]
"""

# Holds each batch for `config["seconds"]`, then echoes it.
SLEEPING = """
import time

class PythonPredictor:
    def __init__(self, config):
        self.seconds = config["seconds"]

    def predict(self, payload):
        time.sleep(self.seconds)
        return payload
"""


async def post_many(url: str, bodies: list[dict], **kwargs) -> list[httpx.Response]:
    """POST every body at once (one connection each) and return the responses in order."""
    limits = httpx.Limits(max_connections=len(bodies) + 1, max_keepalive_connections=0)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        return list(await asyncio.gather(*(client.post(url, json=body, **kwargs) for body in bodies)))


def histogram(url: str, name: str) -> dict[str, float]:
    """`{"count": ..., "sum": ...}` of a histogram (label api=test) from /metrics."""
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(httpx.get(f"{url}/metrics").text):
        if family.name != name:
            continue
        for sample in family.samples:
            if sample.labels.get("api") == "test" and sample.name.endswith(("_count", "_sum")):
                found[sample.name.rsplit("_", 1)[1]] = sample.value
    return found


async def test_concurrent_requests_are_batched_up_to_max_size(serve_source) -> None:
    url = serve_source(ECHO_SYNC, batch_max_size=4, batch_timeout_ms=300, max_queue_length=64)
    responses = await post_many(url, [{"i": i} for i in range(20)])
    assert all(r.status_code == 200 for r in responses), [r.text for r in responses]
    sizes = [r.json()["batch"] for r in responses]
    assert all(1 <= size <= 4 for size in sizes), sizes
    assert max(sizes) > 1, f"nothing was batched: {sizes}"
    assert [r.json()["echo"] for r in responses] == [{"i": i} for i in range(20)]
    assert all(r.json()["thread"].startswith("predict") for r in responses), "sync predict runs in the pool"


async def test_async_predict_is_awaited_with_batches(serve_source) -> None:
    url = serve_source(ECHO_ASYNC, batch_max_size=8, batch_timeout_ms=300, max_queue_length=64)
    responses = await post_many(url, [{"i": i} for i in range(16)])
    assert all(r.status_code == 200 for r in responses), [r.text for r in responses]
    sizes = [r.json()["batch"] for r in responses]
    assert all(1 <= size <= 8 for size in sizes) and max(sizes) > 1, sizes
    assert [r.json()["echo"] for r in responses] == [{"i": i} for i in range(16)]
    assert all(r.json()["async"] for r in responses)


def test_a_lone_request_is_dispatched_alone_when_the_timer_fires(serve_source) -> None:
    url = serve_source(ECHO_SYNC, batch_max_size=8, batch_timeout_ms=200)
    response = httpx.post(url, json={"i": 0}, timeout=120)
    assert response.status_code == 200
    assert response.json()["batch"] == 1


async def test_full_batch_does_not_wait_for_the_timeout(serve_source) -> None:
    """The timer is 10 minutes and the client gives up after 2: a full batch is dispatched at once."""
    url = serve_source(ECHO_SYNC, batch_max_size=4, batch_timeout_ms=600_000, request_timeout_seconds=900)
    responses = await post_many(url, [{"i": i} for i in range(4)], timeout=120)
    assert [r.json()["batch"] for r in responses] == [4, 4, 4, 4]


async def test_a_batch_takes_one_concurrency_slot(serve_source) -> None:
    url = serve_source(ECHO_SYNC, batch_max_size=8, batch_timeout_ms=10_000, max_concurrency=1)
    responses = await post_many(url, [{"i": i} for i in range(8)])
    assert [r.json()["batch"] for r in responses] == [8] * 8


async def test_wrong_length_fails_every_request_in_the_batch(serve_source) -> None:
    source = """
    class PythonPredictor:
        def __init__(self, config):
            pass

        def predict(self, payload):
            return payload[:-1] if len(payload) > 1 else payload
    """
    url = serve_source(source, batch_max_size=4, batch_timeout_ms=10_000)
    responses = await post_many(url, [{"i": i} for i in range(4)])
    assert [r.status_code for r in responses] == [500] * 4
    for response in responses:
        assert response.json()["error"] == "predict returned 3 results for a batch of 4"
        assert response.json()["request_id"]
    again = await post_many(url, [{"i": i} for i in range(4)])  # the server is still up and answering
    assert [r.status_code for r in again] == [500] * 4
    assert httpx.get(f"{url}/healthz").status_code == 200


async def test_non_list_result_fails_the_batch_and_the_server_stays_up(serve_source) -> None:
    source = """
    class PythonPredictor:
        def __init__(self, config):
            pass

        def predict(self, payload):
            if any(p.get("bad") for p in payload):
                return {"not": "a list"}
            return [p["i"] for p in payload]
    """
    url = serve_source(source, batch_max_size=3, batch_timeout_ms=10_000)
    responses = await post_many(url, [{"i": 0}, {"bad": True}, {"i": 2}])
    assert [r.status_code for r in responses] == [500] * 3
    assert all("predict returned dict, expected a list of 3 results" in r.json()["error"] for r in responses)
    good = await post_many(url, [{"i": 0}, {"i": 1}, {"i": 2}])
    assert [(r.status_code, r.json()) for r in good] == [(200, 0), (200, 1), (200, 2)]


async def test_predict_exception_fails_the_batch_and_the_server_stays_up(serve_source) -> None:
    source = """
    class PythonPredictor:
        def __init__(self, config):
            pass

        async def predict(self, payload):
            if any(p.get("boom") for p in payload):
                raise RuntimeError("boom")
            return ["ok"] * len(payload)
    """
    url = serve_source(source, batch_max_size=2, batch_timeout_ms=10_000)
    responses = await post_many(url, [{"boom": True}, {"i": 1}])
    assert [r.status_code for r in responses] == [500, 500]
    assert all("raised an exception" in r.json()["error"] for r in responses)
    good = await post_many(url, [{"i": 0}, {"i": 1}])
    assert [(r.status_code, r.text) for r in good] == [(200, "ok"), (200, "ok")]


async def test_each_element_is_encoded_as_its_own_response(serve_source) -> None:
    source = """
    class PythonPredictor:
        def __init__(self, config):
            pass

        def predict(self, payload):
            kinds = {"json": {"a": 1}, "text": "hello", "bytes": b"\\x00\\x01", "bad": object()}
            return [kinds[p["kind"]] for p in payload]
    """
    url = serve_source(source, batch_max_size=4, batch_timeout_ms=10_000)
    responses = await post_many(url, [{"kind": k} for k in ("json", "text", "bytes", "bad")])
    json_r, text_r, bytes_r, bad_r = responses
    assert (json_r.status_code, json_r.json()) == (200, {"a": 1})
    assert (text_r.status_code, text_r.text) == (200, "hello")
    assert text_r.headers["content-type"].startswith("text/plain")
    assert (bytes_r.status_code, bytes_r.content) == (200, b"\x00\x01")
    assert bad_r.status_code == 500 and "unsupported type" in bad_r.json()["error"]


async def test_numpy_rows_of_a_batched_model_are_json(serve_source) -> None:
    """The README's batched predictor returns a numpy row per request, as model.encode gives them."""
    source = """
    import numpy

    class PythonPredictor:
        def predict(self, payload):
            matrix = numpy.array([[p["x"], p["x"] / 2] for p in payload], dtype=numpy.float32)
            return [{"embedding": row} for row in matrix]
    """
    url = serve_source(source, batch_max_size=3, batch_timeout_ms=10_000)
    responses = await post_many(url, [{"x": 1}, {"x": 2}, {"x": 3}])
    assert [r.json() for r in responses] == [{"embedding": [x, x / 2]} for x in (1, 2, 3)]


async def test_query_params_and_headers_are_lists_too(serve_source) -> None:
    source = """
    class PythonPredictor:
        def __init__(self, config):
            pass

        def predict(self, query_params, headers, payload):
            assert len(query_params) == len(headers) == len(payload)
            return [{"batch": len(payload), "q": q.get("n"), "h": h.get("x-n"), "p": p["n"]}
                    for q, h, p in zip(query_params, headers, payload)]
    """
    url = serve_source(source, batch_max_size=4, batch_timeout_ms=10_000)
    limits = httpx.Limits(max_connections=8, max_keepalive_connections=0)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        responses = await asyncio.gather(*(
            client.post(url, params={"n": str(i)}, headers={"x-n": str(i)}, json={"n": i}) for i in range(4)
        ))
    assert [r.json() for r in responses] == [{"batch": 4, "q": str(i), "h": str(i), "p": i} for i in range(4)]


async def test_per_request_timeout_still_applies(serve_source) -> None:
    url = serve_source(SLEEPING, batch_max_size=2, batch_timeout_ms=10_000, request_timeout_seconds=0.5,
                       predictor_config={"seconds": 2})
    responses = await post_many(url, [{"i": 0}, {"i": 1}])
    assert [r.status_code for r in responses] == [504, 504]


async def test_back_pressure_still_applies_per_request(serve_source) -> None:
    url = serve_source(SLEEPING, batch_max_size=4, batch_timeout_ms=50, max_concurrency=1, max_queue_length=2,
                       predictor_config={"seconds": 1})
    responses = await post_many(url, [{"i": i} for i in range(10)])
    codes = sorted(r.status_code for r in responses)
    assert codes.count(200) == 3 and codes.count(503) == 7, codes
    assert all(r.headers.get("retry-after") for r in responses if r.status_code == 503)


async def test_metrics_count_batches_and_waits(serve_source) -> None:
    url = serve_source(ECHO_SYNC, batch_max_size=4, batch_timeout_ms=10_000)
    for _ in range(2):
        responses = await post_many(url, [{"i": i} for i in range(4)])
        assert all(r.status_code == 200 for r in responses)
    sizes = histogram(url, "predictorapi_batch_size")
    assert sizes == {"count": 2.0, "sum": 8.0}
    waits = histogram(url, "predictorapi_batch_wait_seconds")
    assert waits["count"] == 8.0
    assert 0 <= waits["sum"] < 8 * 5


def test_batching_off_by_default_calls_predict_per_request(serve_source) -> None:
    source = """
    class PythonPredictor:
        def __init__(self, config):
            pass

        def predict(self, payload):
            return {"payload": payload}
    """
    url = serve_source(source)
    assert httpx.post(url, json={"i": 1}).json() == {"payload": {"i": 1}}
    assert histogram(url, "predictorapi_batch_size").get("count", 0.0) == 0.0
