"""PredictorAPI documents that Kubernetes would refuse (in the PredictorAPI or in a child), as data.

Each `BadSpec` names the spec field its error must name (`field`, dotted as `predictorapi validate`
prints it) and whether the CRD's schema and CEL rules alone refuse it (`in_crd`: `kubectl apply` and Argo
CD refuse it; False when only `predictorapi validate`'s Python checks do, e.g. a node selector key, a
config too large, a NaN, which JSON cannot even carry).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from support.manifests import MINIMAL, manifest


@dataclass(frozen=True)
class BadSpec:
    id: str
    document: dict[str, Any]
    field: str
    in_crd: bool


IMAGE = {"image": "registry.example/demo:1", "path": "predictor.py"}
SECRET = {"secretKeyRef": {"name": "hf", "key": "token"}}
CONFIG_MAP = {"configMapKeyRef": {"name": "settings", "key": "mode"}}


def _env(*variables: dict[str, Any]) -> dict[str, Any]:
    return manifest(predictor={**IMAGE, "env": list(variables)})


def _from(source: dict[str, Any]) -> dict[str, Any]:
    return _env({"name": "VALUE", "valueFrom": source})


COLLECTOR = "http://otel-collector.observability:4318"


def _tracing(**tracing: Any) -> dict[str, Any]:
    return manifest(monitoring={"tracing": tracing})


def _compute(**compute: Any) -> dict[str, Any]:
    return manifest(compute=compute)


def _toleration(**toleration: Any) -> dict[str, Any]:
    return _compute(tolerations=[toleration])


def _ingress(**ingress: Any) -> dict[str, Any]:
    return manifest(networking={"ingress": {"host": "api.example.com", **ingress}})


def _meta(**metadata: Any) -> dict[str, Any]:
    return {**MINIMAL, "metadata": {"name": "demo", **metadata}}


ENV = "spec.predictor.env[0]"
TOLERATION = "spec.compute.tolerations[0]"
INGRESS = "spec.networking.ingress"

BAD_SPECS: list[BadSpec] = [
    # compute: quantities (requests may not be negative), extended resources, int32
    BadSpec("cpu-word", _compute(cpu="lots"), "spec.compute.cpu", True),
    BadSpec("cpu-empty", _compute(cpu=""), "spec.compute.cpu", True),
    BadSpec("cpu-negative-int", _compute(cpu=-1), "spec.compute.cpu", True),
    BadSpec("cpu-negative-string", _compute(cpu="-500m"), "spec.compute.cpu", True),
    BadSpec("cpu-unknown-suffix", _compute(cpu="2K"), "spec.compute.cpu", True),
    BadSpec("cpu-spaces", _compute(cpu=" 1"), "spec.compute.cpu", True),
    BadSpec("memory-word-suffix", _compute(memory="2Gigs"), "spec.compute.memory", True),
    BadSpec("memory-negative", _compute(memory="-1Gi"), "spec.compute.memory", True),
    BadSpec("memory-fractional-exponent", _compute(memory="1e1.5"), "spec.compute.memory", True),
    BadSpec("memory-lower-binary-suffix", _compute(memory="2gi"), "spec.compute.memory", True),
    BadSpec("gpu-resource-space", _compute(gpu=1, gpuResource="bad resource"), "spec.compute.gpuResource", True),
    BadSpec("gpu-resource-no-domain", _compute(gpu=1, gpuResource="gpu"), "spec.compute.gpuResource", True),
    BadSpec("gpu-resource-kubernetes-io", _compute(gpu=1, gpuResource="kubernetes.io/gpu"),
            "spec.compute.gpuResource", True),
    BadSpec("gpu-resource-quota-name", _compute(gpu=1, gpuResource="requests.nvidia.com/gpu"),
            "spec.compute.gpuResource", True),
    BadSpec("gpu-resource-long-domain", _compute(gpu=1, gpuResource="a" * 245 + "/gpu"),
            "spec.compute.gpuResource", True),
    BadSpec("gpu-int32", _compute(gpu=3_000_000_000), "spec.compute.gpu", True),
    BadSpec("node-selector-value", _compute(nodeSelector={"pool": "not valid!"}), "spec.compute.nodeSelector.pool",
            True),
    BadSpec("node-selector-value-too-long", _compute(nodeSelector={"pool": "a" * 64}),
            "spec.compute.nodeSelector.pool", True),
    BadSpec("node-selector-key", _compute(nodeSelector={"bad key": "x"}), "spec.compute.nodeSelector", False),
    BadSpec("node-selector-key-prefix", _compute(nodeSelector={"Example.com/pool": "x"}),
            "spec.compute.nodeSelector", False),
    # tolerations (Kubernetes' validateTolerations)
    BadSpec("toleration-exists-with-value", _toleration(key="k", operator="Exists", value="v"), f"{TOLERATION}.value",
            True),
    BadSpec("toleration-seconds-without-noexecute", _toleration(key="k", effect="NoSchedule", tolerationSeconds=60),
            f"{TOLERATION}.tolerationSeconds", True),
    BadSpec("toleration-seconds-no-effect", _toleration(key="k", operator="Exists", tolerationSeconds=60),
            f"{TOLERATION}.tolerationSeconds", True),
    BadSpec("toleration-empty-key-equal", _toleration(operator="Equal", value="v"), f"{TOLERATION}.operator", True),
    BadSpec("toleration-bad-key", _toleration(key="bad key", operator="Exists"), f"{TOLERATION}.key", True),
    BadSpec("toleration-bad-value", _toleration(key="k", value="no spaces"), f"{TOLERATION}.value", True),
    BadSpec("toleration-operator", _toleration(key="k", operator="Lt"), f"{TOLERATION}.operator", True),
    BadSpec("toleration-seconds-int64", _toleration(key="k", effect="NoExecute", tolerationSeconds=2**64),
            f"{TOLERATION}.tolerationSeconds", True),
    # autoscaling and replicas: int32 fields; an HPA target that is never `0m`
    BadSpec("max-replicas-int32", manifest(autoscaling={"maxReplicas": 3_000_000_000}),
            "spec.autoscaling.maxReplicas", True),
    BadSpec("min-replicas-int32", manifest(autoscaling={"minReplicas": 2**31, "maxReplicas": 2**31}),
            "spec.autoscaling.minReplicas", True),
    BadSpec("target-concurrency-tiny", manifest(autoscaling={"maxReplicas": 3, "targetConcurrency": 0.0004}),
            "spec.autoscaling.targetConcurrency", True),
    BadSpec("target-concurrency-zero", manifest(autoscaling={"targetConcurrency": 0}),
            "spec.autoscaling.targetConcurrency", True),
    # scale to zero: minReplicas may be 0 (not less), idleSeconds 30..86400, coldStartTimeoutSeconds 1..86400,
    # and not with a canary (the message names both fields)
    BadSpec("min-replicas-negative", manifest(autoscaling={"minReplicas": -1}), "spec.autoscaling.minReplicas", True),
    BadSpec("idle-seconds-short", manifest(autoscaling={"minReplicas": 0, "idleSeconds": 29}),
            "spec.autoscaling.idleSeconds", True),
    BadSpec("idle-seconds-long", manifest(autoscaling={"minReplicas": 0, "idleSeconds": 86401}),
            "spec.autoscaling.idleSeconds", True),
    BadSpec("cold-start-timeout-zero", manifest(autoscaling={"minReplicas": 0, "coldStartTimeoutSeconds": 0}),
            "spec.autoscaling.coldStartTimeoutSeconds", True),
    BadSpec("cold-start-timeout-long", manifest(autoscaling={"minReplicas": 0, "coldStartTimeoutSeconds": 86401}),
            "spec.autoscaling.coldStartTimeoutSeconds", True),
    BadSpec("scale-to-zero-canary", manifest(autoscaling={"minReplicas": 0, "maxReplicas": 3},
                                             rollout={"strategy": "Canary"}), "spec.autoscaling.minReplicas", True),
    BadSpec("target-concurrency-inf", manifest(autoscaling={"maxReplicas": 3, "targetConcurrency": float("inf")}),
            "spec.autoscaling.targetConcurrency", False),
    BadSpec("target-concurrency-nan", manifest(autoscaling={"maxReplicas": 3, "targetConcurrency": float("nan")}),
            "spec.autoscaling.targetConcurrency", False),
    BadSpec("request-timeout-nan", manifest(requestTimeoutSeconds=float("nan")), "spec.requestTimeoutSeconds", False),
    BadSpec("replicas-negative", manifest(replicas=-1), "spec.replicas", True),
    BadSpec("replicas-int32", manifest(replicas=2**31), "spec.replicas", True),
    BadSpec("replicas-word", manifest(replicas="three"), "spec.replicas", True),
    # rollout: IntOrString as a Deployment reads it
    BadSpec("max-unavailable-over-100-percent", manifest(updateStrategy={"maxUnavailable": "101%"}),
            "spec.updateStrategy.maxUnavailable", True),
    BadSpec("surge-and-unavailable-zero-padded", manifest(updateStrategy={"maxSurge": "00%", "maxUnavailable": 0}),
            "spec.updateStrategy", True),
    BadSpec("max-surge-int32", manifest(updateStrategy={"maxSurge": 3_000_000_000}),
            "spec.updateStrategy.maxSurge", True),
    BadSpec("max-surge-fraction", manifest(updateStrategy={"maxSurge": "1.5%"}), "spec.updateStrategy.maxSurge",
            True),
    # predictor: image, env names, valueFrom, config
    BadSpec("image-empty", manifest(predictor={**IMAGE, "image": ""}), "spec.predictor.image", True),
    BadSpec("image-whitespace", manifest(predictor={**IMAGE, "image": "registry.example/demo: 1"}),
            "spec.predictor.image", True),
    BadSpec("image-trailing-newline", manifest(predictor={**IMAGE, "image": "registry.example/demo:1\n"}),
            "spec.predictor.image", True),
    BadSpec("env-name-equals", _env({"name": "A=B", "value": "1"}), f"{ENV}.name", True),
    BadSpec("env-name-space", _env({"name": "MY VAR", "value": "1"}), f"{ENV}.name", True),
    BadSpec("env-name-digit", _env({"name": "1ST", "value": "1"}), f"{ENV}.name", True),
    BadSpec("env-name-dotdot", _env({"name": "..HIDDEN", "value": "1"}), f"{ENV}.name", True),
    BadSpec("env-reserved-api-key", _env({"name": "PREDICTORAPI_API_KEY", "value": "guessable"}), f"{ENV}.name",
            True),
    BadSpec("env-reserved-port", _env({"name": "PREDICTORAPI_PORT", "value": "9999"}), f"{ENV}.name", True),
    BadSpec("env-value-from-empty", _from({}), f"{ENV}.valueFrom", True),
    BadSpec("env-value-from-two-sources", _from({**SECRET, **CONFIG_MAP}), f"{ENV}.valueFrom", True),
    BadSpec("env-secret-name", _from({"secretKeyRef": {"name": "Bad_Name", "key": "token"}}),
            f"{ENV}.valueFrom.secretKeyRef.name", True),
    BadSpec("env-secret-key-slash", _from({"secretKeyRef": {"name": "hf", "key": "a/b"}}),
            f"{ENV}.valueFrom.secretKeyRef.key", True),
    BadSpec("env-secret-key-dotdot", _from({"secretKeyRef": {"name": "hf", "key": ".."}}),
            f"{ENV}.valueFrom.secretKeyRef.key", True),
    BadSpec("env-config-map-name", _from({"configMapKeyRef": {"name": "-settings", "key": "mode"}}),
            f"{ENV}.valueFrom.configMapKeyRef.name", True),
    BadSpec("env-field-path", _from({"fieldRef": {"fieldPath": "spec.containers"}}),
            f"{ENV}.valueFrom.fieldRef.fieldPath", True),
    BadSpec("env-field-path-whole-labels", _from({"fieldRef": {"fieldPath": "metadata.labels"}}),
            f"{ENV}.valueFrom.fieldRef.fieldPath", True),
    BadSpec("env-field-api-version", _from({"fieldRef": {"fieldPath": "metadata.name", "apiVersion": "v2"}}),
            f"{ENV}.valueFrom.fieldRef.apiVersion", True),
    BadSpec("env-resource", _from({"resourceFieldRef": {"resource": "limits.nvidia.com/gpu"}}),
            f"{ENV}.valueFrom.resourceFieldRef.resource", True),
    BadSpec("env-resource-container", _from({"resourceFieldRef": {"resource": "limits.cpu", "containerName": "other"}}),
            f"{ENV}.valueFrom.resourceFieldRef.containerName", True),
    BadSpec("env-divisor-syntax", _from({"resourceFieldRef": {"resource": "limits.memory", "divisor": "lots"}}),
            f"{ENV}.valueFrom.resourceFieldRef.divisor", True),
    BadSpec("env-divisor-for-cpu", _from({"resourceFieldRef": {"resource": "limits.cpu", "divisor": "10m"}}),
            f"{ENV}.valueFrom.resourceFieldRef.divisor", False),
    BadSpec("env-divisor-for-memory", _from({"resourceFieldRef": {"resource": "requests.memory", "divisor": "1024"}}),
            f"{ENV}.valueFrom.resourceFieldRef.divisor", False),
    BadSpec("config-too-large", manifest(predictor={**IMAGE, "config": {"blob": "x" * 65_530}}),
            "spec.predictor.config", False),
    BadSpec("config-nan", manifest(predictor={**IMAGE, "config": {"threshold": float("nan")}}),
            "spec.predictor.config.threshold", False),
    # Secret names and keys
    *(BadSpec(f"git-credentials-in-url-{n}", manifest(predictor={"path": "p.py", "source": {"git": {
        "repo": repo, "revision": "v1"}}}), "spec.predictor.source.git.repo", True)
      for n, repo in enumerate(["https://ghp_token@github.com/org/repo.git",
                                "https://user:p@ss@git.example/m.git",
                                "ssh://git:secret@git.example/m.git",
                                "https://git.example/m.git?private_token=abc",
                                "HTTP://user@git.example/m.git"])),
    BadSpec("git-secret-name", manifest(predictor={"path": "p.py", "source": {"git": {
        "repo": "https://git.example/m.git", "revision": "v1", "secretRef": {"name": "Bad_Name"}}}}),
        "spec.predictor.source.git.secretRef.name", True),
    BadSpec("auth-secret-name", manifest(auth={"secretRef": {"name": "Bad_Name"}}), "spec.auth.secretRef.name", True),
    BadSpec("auth-secret-key-slash", manifest(auth={"secretRef": {"name": "demo-key", "key": "a/b"}}),
            "spec.auth.secretRef.key", True),
    BadSpec("auth-secret-name-too-long", manifest(auth={"secretRef": {"name": "a" * 254}}),
            "spec.auth.secretRef.name", True),
    # ingress (Kubernetes' ValidateIngressSpec)
    BadSpec("ingress-host-ip", _ingress(host="10.0.0.1"), f"{INGRESS}.host", True),
    BadSpec("ingress-host-ip-leading-zeros", _ingress(host="010.000.000.001"), f"{INGRESS}.host", True),
    BadSpec("ingress-host-ipv6", _ingress(host="::1"), f"{INGRESS}.host", True),
    BadSpec("ingress-host-upper-case", _ingress(host="API.example.com"), f"{INGRESS}.host", True),
    BadSpec("ingress-host-inner-wildcard", _ingress(host="api.*.example.com"), f"{INGRESS}.host", True),
    BadSpec("ingress-host-port", _ingress(host="api.example.com:443"), f"{INGRESS}.host", True),
    BadSpec("ingress-path-dotdot", _ingress(path="/a/../b"), f"{INGRESS}.path", True),
    BadSpec("ingress-path-double-slash", _ingress(path="/a//b"), f"{INGRESS}.path", True),
    BadSpec("ingress-path-encoded-slash", _ingress(path="/a%2Fb"), f"{INGRESS}.path", True),
    BadSpec("ingress-class-name", _ingress(className="Nginx_Public"), f"{INGRESS}.className", True),
    BadSpec("ingress-tls-secret", _ingress(tls={"secretName": "Demo_TLS"}), f"{INGRESS}.tls.secretName", True),
    # metadata: the API server checks any object's namespace, labels and annotations
    BadSpec("namespace", _meta(namespace="Team_A"), "metadata.namespace", False),
    BadSpec("label-key", _meta(labels={"bad key": "x"}), "metadata.labels", False),
    BadSpec("label-value", _meta(labels={"team": "a b"}), "metadata.labels.team", False),
    BadSpec("annotation-key", _meta(annotations={"example.com/bad key": "x"}), "metadata.annotations", False),
    # spec.model: per-scheme URIs, no credentials in them, revisions and options that apply to the scheme
    *(BadSpec(f"model-uri-{n}", manifest(model={"uri": uri}), "spec.model.uri", True)
      for n, uri in enumerate(["ftp://models.example/m.bin", "s3://Models/sentiment/", "s3://m/x", "s3://models/a/../b",
                               "gs://UPPER/m.bin", "hf://org/name/extra", "hf://", "https:///model.bin",
                               "pvc://Model_Cache/m", "pvc://cache/../etc", "s3://models/my model/",
                               "https://user:secret@models.example/m.bin", "https://token@models.example/m.bin",
                               "https://models.example/m.bin?X-Amz-Signature=abc",
                               "https://models.example/m.bin?token=abc", ""])),
    BadSpec("model-https-revision-not-sha256", manifest(model={"uri": "https://models.example/m.bin",
                                                                "revision": "v1"}), "spec.model.revision", True),
    BadSpec("model-revision-characters", manifest(model={"uri": "hf://org/name", "revision": "main branch"}),
            "spec.model.revision", True),
    BadSpec("model-pvc-revision", manifest(model={"uri": "pvc://models/m", "revision": "v1"}),
            "spec.model.revision", True),
    BadSpec("model-pvc-cache", manifest(model={"uri": "pvc://models/m", "cache": {"claimName": "cache"}}),
            "spec.model.cache", True),
    BadSpec("model-pvc-secret", manifest(model={"uri": "pvc://models/m", "secretRef": {"name": "creds"}}),
            "spec.model.secretRef", True),
    BadSpec("model-secret-name", manifest(model={"uri": "s3://models/m/", "secretRef": {"name": "Bad_Name"}}),
            "spec.model.secretRef.name", True),
    BadSpec("model-cache-claim-name", manifest(model={"uri": "s3://models/m/", "cache": {"claimName": "Cache_1"}}),
            "spec.model.cache.claimName", True),
    BadSpec("model-unknown-field", manifest(model={"uri": "s3://models/m/", "checksum": "abc"}),
            "spec.model.checksum", False),  # the API server prunes unknown fields; validate refuses them
    # issue 25: pvc:// paths that leave the claim; credentials over plain http without the opt-in
    BadSpec("model-pvc-absolute-path", manifest(model={"uri": "pvc://weights//etc"}), "spec.model.uri", True),
    BadSpec("model-pvc-dot-dot-path", manifest(model={"uri": "pvc://c/a/../.."}), "spec.model.uri", True),
    BadSpec("model-http-secret-in-clear",
            manifest(model={"uri": "http://models.internal/m.bin", "secretRef": {"name": "creds"}}),
            "spec.model.secretRef", True),
    # streamed predictions: the longest wait for the next item
    BadSpec("stream-idle-timeout-zero", manifest(streamIdleTimeoutSeconds=0), "spec.streamIdleTimeoutSeconds", True),
    BadSpec("stream-idle-timeout-negative", manifest(streamIdleTimeoutSeconds=-1),
            "spec.streamIdleTimeoutSeconds", True),
    BadSpec("stream-idle-timeout-over-an-hour", manifest(streamIdleTimeoutSeconds=3601),
            "spec.streamIdleTimeoutSeconds", True),
    BadSpec("stream-idle-timeout-word", manifest(streamIdleTimeoutSeconds="soon"),
            "spec.streamIdleTimeoutSeconds", True),
    BadSpec("stream-idle-timeout-nan", manifest(streamIdleTimeoutSeconds=float("nan")),
            "spec.streamIdleTimeoutSeconds", False),
    BadSpec("tracing-endpoint-grpc-scheme", _tracing(endpoint="grpc://collector:4317"),
            "spec.monitoring.tracing.endpoint", True),
    BadSpec("tracing-endpoint-missing", _tracing(sampleRatio=0.5), "spec.monitoring.tracing.endpoint", True),
    BadSpec("tracing-endpoint-no-host", _tracing(endpoint="http://"), "spec.monitoring.tracing.endpoint", True),
    BadSpec("tracing-sample-ratio-over-one", _tracing(endpoint=COLLECTOR, sampleRatio=1.5),
            "spec.monitoring.tracing.sampleRatio", True),
    BadSpec("tracing-sample-ratio-negative", _tracing(endpoint=COLLECTOR, sampleRatio=-0.1),
            "spec.monitoring.tracing.sampleRatio", True),
]

# pod and cluster settings (Kubernetes' PodSpec rules; the operator's own names, paths and keys are reserved)
GIT = {"path": "models/p.py", "source": {"git": {"repo": "https://git.example/m.git", "revision": "v1"}}}
EMPTY = {"name": "data", "emptyDir": {}}


def _mount(**mount: Any) -> dict[str, Any]:
    return manifest(volumes=[EMPTY], volumeMounts=[{"name": "data", "mountPath": "/data", **mount}])


def _node_term(**requirement: Any) -> dict[str, Any]:
    return manifest(affinity={"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [{"key": "pool", **requirement}]}]}}})


def _pod_term(**term: Any) -> dict[str, Any]:
    return manifest(affinity={"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term]}})


def _spread(**constraint: Any) -> dict[str, Any]:
    return manifest(topologySpreadConstraints=[{"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
                                                "whenUnsatisfiable": "DoNotSchedule", **constraint}])


NODE_REQUIREMENT = ("spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0]"
                    ".matchExpressions[0]")
POD_TERM = "spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0]"

BAD_SPECS += [
    BadSpec("service-account-name", manifest(serviceAccountName="Model_Reader"), "spec.serviceAccountName", True),
    BadSpec("image-pull-secret-name", manifest(imagePullSecrets=[{"name": "Reg Cred"}]),
            "spec.imagePullSecrets[0].name", True),
    BadSpec("priority-class-name", manifest(priorityClassName="High_Priority"), "spec.priorityClassName", True),
    BadSpec("runtime-class-name", manifest(runtimeClassName="NVIDIA"), "spec.runtimeClassName", True),
    BadSpec("volume-no-source", manifest(volumes=[{"name": "data"}]), "spec.volumes[0]", True),
    BadSpec("volume-two-sources", manifest(volumes=[{**EMPTY, "secret": {"secretName": "s"}}]), "spec.volumes[0]",
            True),
    BadSpec("volume-name-upper-case", manifest(volumes=[{**EMPTY, "name": "Data"}]), "spec.volumes[0].name", True),
    BadSpec("volume-name-reserved", manifest(volumes=[{**EMPTY, "name": "tmp"}]), "spec.volumes[0].name", True),
    BadSpec("volume-name-reserved-prefix", manifest(volumes=[{**EMPTY, "name": "predictorapi-x"}]),
            "spec.volumes[0].name", True),
    BadSpec("volume-name-duplicate", manifest(volumes=[EMPTY, {"name": "data", "configMap": {"name": "c"}}]),
            "spec.volumes", True),
    BadSpec("volume-empty-dir-medium", manifest(volumes=[{"name": "data", "emptyDir": {"medium": "Disk"}}]),
            "spec.volumes[0].emptyDir.medium", True),
    BadSpec("volume-empty-dir-size", manifest(volumes=[{"name": "data", "emptyDir": {"sizeLimit": "1 Gi"}}]),
            "spec.volumes[0].emptyDir.sizeLimit", True),
    BadSpec("volume-claim-name", manifest(volumes=[{"name": "data", "persistentVolumeClaim": {"claimName": "A_B"}}]),
            "spec.volumes[0].persistentVolumeClaim.claimName", True),
    BadSpec("volume-config-map-item-path-dotdot", manifest(volumes=[{"name": "data", "configMap": {
        "name": "settings", "items": [{"key": "a", "path": "../a"}]}}]), "spec.volumes[0].configMap.items[0].path",
        True),
    BadSpec("volume-secret-mode", manifest(volumes=[{"name": "data", "secret": {"secretName": "s",
                                                                                 "defaultMode": 0o1777}}]),
            "spec.volumes[0].secret.defaultMode", True),
    BadSpec("mount-unknown-volume", manifest(volumeMounts=[{"name": "data", "mountPath": "/data"}]),
            "spec.volumeMounts", True),
    BadSpec("mount-path-relative", _mount(mountPath="data"), "spec.volumeMounts[0].mountPath", True),
    BadSpec("mount-path-reserved", _mount(mountPath="/tmp"), "spec.volumeMounts[0].mountPath", True),
    BadSpec("mount-path-shm-reserved", _mount(mountPath="/dev/shm"), "spec.volumeMounts[0].mountPath", True),
    BadSpec("mount-path-duplicate", manifest(volumes=[EMPTY], volumeMounts=[
        {"name": "data", "mountPath": "/data"}, {"name": "data", "mountPath": "/data"}]), "spec.volumeMounts", True),
    BadSpec("mount-sub-path-dotdot", _mount(subPath="a/../../etc"), "spec.volumeMounts[0].subPath", True),
    BadSpec("shared-memory-word", _compute(sharedMemory="lots"), "spec.compute.sharedMemory", True),
    BadSpec("shared-memory-negative", _compute(sharedMemory="-1Gi"), "spec.compute.sharedMemory", True),
    BadSpec("env-from-both", manifest(envFrom=[{"configMapRef": {"name": "a"}, "secretRef": {"name": "b"}}]),
            "spec.envFrom[0]", True),
    BadSpec("env-from-none", manifest(envFrom=[{"prefix": "APP_"}]), "spec.envFrom[0]", True),
    BadSpec("env-from-reserved-prefix", manifest(envFrom=[{"prefix": "PREDICTORAPI_", "secretRef": {"name": "s"}}]),
            "spec.envFrom[0].prefix", True),
    BadSpec("env-from-prefix-equals", manifest(envFrom=[{"prefix": "A=", "secretRef": {"name": "s"}}]),
            "spec.envFrom[0].prefix", True),
    BadSpec("node-affinity-in-without-values", _node_term(operator="In"), f"{NODE_REQUIREMENT}.values", True),
    BadSpec("node-affinity-exists-with-values", _node_term(operator="Exists", values=["a"]),
            f"{NODE_REQUIREMENT}.values", True),
    BadSpec("node-affinity-gt-not-integer", _node_term(operator="Gt", values=["big"]), f"{NODE_REQUIREMENT}.values",
            True),
    BadSpec("node-affinity-operator", _node_term(operator="Equals", values=["a"]), f"{NODE_REQUIREMENT}.operator",
            True),
    BadSpec("node-affinity-no-terms", manifest(affinity={"nodeAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": []}}}),
        "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms", True),
    BadSpec("node-affinity-weight", manifest(affinity={"nodeAffinity": {
        "preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 101, "preference": {}}]}}),
        "spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight", True),
    BadSpec("pod-affinity-empty-topology-key", _pod_term(topologyKey=""), f"{POD_TERM}.topologyKey", True),
    BadSpec("pod-affinity-topology-key", _pod_term(topologyKey="bad key"), f"{POD_TERM}.topologyKey", True),
    BadSpec("pod-affinity-selector-operator", _pod_term(topologyKey="kubernetes.io/hostname", labelSelector={
        "matchExpressions": [{"key": "app", "operator": "Gt", "values": ["1"]}]}),
        f"{POD_TERM}.labelSelector.matchExpressions[0].operator", True),
    BadSpec("pod-affinity-selector-value", _pod_term(topologyKey="kubernetes.io/hostname", labelSelector={
        "matchLabels": {"app": "not valid!"}}), f"{POD_TERM}.labelSelector.matchLabels.app", True),
    BadSpec("pod-affinity-selector-key", _pod_term(topologyKey="kubernetes.io/hostname", labelSelector={
        "matchLabels": {"bad key": "x"}}), f"{POD_TERM}.labelSelector.matchLabels", False),
    BadSpec("spread-max-skew-zero", _spread(maxSkew=0), "spec.topologySpreadConstraints[0].maxSkew", True),
    BadSpec("spread-when-unsatisfiable", _spread(whenUnsatisfiable="Sometimes"),
            "spec.topologySpreadConstraints[0].whenUnsatisfiable", True),
    BadSpec("spread-min-domains-schedule-anyway", _spread(whenUnsatisfiable="ScheduleAnyway", minDomains=2),
            "spec.topologySpreadConstraints[0].minDomains", True),
    BadSpec("spread-node-taints-policy", _spread(nodeTaintsPolicy="Always"),
            "spec.topologySpreadConstraints[0].nodeTaintsPolicy", True),
    BadSpec("spread-duplicate", manifest(topologySpreadConstraints=[
        {"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule"},
        {"maxSkew": 2, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule"}]),
        "spec.topologySpreadConstraints", True),
    BadSpec("pod-label-selector-label", manifest(labels={"serving.predictorapi.dev/api": "other"}), "spec.labels",
            True),
    BadSpec("pod-label-managed-by", manifest(labels={"app.kubernetes.io/managed-by": "me"}), "spec.labels", True),
    BadSpec("pod-label-value", manifest(labels={"team": "ml platform"}), "spec.labels.team", True),
    BadSpec("pod-label-key", manifest(labels={"bad key": "x"}), "spec.labels", False),
    BadSpec("pod-annotation-spec-hash", manifest(annotations={"serving.predictorapi.dev/spec-hash": "x"}),
            "spec.annotations", True),
    BadSpec("pod-annotation-key", manifest(annotations={"example.com/bad key": "x"}), "spec.annotations", False),
    BadSpec("requirements-with-image", manifest(predictor={**IMAGE, "requirements": "requirements.txt"}),
            "spec.predictor.requirements", True),
    BadSpec("requirements-absolute", manifest(predictor={**GIT, "requirements": "/etc/requirements.txt"}),
            "spec.predictor.requirements", True),
    BadSpec("requirements-dotdot", manifest(predictor={**GIT, "requirements": "../requirements.txt"}),
            "spec.predictor.requirements", True),
    BadSpec("index-url-with-image", manifest(predictor={**IMAGE, "allowedIndexUrls": ["https://pypi.example/simple"]}),
            "spec.predictor.allowedIndexUrls", True),
    BadSpec("index-url-credentials", manifest(predictor={**GIT, "allowedIndexUrls": ["https://u:p@pypi.example/s"]}),
            "spec.predictor.allowedIndexUrls[0]", True),
    BadSpec("index-url-query", manifest(predictor={**GIT, "allowedIndexUrls": ["https://pypi.example/s?token=x"]}),
            "spec.predictor.allowedIndexUrls[0]", True),
]


def _canary(**rollout: Any) -> dict[str, Any]:
    return manifest(rollout={"strategy": "Canary", **rollout})


ROLLOUT = "spec.rollout"
BAD_SPECS += [
    # rollout: the canary (Argo Rollouts) and its analysis
    BadSpec("rollout-strategy", manifest(rollout={"strategy": "BlueGreen"}), f"{ROLLOUT}.strategy", True),
    BadSpec("canary-no-steps", _canary(steps=[]), f"{ROLLOUT}.steps", True),
    BadSpec("canary-weight-zero", _canary(steps=[{"weight": 0}]), f"{ROLLOUT}.steps[0].weight", True),
    BadSpec("canary-weight-over-100", _canary(steps=[{"weight": 101}]), f"{ROLLOUT}.steps[0].weight", True),
    BadSpec("canary-pause-words", _canary(steps=[{"weight": 10, "pause": "2 minutes"}]),
            f"{ROLLOUT}.steps[0].pause", True),
    BadSpec("canary-step-unknown-field", _canary(steps=[{"weight": 10, "duration": "2m"}]),
            f"{ROLLOUT}.steps[0].duration", False),  # the API server prunes unknown fields; validate refuses them
    BadSpec("canary-error-ratio-over-1", _canary(analysis={"maxErrorRatio": 1.5}),
            f"{ROLLOUT}.analysis.maxErrorRatio", True),
    BadSpec("canary-latency-no-unit", _canary(analysis={"maxLatencyP99": "2"}),
            f"{ROLLOUT}.analysis.maxLatencyP99", True),
    BadSpec("canary-min-requests-negative", _canary(analysis={"minRequests": -1}),
            f"{ROLLOUT}.analysis.minRequests", True),
    BadSpec("canary-interval-days", _canary(analysis={"interval": "1d"}), f"{ROLLOUT}.analysis.interval", True),
    BadSpec("canary-two-routers", _canary(trafficRouting={"istio": {"virtualService": "vs"}, "nginx": {}}),
            f"{ROLLOUT}.trafficRouting", True),
    BadSpec("canary-httproute-name", _canary(trafficRouting={"gatewayAPI": {"httpRoute": "Not_A_Name"}}),
            f"{ROLLOUT}.trafficRouting.gatewayAPI.httpRoute", True),
    BadSpec("canary-nginx-without-ingress", _canary(trafficRouting={"nginx": {}}),
            f"{ROLLOUT}.trafficRouting.nginx", True),
    # processesPerReplica: 1 to 64, and a run slot for each process (maxConcurrency is split across them)
    BadSpec("processes-zero", manifest(processesPerReplica=0), "spec.processesPerReplica", True),
    BadSpec("processes-over-64", manifest(processesPerReplica=65, maxConcurrency=100), "spec.processesPerReplica",
            True),
    BadSpec("processes-word", manifest(processesPerReplica="two"), "spec.processesPerReplica", True),
    BadSpec("processes-over-max-concurrency", manifest(processesPerReplica=8, maxConcurrency=4),
            "spec.processesPerReplica", True),
    BadSpec("processes-over-default-concurrency", manifest(processesPerReplica=5), "spec.processesPerReplica", True),
]


def _models(**models: Any) -> dict[str, Any]:
    return manifest(models=models)


MODELS = "spec.models"
DIR = "s3://models/many/"
BAD_SPECS += [
    # spec.models (issue 27): exactly one source, listable schemes, unique names, disk tier at least the memory tier
    BadSpec("models-no-source", _models(cacheSize=2), MODELS, True),
    BadSpec("models-two-sources", _models(dir=DIR, uri="s3://models/one/"), MODELS, True),
    BadSpec("models-with-model", manifest(model={"uri": "s3://models/m/"}, models={"dir": DIR}), MODELS, True),
    BadSpec("models-disk-below-memory", _models(dir=DIR, cacheSize=20, diskCacheSize=10),
            f"{MODELS}.diskCacheSize", True),
    BadSpec("models-disk-below-default-memory", _models(dir=DIR, diskCacheSize=5), f"{MODELS}.diskCacheSize", True),
    BadSpec("models-cache-size-zero", _models(dir=DIR, cacheSize=0), f"{MODELS}.cacheSize", True),
    BadSpec("models-cache-size-over", _models(dir=DIR, cacheSize=1001, diskCacheSize=2000), f"{MODELS}.cacheSize",
            True),
    BadSpec("models-disk-cache-size-over", _models(dir=DIR, diskCacheSize=10001), f"{MODELS}.diskCacheSize", True),
    BadSpec("models-poll-zero", _models(dir=DIR, pollSeconds=0), f"{MODELS}.pollSeconds", True),
    BadSpec("models-poll-word", _models(dir=DIR, pollSeconds="often"), f"{MODELS}.pollSeconds", True),
    BadSpec("models-https", _models(uri="https://models.example/m.bin"), f"{MODELS}.uri", True),
    BadSpec("models-dir-hf", _models(dir="hf://org/name"), f"{MODELS}.dir", True),
    BadSpec("models-dir-bucket", _models(dir="s3://Models/many/"), f"{MODELS}.dir", True),
    BadSpec("models-uri-credentials", _models(uri="s3://key:secret@models/m/"), f"{MODELS}.uri", True),
    BadSpec("models-paths-empty", _models(paths=[]), f"{MODELS}.paths", True),
    BadSpec("models-paths-duplicate-name", _models(paths=[{"name": "a", "uri": "s3://models/a/"},
                                                          {"name": "a", "uri": "s3://models/b/"}]),
            f"{MODELS}.paths", True),
    BadSpec("models-paths-name", _models(paths=[{"name": "Mpg Estimator", "uri": "s3://models/a/"}]),
            f"{MODELS}.paths[0].name", True),
    BadSpec("models-paths-uri", _models(paths=[{"name": "a", "uri": "pvc://cache/../etc"}]),
            f"{MODELS}.paths[0].uri", True),
    BadSpec("models-secret-name", _models(dir=DIR, secretRef={"name": "Bad_Name"}), f"{MODELS}.secretRef.name", True),
    BadSpec("models-cache-claim-name", _models(dir=DIR, cache={"claimName": "Cache_1"}),
            f"{MODELS}.cache.claimName", True),
    BadSpec("models-unknown-field", _models(dir=DIR, cache_size=3), f"{MODELS}.cache_size", False),
]
