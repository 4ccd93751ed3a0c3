"""Helpers for pods played from the operator's rendered Deployments (`support.containers`): what the kubelet
would report about them, and the stand-ins for what a cluster provides that `podman kube play` 4.3 does not.

- `pod_status`: the pod object the kubelet would report (init containers in order, their real exit codes and
  termination messages read the way the kubelet reads them), for the operator's status parser.
- `as_the_kubelet_projects`: a Secret volume as a host folder projected the way the kubelet does (podman 4.3
  mishandles Secret volumes), and a test CA as the image's CA bundle.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from support import containers
from support.artifact_servers import Files
from support.containers import Podman

HANG_GUARD_S = 300.0
"""How long an init container may take to end before a test gives up (never a timing assertion)."""
TERMINATION_FILE_LIMIT = 4096
"""The kubelet reads at most this many bytes of the file at terminationMessagePath..."""
FALLBACK_LINES, FALLBACK_BYTES = 80, 2048
"""...and, under FallbackToLogsOnError when that file is empty, this tail of a failed container's log."""



@dataclass(frozen=True)
class Index:
    """A PEP 503 index on loopback (`URL/simple/`) and what it served."""

    url: str
    served: Files

def init_names(deployment: dict[str, Any]) -> list[str]:
    """The rendered pod's init containers, in order."""
    return [c["name"] for c in deployment["spec"]["template"]["spec"].get("initContainers", [])]


def kubelet_message(pod: containers.Pod, container: dict[str, Any], exit_code: int) -> str:
    """A terminated container's message as the kubelet reports it: the file at terminationMessagePath (its first
    4096 bytes), or, when that is empty and the policy is FallbackToLogsOnError and the container failed, the
    last 80 lines (at most 2048 bytes) of its log."""
    message = pod.termination_message(container["name"])[:TERMINATION_FILE_LIMIT]
    if not message and container.get("terminationMessagePolicy") == "FallbackToLogsOnError" and exit_code != 0:
        message = "\n".join(pod.logs(container["name"]).splitlines()[-FALLBACK_LINES:])[-FALLBACK_BYTES:]
    return message


def init_exit(pod: containers.Pod, names: list[str], i: int) -> int | None:
    """The exit code of the pod's `i`-th init container once it has ended, else None. Podman (`kube play`'s
    init containers are `once`) removes an init container that succeeded: one that is gone while a later
    container of the pod exists ended with 0 (podman starts the next only then)."""
    state = pod.state(names[i])
    if state.get("Status") in ("exited", "stopped"):
        return state["ExitCode"]
    if not state and any(pod.state(name) for name in [*names[i + 1:], "runtime"]):
        return 0
    return None


def pod_status(pod: containers.Pod, deployment: dict[str, Any]) -> dict[str, Any]:
    """The pod object the kubelet would report for this pod, built from what its real containers did: each init
    container's state (terminated with its real exit code and termination message; running; or waiting in
    PodInitializing when it has not run), in the rendered order."""
    specs = deployment["spec"]["template"]["spec"].get("initContainers", [])
    names = [c["name"] for c in specs]
    statuses = []
    for i, container in enumerate(specs):
        code = init_exit(pod, names, i)
        if code is not None:
            terminated = {"exitCode": code, "reason": "Completed" if code == 0 else "Error",
                          "message": kubelet_message(pod, container, code)}
            statuses.append({"name": container["name"], "state": {"terminated": terminated}})
        elif pod.state(container["name"]).get("Status") == "running":
            statuses.append({"name": container["name"], "state": {"running": {}}})
        else:
            statuses.append({"name": container["name"], "state": {"waiting": {"reason": "PodInitializing"}}})
    return {"metadata": {"name": pod.pod, "creationTimestamp": "2026-01-01T00:00:00Z"},
            "status": {"initContainerStatuses": statuses}}


def security(podman: Podman, pod: containers.Pod, container: str) -> tuple[str, bool]:
    """(user, read-only root filesystem) podman ran `container` with."""
    out = podman.run("inspect", "--format", "{{.Config.User}} {{.HostConfig.ReadonlyRootfs}}",
                     pod.container(container)).stdout.split()
    return out[0], out[1] == "true"


def wait_failed(pod: containers.Pod, deployment: dict[str, Any], hang_guard: float = HANG_GUARD_S) -> str:
    """The first init container that exits non-zero (waiting for each in order); fails if all succeed."""
    names = init_names(deployment)
    for i, name in enumerate(names):
        deadline = time.monotonic() + hang_guard
        while (code := init_exit(pod, names, i)) is None:
            assert time.monotonic() < deadline, f"{name} of pod {pod.name} did not end:\n{pod.describe()}"
            time.sleep(0.5)
        if code != 0:
            return name
    raise AssertionError(f"every init container succeeded:\n{pod.describe()}")


@dataclass(frozen=True)
class Tls:
    """A CA (its PEM bundle file) and a server certificate it signed for 127.0.0.1 (the server's context)."""

    bundle: Path
    server: ssl.SSLContext


def make_tls(folder: Path) -> Tls:
    """A fresh CA and a server certificate for 127.0.0.1, written into `folder`."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key, server_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "predictorapi test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    server = (x509.CertificateBuilder()
              .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
              .issuer_name(ca_name).public_key(server_key.public_key()).serial_number(x509.random_serial_number())
              .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=1))
              .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                             critical=False)
              .sign(ca_key, hashes.SHA256()))
    bundle, chain, key = folder / "ca-certificates.crt", folder / "server.pem", folder / "server.key"
    bundle.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    bundle.chmod(0o644)
    chain.write_bytes(server.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(server_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                             serialization.NoEncryption()))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(chain, key)
    return Tls(bundle, context)


def as_the_kubelet_projects(deployment: dict[str, Any], secret: str, data: dict[str, str], folder: Path,
                            ca_bundle: Path) -> dict[str, Any]:
    """Two stand-ins for what a cluster provides, everything else as rendered:
    - the rendered `secret` volume of `secret` becomes a host folder holding its keys as files, group `fsGroup`,
      mode `defaultMode`, as the kubelet projects it (podman 4.3's `kube play` mishandles Secret volumes: it
      drops `stringData`, writes `data` still base64-encoded, and ignores `defaultMode`);
    - the image's CA bundle is this test's CA (a cluster's git server has a certificate its nodes trust)."""
    pod = deployment["spec"]["template"]["spec"]
    (volume,) = [v for v in pod["volumes"] if (v.get("secret") or {}).get("secretName") == secret]
    folder.mkdir(parents=True)
    os.chown(folder, 0, pod["securityContext"]["fsGroup"])
    folder.chmod(0o750)
    for key, value in data.items():
        (folder / key).write_text(value)
        os.chown(folder / key, 0, pod["securityContext"]["fsGroup"])
        (folder / key).chmod(volume["secret"].get("defaultMode", 0o644))
    volume.pop("secret")
    volume["hostPath"] = {"path": str(folder), "type": "Directory"}
    pod["volumes"].append({"name": "test-ca-bundle", "hostPath": {"path": str(ca_bundle), "type": "File"}})
    for container in [*pod.get("initContainers", []), *pod["containers"]]:
        container.setdefault("volumeMounts", []).append(
            {"name": "test-ca-bundle", "mountPath": "/etc/ssl/certs/ca-certificates.crt", "readOnly": True})
    return deployment
