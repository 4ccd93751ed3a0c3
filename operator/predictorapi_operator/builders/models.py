"""`spec.models`: the `model-store` container, the `models` disk tier and what the runtime container needs of them.

The store (`predictorapi model-store` in the runtime image) lists the models and downloads their versions into the
`models` volume (an emptyDir, or the `models/` folder of the `cache` claim, shared by the replicas); it is the only
container given the `secretRef`'s keys. It runs as a native sidecar (an init container with `restartPolicy:
Always`): it is up before the runtime asks it for a model, and stops only after the runtime has drained (requests
still in flight may need a version). The runtime container mounts the volume read-only and reaches the store on
loopback (`PREDICTORAPI_MODEL_STORE_URL`); its `model-store` port serves `/metrics` and `/healthz` to the Service
(the ServiceMonitor scrapes it). A `pvc://CLAIM/PATH` source is not copied: its claim is mounted read-only at
`MODEL_CLAIMS_DIR/CLAIM` in both containers.
"""

from __future__ import annotations

import json
from typing import Any

from predictorapi.artifacts.uri import parse
from predictorapi.contracts.models import (
    HEALTH_PATH,
    MODEL_STORE_CONTAINER,
    MODEL_STORE_ENV_PREFIX,
    MODEL_STORE_PORT,
    MODEL_STORE_PORT_NAME,
    MODEL_STORE_URL_ENV,
    MODELS_DIR,
    MODELS_VOLUME,
)
from predictorapi.contracts.pod import MODEL_CACHE_FOLDER, MODEL_CLAIM_VOLUME_PREFIX, MODEL_CLAIMS_DIR, TMP_VOLUME
from predictorapi.spec import ModelsSpec, PredictorAPI
from predictorapi_operator.builders.meta import BuildOptions, http_probe

STORE_URL = f"http://127.0.0.1:{MODEL_STORE_PORT}"
"""The store as the runtime container reaches it: pod-local."""
STORE_RESOURCES = {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}}
"""Listing and streaming downloads to disk: a small request; the limit of the download init containers."""


def claims(models: ModelsSpec) -> list[str]:
    """The distinct claims of the `pvc://` sources, in order."""
    return list(dict.fromkeys(uri.authority for uri in map(parse, models.sources()) if uri.scheme == "pvc"))


def models_volumes(api: PredictorAPI) -> list[dict[str, Any]]:
    """The `models` disk tier (the cache claim, or an emptyDir) and the `pvc://` sources' claims (read-only)."""
    models = api.spec.models
    if models is None:
        return []
    tier = ({"persistentVolumeClaim": {"claimName": models.cache.claim_name}} if models.cache is not None
            else {"emptyDir": {}})
    return [{"name": MODELS_VOLUME, **tier},
            *({"name": f"{MODEL_CLAIM_VOLUME_PREFIX}{index}",
               "persistentVolumeClaim": {"claimName": claim, "readOnly": True}}
              for index, claim in enumerate(claims(models)))]


def models_mounts(api: PredictorAPI, read_only: bool) -> list[dict[str, Any]]:
    """The disk tier at MODELS_DIR (only the `models/` folder of a cache claim) and the source claims."""
    models = api.spec.models
    if models is None:
        return []
    tier = {"name": MODELS_VOLUME, "mountPath": MODELS_DIR,
            **({"subPath": MODEL_CACHE_FOLDER} if models.cache is not None else {}),
            **({"readOnly": True} if read_only else {})}
    return [tier, *({"name": f"{MODEL_CLAIM_VOLUME_PREFIX}{index}", "mountPath": f"{MODEL_CLAIMS_DIR}/{claim}",
                     "readOnly": True} for index, claim in enumerate(claims(models)))]


def store_settings(api: PredictorAPI) -> dict[str, str]:
    """`predictorapi model-store`'s settings (`PREDICTORAPI_MODEL_STORE_<KEY>`): the spec's sources and disk tier
    (never the Secret's name: its keys are the container's environment)."""
    models = api.spec.models
    assert models is not None
    spec = models.model_dump(mode="json", by_alias=True, exclude_none=True, exclude={"secret_ref", "cache"})
    settings = {"MODELS": json.dumps(spec, separators=(",", ":")), "HOST": "0.0.0.0", "PORT": str(MODEL_STORE_PORT),
                "DIR": MODELS_DIR, "API_NAME": api.metadata.name}
    if claims(models):
        settings["PVC_ROOT"] = MODEL_CLAIMS_DIR
    return settings


def store_container(api: PredictorAPI, options: BuildOptions, security_context: dict[str, Any]) -> dict[str, Any]:
    """The `model-store` sidecar: the only container with the models' credentials (`envFrom` the `secretRef`)."""
    models = api.spec.models
    assert models is not None
    env = [{"name": f"{MODEL_STORE_ENV_PREFIX}{key}", "value": value} for key, value in store_settings(api).items()]
    # A read-only root filesystem: the clients' own caches and temporary files go to the writable /tmp.
    env += [{"name": "HOME", "value": "/tmp"}, {"name": "XDG_CACHE_HOME", "value": "/tmp/.cache"},
            {"name": "HF_HOME", "value": "/tmp/.cache/huggingface"}]
    container: dict[str, Any] = {
        "name": MODEL_STORE_CONTAINER,
        "image": options.runtime_image,
        "command": ["predictorapi", "model-store"],
        "env": env,
        "ports": [{"name": MODEL_STORE_PORT_NAME, "containerPort": MODEL_STORE_PORT, "protocol": "TCP"}],
        "resources": STORE_RESOURCES,
        "readinessProbe": http_probe(HEALTH_PATH, 5, 3, MODEL_STORE_PORT_NAME),
        "restartPolicy": "Always",
        "securityContext": security_context,
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "volumeMounts": [*models_mounts(api, read_only=False), {"name": TMP_VOLUME, "mountPath": "/tmp"}],
    }
    if models.secret_ref is not None:
        container["envFrom"] = [{"secretRef": {"name": models.secret_ref.name}}]
    return container


def runtime_models_env(api: PredictorAPI) -> list[dict[str, Any]]:
    """The runtime container's `PREDICTORAPI_MODEL_STORE_URL` (its `PREDICTORAPI_MODELS` comes with the other
    settings, `runtime_env`)."""
    return [{"name": MODEL_STORE_URL_ENV, "value": STORE_URL}] if api.spec.models is not None else []


def add_models(pod: dict[str, Any], api: PredictorAPI, options: BuildOptions) -> None:
    """Add `spec.models` to a pod spec built without it: the store sidecar (after the other init containers), the
    volumes, and the runtime container's read-only mounts and store URL."""
    if api.spec.models is None:
        return
    runtime = pod["containers"][0]
    store = store_container(api, options, dict(runtime["securityContext"]))
    pod["initContainers"] = [*pod.get("initContainers", []), store]
    pod["volumes"] = [*pod.get("volumes", []), *models_volumes(api)]
    runtime["volumeMounts"] = [*runtime.get("volumeMounts", []), *models_mounts(api, read_only=True)]
    runtime["env"] = [*runtime.get("env", []), *runtime_models_env(api)]
