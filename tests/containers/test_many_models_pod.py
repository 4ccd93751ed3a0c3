"""`spec.models` in a real pod: the rendered `model-store` sidecar (the runtime image, `predictorapi model-store`, as
rendered: uid 10001, read-only root filesystem, the models' credentials its own) lists a bucket on moto's S3 server
and downloads versions into the pod's disk tier; the runtime container (no credentials) serves Cortex's multi-model
predictor from it. podman 4.3 runs init containers to completion and knows no native sidecar (an init container
with `restartPolicy: Always`), so the store is played as a regular container of the pod; its port is a free one,
as podman's host network needs."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from support import containers
from support.containers import Podman
from support.processes import free_port
from support.s3 import S3, s3_server

from predictorapi.contracts.models import MODEL_STORE_CONTAINER, MODEL_STORE_PORT_ENV, MODEL_STORE_URL_ENV

from .conftest import TEST_IMAGE
from .test_pods import HANG_GUARD_S, _manifest


@pytest.fixture(scope="module")
def s3() -> Iterator[S3]:
    with s3_server() as server:
        server.put("models", {"many/iris/1/model.json": b'{"answer": "iris-1"}',
                              "many/iris/2/model.json": b'{"answer": "iris-2"}',
                              "many/mpg/model.json": b'{"answer": "mpg"}'})
        yield server


def _as_podman_plays_it(deployment: dict[str, Any], store_port: int) -> dict[str, Any]:
    """The native sidecar as a regular container on a free port (everything else as rendered)."""
    pod = deployment["spec"]["template"]["spec"]
    (store,) = [c for c in pod["initContainers"] if c["name"] == MODEL_STORE_CONTAINER]
    pod["initContainers"].remove(store)
    if not pod["initContainers"]:
        del pod["initContainers"]
    assert store.pop("restartPolicy") == "Always", "rendered as a native sidecar"
    store.pop("readinessProbe")  # playable() points probes at the runtime's port
    for var in store["env"]:
        if var["name"] == MODEL_STORE_PORT_ENV:
            var["value"] = str(store_port)
    for var in pod["containers"][0]["env"]:
        if var["name"] == MODEL_STORE_URL_ENV:
            var["value"] = f"http://127.0.0.1:{store_port}"
    pod["containers"].append(store)
    return deployment


def test_the_model_store_sidecar_serves_many_models_to_a_runtime_without_credentials(
        podman: Podman, container_work: Path, predictors_image: str, runtime_image: str, s3: S3) -> None:
    with containers.secret(podman, f"models-credentials-{uuid.uuid4().hex[:8]}", s3.env()) as credentials:
        manifest = _manifest("many", "many_models.py", models={
            "dir": "s3://models/many/", "cacheSize": 1, "diskCacheSize": 2, "secretRef": {"name": credentials}})
        deployment = _as_podman_plays_it(containers.render(manifest, runtime_image), free_port())
        with containers.played(podman, container_work, deployment, free_port(), {TEST_IMAGE: predictors_image},
                               "many") as pod:
            pod.wait_ready(HANG_GUARD_S)
            with httpx.Client(base_url=pod.url, timeout=HANG_GUARD_S) as client:
                answers = {query: client.post("/", params=dict(query), json={}) for query in (
                    (("model", "iris"),), (("model", "iris"), ("version", "1")), (("model", "mpg"),),
                    (("model", "iris"), ("version", "2")))}
                missing = client.post("/", params={"model": "nope"}, json={})
                runtime_env = podman.run("exec", pod.container("runtime"), "env").stdout
    assert {query: (r.status_code, r.json()["answer"]) for query, r in answers.items()} == {
        (("model", "iris"),): (200, "iris-2"), (("model", "iris"), ("version", "1")): (200, "iris-1"),
        (("model", "mpg"),): (200, "mpg"), (("model", "iris"), ("version", "2")): (200, "iris-2")}
    assert not any(r.json()["credentials_seen"] for r in answers.values()), "the predictor saw the credentials"
    assert "AWS_SECRET_ACCESS_KEY" not in runtime_env and s3.secret_key not in runtime_env
    assert missing.status_code == 404 and missing.json()["model"] == "nope", missing.text
    # diskCacheSize 2: mpg evicted iris 2 (least recently used) from the pod's disk, so asking again downloads it
    assert dict(s3.object_gets) == {"/models/many/iris/2/model.json": 2, "/models/many/iris/1/model.json": 1,
                                    "/models/many/mpg/model.json": 1}
