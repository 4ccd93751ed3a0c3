"""Real containers for the test suite: podman (runc), images built from the repository's Dockerfiles and
cached by content, and rendered Deployments played as pods on the host network.

These machines reach no container registry, so the base image (the `python:3.11-slim` layout: python and pip
in /usr/local/bin on Debian) is made from Debian packages with mmdebstrap, and every Dockerfile is built with
`--build-arg BASE_IMAGE=`/`RUNTIME_IMAGE=` pointing at the local images. pip inside a build reaches the
package index through the host's CA bundle and finds the CPU torch wheel in /opt/wheels: both are mounted
into the build (a pip.conf at /etc/pip.conf), never copied into an image.

An image's tag is a digest of everything that decides it (its Dockerfile, build arguments, the files of its
context that it copies, its parent image's id), so a rerun with unchanged inputs builds nothing.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

REPO = Path(__file__).resolve().parents[2]
PREFIX = "localhost/predictorapi-test"
EXAMPLES = sorted(path.name for path in (REPO / "examples").iterdir() if (path / "Dockerfile").is_file())
CONTAINERS_CONF = """\
# runc: crun refuses these machines' hybrid cgroups. rlimits within the sandbox's.
[engine]
runtime = "runc"
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=8192:8192"]
"""
BASE_PACKAGES = ("python3", "python3-venv", "ca-certificates")
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
WHEELS = Path("/opt/wheels")
TERMINATION_LOG = "/dev/termination-log"
HOST_TOOLS = ("podman", "runc", "mmdebstrap")


@dataclass
class Built:
    """One image the session needed: its tag, whether it was built now, how long that took, its size."""

    name: str
    tag: str
    built: bool
    seconds: float
    size_mb: float


SEEN: list[Built] = []
"""The images this run needed, for the session's summary."""


@dataclass
class Podman:
    """The podman CLI with the suite's containers.conf."""

    conf: Path

    def env(self) -> dict[str, str]:
        """The environment podman runs with (CONTAINERS_CONF)."""
        return {**os.environ, "CONTAINERS_CONF": str(self.conf)}

    def run(self, *args: str, check: bool = True, timeout: float = 1800.0,
            capture: bool = True) -> subprocess.CompletedProcess[str]:
        """`podman ARGS`; raises with its output when `check` and it fails."""
        proc = subprocess.run(["podman", *args], env=self.env(), text=True, timeout=timeout,
                              stdout=subprocess.PIPE if capture else None, stderr=subprocess.STDOUT)
        if check and proc.returncode != 0:
            output = (proc.stdout or "")[-6000:]
            raise RuntimeError(f"podman {' '.join(args[:3])} ... exited {proc.returncode}:\n{output}")
        return proc

    def exists(self, tag: str) -> bool:
        """Whether the image `tag` is in local storage."""
        return self.run("image", "exists", tag, check=False).returncode == 0

    def image_id(self, tag: str) -> str:
        """The image's id."""
        return self.run("image", "inspect", "--format", "{{.Id}}", tag).stdout.strip()

    def size_mb(self, tag: str) -> float:
        """The image's size in MB."""
        return int(self.run("image", "inspect", "--format", "{{.Size}}", tag).stdout.strip()) / 1e6

    def record(self, name: str, tag: str, built: bool, seconds: float) -> str:
        """Remember an image for the session's summary; returns its tag."""
        if not any(image.tag == tag for image in SEEN):
            SEEN.append(Built(name, tag, built, seconds, self.size_mb(tag)))
        return tag


def podman_session(folder: Path) -> Podman:
    """A Podman using a containers.conf written into `folder`."""
    conf = folder / "containers.conf"
    conf.write_text(CONTAINERS_CONF)
    return Podman(conf)


def missing_tools() -> list[str]:
    """The host tools the container tests need and this machine lacks."""
    return [tool for tool in HOST_TOOLS if shutil.which(tool) is None]


def digest(*parts: str | bytes | Path | Iterable[Path]) -> str:
    """A sha256 over strings, bytes, files and folders (each file's path relative to the repository and content)."""
    sha = hashlib.sha256()
    for part in parts:
        if isinstance(part, str):
            part = part.encode()
        if isinstance(part, bytes):
            sha.update(len(part).to_bytes(8, "big") + part)
            continue
        paths = [part] if isinstance(part, Path) else list(part)
        for path in paths:
            for file in sorted(_files(path)):
                sha.update(str(file.relative_to(REPO) if file.is_relative_to(REPO) else file).encode() + b"\0")
                sha.update(file.read_bytes())
    return sha.hexdigest()


