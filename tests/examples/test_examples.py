"""The examples, served by `predictorapi serve` exactly as a user runs them, called over HTTP.

The seed predictors run unmodified against tiny models saved under their pipelines' default ids
(no downloads); the offline example uses the real all-MiniLM-L6-v2 its package ships.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
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


# --- models that must be downloaded: fail fast offline, never a retry storm ---------------------------

DOWNLOADING = ("summarizer", "multi-model")
HUB_VARIABLES = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_ENDPOINT", "HTTPS_PROXY", "https_proxy")


def _hub_env(hf_home: Path, mode: str) -> dict[str, str]:
    """`offline`: HF_HUB_OFFLINE=1; `unreachable`: no such setting, and a Hub endpoint nothing listens on."""
    env = {k: v for k, v in os.environ.items() if k not in HUB_VARIABLES}
    env["HF_HOME"] = str(hf_home)
    if mode == "offline":
        env["HF_HUB_OFFLINE"] = "1"
    else:
        env["HF_ENDPOINT"] = f"http://127.0.0.1:{free_port()}"
    return env


@pytest.mark.parametrize("mode", ["offline", "unreachable"])
@pytest.mark.parametrize("example", DOWNLOADING)
def test_without_network_and_cache_start_up_fails_fast_with_one_line(example: str, mode: str,
                                                                     tmp_path: Path) -> None:
    started = time.monotonic()
    result = subprocess.run([*CLI, "serve", str(REPO / "examples" / example), "--port", str(free_port())],
                            env=_hub_env(tmp_path, mode), capture_output=True, text=True, timeout=180)
    elapsed = time.monotonic() - started
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    last = output.strip().splitlines()[-1]
    assert "cannot load" in last and "not in the Hugging Face cache" in last, output
    assert ("HF_HUB_OFFLINE is set" if mode == "offline" else "cannot be reached") in last
    assert "Retrying" not in output and "thrown while requesting" not in output, output
    assert len(output.splitlines()) < 40, output
    assert elapsed < 45, f"took {elapsed:.0f}s (with the Hub's retries it takes 40 s and more)"


def test_cached_models_load_without_retries_when_the_hub_is_unreachable(hf_home: Path) -> None:
    """Models in the cache need no network: the predictor switches the client offline instead of letting
    it retry every file."""
    port = free_port()
    args = [*CLI, "serve", str(REPO / "examples" / "multi-model"), "--port", str(port)]
    started = time.monotonic()
    with running(args, port, _hub_env(hf_home, "unreachable"), timeout=90) as proc:
        response = httpx.post(f"http://127.0.0.1:{port}/?model=sentiment", json={"text": "fine"}, timeout=60)
    output = proc.stdout.read()
    assert response.status_code == 200, output
    assert "Retrying" not in output and "thrown while requesting" not in output, output
    assert time.monotonic() - started < 90


def _load(example: str):
    spec = importlib.util.spec_from_file_location(f"example_{example.replace('-', '_')}",
                                                  REPO / "examples" / example / "predictor.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_models_checked_are_the_pipelines_defaults() -> None:
    from transformers.pipelines import check_task

    def default(task: str) -> str:
        return check_task(task)[1]["default"]["model"]["pt"][0]

    summarizer, multi_model = _load("summarizer"), _load("multi-model")
    assert default("summarization") == summarizer.DEFAULT_MODEL
    assert {t: default(t) for t in ("sentiment-analysis", "summarization")} == multi_model.DEFAULT_MODELS


def test_the_offline_check_is_the_same_in_every_example() -> None:
    """Each example is a self-contained build context, so the check is copied, not imported: keep the copies equal."""
    copies = {(REPO / "examples" / e / "predictor.py").read_text().partition("\ndef require_model_or_hub")[2]
              for e in DOWNLOADING}
    assert len(copies) == 1 and copies != {""}


@pytest.mark.parametrize("example", sorted(p.parent.name for p in (REPO / "examples").glob("*/predictor.py")))
def test_readme_says_whether_it_downloads_and_how_to_build_and_deploy(example: str) -> None:
    folder = REPO / "examples" / example
    readme, predictor = (folder / "README.md").read_text(), (folder / "predictor.py").read_text()
    manifest = yaml.safe_load((folder / "predictorapi.yaml").read_text())
    if "require_model_or_hub(" in predictor:
        assert "**Needs a model download" in readme or "**Needs model downloads" in readme
    else:
        assert "nothing is downloaded" in readme
    image = manifest["spec"]["predictor"]["image"]
    for command in (f"docker build -t \"$IMAGE\" examples/{example}", 'docker push "$IMAGE"',
                    f"s#{image}#$IMAGE#", f"examples/{example}/predictorapi.yaml | kubectl apply -f -",
                    f"kubectl wait --for=condition=Ready predictorapi/{manifest['metadata']['name']}"):
        assert command in readme, command
    # Schedulable on any cluster; the GPU is documented, and the predictor falls back to the CPU.
    assert manifest["spec"]["compute"].get("gpu", 0) == 0
    if "cuda" in predictor:
        assert "GPU" in readme and "runtime:" in readme and "-cuda" in readme
