"""Issue 25, points 1, 3 and 4 in real pods: two PredictorAPIs whose code comes from `source.git` share ONE model
cache claim (`spec.model.cache.claimName`), so their installed requirements go on that claim; every pod is the
Deployment the operator renders, played by `podman kube play --network host` (uid 10001, read-only root
filesystem), against loopback servers: an https git server demanding the token of a Secret
(`support.gitservers`), a wheel index (`support.packages`), and S3 (moto) holding a tiny model.

Stand-ins for what a cluster provides and podman 4.3 does not (`support.played_pods`): the git Secret volume is a
host folder projected as the kubelet does, and each claim mount with `subPath` is a bind mount of exactly that
folder of the claim — podman 4.3 ignores `subPath` on a claim and would mount the whole claim, which is what
these tests must not get. The claim's folder on this machine is checked byte for byte.

- Point 1: both repositories' `requirements.txt` is the same `-r base.txt`, their `base.txt` pins different
  versions; each pod imports its own version, and the claim holds one install in each API's own folder. The
  same API at a later commit whose `base.txt` changed installs again.
- Point 3: API B requires an sdist whose `setup.py`, run by pip in B's `install-packages` container, looks for
  the git token (its file, the environment, every small file it can read under `/`) and tries to write into API
  A's packages folder and the claim's `models/` folder (at the paths it can guess, at every mount point, at every
  folder of those names it finds): it records what it saw into its own package, and A's install and the model
  files on the claim are unchanged afterwards.
- Point 4: `requirements.txt` = `-r /etc/predictorapi/git-credentials/token` fails with DependencyInstallFailed,
  and the token is in no container log and no termination message (nor the status the operator shows).
"""

from __future__ import annotations

import ast
import hashlib
import os
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
from support.gitservers import TOKEN, USERNAME, git, git_http_server
from support.packages import git_commit, simple_index, write_sdist, write_wheel
from support.played_pods import (
    Index,
    Tls,
    as_the_kubelet_projects,
    init_names,
    make_tls,
    pod_status,
    wait_failed,
)
from support.processes import free_port
from support.s3 import S3, s3_server

from predictorapi.contracts.pod import (
    GIT_CREDENTIALS_DIR,
    INSTALL_CONTAINER,
    MODEL_CACHE_FOLDER,
    PACKAGES_CACHE_FOLDER,
    PACKAGES_DIR,
)
from predictorapi_operator.status import pod_problem

HANG_GUARD_S = 300.0
"""How long a pod may take to become ready, or an init container to end (never a timing assertion)."""
RUN_AS = 10001
PACKAGE, EVIL = "tinygreet", "evilbuild"
NAME = "greeter"
"""Both APIs have this name, in two namespaces: only the namespace tells their folders apart."""
TEAM_A, TEAM_B = "team-a", "team-b"
GIT_SECRET = "tenant-git"
MODEL_URI = "s3://models/tiny/v1/"
MODEL_FILES = {"tiny/v1/weights.bin": bytes(range(256)) * 64, "tiny/v1/VERSION": b"v1\n"}
MARK = "evilbuild-was-here"
TOKEN_FILE = f"{GIT_CREDENTIALS_DIR}/token"

PREDICTOR = """\
import importlib
import os

import tinygreet


class PythonPredictor:
    def __init__(self, config):
        self.model_path = config.get("model_path")

    def predict(self, payload):
        try:
            seen = importlib.import_module("evilbuild.seen").SEEN
        except ImportError:
            seen = None
        return {"version": tinygreet.VERSION, "package": os.path.realpath(tinygreet.__file__),
                "model": sorted(os.listdir(self.model_path)) if self.model_path else None, "seen": seen}
"""

