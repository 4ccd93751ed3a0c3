"""The predictor interface over real HTTP: what predict receives, and how its result is sent."""

from __future__ import annotations

import time

import httpx
import pytest
from prometheus_client import CollectorRegistry
from support.runtime_threads import uvicorn_thread

from predictorapi.runtime.app import create_app
from predictorapi.runtime.settings import RuntimeSettings

ECHO = """
class PythonPredictor:
    def __init__(self, config):
        self.config = config

    def predict(self, payload):
        return {"type": type(payload).__name__, "payload": payload if not isinstance(payload, bytes)
                else payload.hex(), "config": self.config}
"""


@pytest.fixture
def echo(serve_source) -> str:
    return serve_source(ECHO, predictor_config={"threshold": 0.5})


def test_json_payload_is_decoded_and_config_reaches_init(echo: str) -> None:
    response = httpx.post(echo, json={"text": "hi", "n": [1, 2]})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"type": "dict", "payload": {"text": "hi", "n": [1, 2]}, "config": {"threshold": 0.5}}


def test_vendor_json_type_is_json(echo: str) -> None:
    response = httpx.post(echo, content=b"[1,2]", headers={"content-type": "application/vnd.api+json"})
    assert response.json()["payload"] == [1, 2]


def test_text_payload_honours_charset(echo: str) -> None:
    body = "café".encode("latin-1")
    response = httpx.post(echo, content=body, headers={"content-type": "text/plain; charset=latin-1"})
    assert response.json()["payload"] == "café"
    utf8 = httpx.post(echo, content="naïve".encode(), headers={"content-type": "text/plain"})
    assert utf8.json() == {"type": "str", "payload": "naïve", "config": {"threshold": 0.5}}


def test_urlencoded_form_is_a_dict(echo: str) -> None:
    response = httpx.post(echo, data={"a": "1", "b": "two"})
    assert response.json()["payload"] == {"a": "1", "b": "two"}


FORM_TYPES = """
class PythonPredictor:
    def predict(self, payload):
        return {key: [type(value).__name__, value.hex() if isinstance(value, bytes) else value]
                for key, value in payload.items()}
"""


def test_multipart_form_is_a_dict_with_file_bytes(serve_source) -> None:
    url = serve_source(FORM_TYPES)
    response = httpx.post(url, data={"field": "x"}, files={"upload": ("f.bin", b"\x00\x01", "application/x-raw")})
    assert response.status_code == 200
    assert response.json() == {"field": ["str", "x"], "upload": ["bytes", "0001"]}


@pytest.mark.parametrize("content_type", ["application/octet-stream", "image/png", None])
def test_other_content_types_are_bytes(echo: str, content_type: str | None) -> None:
    headers = {"content-type": content_type} if content_type else {}
    response = httpx.post(echo, content=b"\xff\x00raw", headers=headers)
    assert response.json()["type"] == "bytes"
    assert response.json()["payload"] == b"\xff\x00raw".hex()


def test_predict_receives_query_params_and_headers(serve_source) -> None:
    url = serve_source("""
        class PythonPredictor:
            def predict(self, query_params, headers):
                return {"model": query_params.get("model"), "tenant": headers.get("x-tenant")}
    """)
    response = httpx.post(f"{url}/predict?model=sentiment", headers={"X-Tenant": "acme"})
    assert response.json() == {"model": "sentiment", "tenant": "acme"}


