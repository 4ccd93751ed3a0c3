"""Environment variable names the operator sets and the runtime and fetch containers read."""

from __future__ import annotations

import json
from collections.abc import Mapping

ENV_PREFIX = "PREDICTORAPI_"
"""Prefix of every runtime setting (`RuntimeSettings` field `max_concurrency` → `PREDICTORAPI_MAX_CONCURRENCY`)."""
GIT_ENV_PREFIX = f"{ENV_PREFIX}GIT_"
"""Prefix of the `predictorapi fetch` settings (`PREDICTORAPI_GIT_REPO`, ...)."""
INSTALL_ENV_PREFIX = f"{ENV_PREFIX}INSTALL_"
"""Prefix of the `predictorapi install-packages` settings (`PREDICTORAPI_INSTALL_REQUIREMENTS`, ...)."""
MODEL_ENV_PREFIX = f"{ENV_PREFIX}MODEL_"
"""Prefix of the `predictorapi fetch-model` settings (`PREDICTORAPI_MODEL_URI`, `PREDICTORAPI_MODEL_REVISION`,
`PREDICTORAPI_MODEL_CACHE_DIR`, `PREDICTORAPI_MODEL_STALL_TIMEOUT`)."""
ACTIVATOR_ENV_PREFIX = f"{ENV_PREFIX}ACTIVATOR_"
"""Prefix of the activator's settings (`python -m predictorapi.activator`, `predictorapi.activator.server.
ActivatorSettings`): `PREDICTORAPI_ACTIVATOR_API_NAME`, `_BACKENDS` (a JSON list of base URLs), `_PORT`,
`_SCALER_PORT` (KEDA's external scaler, gRPC), `_MAX_HELD`, `_COLD_START_TIMEOUT_SECONDS`."""
MODEL_PATH_ENV = f"{ENV_PREFIX}MODEL_PATH"
"""The local folder holding `spec.model`'s artifact, set on the runtime container (runtime setting
`model_path`, also passed to the predictor as `config["model_path"]`)."""


def setting_env(field: str) -> str:
    """The environment variable of a runtime setting field, e.g. `api_key` → `PREDICTORAPI_API_KEY`."""
    return ENV_PREFIX + field.upper()


def settings_env(values: Mapping[str, object], prefix: str = ENV_PREFIX) -> dict[str, str]:
    """Runtime settings (field name -> value) as the environment variables the runtime reads them from:
    lists and objects as compact JSON, booleans as `true`/`false`; a None value is left out (unset: the
    runtime's own default). `prefix`: another settings class's (the activator's: ACTIVATOR_ENV_PREFIX)."""
    env: dict[str, str] = {}
    for field, value in values.items():
        if value is None:
            continue
        if isinstance(value, dict | list):
            text = json.dumps(value, separators=(",", ":"))
        else:
            text = str(value).lower() if isinstance(value, bool) else str(value)
        env[prefix + field.upper()] = text
    return env