# The sdist's build code: pip runs it (setup.py) while installing API B's requirements, in B's install-packages
# container. It records what it found into evilbuild/seen.py, which the package ships (so it lands in B's own
# install, where the test reads it, and B's predictor returns it). pip calls setup.py more than once: the first
# call looks and writes, later ones find seen.py and only build.
SETUP = r'''
import errno, hashlib, json, os
SECRET_HASHES = __HASHES__
GUESSES = __GUESSES__
MARK = __MARK__
OWN = ("/tmp", "/srv/code", "/srv/python-packages")

def _hash(data):
    return hashlib.sha256(data.strip()).hexdigest()

def _try_write(folder):
    try:
        with open(os.path.join(folder, MARK), "w") as out:
            out.write("pwned")
        return "written"
    except OSError as exc:
        return errno.errorcode.get(exc.errno, type(exc).__name__)

if not os.path.exists(os.path.join("evilbuild", "seen.py")):
    seen = {"uid": os.getuid()}
    try:
        with open(__TOKEN_FILE__) as token:
            seen["token_file"] = "read: " + token.read()
    except OSError as exc:
        seen["token_file"] = type(exc).__name__
    seen["env"] = sorted(os.environ)
    seen["secrets_in_env"] = sorted(k for k, v in os.environ.items() if _hash(v.encode()) in SECRET_HASHES)
    mounts = []
    with open("/proc/self/mountinfo") as info:
        for line in info:
            fields = line.split()
            mounts.append([fields[4], fields[3], fields[5].split(",")[0]])  # mount point, root, rw/ro
    seen["mounts"] = mounts
    secret_files, credential_paths, found, walked = [], [], [], 0
    for top, dirs, files in os.walk("/", onerror=lambda exc: None):
        if top == "/":
            dirs[:] = [d for d in dirs if d not in ("proc", "sys")]
        for d in dirs:
            path = os.path.join(top, d)
            if (d in ("python-packages", "git-credentials") or "team-a" in path) and not path.startswith(OWN):
                found.append(path)
        for name in files:
            path = os.path.join(top, name)
            walked += 1
            if name == "token" or "git-credentials" in path.split("/") or path.startswith("/etc/predictorapi"):
                credential_paths.append(path)
            # an install's marker, a cached model's record: another API's packages, the claim's models/
            if name in (".predictorapi-complete", ".predictorapi-model.json") and not path.startswith(OWN):
                found.append(top)
            try:
                if os.path.isfile(path) and not os.path.islink(path) and os.path.getsize(path) <= 512:
                    with open(path, "rb") as small:
                        if _hash(small.read()) in SECRET_HASHES:
                            secret_files.append(path)
            except OSError:
                pass
    for pid in os.listdir("/proc"):
        for what in ("environ", "cmdline"):
            try:
                with open(f"/proc/{pid}/{what}", "rb") as proc:
                    if any(_hash(part) in SECRET_HASHES for part in proc.read().split(b"\0")):
                        secret_files.append(f"/proc/{pid}/{what}")
            except OSError:
                pass
    seen.update(walked=walked, secret_files=secret_files, credential_paths=credential_paths, found=found)
    targets = sorted(set(GUESSES + [m[0] for m in mounts] + found))
    seen["writes"] = {folder: _try_write(folder) for folder in targets}
    with open(os.path.join("evilbuild", "seen.py"), "w") as out:
        out.write("SEEN = " + repr(seen) + "\n")
'''
GUESSES = ["/srv/model", "/srv/model/models", "/srv/models", "/srv/python-packages/../team-a/greeter",
           "/srv/python-packages/../../models", f"/srv/python-packages/../../{PACKAGES_CACHE_FOLDER}/{TEAM_A}/{NAME}",
           f"/srv/{PACKAGES_CACHE_FOLDER}/{TEAM_A}/{NAME}", "/srv", "/"]


@dataclass(frozen=True)
class Repo:
    """`tenants.git` on an https git server demanding the token; its commits and the Authorization headers sent."""

    url: str
    first: str
    second: str
    authorizations: list[str]