def test_body_is_not_read_when_predict_does_not_ask_for_payload(serve_source) -> None:
    url = serve_source("""
        class PythonPredictor:
            def predict(self):
                return "no payload needed"
    """)
    response = httpx.post(url, content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 200
    assert response.text == "no payload needed"


def test_async_predict_is_awaited_and_init_without_config(serve_source) -> None:
    url = serve_source("""
        import asyncio

        class Model:
            def __init__(self):
                self.ready = True

            async def predict(self, payload, query_params):
                await asyncio.sleep(0)
                return [payload["x"] * 2, query_params.get("q")]
    """, predictor_class="Model")
    assert httpx.post(f"{url}/?q=1", json={"x": 21}).json() == [42, "1"]


@pytest.mark.parametrize(
    ("expression", "content_type", "body"),
    [
        ("'plain text'", "text/plain; charset=utf-8", b"plain text"),
        ("b'\\x00\\x01'", "application/octet-stream", b"\x00\x01"),
        ("{'a': 1}", "application/json", b'{"a":1}'),
        ("[1, 'two']", "application/json", b'[1,"two"]'),
        ("3.5", "application/json", b"3.5"),
        ("True", "application/json", b"true"),
        ("None", "application/json", b"null"),
        ("{'café': '☕'}", "application/json", '{"café":"☕"}'.encode()),
        ("{'v': numpy.array([0.5, -1.25], dtype=numpy.float32), 'n': numpy.int64(7)}", "application/json",
         b'{"v":[0.5,-1.25],"n":7}'),
        ("{1: 'a', None: 'b'}", "application/json", b'{"1":"a","null":"b"}'),
        ("[float('nan'), float('inf')]", "application/json", b"[null,null]"),
        ("[2**70]", "application/json", b"[1180591620717411303424]"),
    ],
)
def test_return_value_decides_the_response(serve_source, expression: str, content_type: str, body: bytes) -> None:
    url = serve_source(f"""
        import numpy

        class PythonPredictor:
            def predict(self):
                return {expression}
    """)
    response = httpx.post(url)
    assert response.status_code == 200
    assert response.headers["content-type"] == content_type
    assert response.content == body


def test_unserialisable_result_is_a_500_naming_it(serve_source) -> None:
    url = serve_source("""
        class PythonPredictor:
            def predict(self):
                return {"when": object()}
    """)
    response = httpx.post(url)
    assert response.status_code == 500
    assert "not JSON serialisable" in response.json()["error"]
    assert httpx.post(url).status_code == 500  # and the server is still up


def test_response_object_passes_through_unchanged(serve_source) -> None:
    url = serve_source("""
        from fastapi.responses import JSONResponse

        class PythonPredictor:
            def predict(self, query_params):
                return JSONResponse({"error": f"unknown model: {query_params.get('model')}"}, status_code=400,
                                    headers={"X-Custom": "yes"})
    """)
    response = httpx.post(f"{url}/?model=nope")
    assert response.status_code == 400
    assert response.json() == {"error": "unknown model: nope"}
    assert response.headers["x-custom"] == "yes"


def test_sync_predicts_run_concurrently_in_the_thread_pool(serve_source) -> None:
    url = serve_source("""
        import threading

        barrier = threading.Barrier(3, timeout=20)

        class PythonPredictor:
            def predict(self):
                barrier.wait()   # only passes when three predicts run at the same time
                return threading.current_thread().name
    """, max_concurrency=3)
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        names = list(pool.map(lambda _: httpx.post(url, timeout=30).text, range(3)))
    assert len(set(names)) == 3 and all(name.startswith("predict") for name in names)


def test_docs_and_openapi_are_served(echo: str) -> None:
    schema = httpx.get(f"{echo}/openapi.json").json()
    assert "/" in schema["paths"] and "/predict" in schema["paths"]
    assert httpx.get(f"{echo}/docs").status_code == 200


def test_create_app_takes_a_predictor_instance_or_class_in_process() -> None:
    """The factory of the design: `create_app(predictor, settings, registry)`, served by a real uvicorn."""
    class Doubler:
        def __init__(self, config):
            self.factor = config["factor"]

        def predict(self, payload):
            return payload["x"] * self.factor

    settings = RuntimeSettings(api_name="inproc", predictor_config={"factor": 3})
    for predictor in (Doubler({"factor": 3}), Doubler):
        with uvicorn_thread(create_app(predictor, settings, CollectorRegistry())) as url:
            deadline = time.monotonic() + 10
            while httpx.get(f"{url}/readyz").status_code != 200:
                assert time.monotonic() < deadline
                time.sleep(0.02)
            assert httpx.post(url, json={"x": 2}).json() == 6
