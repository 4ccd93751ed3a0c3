"""Predictor code from `source.git` in real pods (`podman kube play`, host network): the init containers the
operator renders clone a repository from a git server on loopback at a pinned revision and install its
`requirements.txt` from a wheel index on loopback, and the runtime serves the predictor, which imports the
installed package — every container as rendered (uid 10001, read-only root filesystem, all capabilities dropped).
A requirement the index does not have, and a revision the repository does not have, end with the reason and
message the operator shows: each failed init container's termination message, read the way the kubelet reads it,
fed into the operator's status parser.

Nothing here assumes which init container does what beyond "init containers, then the runtime": the tests walk
the rendered pod's `initContainers` in order."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from support import containers
from support.artifact_servers import Files, file_server
from support.containers import Podman
from support.gitservers import TOKEN, USERNAME, git, git_daemon_server, git_http_server
from support.packages import git_commit, simple_index, write_wheel
from support.played_pods import (
    Index,
    Tls,
    as_the_kubelet_projects,
    init_names,
    make_tls,
    pod_status,
    security,
    wait_failed,
)
from support.processes import free_port

from predictorapi_operator.status import pod_problem, revision

HANG_GUARD_S = 300.0
"""How long a pod may take to become ready, or a container to exit, before the test gives up (never a timing
assertion: this machine is slow and shared)."""
RUN_AS = 10001
PACKAGE = "tinygreet"
MISSING = "no-such-package-on-this-index"

PREDICTOR = """\
import os

import {package}


class PythonPredictor:
    def __init__(self, config):
        self.greeting = config["greeting"]

    def predict(self, payload):
        try:
            open("/root-is-writable", "w").close()
            writable = True
        except OSError:
            writable = False
        return {{"answer": {package}.greet(self.greeting, payload["name"]), "commit": "{commit}",
                 "package": {package}.__file__, "uid": os.getuid(), "root_writable": writable,
                 "code_owner": os.stat(__file__).st_uid, "package_owner": os.stat({package}.__file__).st_uid}}