@pytest.fixture(scope="module")
def s3() -> Iterator[S3]:
    with s3_server() as server:
        server.put("models", MODEL_FILES)
        yield server


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory, s3: S3) -> Iterator[Index]:
    """tinygreet 1.0 and 2.0 (wheels), and evilbuild 1.0 (an sdist whose setup.py is `SETUP`, looking for the git
    token and the model store's keys by their sha256)."""
    wheels = tmp_path_factory.mktemp("tenant-index")
    for version in ("1.0", "2.0"):
        write_wheel(wheels, PACKAGE, version, f"VERSION = {version!r}\n")
    hashes = sorted(hashlib.sha256(secret.encode()).hexdigest() for secret in (TOKEN, s3.secret_key, s3.access_key))
    setup = (SETUP.replace("__HASHES__", repr(hashes)).replace("__GUESSES__", repr(GUESSES))
             .replace("__MARK__", repr(MARK)).replace("__TOKEN_FILE__", repr(TOKEN_FILE)))
    write_sdist(wheels, EVIL, "1.0", setup)
    files = Files(simple_index(wheels))
    with file_server(files) as url:
        yield Index(f"{url}/simple/", files)


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    return make_tls(tmp_path_factory.mktemp("tenant-tls"))


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory, index: Index, tls: Tls) -> Iterator[Repo]:
    """`tenants.git` over https with the token: `a/` and `b/` (the same `requirements.txt`, `-r base.txt`; a's
    base.txt pins tinygreet 1.0, b's 2.0), `evil/` (tinygreet 2.0 and the evilbuild sdist) and `leak/` (`-r` of
    the mounted token file), at `first`; at `second`, a's base.txt pins 2.0."""
    base = tmp_path_factory.mktemp("tenant-git")
    work, served = base / "work", base / "served"
    work.mkdir()
    served.mkdir()
    pin = f"--index-url {index.url}\n"

    def commit(name: str, files: dict[str, str]) -> str:
        return git_commit(work, files, name)

    git(work, "init", "-q", "-b", "main")
    first = commit("first", {
        **{f"{path}/predictor.py": PREDICTOR for path in ("a", "b", "evil", "leak")},
        **{f"{path}/requirements.txt": "-r base.txt\n" for path in ("a", "b", "evil")},
        "a/base.txt": f"{pin}{PACKAGE}==1.0\n",
        "b/base.txt": f"{pin}{PACKAGE}==2.0\n",
        "evil/base.txt": f"{pin}{PACKAGE}==2.0\n{EVIL}==1.0\n",
        "leak/requirements.txt": f"-r {TOKEN_FILE}\n",
    })
    second = commit("second", {"a/base.txt": f"{pin}{PACKAGE}==2.0\n"})
    git(base, "clone", "-q", "--bare", str(work), str(served / "tenants.git"))
    seen: list[str] = []
    with git_http_server(served, tls=tls.server, seen=seen) as url:
        yield Repo(f"{url}tenants.git", first, second, seen)


@pytest.fixture
def claim(podman: Podman) -> Iterator[tuple[str, Path]]:
    """ONE cache claim for both APIs (its name and its folder here), writable by the pods' group (fsGroup)."""
    with containers.claim(podman, "tenant-cache", group=RUN_AS) as made:
        yield made


@pytest.fixture
def credentials(podman: Podman, s3: S3) -> Iterator[str]:
    """The model's secretRef: the S3 endpoint and key pair."""
    with containers.secret(podman, f"tenant-model-{uuid.uuid4().hex[:8]}", s3.env()) as name:
        yield name


def _deployment(runtime_image: str, index: Index, repo: Repo, tls: Tls, claim: tuple[str, Path], credentials: str,
                namespace: str, path: str, revision: str, secret_folder: Path,
                env: dict[str, str] | None = None) -> dict[str, Any]:
    """The Deployment the operator renders for the PredictorAPI `NAME` in `namespace`: code from `repo`'s `path`
    at `revision` (with the token Secret), the tiny model from S3 cached on `claim`; then the stand-ins."""
    manifest = {
        "apiVersion": "serving.predictorapi.dev/v1alpha1", "kind": "PredictorAPI",
        "metadata": {"name": NAME, "namespace": namespace},
        "spec": {
            "predictor": {
                "source": {"git": {"repo": repo.url, "revision": revision, "path": path,
                                   "secretRef": {"name": GIT_SECRET}}},
                "path": "predictor.py",
                "allowedIndexUrls": [index.url],
                **({"env": [{"name": k, "value": v} for k, v in env.items()]} if env else {}),
            },
            "model": {"uri": MODEL_URI, "secretRef": {"name": credentials}, "cache": {"claimName": claim[0]}},
        },
    }
    deployment = containers.render(manifest, runtime_image)
    as_the_kubelet_projects(deployment, GIT_SECRET, {"token": TOKEN, "username": USERNAME}, secret_folder,
                            tls.bundle)
    return deployment  # its claim mounts are made as the kubelet makes them by `containers.play`


