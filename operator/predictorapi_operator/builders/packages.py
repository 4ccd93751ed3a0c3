"""The predictor's pip requirements (code from `source.git`): the `install-packages` init container, after
`fetch-code`, installs them into the `python-packages` volume; the runtime container mounts it read-only and
appends the link in the code folder to its import path (`PREDICTORAPI_PACKAGES_PATH`).

The volume is an emptyDir, or the model cache claim (`spec.model.cache` or `spec.models.cache`) when there is
one: then every container mounts only this API's own folder of it (`subPath: python-packages/<namespace>/<name>`),
so installs are kept across this API's pods and no other API's folder is visible. The install container gets no
credentials (no git Secret, no `envFrom`): only the predictor's `PIP_*` variables, whose Secret-backed values it
scrubs from pip's output.
"""

from __future__ import annotations

import json
from typing import Any

from predictorapi.contracts.env import INSTALL_ENV_PREFIX, setting_env
from predictorapi.contracts.pod import (
    CODE_DIR,
    CODE_VOLUME,
    INSTALL_CONTAINER,
    PACKAGES_CACHE_FOLDER,
    PACKAGES_DIR,
    PACKAGES_LINK,
    PACKAGES_VOLUME,
    TMP_VOLUME,
)
from predictorapi.runtime_env import requirements_file
from predictorapi.spec import PredictorAPI
from predictorapi_operator.builders.meta import BuildOptions, init_container, init_tracing_env


def cache_claim(api: PredictorAPI) -> str | None:
    """The model cache PersistentVolumeClaim (`spec.model.cache` or `spec.models.cache`), when the spec has one."""
    for models in (api.spec.model, api.spec.models):
        if models is not None and models.cache is not None:
            return models.cache.claim_name
    return None


def packages_subpath(api: PredictorAPI) -> str | None:
    """This API's own folder of the cache claim (`python-packages/<namespace>/<name>`); None for an emptyDir."""
    if cache_claim(api) is None:
        return None
    return f"{PACKAGES_CACHE_FOLDER}/{api.metadata.namespace or 'default'}/{api.metadata.name}"


def pip_env(api: PredictorAPI) -> list[dict[str, Any]]:
    """The predictor's `PIP_*` variables (an index URL, a token from a Secret), for the install."""
    return [var.model_dump(by_alias=True, exclude_none=True) for var in api.spec.predictor.env
            if var.name.startswith("PIP_")]


def install_settings(api: PredictorAPI) -> dict[str, str]:
    """`predictorapi install-packages` settings (`PREDICTORAPI_INSTALL_<KEY>`); none for an image."""
    wanted = requirements_file(api.spec)
    if wanted is None:
        return {}
    path, required = wanted
    secret = [var["name"] for var in pip_env(api) if "secretKeyRef" in (var.get("valueFrom") or {})]
    return {"CODE_DIR": CODE_DIR, "REQUIREMENTS": path, "REQUIREMENTS_OPTIONAL": str(not required).lower(),
            "PACKAGES_DIR": PACKAGES_DIR, "ALLOWED_INDEX_URLS": json.dumps(api.spec.predictor.allowed_index_urls),
            "SECRET_ENV": json.dumps(secret)}


def packages_runtime_env(api: PredictorAPI) -> dict[str, str]:
    """The runtime's `packages_path`: the link to this pod's installed requirements (absent without)."""
    return {setting_env("packages_path"): PACKAGES_LINK} if api.spec.predictor.source is not None else {}


def packages_mount(api: PredictorAPI, read_only: bool) -> list[dict[str, Any]]:
    """This API's packages folder: read-write for `install-packages` only, read-only for the runtime."""
    if api.spec.predictor.source is None:
        return []
    subpath = packages_subpath(api)
    return [{"name": PACKAGES_VOLUME, "mountPath": PACKAGES_DIR, **({"subPath": subpath} if subpath else {}),
             **({"readOnly": True} if read_only else {})}]


def packages_volume(api: PredictorAPI) -> list[dict[str, Any]]:
    """The volume holding the installs, for code from git: the model cache claim, or an emptyDir."""
    if api.spec.predictor.source is None:
        return []
    claim = cache_claim(api)
    return [{"name": PACKAGES_VOLUME, **({"persistentVolumeClaim": {"claimName": claim}} if claim else
                                         {"emptyDir": {}})}]


def install_container(api: PredictorAPI, options: BuildOptions,
                      security_context: dict[str, Any]) -> dict[str, Any] | None:
    """`predictorapi install-packages` (after `fetch-code`): the code folder, `/tmp` and this API's packages folder
    mounted, nothing else; None for an image."""
    settings = install_settings(api)
    if not settings:
        return None
    env = [{"name": f"{INSTALL_ENV_PREFIX}{key}", "value": value} for key, value in settings.items()]
    env += [{"name": "HOME", "value": "/tmp"}, {"name": "XDG_CACHE_HOME", "value": "/tmp/.cache"}, *pip_env(api)]
    env += init_tracing_env(api)
    # The code folder is this pod's own emptyDir (the link is written there, local packages build in place).
    mounts = [{"name": CODE_VOLUME, "mountPath": CODE_DIR}, {"name": TMP_VOLUME, "mountPath": "/tmp"},
              *packages_mount(api, read_only=False)]
    return init_container(INSTALL_CONTAINER, options, "install-packages", env, security_context, mounts)