def _files(path: Path) -> Iterator[Path]:
    if path.is_file():
        yield path
        return
    for file in path.rglob("*"):
        ignored = {"__pycache__", "build"} & set(file.parts) or any(p.endswith(".egg-info") for p in file.parts)
        if file.is_file() and not ignored:
            yield file


def base_image(podman: Podman, work: Path) -> str:
    """The `python:3.11-slim` stand-in made from Debian bookworm packages (mmdebstrap, ≈40 s), once."""
    recipe = f"mmdebstrap --variant=minbase --include={','.join(BASE_PACKAGES)} bookworm; python3 -m venv /usr/local"
    tag = f"{PREFIX}/python:3.11-slim-{digest(recipe)[:12]}"
    if podman.exists(tag):
        return podman.record("base (Debian bookworm, python:3.11-slim layout)", tag, False, 0.0)
    started = time.monotonic()
    rootfs = work / "rootfs.tar"
    proc = subprocess.run(["mmdebstrap", "--quiet", "--variant=minbase", f"--include={','.join(BASE_PACKAGES)}",
                           "bookworm", str(rootfs)], text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          timeout=1200)
    if proc.returncode != 0:
        raise RuntimeError(f"mmdebstrap failed:\n{proc.stdout[-4000:]}")
    raw = f"{tag}-rootfs"
    podman.run("import", "--change", "ENV=PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
               str(rootfs), raw)
    rootfs.unlink()
    context = work / "base"
    context.mkdir(exist_ok=True)
    (context / "Containerfile").write_text(f"FROM {raw}\nRUN python3 -m venv /usr/local\n")
    podman.run("build", "--network", "host", "-t", tag, str(context))
    podman.run("rmi", raw, check=False)
    return podman.record("base (Debian bookworm, python:3.11-slim layout)", tag, True, time.monotonic() - started)


def pip_build_mounts(work: Path) -> list[str]:
    """`podman build` volume flags: the host's CA bundle and a pip.conf that uses it, and /opt/wheels."""
    folder = work / "pip"
    folder.mkdir(exist_ok=True)
    shutil.copy(HOST_CA_BUNDLE, folder / "ca.crt")
    (folder / "pip.conf").write_text("[global]\ncert = /etc/predictorapi-build/ca.crt\n"
                                     f"find-links = {WHEELS}\ndefault-timeout = 180\n")
    flags = ["-v", f"{folder}:/etc/predictorapi-build:ro", "-v", f"{folder / 'pip.conf'}:/etc/pip.conf:ro"]
    if WHEELS.is_dir():
        flags += ["-v", f"{WHEELS}:{WHEELS}:ro"]
    return flags


def build(podman: Podman, work: Path, name: str, dockerfile: Path, context: Path, inputs: list[Path],
          build_args: dict[str, str]) -> str:
    """Build `dockerfile` (unless an image of the same inputs exists); its content-addressed tag."""
    parents = [podman.image_id(value) for key, value in sorted(build_args.items()) if key.endswith("_IMAGE")]
    key = digest(dockerfile, inputs, json.dumps(build_args, sort_keys=True), *parents)
    tag = f"{PREFIX}/{name}:{key[:16]}"
    if podman.exists(tag):
        return podman.record(name, tag, False, 0.0)
    started = time.monotonic()
    args = [f"--build-arg={k}={v}" for k, v in sorted(build_args.items())]
    podman.run("build", "--network", "host", *pip_build_mounts(work), *args, "-f", str(dockerfile), "-t", tag,
               str(context), timeout=2400)
    return podman.record(name, tag, True, time.monotonic() - started)


# --- pods ----------------------------------------------------------------------------------------------------------