def _installs(folder: Path) -> dict[str, list[str]]:
    """The complete installs in one API's packages folder: cache key -> the distributions installed."""
    return {key.name: sorted(d.name for d in key.glob("lib/python*/site-packages/*.dist-info"))
            for key in sorted(folder.iterdir()) if (key / ".predictorapi-complete").is_file()}


def _tree(folder: Path, skip: Path | None = None) -> dict[str, str]:
    """Every entry under `folder` (but `skip`): a file's sha256, a link's target, or `dir`."""
    out = {}
    for path in sorted(folder.rglob("*")):
        if skip is not None and path.is_relative_to(skip):
            continue
        name = str(path.relative_to(folder))
        if path.is_symlink():
            out[name] = f"-> {os.readlink(path)}"
        elif path.is_dir():
            out[name] = "dir"
        else:
            out[name] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def _serve(podman: Podman, work: Path, deployment: dict[str, Any], pod_name: str) -> tuple[dict[str, Any], str]:
    """Play `deployment`, wait until it is ready, ask it once; (its answer, install-packages' success line)."""
    with containers.played(podman, work, deployment, free_port(), {}, pod_name) as pod:
        ready = pod.wait_ready(HANG_GUARD_S)
        response = httpx.post(f"{pod.url}/", json={}, timeout=60)
        installed = pod.termination_message(INSTALL_CONTAINER)
    assert response.status_code == 200, response.text
    print(f"{pod_name}: ready {ready:.1f} s after its init containers; {installed.strip()}")
    return response.json(), installed


def test_two_apis_on_one_claim_each_import_their_own_nested_requirements(
        podman: Podman, container_work: Path, runtime_image: str, index: Index, repo: Repo, tls: Tls,
        claim: tuple[str, Path], credentials: str, tmp_path: Path) -> None:
    def deployment(namespace: str, path: str, revision: str) -> dict[str, Any]:
        return _deployment(runtime_image, index, repo, tls, claim, credentials, namespace, path, revision,
                           tmp_path / f"secret-{uuid.uuid4().hex[:6]}")

    run = uuid.uuid4().hex[:6]
    a, a_installed = _serve(podman, container_work, deployment(TEAM_A, "a", repo.first), f"tenant-a-{run}")
    a_folder = claim[1] / PACKAGES_CACHE_FOLDER / TEAM_A / NAME
    a_first = _installs(a_folder)
    b, b_installed = _serve(podman, container_work, deployment(TEAM_B, "b", repo.first), f"tenant-b-{run}")
    b_folder = claim[1] / PACKAGES_CACHE_FOLDER / TEAM_B / NAME
    # API A again, at a commit whose base.txt (not requirements.txt) changed: installed again.
    a2, a2_installed = _serve(podman, container_work, deployment(TEAM_A, "a", repo.second), f"tenant-a2-{run}")
    print(f"A imports tinygreet {a['version']} from {a['package']}")
    print(f"B imports tinygreet {b['version']} from {b['package']}")
    print(f"A at its second commit imports tinygreet {a2['version']} from {a2['package']}")
    print(f"claim: {sorted(str(p.relative_to(claim[1])) for p in claim[1].glob('*/*/*'))}")
    print(f"A's installs: {_installs(a_folder)}\nB's installs: {_installs(b_folder)}")

    assert (a["version"], b["version"], a2["version"]) == ("1.0", "2.0", "2.0"), (a, b, a2)
    # Each pod installed (none found "already installed": B is not served A's install).
    for line in (a_installed, b_installed, a2_installed):
        assert " installed in " in line and "already installed" not in line, line
    # The claim: one folder per API (namespace/name), each holding its own installs, complete and separate.
    assert sorted(p.name for p in (claim[1] / PACKAGES_CACHE_FOLDER).iterdir()) == [TEAM_A, TEAM_B]
    (a_key, a_dists), = a_first.items()
    (b_key, b_dists), = _installs(b_folder).items()
    assert a_dists == [f"{PACKAGE}-1.0.dist-info"] and b_dists == [f"{PACKAGE}-2.0.dist-info"], (a_dists, b_dists)
    assert a_key != b_key
    assert a["package"].startswith(f"{PACKAGES_DIR}/{a_key}/") and b["package"].startswith(f"{PACKAGES_DIR}/{b_key}/")
    a_now = _installs(a_folder)
    assert len(a_now) == 2 and a_now[a_key] == a_dists, a_now
    (a2_key,) = set(a_now) - {a_key}
    assert a_now[a2_key] == [f"{PACKAGE}-2.0.dist-info"] and a2["package"].startswith(f"{PACKAGES_DIR}/{a2_key}/")
    # A's second commit and B pull in the same files: the same key, yet A installed its own copy (its line says
    # "installed", above) into its own folder: installs are never shared across APIs, even when equal.
    assert a2_key == b_key and (a_folder / a2_key).stat().st_ino != (b_folder / b_key).stat().st_ino
    # The model was downloaded once into the claim's models/ folder and both APIs read it.
    assert a["model"] == b["model"] == a2["model"] and "weights.bin" in a["model"], (a, b)


