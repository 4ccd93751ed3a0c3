"""The predictor's pip requirements (code from `source.git`): installed by `fetch-code` into the
`python-packages` volume, on the runtime container's PYTHONPATH through a link in the code folder.

The volume is an emptyDir, or the model cache claim (`spec.model.cache.claimName`) when there is one: its
`python-packages/` folder then keeps installs across pods, so a replica started later installs nothing."""

from __future__ import annotations

from typing import Any

from predictorapi.contracts.pod import PACKAGES_CACHE_FOLDER, PACKAGES_DIR, PACKAGES_LINK, PACKAGES_VOLUME
from predictorapi.runtime_env import requirements_file
from predictorapi.spec import PredictorAPI


def packages_settings(api: PredictorAPI) -> dict[str, str]:
    """`predictorapi fetch` settings (`PREDICTORAPI_GIT_<KEY>`) installing the requirements; none for an image."""
    wanted = requirements_file(api.spec)
    if wanted is None:
        return {}
    path, required = wanted
    folder = f"{PACKAGES_DIR}/{PACKAGES_CACHE_FOLDER}" if cache_claim(api) else PACKAGES_DIR
    return {"REQUIREMENTS": path, "REQUIREMENTS_OPTIONAL": str(not required).lower(), "PACKAGES_DIR": folder}


def cache_claim(api: PredictorAPI) -> str | None:
    """The model cache PersistentVolumeClaim, when the spec has one."""
    model = api.spec.model
    return model.cache.claim_name if model is not None and model.cache is not None else None


def pip_env(api: PredictorAPI) -> list[dict[str, Any]]:
    """The predictor's `PIP_*` variables (an index URL, a token from a Secret), for the install too."""
    return [var.model_dump(by_alias=True, exclude_none=True) for var in api.spec.predictor.env
            if var.name.startswith("PIP_")]


def packages_runtime_env(api: PredictorAPI) -> dict[str, str]:
    """PYTHONPATH of the runtime container: the link to this pod's installed requirements (absent without)."""
    return {"PYTHONPATH": PACKAGES_LINK} if api.spec.predictor.source is not None else {}


def packages_mount(api: PredictorAPI, read_only: bool) -> list[dict[str, Any]]:
    """The installed packages' volume, read-write for `fetch-code` and read-only for the runtime."""
    if api.spec.predictor.source is None:
        return []
    return [{"name": PACKAGES_VOLUME, "mountPath": PACKAGES_DIR, **({"readOnly": True} if read_only else {})}]


def packages_volume(api: PredictorAPI) -> list[dict[str, Any]]:
    """The volume holding the installs, for code from git: the model cache claim, or an emptyDir."""
    if api.spec.predictor.source is None:
        return []
    claim = cache_claim(api)
    return [{"name": PACKAGES_VOLUME, **({"persistentVolumeClaim": {"claimName": claim}} if claim else
                                         {"emptyDir": {}})}]
