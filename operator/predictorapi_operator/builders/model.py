"""`spec.model`: the `fetch-model` init container and the `model` volume.

A downloaded artifact (s3, gs, http(s), hf) goes into the `model` volume (the `cache` claim, or an
emptyDir) by `predictorapi fetch-model` in the runtime image; the `secretRef`'s keys are environment
variables of that init container only. A `pvc://CLAIM/PATH` claim is the `model` volume itself, nothing
downloaded. The runtime container mounts the volume read-only and gets `PREDICTORAPI_MODEL_PATH`.
"""

from __future__ import annotations

from typing import Any

from predictorapi.artifacts.uri import parse
from predictorapi.contracts.env import MODEL_ENV_PREFIX, MODEL_PATH_ENV
from predictorapi.contracts.pod import MODEL_CONTAINER, MODEL_DIR, MODEL_VOLUME
from predictorapi.runtime_env import pod_model_path
from predictorapi.spec import PredictorAPI
from predictorapi_operator.builders.meta import BuildOptions


def model_volume(api: PredictorAPI) -> dict[str, Any] | None:
    """The `model` volume: the `pvc://` claim (read-only), the cache claim, or an emptyDir."""
    model = api.spec.model
    if model is None:
        return None
    uri = parse(model.uri)
    if uri.scheme == "pvc":
        return {"name": MODEL_VOLUME, "persistentVolumeClaim": {"claimName": uri.authority, "readOnly": True}}
    if model.cache is not None:
        return {"name": MODEL_VOLUME, "persistentVolumeClaim": {"claimName": model.cache.claim_name}}
    return {"name": MODEL_VOLUME, "emptyDir": {}}


def model_container(api: PredictorAPI, options: BuildOptions,
                    security_context: dict[str, Any]) -> dict[str, Any] | None:
    """`predictorapi fetch-model` into the `model` volume (with the runtime container's security context); None
    without a model or for a `pvc://` one."""
    model = api.spec.model
    if model is None or parse(model.uri).scheme == "pvc":
        return None
    settings = {"URI": model.uri, "CACHE_DIR": MODEL_DIR, **({"REVISION": model.revision} if model.revision else {})}
    env = [{"name": f"{MODEL_ENV_PREFIX}{key}", "value": value} for key, value in settings.items()]
    # A read-only root filesystem: the clients' own caches and temporary files go to the writable /tmp.
    env += [{"name": "HOME", "value": "/tmp"}, {"name": "XDG_CACHE_HOME", "value": "/tmp/.cache"},
            {"name": "HF_HOME", "value": "/tmp/.cache/huggingface"}]
    container: dict[str, Any] = {
        "name": MODEL_CONTAINER,
        "image": options.runtime_image,
        "command": ["predictorapi", "fetch-model"],
        "env": env,
        "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}},
        "securityContext": security_context,
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "volumeMounts": [{"name": MODEL_VOLUME, "mountPath": MODEL_DIR}, {"name": "tmp", "mountPath": "/tmp"}],
    }
    if model.secret_ref is not None:
        container["envFrom"] = [{"secretRef": {"name": model.secret_ref.name}}]
    return container


def add_model(pod: dict[str, Any], api: PredictorAPI, options: BuildOptions) -> None:
    """Add `spec.model` to a pod spec built without it: the init container (after the others), the volume,
    and the runtime container's read-only mount and `PREDICTORAPI_MODEL_PATH`."""
    volume = model_volume(api)
    if volume is None:
        return
    runtime = pod["containers"][0]
    init = model_container(api, options, dict(runtime["securityContext"]))
    if init is not None:
        pod["initContainers"] = [*pod.get("initContainers", []), init]
    pod["volumes"] = [*pod.get("volumes", []), volume]
    runtime["volumeMounts"] = [*runtime.get("volumeMounts", []),
                               {"name": MODEL_VOLUME, "mountPath": MODEL_DIR, "readOnly": True}]
    runtime["env"] = [*runtime.get("env", []), {"name": MODEL_PATH_ENV, "value": pod_model_path(api.spec)}]