def test_build_code_in_install_packages_sees_no_token_and_cannot_touch_the_shared_claim(
        podman: Podman, container_work: Path, runtime_image: str, index: Index, repo: Repo, tls: Tls, s3: S3,
        claim: tuple[str, Path], credentials: str, tmp_path: Path) -> None:
    def deployment(namespace: str, path: str, env: dict[str, str] | None = None) -> dict[str, Any]:
        return _deployment(runtime_image, index, repo, tls, claim, credentials, namespace, path, repo.first,
                           tmp_path / f"secret-{uuid.uuid4().hex[:6]}", env)

    run = uuid.uuid4().hex[:6]
    _serve(podman, container_work, deployment(TEAM_A, "a"), f"tenant-a-{run}")
    root = claim[1]
    b_folder = root / PACKAGES_CACHE_FOLDER / TEAM_B / NAME
    before = _tree(root, skip=b_folder.parent)  # B's namespace folder: made for B's subPath (by the kubelet)
    authorizations = len(repo.authorizations)
    # The index holds no setuptools: pip builds the sdist with the image's own (no build isolation); its setup.py
    # runs in the install-packages container either way.
    b, _ = _serve(podman, container_work, deployment(TEAM_B, "evil", {"PIP_NO_BUILD_ISOLATION": "0"}),
                  f"tenant-evil-{run}")
    after = _tree(root, skip=b_folder.parent)
    (seen_file,) = b_folder.glob(f"*/lib/python*/site-packages/{EVIL}/seen.py")
    seen = ast.literal_eval(seen_file.read_text().removeprefix("SEEN = "))
    claim_mounts = [(point, source.removeprefix(str(root)), mode) for point, source, mode in seen["mounts"]
                    if source.startswith(str(root))]
    print(f"setup.py ran as uid {seen['uid']}; the token file: {seen['token_file']}; walked {seen['walked']} "
          f"files; secrets in env {seen['secrets_in_env']}, in files {seen['secret_files']}; credential paths "
          f"{seen['credential_paths']}; claim folders found {seen['found']}")
    print(f"setup.py's environment: {seen['env']}")
    print(f"setup.py's mounts of the claim: {claim_mounts}")
    print(f"setup.py's writes: {seen['writes']}")
    print(f"A's files and the models on the claim: {len(before)} entries, unchanged: {before == after}")

    assert any(h.startswith("Basic ") for h in repo.authorizations[authorizations:]), \
        "B's fetch-code did not use the token: the pod never had it"
    assert b["seen"] == seen, "B's predictor imports the package the install built"
    assert seen["uid"] == RUN_AS
    assert seen["token_file"] == "FileNotFoundError", seen["token_file"]
    assert seen["secrets_in_env"] == [] and seen["secret_files"] == [] and seen["credential_paths"] == [], seen
    assert not [name for name in seen["env"] if name.startswith(("AWS_", "GIT_"))], seen["env"]
    assert seen["found"] == [], "setup.py found another API's folder or the models folder"
    # The only folder of the claim it could see is B's own packages folder.
    assert claim_mounts == [(PACKAGES_DIR, f"/{PACKAGES_CACHE_FOLDER}/{TEAM_B}/{NAME}", "rw")], claim_mounts
    written = sorted(folder for folder, result in seen["writes"].items() if result == "written")
    assert all(w == "/tmp" or w == "/dev/shm" or w.startswith(("/srv/code", PACKAGES_DIR)) for w in written), \
        written
    for guess in GUESSES:
        assert seen["writes"][guess] != "written", (guess, seen["writes"])
    # On this machine: A's install and the model files are byte for byte as before, nothing new outside B's own
    # folder, the model still the bytes S3 holds.
    assert before == after, {k: (before.get(k), after.get(k)) for k in set(before) | set(after)
                             if before.get(k) != after.get(k)}
    assert any(k.startswith(f"{PACKAGES_CACHE_FOLDER}/{TEAM_A}/{NAME}/") for k in before)
    assert [p.name for p in b_folder.parent.iterdir()] == [NAME]
    (weights,) = (root / MODEL_CACHE_FOLDER).glob("*/weights.bin")
    assert weights.read_bytes() == MODEL_FILES["tiny/v1/weights.bin"]
    assert [str(p.relative_to(root)) for p in root.rglob(MARK)] == [f"{PACKAGES_CACHE_FOLDER}/{TEAM_B}/{NAME}/{MARK}"]


