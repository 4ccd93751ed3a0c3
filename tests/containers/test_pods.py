"""The pods the operator renders, run for real (`podman kube play`, host network): the examples answer their
README requests, several processes answer in one container, a failing predictor's error reaches the status,
and a stopped pod drains. Each pod runs exactly as rendered: uid 10001, read-only root filesystem, all
capabilities dropped, the rendered env, probes, volumes and termination-message policy."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from support import containers
from support.containers import REPO, Podman
from support.played_pods import kubelet_message
from support.processes import free_port
from support.tiny_models import TEXT_GENERATION_MODEL, save_tiny_causal_lm

from predictorapi.contracts.metrics import IN_FLIGHT
from predictorapi_operator.status import pod_problem

from .conftest import TEST_IMAGE

HANG_GUARD_S = 300.0
README_REQUEST = {"query": "How do I deploy a model?",
                  "documents": ["Ship it with a PredictorAPI manifest", "Bananas are yellow"]}


def _manifest(name: str, path: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "serving.predictorapi.dev/v1alpha1", "kind": "PredictorAPI", "metadata": {"name": name},
            "spec": {"predictor": {"image": TEST_IMAGE, "path": path}, **spec}}


def _runtime_status(pod: containers.Pod, deployment: dict[str, Any]) -> dict[str, Any]:
    """The container status the kubelet reports for a runtime container that failed: CrashLoopBackOff, its last
    termination with the real exit code and its message as the kubelet reads it."""
    (runtime,) = deployment["spec"]["template"]["spec"]["containers"]
    state = pod.wait_exited(runtime["name"], HANG_GUARD_S)
    message = kubelet_message(pod, runtime, state["ExitCode"])
    return {"metadata": {"name": pod.pod}, "status": {"containerStatuses": [{
        "name": runtime["name"],
        "state": {"waiting": {"reason": "CrashLoopBackOff",
                              "message": f"back-off 10s restarting failed container={runtime['name']}"}},
        "lastState": {"terminated": {"exitCode": state["ExitCode"], "reason": "Error", "message": message}}}]}}


def test_sentence_similarity_answers_its_readme_request_from_its_pod(
        podman: Podman, container_work: Path, example_image: Callable[[str], str], runtime_image: str) -> None:
    example = REPO / "examples" / "sentence-similarity"
    deployment = containers.render(example, runtime_image)
    image = example_image("sentence-similarity")
    with containers.played(podman, container_work, deployment, free_port(),
                           {"ghcr.io/predictorapi/examples-sentence-similarity:0.1.0": image}, "sentence-similarity") \
            as pod:
        print(f"sentence-similarity ready in {pod.wait_ready(HANG_GUARD_S):.1f} s")
        response = httpx.post(f"{pod.url}/", json=README_REQUEST, timeout=60)
        assert response.status_code == 200, response.text
        assert [r["document"] for r in response.json()["results"]] == README_REQUEST["documents"]
        assert response.json()["results"][0]["score"] == pytest.approx(0.36298, abs=1e-3)
        embeddings = httpx.post(f"{pod.url}/", json={"sentences": ["hello world"]}, timeout=60).json()["embeddings"]
        assert len(embeddings) == 1 and len(embeddings[0]) == 384
        assert pod.state("runtime").get("Status") == "running"
        user = podman.run("exec", pod.container("runtime"), "id", "-u").stdout.strip()
        read_only = podman.run("exec", pod.container("runtime"), "touch", "/app/x", check=False)
        logs = pod.logs("runtime")
    assert user == "10001"
    assert read_only.returncode != 0 and "Read-only file system" in read_only.stdout
    lines = [line for line in logs.splitlines() if line.strip()]
    assert lines, logs
    for line in lines:  # JSON lines only: no progress bar or stray print in the log stream
        assert isinstance(json.loads(line), dict), line


def test_text_generation_streams_from_its_pod_with_a_tiny_model(
        podman: Podman, container_work: Path, example_image: Callable[[str], str], runtime_image: str) -> None:
    # What a user does to serve from a pre-filled Hugging Face cache: the cache on a claim, offline.
    with containers.claim(podman, "hf-cache") as (volume, hf_home):
        save_tiny_causal_lm(hf_home, TEXT_GENERATION_MODEL)
        for path in [hf_home, *hf_home.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
        manifest = containers.load_manifest(REPO / "examples" / "text-generation")
        manifest["spec"]["volumes"] = [{"name": "hf-cache", "persistentVolumeClaim": {"claimName": volume}}]
        manifest["spec"]["volumeMounts"] = [{"name": "hf-cache", "mountPath": "/models/hf", "readOnly": True}]
        manifest["spec"]["predictor"]["env"] = [{"name": "HF_HOME", "value": "/models/hf"},
                                                {"name": "HF_HUB_OFFLINE", "value": "1"}]
        deployment = containers.render(manifest, runtime_image)
        image = {"ghcr.io/predictorapi/examples-text-generation:0.1.0": example_image("text-generation")}
        with containers.played(podman, container_work, deployment, free_port(), image, "text-generation") as pod:
            print(f"text-generation ready in {pod.wait_ready(HANG_GUARD_S):.1f} s")
            body = {"prompt": "Kubernetes is", "max_new_tokens": 64}  # the README's requests
            chat = {"model": "smollm2", "stream": True, "messages": [{"role": "user", "content": "Say hello"}]}
            with httpx.Client(timeout=HANG_GUARD_S) as client:
                with client.stream("POST", f"{pod.url}/", json=body) as response:
                    assert response.status_code == 200
                    chunks = [chunk for chunk in response.iter_text() if chunk]
                with client.stream("POST", f"{pod.url}/v1/chat/completions", json=chat) as response:
                    assert response.status_code == 200
                    events = [line for line in response.iter_lines() if line.startswith("data: ")]
    assert chunks and "".join(chunks).strip()
    assert events and events[-1] == "data: [DONE]", events[-3:]


@pytest.mark.parametrize("example", ["summarizer", "multi-model"])
def test_examples_that_need_a_download_fail_with_their_message(
        podman: Podman, container_work: Path, example_image: Callable[[str], str], runtime_image: str,
        example: str) -> None:
    deployment = containers.render(REPO / "examples" / example, runtime_image)
    image = example_image(example)
    with containers.played(podman, container_work, deployment, free_port(),
                           {f"ghcr.io/predictorapi/examples-{example}:0.1.0": image}, example, restart="Never") as pod:
        status = _runtime_status(pod, deployment)
    assert status["status"]["containerStatuses"][0]["lastState"]["terminated"]["exitCode"] != 0
    reason, message = pod_problem([status])
    assert reason == "CrashLoopBackOff"
    assert "PredictorLoadFailed" in message and "not in the Hugging Face cache" in message, message
    assert "back-off" not in message


def test_a_predictor_whose_init_raises_shows_its_error_in_the_status(
        podman: Podman, container_work: Path, predictors_image: str, runtime_image: str) -> None:
    deployment = containers.render(_manifest("failing", "failing.py"), runtime_image)
    with containers.played(podman, container_work, deployment, free_port(), {TEST_IMAGE: predictors_image},
                           "failing", restart="Never") as pod:
        status = _runtime_status(pod, deployment)
        written = pod.termination_message("runtime")
    assert written.startswith("PredictorLoadFailed: RuntimeError: the weights file is corrupt (test)"), written
    reason, message = pod_problem([status])
    assert reason == "CrashLoopBackOff"
    assert message.endswith("container runtime is in CrashLoopBackOff: PredictorLoadFailed: RuntimeError: "
                            "the weights file is corrupt (test)"), message


def test_two_processes_per_replica_answer_in_one_container(
        podman: Podman, container_work: Path, predictors_image: str, runtime_image: str) -> None:
    deployment = containers.render(_manifest("processes", "slow.py", processesPerReplica=2, maxConcurrency=8),
                                   runtime_image)
    with containers.played(podman, container_work, deployment, free_port(), {TEST_IMAGE: predictors_image},
                           "processes") as pod:
        pod.wait_ready(HANG_GUARD_S)
        pids: set[int] = set()
        with httpx.Client(timeout=60) as client:
            for attempt in range(200):  # new connections are spread by the kernel (SO_REUSEPORT)
                with httpx.Client(timeout=60) as fresh:
                    pids.add(fresh.post(f"{pod.url}/", json={"id": attempt}).json()["pid"])
                if len(pids) == 2:
                    break
            metrics = client.get(f"{pod.url}/metrics").text
    assert len(pids) == 2, pids
    assert "predictorapi_requests_total" in metrics


def _in_flight(url: str) -> float:
    for family in text_string_to_metric_families(httpx.get(f"{url}/metrics", timeout=10).text):
        for sample in family.samples:
            if sample.name == IN_FLIGHT:
                return sample.value
    return 0.0


def test_stopping_a_pod_drains_every_accepted_request_and_exits_zero(
        podman: Podman, container_work: Path, predictors_image: str, runtime_image: str) -> None:
    deployment = containers.render(_manifest("drain", "slow.py", maxConcurrency=4, requestTimeoutSeconds=30),
                                   runtime_image)
    grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    with containers.played(podman, container_work, deployment, free_port(), {TEST_IMAGE: predictors_image},
                           "drain") as pod:
        pod.wait_ready(HANG_GUARD_S)
        with ThreadPoolExecutor(4) as pool:
            answers = [pool.submit(httpx.post, f"{pod.url}/", json={"seconds": 3, "id": n}, timeout=HANG_GUARD_S)
                       for n in range(4)]
            deadline = time.monotonic() + HANG_GUARD_S
            while _in_flight(pod.url) < 4:  # every request accepted and inside predict
                assert time.monotonic() < deadline, "the requests never reached predict"
                time.sleep(0.05)
            podman.run("pod", "stop", "--time", str(grace), pod.pod, timeout=grace + 60)
            responses = [answer.result() for answer in answers]
        state = pod.state("runtime")
        logs = pod.logs("runtime")
    assert [r.status_code for r in responses] == [200] * 4, [r.text for r in responses]
    assert sorted(r.json()["id"] for r in responses) == [0, 1, 2, 3]
    assert state["ExitCode"] == 0, logs[-3000:]
    assert "drain" in logs
