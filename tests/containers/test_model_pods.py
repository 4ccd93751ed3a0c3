"""`spec.model` in real pods: examples/s3-model's `fetch-model` init container downloads from S3 (moto's server
on loopback) into the cache claim, two pods on one claim download once, and a model that does not exist ends
with the reason and message the operator shows."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from support import containers
from support.containers import REPO, Podman
from support.otlp import otlp_receiver
from support.played_pods import pod_status, wait_failed
from support.processes import free_port
from support.s3 import S3, s3_server

from predictorapi.contracts.pod import MODEL_CONTAINER
from predictorapi_operator.status import pod_problem

EXAMPLE = REPO / "examples" / "s3-model"
IMAGE = "ghcr.io/predictorapi/examples-s3-model:0.1.0"
HANG_GUARD_S = 300.0
RUN_AS = 10001


@pytest.fixture(scope="module")
def s3() -> Iterator[S3]:
    with s3_server() as server:
        server.put("models", {f"sentiment/v3/{p.name}": p.read_bytes() for p in (EXAMPLE / "model").iterdir()})
        yield server


@pytest.fixture
def claim(podman: Podman) -> Iterator[str]:
    """A fresh cache claim, writable by the pods' group (fsGroup)."""
    with containers.claim(podman, "model-cache", group=RUN_AS) as (name, _):
        yield name


@pytest.fixture
def credentials(podman: Podman, s3: S3) -> Iterator[str]:
    """The example's model secretRef (a Secret of its own name per test): the S3 endpoint and key pair."""
    with containers.secret(podman, f"model-credentials-{uuid.uuid4().hex[:8]}", s3.env()) as name:
        yield name


def _deployment(runtime_image: str, claim: str, credentials: str, uri: str | None = None,
                tracing: dict[str, Any] | None = None) -> dict[str, Any]:
    manifest = containers.load_manifest(EXAMPLE)
    manifest["spec"]["model"]["cache"]["claimName"] = claim
    manifest["spec"]["model"]["secretRef"]["name"] = credentials
    if uri:
        manifest["spec"]["model"]["uri"] = uri
    if tracing:
        manifest["spec"].setdefault("monitoring", {})["tracing"] = tracing
    return containers.render(manifest, runtime_image)


def test_two_pods_on_one_cache_claim_download_the_model_once(
        podman: Podman, container_work: Path, example_image: Callable[[str], str], runtime_image: str, s3: S3,
        claim: str, credentials: str) -> None:
    image = {IMAGE: example_image("s3-model")}
    deployment = _deployment(runtime_image, claim, credentials)
    with containers.played(podman, container_work, deployment, free_port(), image, "s3-model-a") as first:
        print(f"s3-model (downloading) ready in {first.wait_ready(HANG_GUARD_S):.1f} s")
        answer = httpx.post(f"{first.url}/", json={"text": "great and fast"}, timeout=60)
        downloads = dict(s3.object_gets)
        with containers.played(podman, container_work, deployment, free_port(), image, "s3-model-b") as second:
            print(f"s3-model (from the cache) ready in {second.wait_ready(HANG_GUARD_S):.1f} s")
            again = httpx.post(f"{second.url}/", json={"text": "great and fast"}, timeout=60)
            fetched = second.termination_message(MODEL_CONTAINER)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"label": "POSITIVE", "score": 2.0, "model_version": "v3"}
    assert downloads == {"/models/sentiment/v3/weights.json": 1, "/models/sentiment/v3/VERSION": 1}
    assert again.json() == answer.json()
    assert dict(s3.object_gets) == downloads, "the second pod downloaded again"
    assert "/srv/model/" in fetched, fetched  # fetch-model's success message names the model's folder
    # on the claim, the download lies in its models/ folder (the only part fetch-model and the runtime mount)
    on_claim = containers.claim_folder(podman, claim)
    assert [p.name for p in on_claim.iterdir()] == ["models"], list(on_claim.iterdir())
    assert any(folder.is_dir() for folder in (on_claim / "models").iterdir())


def test_a_model_that_does_not_exist_ends_with_its_reason(
        podman: Podman, container_work: Path, example_image: Callable[[str], str], runtime_image: str, s3: S3,
        claim: str, credentials: str) -> None:
    deployment = _deployment(runtime_image, claim, credentials, uri="s3://models/no-such-model/")
    pod = containers.play(podman, container_work, deployment, free_port(), {IMAGE: example_image("s3-model")},
                          "s3-missing", restart="Never", check=False)
    try:
        assert wait_failed(pod, deployment, HANG_GUARD_S) == MODEL_CONTAINER
        status = pod_status(pod, deployment)
        message = pod.termination_message(MODEL_CONTAINER)
        logs = pod.logs(MODEL_CONTAINER)
    finally:
        containers.down(pod)
    assert message.startswith("ModelDownloadFailed: s3://models/no-such-model/"), message + logs
    reason, shown = pod_problem([status])
    assert reason == "ModelDownloadFailed"
    assert shown.startswith(f"{MODEL_CONTAINER}: ModelDownloadFailed: s3://models/no-such-model/"), shown
    assert s3.secret_key not in message + logs


def test_a_traced_pod_exports_its_download_and_its_requests_spans(
        podman: Podman, container_work: Path, example_image: Callable[[str], str], runtime_image: str, s3: S3,
        claim: str, credentials: str) -> None:
    """`monitoring.tracing` in a real pod (the runtime image's tracing extra, the operator's `OTEL_*` environment):
    `fetch-model` is a span of its own, and a request is a server span with `predict` and `encode` under it, all
    exported to an OTLP receiver on the host's loopback under the API's name."""
    image = {IMAGE: example_image("s3-model")}
    with otlp_receiver() as receiver:
        deployment = _deployment(runtime_image, claim, credentials,
                                 tracing={"endpoint": receiver.url, "sampleRatio": 1})
        with containers.played(podman, container_work, deployment, free_port(), image, "s3-model-traced") as pod:
            pod.wait_ready(HANG_GUARD_S)
            answer = httpx.post(f"{pod.url}/", json={"text": "great and fast"}, timeout=60)
            assert answer.status_code == 200, answer.text
            trace_id = answer.headers["traceresponse"].split("-")[1]
            spans = receiver.trace(trace_id, 3, timeout=HANG_GUARD_S)
        [fetch] = receiver.named("predictorapi fetch-model")
    assert (fetch.service, fetch.attributes["process.exit.code"], fetch.status_code) == ("s3-model", 0, 0)
    by_id = {span.span_id: span for span in spans}
    assert sorted((span.name, by_id[span.parent_id].name if span.parent_id in by_id else None) for span in spans) \
        == [("POST /", None), ("encode", "POST /"), ("predict", "POST /")], spans
    assert {span.service for span in spans} == {"s3-model"}