def playable(deployment: dict[str, Any], port: int, images: dict[str, str], termination_dir: Path,
             pod_name: str, restart: str = "OnFailure") -> dict[str, Any]:
    """A rendered Deployment made playable by `podman kube play --network host`: one replica, its own name,
    images replaced by local tags, `ports` dropped, the runtime on `port` (probes too), `OnFailure` restarts
    (podman re-runs succeeded init containers under `Always`), and a host file at each container's
    `terminationMessagePath` (podman does not write the kubelet's) — everything else as rendered. `restart`
    `Never` keeps a failed container's exit for the test to read."""
    out = copy.deepcopy(deployment)
    out["metadata"] = {"name": pod_name, "labels": out["metadata"].get("labels", {})}
    out["spec"]["replicas"] = 1
    pod = out["spec"]["template"]["spec"]
    pod["restartPolicy"] = restart
    # podman 4.3 makes an emptyDir a named volume of the volume's name, kept after the pod and shared by every
    # pod naming it: each pod's emptyDirs get names of their own (removed with the pod by `down`).
    renamed = {volume["name"]: f"{pod_name}-{volume['name']}" for volume in pod.get("volumes", [])
               if "emptyDir" in volume}
    for volume in pod.get("volumes", []):
        volume["name"] = renamed.get(volume["name"], volume["name"])
    for container in [*pod.get("initContainers", []), *pod["containers"]]:
        for mount in container.get("volumeMounts", []):
            mount["name"] = renamed.get(mount["name"], mount["name"])
        container["image"] = images.get(container["image"], container["image"])
        container.pop("ports", None)
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            if get := (container.get(probe) or {}).get("httpGet"):
                get["port"] = port
        for var in container.get("env", []):
            if var["name"] == "PREDICTORAPI_PORT":
                var["value"] = str(port)
        file = termination_dir / container["name"]
        file.write_text("")
        file.chmod(0o666)
        volume = f"termination-{container['name']}"
        pod.setdefault("volumes", []).append({"name": volume, "hostPath": {"path": str(file), "type": "File"}})
        container.setdefault("volumeMounts", []).append({"name": volume, "mountPath": TERMINATION_LOG})
    return out


def as_the_kubelet_mounts_claims(deployment: dict[str, Any], claims: Mapping[str, Path]) -> dict[str, Any]:
    """Every mount of a `persistentVolumeClaim` volume of a claim in `claims` (claim name -> its folder on this
    machine) becomes a bind mount of exactly the folder the kubelet would mount: the claim's root, or its
    `subPath` (created first when missing, as the kubelet does: owned by root, the root's group and mode). A
    read-only claim volume stays read-only. Everything else as rendered."""
    pod = deployment["spec"]["template"]["spec"]
    claimed = {v["name"]: v for v in pod.get("volumes", [])
               if (v.get("persistentVolumeClaim") or {}).get("claimName") in claims}
    added: dict[str, dict[str, Any]] = {}
    for container in [*pod.get("initContainers", []), *pod["containers"]]:
        for mount in container.get("volumeMounts", []):
            volume = claimed.get(mount["name"])
            if volume is None:
                continue
            root = claims[volume["persistentVolumeClaim"]["claimName"]]
            sub = mount.pop("subPath", "")
            folder = make_subpath(root, sub)
            name = f"{mount['name']}-{hashlib.sha256(sub.encode()).hexdigest()[:10]}"
            added[name] = {"name": name, "hostPath": {"path": str(folder), "type": "Directory"}}
            mount["name"] = name
            if volume["persistentVolumeClaim"].get("readOnly"):
                mount["readOnly"] = True
    pod["volumes"] = [v for v in pod.get("volumes", []) if v["name"] not in claimed] + list(added.values())
    return deployment


def make_subpath(root: Path, sub: str) -> Path:
    """`root/sub`, each missing folder created as the kubelet creates a subPath: root-owned, the group and mode of
    the claim's root (so `fsGroup` can write in it)."""
    folder = root
    info = root.stat()
    for part in [p for p in sub.split("/") if p]:
        assert part not in (".", ".."), sub
        folder = folder / part
        if not folder.exists():
            folder.mkdir()
            os.chown(folder, 0, info.st_gid)
            folder.chmod(info.st_mode & 0o7777)
    return folder


