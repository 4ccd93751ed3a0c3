"""The operator image reconciles: its own command (`python -m predictorapi_operator`) runs in a container as
operator/deploy/deployment.yaml runs it (that file's env, uid/gid 10001, read-only root filesystem, no
capabilities, no privilege escalation, /tmp the only writable path, its memory limit), with kopf peering as
operator/deploy/peering.yaml sets it up, against the strict emulator on loopback through a mounted
kubeconfig; every shipped example and a `source.git` PredictorAPI created there get all their children,
owned by them and as the builders build them, and a status."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import yaml
from kubernetes.utils import parse_quantity
from support.containers import REPO, Podman
from support.emulator import RunningEmulator, emulator_running, kube_for
from support.manifests import example_documents, manifest
from support.processes import free_port

from predictorapi.validation import check_document
from predictorapi_operator.builders import BuildOptions, build_children
from predictorapi_operator.kube import Kube, is_subset

DEPLOY = REPO / "operator/deploy"
KUBECONFIG = "/etc/predictorapi/kubeconfig"
"""Where the container finds the kubeconfig (a pod would use its service account instead)."""
HANG_GUARD = 240.0
"""Seconds any wait may take before the test fails: well over the deployed 60 s resync, which a missed
watch event falls back on."""
NAMESPACE = "models"
GIT = {"path": "predictor.py", "source": {"git": {"repo": "https://git.example/m.git", "revision": "v1"}}}


def deployed() -> tuple[dict[str, Any], dict[str, Any]]:
    """The operator's pod spec and container in operator/deploy/deployment.yaml."""
    (deployment,) = [doc for doc in yaml.safe_load_all((DEPLOY / "deployment.yaml").read_text())
                     if doc and doc["kind"] == "Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    return pod, container


def deployed_peering() -> dict[str, Any]:
    """The ClusterKopfPeering operator/deploy/peering.yaml creates (after its two CRDs)."""
    (peering,) = [doc for doc in yaml.safe_load_all((DEPLOY / "peering.yaml").read_text())
                  if doc and doc["kind"] == "ClusterKopfPeering"]
    return peering


def deployed_env(liveness_port: int) -> dict[str, str]:
    """The deployed container's env, with the kubeconfig's path and, as the host network is shared, a free
    port for the operator's /healthz in place of the deployed 8081."""
    _, container = deployed()
    env = {var["name"]: var["value"] for var in container["env"]}
    return {**env, "PREDICTORAPI_OPERATOR_LIVENESS_PORT": str(liveness_port), "KUBECONFIG": KUBECONFIG}


def security_flags() -> list[str]:
    """`podman run` flags for the deployed pod's security context, writable volumes and memory limit; each
    deployed setting this does not translate fails here rather than being left out."""
    pod, container = deployed()
    pod_context, context = pod["securityContext"], container["securityContext"]
    assert pod_context["runAsNonRoot"] and context["runAsNonRoot"]
    flags = ["--user", f"{pod_context['runAsUser']}:{pod_context['runAsGroup']}"]
    assert context["readOnlyRootFilesystem"] is True
    flags += ["--read-only", "--read-only-tmpfs=false"]  # only the deployed volumes are writable, not /run
    assert context["allowPrivilegeEscalation"] is False
    flags += ["--security-opt", "no-new-privileges"]
    flags += [f"--cap-drop={cap}" for cap in context["capabilities"]["drop"]]
    assert not context["capabilities"].get("add")
    # RuntimeDefault is podman's default seccomp profile: nothing to add.
    assert context["seccompProfile"] == pod_context["seccompProfile"] == {"type": "RuntimeDefault"}
    empty_dirs = {volume["name"] for volume in pod["volumes"] if "emptyDir" in volume}
    for mount in container["volumeMounts"]:
        assert mount["name"] in empty_dirs, f"{mount['name']}: only emptyDir volumes are mirrored"
        flags += ["--tmpfs", mount["mountPath"]]
    flags += ["--memory", str(int(parse_quantity(container["resources"]["limits"]["memory"])))]
    return flags


@dataclass
class OperatorContainer:
    """The operator image running against the emulator."""

    podman: Podman
    name: str
    emulator: RunningEmulator
    kube: Kube
    healthz: str
    env: dict[str, str]

    def logs(self) -> str:
        """The container's output (`podman logs`), for failure messages."""
        return self.podman.run("logs", "--tail", "200", self.name, check=False).stdout

    def state(self) -> str:
        """The container's status and exit code (`running 0`, `exited 1`...; empty once removed)."""
        out = self.podman.run("inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", self.name, check=False)
        return out.stdout.strip() if out.returncode == 0 else ""

    def describe(self, what: str, waited: float) -> str:
        """A failure message: what was awaited, the container's state, the emulator's refusals, the logs."""
        refusals = "\n".join(str(r.get("message")) for r in self.emulator.emulator.refusals[-5:])
        return (f"{what}: not after {waited:.0f} s; container {self.name}: {self.state() or 'gone'}\n"
                f"--- the emulator's last refusals:\n{refusals or '(none)'}\n--- podman logs:\n{self.logs()}")

    def wait_for(self, check: Callable[[], Any], what: str, timeout: float = HANG_GUARD) -> Any:
        """Poll `check` until it returns something truthy; fails at once if the container stops, else after
        `timeout`, with the container's logs."""
        started = time.monotonic()
        looked = started
        while True:
            result = check()
            if result:
                return result
            now = time.monotonic()
            if now - started > timeout:
                pytest.fail(self.describe(what, now - started))
            if now - looked > 2:  # podman's CLI is not free on two busy cores
                looked = now
                if not self.state().startswith("running"):
                    pytest.fail(self.describe(what, now - started))
            time.sleep(0.25)


def _healthy(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def _watching(emulator: RunningEmulator, plural: str) -> bool:
    """Whether kopf has opened its watch of `plural` (after kopf peering resumed it)."""
    return any(agent.startswith("kopf/") and resource == plural and verb == "watch"
               for agent, _, resource, verb in set(emulator.emulator.verbs))


@pytest.fixture(scope="module")
def operator_container(podman: Podman, operator_image: str, tmp_path_factory: pytest.TempPathFactory
                       ) -> Iterator[OperatorContainer]:
    """The operator image's own command, run as deployed, against the strict emulator (kopf's peering
    resources served, the deployed ClusterKopfPeering created); yields once kopf is healthy and watching."""
    work = tmp_path_factory.mktemp("operator-image")
    with emulator_running(work, peering=True) as emulator:
        assert emulator.url.startswith("http://127.0.0.1:")
        kube = kube_for(emulator.url)
        peering = deployed_peering()
        kube.request("POST", "/apis/kopf.dev/v1/clusterkopfpeerings", peering)
        emulator.kubeconfig.chmod(0o644)  # read by uid 10001 in the container
        liveness_port = free_port()
        env = deployed_env(liveness_port)
        assert env["PREDICTORAPI_OPERATOR_PEERING"] == peering["metadata"]["name"]
        name = f"predictorapi-operator-test-{liveness_port}"
        # Not `--rm`: a container that exits keeps its logs for the failure message; removed below.
        podman.run("run", "-d", "--name", name, "--network", "host", *security_flags(),
                   "-v", f"{emulator.kubeconfig}:{KUBECONFIG}:ro",
                   *(f"--env={key}={value}" for key, value in env.items()), operator_image, timeout=300)
        running = OperatorContainer(podman, name, emulator, kube, f"http://127.0.0.1:{liveness_port}/healthz", env)
        try:
            started = time.monotonic()
            running.wait_for(lambda: _healthy(running.healthz) and _watching(emulator, "predictorapis"),
                             "kopf healthy and watching PredictorAPIs")
            print(f"operator container healthy and watching after {time.monotonic() - started:.1f} s")
            yield running
        finally:
            podman.run("rm", "--force", "--time", "10", name, check=False)


def test_the_operator_image_runs_as_deployed_with_kopf_peering(operator_container: OperatorContainer) -> None:
    running = operator_container
    config = running.podman.run("inspect", "--format", "{{json .Config.User}} {{json .HostConfig.ReadonlyRootfs}}",
                                running.name).stdout.split()
    assert config == ['"10001:10001"', "true"]
    uid = running.podman.run("exec", running.name, "id", "-u").stdout.strip()
    assert uid == "10001"
    assert _healthy(running.healthz)  # what the deployed livenessProbe asks (its path)
    _, container = deployed()
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    peer = running.env["PREDICTORAPI_OPERATOR_PEERING"]
    # kopf's keep-alive: the operator announced itself in the deployed peering object (not standalone).
    status = running.wait_for(
        lambda: (running.kube.request("GET", f"/apis/kopf.dev/v1/clusterkopfpeerings/{peer}") or {}).get("status"),
        "the operator's keep-alive in the ClusterKopfPeering")
    assert len(status) == 1, status
    (entry,) = status.values()
    assert entry["lifetime"] > 0 and entry["lastseen"], entry


def _documents() -> list[dict[str, Any]]:
    """Every shipped example's PredictorAPI, and a `source.git` one (whose pods run the runtime image)."""
    documents = [document for _, document in example_documents()]
    git = manifest(predictor=GIT)
    git["metadata"]["name"] = "from-git"
    for document in (*documents, git):
        document["metadata"]["namespace"] = NAMESPACE
    return [*documents, git]


def _expected_children(document: dict[str, Any], env: dict[str, str]) -> list[dict[str, Any]]:
    """What the builders make of `document` with the deployed settings (on a cluster serving ServiceMonitors)."""
    api, problems = check_document(document)
    assert api is not None, problems
    options = BuildOptions(runtime_image=env["PREDICTORAPI_OPERATOR_RUNTIME_IMAGE"], service_monitor_available=True,
                           prometheus_url=env["PREDICTORAPI_OPERATOR_PROMETHEUS_URL"])
    return build_children(api, options)


def _reconciled(kube: Kube, document: dict[str, Any], expected: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The live PredictorAPI and its children once every child exists and the status observed its
    generation; None before."""
    name = document["metadata"]["name"]
    live = kube.get("PredictorAPI", NAMESPACE, name)
    if live is None or (live.get("status") or {}).get("observedGeneration") != live["metadata"]["generation"]:
        return None
    children = {child["kind"]: kube.get(child["kind"], NAMESPACE, child["metadata"]["name"]) for child in expected}
    return {"api": live, "children": children} if all(children.values()) else None


def test_the_operator_image_reconciles_every_example_into_its_children(
        operator_container: OperatorContainer) -> None:
    running = operator_container
    documents = _documents()
    started = time.monotonic()
    uids = {document["metadata"]["name"]: running.kube.create(document)["metadata"]["uid"]
            for document in documents}
    for document in documents:
        name = document["metadata"]["name"]
        expected = _expected_children(document, running.env)
        found = running.wait_for(lambda document=document, expected=expected: _reconciled(
            running.kube, document, expected), f"{name}: {', '.join(c['kind'] for c in expected)} and a status")
        owner = {"apiVersion": "serving.predictorapi.dev/v1alpha1", "kind": "PredictorAPI", "name": name,
                 "uid": uids[name], "controller": True, "blockOwnerDeletion": True}
        for child in expected:
            live = found["children"][child["kind"]]
            assert live["metadata"]["ownerReferences"] == [owner], (name, child["kind"])
            assert is_subset(child["spec"], live["spec"]), (name, child["kind"], live["spec"])
        status = found["api"]["status"]
        assert status["observedGeneration"] == 1
        assert status["url"] == f"http://{name}.{NAMESPACE}.svc.cluster.local"
        assert status["selector"] == f"serving.predictorapi.dev/api={name}"
        assert {c["type"] for c in status["conditions"]} == {"Ready", "Progressing", "Degraded"}
        assert status["phase"] == "Progressing", status  # no Deployment controller runs in the emulator
    print(f"{len(documents)} PredictorAPIs reconciled by the operator image in {time.monotonic() - started:.1f} s")
    git = running.kube.get("Deployment", NAMESPACE, "from-git")
    images = {c["name"]: c["image"] for c in [*git["spec"]["template"]["spec"].get("initContainers", []),
                                               *git["spec"]["template"]["spec"]["containers"]]}
    runtime_image = running.env["PREDICTORAPI_OPERATOR_RUNTIME_IMAGE"]
    assert images and set(images.values()) == {runtime_image}, images  # the deployed setting reached the operator
    logs = running.logs()  # `kubectl logs` of the operator says what it did
    assert all(f"[{NAMESPACE}/{d['metadata']['name']}] reconciled: " in logs for d in documents), logs[-3000:]
