"""The Deployment running the runtime container (and, for git code, the `fetch-code` and `install-packages` init
containers)."""

from __future__ import annotations

import math
from typing import Any

from predictorapi.contracts.env import GIT_ENV_PREFIX, setting_env
from predictorapi.contracts.labels import SPEC_HASH_ANNOTATION
from predictorapi.contracts.pod import (
    CODE_DIR,
    FETCH_CONTAINER,
    GIT_CREDENTIALS_DIR,
    HTTP_PORT,
    HTTP_PORT_NAME,
    RUNTIME_CONTAINER,
)
from predictorapi.runtime_env import runtime_env, tracing_env
from predictorapi.spec import PredictorAPI, int_or_percent_is_zero
from predictorapi_operator.builders.meta import (
    BuildOptions,
    fixed_replicas,
    http_probe,
    init_container,
    init_tracing_env,
    labels,
    metadata,
    selector,
    spec_hash,
)
from predictorapi_operator.builders.model import add_model
from predictorapi_operator.builders.models import add_models
from predictorapi_operator.builders.packages import (
    install_container,
    packages_mount,
    packages_runtime_env,
    packages_volume,
)
from predictorapi_operator.builders.pod_settings import (
    env_from,
    extra_mounts,
    extra_volumes,
    scheduling,
    template_metadata,
)

RUN_AS = 10001
PRE_STOP_SECONDS = 5
"""Time for endpoints to drop the pod before the runtime starts draining."""
PROBE_PERIOD_SECONDS = 5