@dataclass
class Pod:
    """A played pod: its name, port, the file it was played from and its containers' termination files."""

    podman: Podman
    name: str
    """The Deployment's name; podman names its pod `NAME-pod-0` (4.3) or `NAME-pod`."""
    port: int
    file: Path
    termination_dir: Path

    @functools.cached_property
    def pod(self) -> str:
        """Podman's name of the pod (asked once, after it was played)."""
        names = self.podman.run("pod", "ps", "--format", "{{.Name}}", check=False).stdout.split()
        return next((n for n in names if n in (f"{self.name}-pod-0", f"{self.name}-pod")), f"{self.name}-pod-0")

    @property
    def url(self) -> str:
        """The runtime's base URL on loopback."""
        return f"http://127.0.0.1:{self.port}"

    def container(self, name: str) -> str:
        """Podman's name of one of the pod's containers."""
        return f"{self.pod}-{name}"

    def termination_message(self, container: str) -> str:
        """What the container wrote at its terminationMessagePath."""
        return (self.termination_dir / container).read_text()

    def logs(self, container: str) -> str:
        """The container's output (stdout and stderr)."""
        return self.podman.run("logs", self.container(container), check=False).stdout

    def state(self, container: str) -> dict[str, Any]:
        """The container's state (`podman inspect`: Status, ExitCode, ...)."""
        out = self.podman.run("inspect", "--format", "{{json .State}}", self.container(container), check=False)
        return json.loads(out.stdout) if out.returncode == 0 else {}

    def wait_ready(self, timeout: float = 300.0, container: str = "runtime") -> float:
        """Seconds until `/readyz` answers 200; fails with the pod's logs when it does not, or once `container`
        exited with an error (or restarted after one)."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return time.monotonic() - started
            except httpx.TransportError:
                pass
            state = self.state(container)
            if (state.get("Status") == "exited" and state.get("ExitCode", 0) != 0) or self.restarts(container):
                break
            time.sleep(0.5)
        raise AssertionError(f"pod {self.name} not ready after {time.monotonic() - started:.0f} s:\n"
                             + self.describe())

    def restarts(self, container: str) -> int:
        """How often podman restarted the container (`restartPolicy: OnFailure` after a failed exit)."""
        out = self.podman.run("inspect", "--format", "{{.RestartCount}}", self.container(container), check=False)
        return int(out.stdout.strip() or 0) if out.returncode == 0 else 0

    def wait_exited(self, container: str, timeout: float = 300.0) -> dict[str, Any]:
        """The container's state once it has exited."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.state(container)
            if state.get("Status") in ("exited", "stopped"):
                return state
            time.sleep(0.5)
        raise AssertionError(f"{container} of pod {self.name} still running after {timeout:.0f} s:\n{self.describe()}")

    def describe(self) -> str:
        """Every container's state and last log lines, for a failure message."""
        out = self.podman.run("ps", "-a", "--pod", "--filter", f"pod={self.pod}", "--format",
                              "{{.Names}} {{.Status}}", check=False).stdout
        for line in out.splitlines():
            name = line.split()[0]
            tail = self.podman.run("logs", "--tail", "30", name, check=False).stdout
            out += f"\n--- {name}\n{tail}"
        return out


def play(podman: Podman, work: Path, deployment: dict[str, Any], port: int, images: dict[str, str],
         pod_name: str, extra: Iterable[dict[str, Any]] = (), restart: str = "OnFailure", check: bool = True) -> Pod:
    """`podman kube play --network host` the playable form of `deployment` (plus `extra` documents, e.g. a
    Secret); the pod is started, not yet ready. `check=False` for a pod whose init container is to fail
    (podman reports that as its own failure)."""
    folder = work / pod_name
    folder.mkdir(parents=True, exist_ok=True)
    termination = folder / "termination"
    termination.mkdir(exist_ok=True)
    file = folder / "pod.yaml"
    down(Pod(podman, pod_name, port, file, termination))  # a pod of that name left by an interrupted run
    pod = Pod(podman, pod_name, port, file, termination)
    claims = {claim: claim_folder(podman, claim) for claim in claim_names(deployment)}
    kubelet_like = as_the_kubelet_mounts_claims(copy.deepcopy(deployment), claims)
    file.write_text(yaml.safe_dump_all([*extra, playable(kubelet_like, port, images, termination, pod_name, restart)]))
    try:
        podman.run("kube", "play", "--network", "host", "--quiet", str(file), timeout=900, check=check)
    except Exception:
        down(pod)
        raise
    return pod