def test_requirements_naming_the_git_token_fail_and_show_it_nowhere(
        podman: Podman, container_work: Path, runtime_image: str, index: Index, repo: Repo, tls: Tls,
        claim: tuple[str, Path], credentials: str, tmp_path: Path) -> None:
    deployment = _deployment(runtime_image, index, repo, tls, claim, credentials, TEAM_B, "leak", repo.first,
                             tmp_path / "secret")
    authorizations = len(repo.authorizations)
    name = f"tenant-leak-{uuid.uuid4().hex[:6]}"
    pod = containers.play(podman, container_work, deployment, free_port(), {}, name, restart="Never", check=False)
    try:
        failed = wait_failed(pod, deployment)
        status = pod_status(pod, deployment)
        names = [*init_names(deployment), "runtime"]
        # podman removes an init container that succeeded (fetch-code): its log is gone, its termination file stays
        logs = {c: pod.logs(c) for c in names if pod.state(c)}
        messages = {c: pod.termination_message(c) for c in names}
        runtime = pod.state("runtime")
    finally:
        containers.down(pod)
    reason, message = pod_problem([status])
    print(f"{reason}: {message}")
    print(f"logs read: {sorted(logs)}; termination messages: { {c: m.strip() for c, m in messages.items()} }")
    assert any(h.startswith("Basic ") for h in repo.authorizations[authorizations:]), "the pod never had the token"
    assert failed == INSTALL_CONTAINER and runtime.get("Status") != "running", (failed, runtime)
    assert reason == "DependencyInstallFailed", (reason, message, logs)
    assert message.startswith(f"{INSTALL_CONTAINER}: DependencyInstallFailed: ") and \
        "outside the checked-out code" in message, message
    assert INSTALL_CONTAINER in logs and messages[INSTALL_CONTAINER], (logs, messages)
    for text in [message, str(status), *logs.values(), *messages.values()]:
        assert TOKEN not in text, "the token leaked"