def container_security_context() -> dict[str, Any]:
    """Pod Security "restricted", plus a read-only root filesystem."""
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def pod_security_context() -> dict[str, Any]:
    """Non-root user and group of the runtime image, RuntimeDefault seccomp."""
    return {
        "runAsNonRoot": True,
        "runAsUser": RUN_AS,
        "runAsGroup": RUN_AS,
        "fsGroup": RUN_AS,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def drain_seconds(api: PredictorAPI) -> int:
    """How long the runtime lets in-flight requests finish after SIGTERM."""
    return math.ceil(api.spec.request_timeout_seconds) + 5


def termination_grace_seconds(api: PredictorAPI) -> int:
    """preStop pause + drain + margin: Kubernetes must not SIGKILL a draining replica."""
    return PRE_STOP_SECONDS + drain_seconds(api) + 5


def rolling_update(api: PredictorAPI) -> dict[str, Any]:
    """RollingUpdate parameters; `NoSurge` never needs a spare (GPU) node during a rollout."""
    strategy = api.spec.update_strategy
    if strategy.mode == "NoSurge":
        unavailable = 1 if int_or_percent_is_zero(strategy.max_unavailable) else strategy.max_unavailable
        return {"maxSurge": 0, "maxUnavailable": unavailable}
    return {"maxSurge": strategy.max_surge, "maxUnavailable": strategy.max_unavailable}


def resources(api: PredictorAPI) -> dict[str, Any]:
    """Requests (and memory/GPU limits; no CPU limit, which only throttles). The CPU request is
    `compute.cpu` when the spec sets it, else one core per runtime process (`processesPerReplica`)."""
    compute = api.spec.compute
    requests: dict[str, Any] = {}
    limits: dict[str, Any] = {}
    cpu = compute.cpu if "cpu" in compute.model_fields_set else api.spec.processes_per_replica
    if cpu is not None:
        requests["cpu"] = str(cpu)
    if compute.memory is not None:
        requests["memory"] = limits["memory"] = str(compute.memory)
    if compute.gpu > 0:
        requests[compute.gpu_resource] = limits[compute.gpu_resource] = str(compute.gpu)
    out: dict[str, Any] = {}
    if requests:
        out["requests"] = requests
    if limits:
        out["limits"] = limits
    return out


def tolerations(api: PredictorAPI) -> list[dict[str, Any]]:
    """The spec's tolerations, plus one for the GPU taint when GPUs are requested."""
    compute = api.spec.compute
    out = [t.model_dump(by_alias=True, exclude_none=True) for t in compute.tolerations]
    if compute.gpu > 0 and not any(t.get("key") == compute.gpu_resource for t in out):
        out.append({"key": compute.gpu_resource, "operator": "Exists", "effect": "NoSchedule"})
    return out


def _env(api: PredictorAPI) -> list[dict[str, Any]]:
    spec = api.spec
    predictor = spec.predictor
    root = CODE_DIR if predictor.source else None
    values = runtime_env(api.metadata.name, spec)
    values[setting_env("predictor_path")] = f"{root}/{predictor.path}" if root else predictor.path
    if predictor.python_path:
        values[setting_env("python_path")] = f"{root}/{predictor.python_path}" if root else predictor.python_path
    values[setting_env("port")] = str(HTTP_PORT)
    values[setting_env("drain_grace_seconds")] = str(drain_seconds(api))
    values[setting_env("log_json")] = "true"
    # A read-only root filesystem: caches (Hugging Face, pip, torch) go to the writable /tmp.
    values.update({"HOME": "/tmp", "XDG_CACHE_HOME": "/tmp/.cache", "HF_HOME": "/tmp/.cache/huggingface"})
    values.update(packages_runtime_env(api))
    tracing = tracing_env(api.metadata.name, spec)  # wins over the user's entries of the same names
    values.update(tracing)
    env: list[dict[str, Any]] = [{"name": k, "value": v} for k, v in values.items()]
    if spec.auth is not None:
        ref = spec.auth.secret_ref
        env.append({"name": setting_env("api_key"),
                    "valueFrom": {"secretKeyRef": {"name": ref.name, "key": ref.key}}})
    env += [var.model_dump(by_alias=True, exclude_none=True) for var in predictor.env if var.name not in tracing]
    return env


def runtime_container(api: PredictorAPI, options: BuildOptions) -> dict[str, Any]:
    """The runtime container: settings as env, probes, drain on stop."""
    predictor = api.spec.predictor
    mounts = [{"name": "tmp", "mountPath": "/tmp"}]
    if predictor.source:
        mounts.append({"name": "code", "mountPath": CODE_DIR, "readOnly": True})
    mounts += packages_mount(api, read_only=True) + extra_mounts(api)
    container: dict[str, Any] = {
        "name": RUNTIME_CONTAINER,
        "image": predictor.image or options.runtime_image,
        "ports": [{"name": HTTP_PORT_NAME, "containerPort": HTTP_PORT, "protocol": "TCP"}],
        "env": _env(api),
        "resources": resources(api),
        "startupProbe": http_probe("/readyz", PROBE_PERIOD_SECONDS,
                               math.ceil(api.spec.startup_timeout_seconds / PROBE_PERIOD_SECONDS)),
        "readinessProbe": http_probe("/readyz", PROBE_PERIOD_SECONDS, 2),
        "livenessProbe": http_probe("/healthz", 10, 3),
        "lifecycle": {"preStop": {"exec": {"command": ["sleep", str(PRE_STOP_SECONDS)]}}},
        "securityContext": container_security_context(),
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "volumeMounts": mounts,
    }
    if sources := env_from(api):
        container["envFrom"] = sources
    return container


def fetch_container(api: PredictorAPI, options: BuildOptions) -> dict[str, Any] | None:
    """`predictorapi fetch` into the shared `code` volume, when the code comes from git: the only container that
    gets the git credentials; it installs nothing (see `install_container`)."""
    source = api.spec.predictor.source
    if source is None:
        return None
    git = source.git
    env = {"REPO": git.repo, "REVISION": git.revision, "PATH": git.path, "DEST": CODE_DIR}
    mounts = [{"name": "code", "mountPath": CODE_DIR}, {"name": "tmp", "mountPath": "/tmp"}]
    if git.secret_ref:
        env["CREDENTIALS_DIR"] = GIT_CREDENTIALS_DIR
        mounts.append({"name": "git-credentials", "mountPath": GIT_CREDENTIALS_DIR, "readOnly": True})
    variables = [{"name": f"{GIT_ENV_PREFIX}{k}", "value": v} for k, v in env.items()] + [{"name": "HOME",
                                                                                           "value": "/tmp"}]
    variables += init_tracing_env(api)
    return init_container(FETCH_CONTAINER, options, "fetch", variables, container_security_context(), mounts)


def volumes(api: PredictorAPI) -> list[dict[str, Any]]:
    """A writable `/tmp`; for git code the shared `code` folder, the installed requirements and the
    credentials Secret; then the spec's volumes and `/dev/shm`."""
    out: list[dict[str, Any]] = [{"name": "tmp", "emptyDir": {}}]
    source = api.spec.predictor.source
    if source is not None:
        out.append({"name": "code", "emptyDir": {}})
        out += packages_volume(api)
        if source.git.secret_ref:
            out.append({"name": "git-credentials",
                        "secret": {"secretName": source.git.secret_ref.name, "defaultMode": 0o440}})
    return out + extra_volumes(api)


def pod_spec(api: PredictorAPI, options: BuildOptions) -> dict[str, Any]:
    """The pod template's spec."""
    spec: dict[str, Any] = {
        "containers": [runtime_container(api, options)],
        "volumes": volumes(api),
        "securityContext": pod_security_context(),
        "terminationGracePeriodSeconds": termination_grace_seconds(api),
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
    }
    init = [c for c in (fetch_container(api, options), install_container(api, options, container_security_context()))
            if c is not None]
    if init:
        spec["initContainers"] = init
    add_model(spec, api, options)
    add_models(spec, api, options)
    if api.spec.compute.node_selector:
        spec["nodeSelector"] = dict(api.spec.compute.node_selector)
    if pod_tolerations := tolerations(api):
        spec["tolerations"] = pod_tolerations
    spec.update(scheduling(api))
    return spec


def pod_template(api: PredictorAPI, options: BuildOptions) -> dict[str, Any]:
    """The pod template (of the Deployment, or of the Argo Rollout of a canary)."""
    annotations = {SPEC_HASH_ANNOTATION: spec_hash(api), "kubectl.kubernetes.io/default-container": RUNTIME_CONTAINER}
    return {"metadata": template_metadata(api, labels(api), annotations), "spec": pod_spec(api, options)}


def build_deployment(api: PredictorAPI, options: BuildOptions) -> dict[str, Any]:
    """The Deployment; no `replicas` when an HPA owns the count."""
    spec: dict[str, Any] = {
        "selector": {"matchLabels": selector(api)},
        "strategy": {"type": "RollingUpdate", "rollingUpdate": rolling_update(api)},
        "revisionHistoryLimit": 5,
        "progressDeadlineSeconds": api.spec.startup_timeout_seconds + 120,
        "template": pod_template(api, options),
    }
    if (replicas := fixed_replicas(api)) is not None:
        spec = {"replicas": replicas, **spec}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": metadata(api), "spec": spec}
