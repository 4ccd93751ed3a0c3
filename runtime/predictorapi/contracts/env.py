"""Environment variable names the operator sets and the runtime and fetch containers read."""

from __future__ import annotations

ENV_PREFIX = "PREDICTORAPI_"
"""Prefix of every runtime setting (`RuntimeSettings` field `max_concurrency` → `PREDICTORAPI_MAX_CONCURRENCY`)."""
GIT_ENV_PREFIX = f"{ENV_PREFIX}GIT_"
"""Prefix of the `predictorapi fetch` settings (`PREDICTORAPI_GIT_REPO`, ...)."""
MODEL_ENV_PREFIX = f"{ENV_PREFIX}MODEL_"
"""Prefix of the `predictorapi fetch-model` settings (`PREDICTORAPI_MODEL_URI`, `PREDICTORAPI_MODEL_REVISION`,
`PREDICTORAPI_MODEL_CACHE_DIR`, `PREDICTORAPI_MODEL_STALL_TIMEOUT`)."""
MODEL_PATH_ENV = f"{ENV_PREFIX}MODEL_PATH"
"""The local folder holding `spec.model`'s artifact, set on the runtime container (runtime setting
`model_path`, also passed to the predictor as `config["model_path"]`)."""


def setting_env(field: str) -> str:
    """The environment variable of a runtime setting field, e.g. `api_key` → `PREDICTORAPI_API_KEY`."""
    return ENV_PREFIX + field.upper()
