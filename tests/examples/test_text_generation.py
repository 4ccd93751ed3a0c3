"""examples/text-generation served by `predictorapi serve`, on a tiny causal LM saved under its default id.

Consumed as users do: curl-like HTTP streams, a real SSE client, and the official `openai` client with
`base_url` pointing at the API (the manifest's Ingress path is `/v1/chat/completions`).
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from httpx_sse import connect_sse
from openai import OpenAI
from prometheus_client.parser import text_string_to_metric_families
from support.processes import CLI, REPO, free_port, running
from support.tiny_models import TEXT_GENERATION_MODEL, offline_hf_env, save_tiny_causal_lm

pytestmark = pytest.mark.slow
EXAMPLE = REPO / "examples" / "text-generation"
HANG_GUARD_S = 120.0


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    home = tmp_path_factory.mktemp("hf")
    save_tiny_causal_lm(home)
    port = free_port()
    with running([*CLI, "serve", str(EXAMPLE), "--port", str(port)], port, offline_hf_env(home)):
        yield f"http://127.0.0.1:{port}"


def _metric(url: str, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(httpx.get(f"{url}/metrics").text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    return 0.0


def test_a_prompt_streams_text_chunks(url: str) -> None:
    body = {"prompt": "the quick brown fox", "max_new_tokens": 16, "min_new_tokens": 16}
    with httpx.Client(timeout=HANG_GUARD_S) as client, client.stream("POST", url, json=body) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        chunks = [chunk for chunk in response.iter_text() if chunk]
    assert chunks and "".join(chunks).strip()


def test_a_prompt_streams_events_when_asked(url: str) -> None:
    body = {"prompt": "models serve", "max_new_tokens": 8, "min_new_tokens": 8}
    with httpx.Client(timeout=HANG_GUARD_S) as client, connect_sse(
            client, "POST", url, json=body, headers={"accept": "text/event-stream"}) as source:
        events = list(source.iter_sse())
    assert events and all(event.event == "message" for event in events)


def test_the_openai_client_streams_chat_completions(url: str) -> None:
    client = OpenAI(base_url=f"{url}/v1", api_key="unused", timeout=HANG_GUARD_S, max_retries=0)
    stream = client.chat.completions.create(
        model="tiny", messages=[{"role": "user", "content": "say hello"}], max_tokens=12, stream=True,
        extra_body={"min_new_tokens": 12})
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert all(chunk.object == "chat.completion.chunk" and chunk.id == chunks[0].id for chunk in chunks)
    assert "".join(chunk.choices[0].delta.content or "" for chunk in chunks).strip()
    assert chunks[-1].choices[0].finish_reason == "length"  # 12 tokens asked and produced


def test_the_openai_client_without_streaming_gets_one_completion(url: str) -> None:
    client = OpenAI(base_url=f"{url}/v1", api_key="unused", timeout=HANG_GUARD_S, max_retries=0)
    completion = client.chat.completions.create(
        model="tiny", messages=[{"role": "user", "content": "say hello"}], max_tokens=6)
    assert completion.object == "chat.completion"
    assert completion.choices[0].message.role == "assistant"
    assert completion.choices[0].finish_reason in {"length", "stop"}


def test_a_client_that_leaves_stops_the_generation(url: str) -> None:
    before = _metric(url, "predictorapi_streams_ended_total", reason="disconnect")
    body = {"prompt": "a long story", "max_new_tokens": 256, "min_new_tokens": 256}
    with httpx.Client(timeout=HANG_GUARD_S) as client, client.stream("POST", url, json=body) as response:
        assert next(response.iter_bytes())
    deadline = time.monotonic() + HANG_GUARD_S
    while _metric(url, "predictorapi_streams_ended_total", reason="disconnect") < before + 1 or \
            _metric(url, "predictorapi_busy_slots") > 0:  # generate stopped: its slot is free again
        assert time.monotonic() < deadline, "the stream was never closed"
        time.sleep(0.05)


def test_a_bad_payload_is_400(url: str) -> None:
    response = httpx.post(url, json={"text": "no prompt"}, timeout=HANG_GUARD_S)
    assert response.status_code == 400 and "prompt" in response.json()["error"]


def _predictor_source(example: str) -> str:
    return (REPO / "examples" / example / "predictor.py").read_text()


def test_the_default_model_is_the_one_the_tests_stand_in_for_and_the_offline_check_is_the_shared_copy() -> None:
    spec = importlib.util.spec_from_file_location("example_text_generation", EXAMPLE / "predictor.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.DEFAULT_MODEL == TEXT_GENERATION_MODEL
    copy = _predictor_source("text-generation").partition("\ndef require_model_or_hub")[2]
    assert copy and copy == _predictor_source("summarizer").partition("\ndef require_model_or_hub")[2]
    assert Path(EXAMPLE / "Dockerfile").is_file()