def claim_names(deployment: dict[str, Any]) -> list[str]:
    """The claims (`persistentVolumeClaim` volumes) of a rendered Deployment's pod."""
    volumes = deployment["spec"]["template"]["spec"].get("volumes", [])
    return sorted({v["persistentVolumeClaim"]["claimName"] for v in volumes if "persistentVolumeClaim" in v})


def claim_folder(podman: Podman, name: str) -> Path:
    """The folder of the podman volume standing in for claim `name` (made, empty, when there is none yet)."""
    if podman.run("volume", "exists", name, check=False).returncode != 0:
        podman.run("volume", "create", name)
    return Path(podman.run("volume", "inspect", "--format", "{{.Mountpoint}}", name).stdout.strip())


def down(pod: Pod) -> None:
    """Remove the pod, its containers and its emptyDirs; claims (named volumes of other names) stay."""
    pod.podman.run("pod", "rm", "--force", "--time", "5", pod.pod, check=False)
    if not pod.file.is_file():
        return
    document = list(yaml.safe_load_all(pod.file.read_text()))[-1]
    empty_dirs = [volume["name"] for volume in document["spec"]["template"]["spec"].get("volumes", [])
                  if "emptyDir" in volume]
    if empty_dirs:
        pod.podman.run("volume", "rm", "--force", *empty_dirs, check=False)


@contextmanager
def played(podman: Podman, work: Path, deployment: dict[str, Any], port: int, images: dict[str, str],
           pod_name: str, extra: Iterable[dict[str, Any]] = (), restart: str = "OnFailure") -> Iterator[Pod]:
    """`play`, then remove the pod afterwards."""
    pod = play(podman, work, deployment, port, images, pod_name, extra, restart)
    try:
        yield pod
    finally:
        down(pod)


def load_manifest(path: Path) -> dict[str, Any]:
    """The one PredictorAPI document in a manifest file or folder."""
    from predictorapi.manifest import iter_predictorapis

    (_, document), = list(iter_predictorapis(path))
    return document


@contextmanager
def claim(podman: Podman, prefix: str, group: int | None = None) -> Iterator[tuple[str, Path]]:
    """A fresh claim for played pods (a podman volume named `PREFIX-<random>`): its name and its folder on this
    machine. With `group`, the folder belongs to that group and is group-writable, as `fsGroup` makes a
    claim on a cluster (podman does not apply fsGroup). Removed afterwards."""
    name = f"{prefix}-{os.urandom(4).hex()}"
    podman.run("volume", "create", name)
    try:
        folder = claim_folder(podman, name)
        if group is not None:
            os.chown(folder, 0, group)
            folder.chmod(0o2775)
        yield name, folder
    finally:
        podman.run("volume", "rm", "--force", name, check=False)


@contextmanager
def secret(podman: Podman, name: str, data: dict[str, str]) -> Iterator[str]:
    """A Secret the played pods can use (`envFrom`, `secretKeyRef`): podman's kube play reads a podman secret of
    that name holding the Secret's data as JSON, base64 values (4.3 stores a played Secret document as YAML,
    which it then cannot read back, so it is created here)."""
    import base64

    document = {key: base64.b64encode(value.encode()).decode() for key, value in data.items()}
    file = Path(tempfile.mkdtemp(prefix="secret-")) / "secret.json"
    file.write_text(json.dumps(document))
    try:
        podman.run("secret", "create", name, str(file))
    finally:
        shutil.rmtree(file.parent, ignore_errors=True)
    try:
        yield name
    finally:
        podman.run("secret", "rm", name, check=False)


def render(manifest: dict[str, Any] | Path, runtime_image: str, name: str | None = None) -> dict[str, Any]:
    """The Deployment the operator builds for a manifest (as `predictorapi render` prints it): the API's own, or
    the one named `name` (an API that scales to zero also has `NAME-activator`)."""
    from predictorapi.validation import check_document
    from predictorapi_operator.builders import BuildOptions, build_children

    document = load_manifest(manifest) if isinstance(manifest, Path) else manifest
    api, problems = check_document(document)
    assert api is not None, problems
    api.metadata.namespace = api.metadata.namespace or "default"
    children = build_children(api, BuildOptions(runtime_image=runtime_image, service_monitor_available=False))
    (deployment,) = [child for child in children
                     if child["kind"] == "Deployment" and child["metadata"]["name"] == (name or api.metadata.name)]
    return deployment
