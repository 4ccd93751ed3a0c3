"""The examples, served by `predictorapi serve` exactly as a user runs them, called over HTTP.

The seed predictors run unmodified against tiny models saved under their pipelines' default ids
(no downloads); the offline example uses the real all-MiniLM-L6-v2 its package ships.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from support.processes import CLI, REPO, free_port, running
from support.tiny_models import offline_hf_env, save_tiny_sentiment, save_tiny_summarizer

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def hf_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("hf")
    save_tiny_summarizer(home)
    save_tiny_sentiment(home)
    return home


def _serve(example: str, env: dict[str, str]) -> Iterator[str]:
    port = free_port()
    with running([*CLI, "serve", str(REPO / "examples" / example), "--port", str(port)], port, env):
        yield f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def summarizer(hf_home: Path) -> Iterator[str]:
    yield from _serve("summarizer", offline_hf_env(hf_home))


@pytest.fixture(scope="module")
def multi_model(hf_home: Path) -> Iterator[str]:
    yield from _serve("multi-model", offline_hf_env(hf_home))


@pytest.fixture(scope="module")
def similarity(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from _serve("sentence-similarity", offline_hf_env(tmp_path_factory.mktemp("empty-hf")))


def test_summarizer_returns_text(summarizer: str) -> None:
    response = httpx.post(summarizer, json={"text": "the quick brown fox jumps over the lazy dog"}, timeout=60)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert isinstance(response.text, str)


def test_summarizer_missing_field_is_a_server_side_error_and_server_stays_up(summarizer: str) -> None:
    response = httpx.post(summarizer, json={"no_text": 1}, timeout=60)
    assert response.status_code == 500
    assert set(response.json()) == {"error", "request_id"}
    assert httpx.get(f"{summarizer}/healthz").status_code == 200


def test_multi_model_routes_by_query_param(multi_model: str) -> None:
    sentiment = httpx.post(f"{multi_model}/?model=sentiment", json={"text": "models serve"}, timeout=60)
    assert sentiment.status_code == 200
    assert sentiment.json()["label"] in {"POSITIVE", "NEGATIVE"}
    summary = httpx.post(f"{multi_model}/predict?model=summarizer", json={"text": "a summary is short"}, timeout=60)
    assert summary.status_code == 200
    assert "summary_text" in summary.json()


def test_multi_model_unknown_model_is_400(multi_model: str) -> None:
    response = httpx.post(f"{multi_model}/?model=nope", json={"text": "x"}, timeout=60)
    assert response.status_code == 400
    assert response.json() == {"error": "unknown model: nope"}


def test_similarity_ranks_the_related_document_first(similarity: str) -> None:
    body = {"query": "How do I deploy a model?",
            "documents": ["Bananas are yellow", "Ship the model with a PredictorAPI manifest"]}
    response = httpx.post(similarity, json=body, timeout=60)
    assert response.status_code == 200
    results = response.json()["results"]
    assert results[0]["document"] == "Ship the model with a PredictorAPI manifest"
    assert results[0]["score"] > results[1]["score"]


def test_similarity_embeddings_have_384_dimensions(similarity: str) -> None:
    response = httpx.post(similarity, json={"sentences": ["hello world", "bonjour"]}, timeout=60)
    assert response.status_code == 200
    embeddings = response.json()["embeddings"]
    assert len(embeddings) == 2 and all(len(vector) == 384 for vector in embeddings)
    assert httpx.post(similarity, json={"sentences": "not a list"}, timeout=60).status_code == 400