"""


@dataclass(frozen=True)
class Repo:
    """The bare repository served by `git daemon` and its commits: `pinned` (the one the specs pin) and `head`
    (a later commit on `main` that must not be served); `served` is the folder of bare repositories."""

    url: str
    pinned: str
    head: str
    served: Path


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Index]:
    """A PEP 503 index on loopback holding one pure-Python wheel, `tinygreet` 1.0 (any other project: 404)."""
    wheels = tmp_path_factory.mktemp("wheel-index")
    write_wheel(wheels, PACKAGE, "1.0", "def greet(greeting, name):\n    return f'{greeting}, {name}!'\n")
    files = Files(simple_index(wheels))
    with file_server(files) as url:
        yield Index(f"{url}/simple/", files)


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory, index: Index) -> Iterator[Repo]:
    """`models.git` on a `git daemon` on loopback: `greeter/` (a predictor importing `tinygreet`, whose
    requirements.txt names it on the loopback index) and `broken/` (requirements the index cannot satisfy), at
    the pinned commit; then a second commit on `main` that changes the predictor."""
    base = tmp_path_factory.mktemp("git-code")
    work, served = base / "work", base / "served"
    work.mkdir()
    served.mkdir()
    requirements = f"--index-url {index.url}\n"

    def commit(name: str) -> str:
        files = {"greeter/predictor.py": PREDICTOR.format(package=PACKAGE, commit=name),
                 "greeter/requirements.txt": f"{requirements}{PACKAGE}==1.0\n",
                 "broken/predictor.py": PREDICTOR.format(package=PACKAGE, commit=name),
                 "broken/requirements.txt": f"{requirements}{PACKAGE}==1.0\n{MISSING}==1.0\n"}
        return git_commit(work, files, name)

    git(work, "init", "-q", "-b", "main")
    pinned = commit("pinned")
    head = commit("head")
    git(base, "clone", "-q", "--bare", str(work), str(served / "models.git"))
    with git_daemon_server(served) as url:
        yield Repo(f"{url}models.git", pinned, head, served)


def _deployment(runtime_image: str, index: Index, repo: Repo, path: str, revision: str,
                url: str | None = None, secret: str | None = None) -> dict[str, Any]:
    """The Deployment the operator renders for a `source.git` PredictorAPI of `path` at `revision` (of the
    repository at `url`, default the git daemon's, with credentials from the Secret `secret`)."""
    git_source = {"repo": url or repo.url, "revision": revision, "path": path,
                  **({"secretRef": {"name": secret}} if secret else {})}
    manifest = {
        "apiVersion": "serving.predictorapi.dev/v1alpha1", "kind": "PredictorAPI",
        "metadata": {"name": f"git-{path}", "namespace": "default"},
        "spec": {"predictor": {
            "source": {"git": git_source},
            "path": "predictor.py",
            "config": {"greeting": "Hello"},
            "allowedIndexUrls": [index.url],
        }},
    }
    return containers.render(manifest, runtime_image)


def test_git_code_is_cloned_at_its_pinned_revision_installed_and_served(
        podman: Podman, container_work: Path, runtime_image: str, index: Index, repo: Repo) -> None:
    deployment = _deployment(runtime_image, index, repo, "greeter", repo.pinned)
    inits = init_names(deployment)
    assert inits, "a source.git PredictorAPI renders init containers"
    name = f"git-code-{uuid.uuid4().hex[:6]}"
    started = time.monotonic()
    with containers.played(podman, container_work, deployment, free_port(), {}, name) as pod:
        played = time.monotonic() - started  # podman's kube play returns once the init containers are done
        ready = pod.wait_ready(HANG_GUARD_S)
        print(f"git code: {', '.join(inits)} done in {played:.1f} s, runtime ready {ready:.1f} s later")
        response = httpx.post(f"{pod.url}/", json={"name": "pod"}, timeout=60)
        status = pod_status(pod, deployment)
        runtime_security = security(podman, pod, "runtime")
    assert response.status_code == 200, response.text
    answer = response.json()
    # The pinned commit, not main's head; the package from the loopback index, installed by an init container
    # into a volume (not the image), imported by the predictor.
    assert answer["answer"] == "Hello, pod!" and answer["commit"] == "pinned", answer
    assert answer["package"].startswith("/srv/"), answer
    assert index.served.gets[f"/files/{PACKAGE}-1.0-py3-none-any.whl"] >= 1, index.served.gets
    # Every container ran as uid 10001: the runtime (and its root filesystem is read-only), and the init
    # containers, which wrote the checked-out code and the installed package.
    assert answer["uid"] == RUN_AS and answer["root_writable"] is False, answer
    assert runtime_security == (f"{RUN_AS}:{RUN_AS}", True), runtime_security
    assert answer["code_owner"] == RUN_AS and answer["package_owner"] == RUN_AS, answer
    assert [s["state"]["terminated"]["exitCode"] for s in status["status"]["initContainerStatuses"]] == \
        [0] * len(inits), status
    # The status parser reads the fetched commit from the real termination message, and sees no problem.
    assert revision([status]) == repo.pinned, status
    assert pod_problem([status]) is None, status


def test_a_requirement_the_index_lacks_ends_with_dependency_install_failed(
        podman: Podman, container_work: Path, runtime_image: str, index: Index, repo: Repo) -> None:
    deployment = _deployment(runtime_image, index, repo, "broken", repo.pinned)
    name = f"git-missing-req-{uuid.uuid4().hex[:6]}"
    pod = containers.play(podman, container_work, deployment, free_port(), {}, name, restart="Never", check=False)
    try:
        failed = wait_failed(pod, deployment)
        status = pod_status(pod, deployment)
        logs = pod.logs(failed)
        install_security = security(podman, pod, failed)
        runtime = pod.state("runtime")
    finally:
        containers.down(pod)
    # the install ran as 10001, root read-only
    assert install_security == (f"{RUN_AS}:{RUN_AS}", True), install_security
    assert runtime.get("Status") != "running", "the runtime started after a failed init container"
    (terminated,) = [s["state"]["terminated"] for s in status["status"]["initContainerStatuses"]
                     if s["name"] == failed]
    assert terminated["exitCode"] != 0 and MISSING in terminated["message"], (terminated, logs)
    reason, message = pod_problem([status])
    assert reason == "DependencyInstallFailed", (reason, message, logs)
    assert message.startswith(f"{failed}: DependencyInstallFailed: "), message
    # The condition the user sees names the requirement (not only the pod's termination message).
    assert MISSING in message, (message, logs)
    print(f"{reason}: {message}")


def test_an_unknown_revision_ends_with_revision_not_found(
        podman: Podman, container_work: Path, runtime_image: str, index: Index, repo: Repo) -> None:
    deployment = _deployment(runtime_image, index, repo, "greeter", "v9.9.9-no-such-tag")
    name = f"git-missing-rev-{uuid.uuid4().hex[:6]}"
    pod = containers.play(podman, container_work, deployment, free_port(), {}, name, restart="Never", check=False)
    try:
        failed = wait_failed(pod, deployment)
        status = pod_status(pod, deployment)
        logs = pod.logs(failed)
    finally:
        containers.down(pod)
    reason, message = pod_problem([status])
    assert reason == "RevisionNotFound", (reason, message, logs)
    assert message.startswith(f"{failed}: RevisionNotFound: ") and "v9.9.9-no-such-tag" in message, message
    print(f"{reason}: {message}")


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    return make_tls(tmp_path_factory.mktemp("tls"))


def test_a_private_repository_is_cloned_over_https_with_the_token_of_its_secret(
        podman: Podman, container_work: Path, runtime_image: str, index: Index, repo: Repo, tls: Tls,
        tmp_path: Path) -> None:
    seen: list[str] = []
    with git_http_server(repo.served, tls=tls.server, seen=seen) as url:
        secret = "models-git"
        deployment = _deployment(runtime_image, index, repo, "greeter", repo.pinned, url=f"{url}models.git",
                                 secret=secret)
        deployment = as_the_kubelet_projects(deployment, secret, {"token": TOKEN, "username": USERNAME},
                                              tmp_path / "secret", tls.bundle)
        inits = init_names(deployment)
        name = f"git-private-{uuid.uuid4().hex[:6]}"
        started = time.monotonic()
        with containers.played(podman, container_work, deployment, free_port(), {}, name) as pod:
            played = time.monotonic() - started
            ready = pod.wait_ready(HANG_GUARD_S)
            print(f"git code over https with a token: {', '.join(inits)} done in {played:.1f} s, runtime ready "
                  f"{ready:.1f} s later")
            response = httpx.post(f"{pod.url}/", json={"name": "private"}, timeout=60)
            status = pod_status(pod, deployment)
            logs = "".join(pod.logs(c) for c in inits)
    assert response.status_code == 200, response.text
    assert response.json()["answer"] == "Hello, private!" and response.json()["commit"] == "pinned"
    assert revision([status]) == repo.pinned, status
    assert any(header.startswith("Basic ") for header in seen), seen  # the token was asked for and sent
    assert TOKEN not in logs + str(status), "the token leaked into a log or a termination message"
