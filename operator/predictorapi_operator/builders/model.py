"""`spec.model`: the `fetch-model` init container and the `model` volume.

A downloaded artifact (s3, gs, http(s), hf) goes into the `model` volume (the `cache` claim, or an
emptyDir) by `predictorapi fetch-model` in the runtime image; the `secretRef`'s keys are environment
variables of that init container only. The folder's name (its cache key) depends on what the store serves,
so `fetch-model` links it into the pod's own `model-link` emptyDir, which is the runtime's
`PREDICTORAPI_MODEL_PATH`. On the cache claim, both containers mount only its `models/` folder (`subPath`),
never the claim's other folders (other APIs' installed packages). A `pvc://CLAIM/PATH` claim is the `model`
volume itself, nothing downloaded. The runtime container mounts the volumes read-only.
"""

from __future__ import annotations

from typing import Any

from predictorapi.artifacts.uri import parse
from predictorapi.contracts.env import MODEL_ENV_PREFIX, MODEL_PATH_ENV
from predictorapi.contracts.pod import (
    MODEL_CACHE_FOLDER,
    MODEL_CONTAINER,
    MODEL_DIR,
    MODEL_LINK,
    MODEL_LINK_DIR,
    MODEL_LINK_VOLUME,
    MODEL_VOLUME,
)
from predictorapi.runtime_env import pod_model_path
from predictorapi.spec import PredictorAPI
from predictorapi_operator.builders.meta import BuildOptions, init_container, init_tracing_env


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


def model_mount(api: PredictorAPI, read_only: bool) -> dict[str, Any]:
    """The `model` volume's mount at MODEL_DIR: only the `models/` folder of a cache claim."""
    model = api.spec.model
    cached = model is not None and model.cache is not None and parse(model.uri).scheme != "pvc"
    return {"name": MODEL_VOLUME, "mountPath": MODEL_DIR, **({"subPath": MODEL_CACHE_FOLDER} if cached else {}),
            **({"readOnly": True} if read_only else {})}


def model_container(api: PredictorAPI, options: BuildOptions,
                    security_context: dict[str, Any]) -> dict[str, Any] | None:
    """`predictorapi fetch-model` into the `model` volume (with the runtime container's security context); None
    without a model or for a `pvc://` one."""
    model = api.spec.model
    if model is None or parse(model.uri).scheme == "pvc":
        return None
    settings = {"URI": model.uri, "CACHE_DIR": MODEL_DIR, "LINK": MODEL_LINK,
                **({"REVISION": model.revision} if model.revision else {}),
                **({"ALLOW_INSECURE_HTTP": "true"} if model.allow_insecure_http else {})}
    env = [{"name": f"{MODEL_ENV_PREFIX}{key}", "value": value} for key, value in settings.items()]
    # A read-only root filesystem: the clients' own caches and temporary files go to the writable /tmp.
    env += [{"name": "HOME", "value": "/tmp"}, {"name": "XDG_CACHE_HOME", "value": "/tmp/.cache"},
            {"name": "HF_HOME", "value": "/tmp/.cache/huggingface"}]
    env += init_tracing_env(api)
    mounts = [model_mount(api, read_only=False), {"name": MODEL_LINK_VOLUME, "mountPath": MODEL_LINK_DIR},
              {"name": "tmp", "mountPath": "/tmp"}]
    container = init_container(MODEL_CONTAINER, options, "fetch-model", env, security_context, mounts, "256Mi")
    if model.secret_ref is not None:
        container["envFrom"] = [{"secretRef": {"name": model.secret_ref.name}}]
    return container


def add_model(pod: dict[str, Any], api: PredictorAPI, options: BuildOptions) -> None:
    """Add `spec.model` to a pod spec built without it: the init container (after the others), the volumes,
    and the runtime container's read-only mounts and `PREDICTORAPI_MODEL_PATH`."""
    volume = model_volume(api)
    if volume is None:
        return
    runtime = pod["containers"][0]
    volumes, mounts = [volume], [model_mount(api, read_only=True)]
    init = model_container(api, options, dict(runtime["securityContext"]))
    if init is not None:
        pod["initContainers"] = [*pod.get("initContainers", []), init]
        volumes.append({"name": MODEL_LINK_VOLUME, "emptyDir": {"sizeLimit": "1Mi"}})
        mounts.append({"name": MODEL_LINK_VOLUME, "mountPath": MODEL_LINK_DIR, "readOnly": True})
    pod["volumes"] = [*pod.get("volumes", []), *volumes]
    runtime["volumeMounts"] = [*runtime.get("volumeMounts", []), *mounts]
    runtime["env"] = [*runtime.get("env", []), {"name": MODEL_PATH_ENV, "value": pod_model_path(api.spec)}]
