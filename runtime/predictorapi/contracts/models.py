"""Many models behind one API (`spec.models`, issue 27): the model store's port, its HTTP API, the environment
the operator sets, the disk cache folder, and the lock a runtime holds on a version folder while loading it.

Two processes per replica: the `model-store` container (`predictorapi model-store`, the only one holding the
models' credentials) lists the models and keeps their versions on disk (LRU of `diskCacheSize`); each runtime
process asks it for a version's folder and keeps the loaded objects in memory (LRU of `cacheSize`). Pure: no I/O.

Store HTTP API (JSON):
- `GET /models` → 200 `{"models": {NAME: {"versions": [1, 2], "latest": 2}}, "listedAt": UNIX, "error": null|str}`:
  the last successful listing; `error` says why the last listing failed (serving goes on with what was listed).
- `POST /models/NAME/VERSION/ensure` (VERSION an integer or `latest`) → 200 `{"name", "version", "path"}` once the
  version's folder is on disk; 404 `{"error", "reason": model_not_found|version_not_found, "model", "version"}`;
  502 `{"error", "reason": "download_failed", "model", "version"}`; 503 `{..., "reason": "listing_failed"}` while
  the source of an unlisted name has never been listed. NAME is `_` for the single-model `uri` form.
- `GET /healthz`, `GET /metrics`: the only paths that answer peers other than loopback (others get a 403 JSON).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from predictorapi.contracts.env import ENV_PREFIX

MODEL_STORE_PORT = 8091
"""The store's port: pod-local API for the runtime processes, `/metrics` for Prometheus."""
MODEL_STORE_PORT_NAME = "model-store"
"""The store's container port name, the Service port's and the ServiceMonitor endpoint's."""
MODEL_STORE_CONTAINER = "model-store"
"""The pod's second container (runtime image, `predictorapi model-store`), the only one with `secretRef`."""
MODELS_DIR = "/srv/models"
"""The disk tier: one folder per model version (an artifact cache folder: `KEY/`, `.KEY.lock`)."""
MODELS_VOLUME = "models"
"""The volume mounted at MODELS_DIR (an emptyDir, or the cache claim's `models/` subPath)."""
MODEL_LABEL_CAP = 50
"""The first MODEL_LABEL_CAP distinct model names a process sees get their own `model` label value on the
per-model metrics; later ones share OTHER_MODEL_LABEL (bounded cardinality with `dir:` holding thousands)."""
OTHER_MODEL_LABEL = "_other"
SINGLE_MODEL_NAME = "_"
"""The model's name in the store's URLs and listing with the single-model `uri` form."""
LATEST = "latest"

MODELS_ENV = f"{ENV_PREFIX}MODELS"
"""On the runtime container: JSON `{"cacheSize": 10, "pollSeconds": 30|null, "single": bool}` (RuntimeModels)."""
MODEL_STORE_URL_ENV = f"{ENV_PREFIX}MODEL_STORE_URL"
"""On the runtime container: the store's base URL, `http://127.0.0.1:8091`."""
MODEL_STORE_ENV_PREFIX = f"{ENV_PREFIX}MODEL_STORE_"
"""Prefix of `predictorapi model-store`'s settings (`predictorapi.models.store_server.StoreSettings`):
`PREDICTORAPI_MODEL_STORE_MODELS` (JSON of `spec.models` as written in the spec: `uri`|`paths`|`dir`,
`diskCacheSize`, `pollSeconds`, `allowInsecureHttp`; `cacheSize`/`secretRef` ignored), `_PORT`, `_HOST`, `_DIR`,
`_STALL_TIMEOUT`, `_PVC_ROOT`, `_API_NAME`."""
MODEL_STORE_PORT_ENV = f"{MODEL_STORE_ENV_PREFIX}PORT"
MODEL_STORE_MODELS_ENV = f"{MODEL_STORE_ENV_PREFIX}MODELS"
MODEL_STORE_HOST_ENV = f"{MODEL_STORE_ENV_PREFIX}HOST"
MODEL_STORE_DIR_ENV = f"{MODEL_STORE_ENV_PREFIX}DIR"
MODEL_STORE_API_NAME_ENV = f"{MODEL_STORE_ENV_PREFIX}API_NAME"

MODELS_PATH = "/models"
ENSURE_PATH = "/models/{name}/{version}/ensure"
HEALTH_PATH = "/healthz"
METRICS_PATH = "/metrics"
PUBLIC_PATHS = (HEALTH_PATH, METRICS_PATH)
"""The only paths answering non-loopback peers."""

MODEL_NOT_FOUND = "model_not_found"
VERSION_NOT_FOUND = "version_not_found"
DOWNLOAD_FAILED = "download_failed"
LISTING_FAILED = "listing_failed"
"""503 from ensure: the model is not in the listing and its source has never been listed (the store cannot tell
a missing model from one it could not list yet)."""
STORE_UNREACHABLE = "model_store_unreachable"
"""Not the store's: what a runtime records when it cannot reach the store (the request fails with a 503)."""
NOT_FOUND_REASONS = (MODEL_NOT_FOUND, VERSION_NOT_FOUND)


def ensure_path(name: str, version: str | int) -> str:
    """`/models/NAME/VERSION/ensure`."""
    return ENSURE_PATH.format(name=name, version=version)


def version_lock_file(folder: str | Path) -> Path:
    """The lock file of a version folder `ROOT/KEY` (the artifact cache's `ROOT/.KEY.lock`): a runtime holds a
    shared flock on it while it loads the folder; the store evicts a folder only under its exclusive flock."""
    folder = Path(folder)
    return folder.parent / f".{folder.name}.lock"


@dataclass(frozen=True)
class RuntimeModels:
    """What a runtime process needs of `spec.models` (the MODELS_ENV JSON)."""

    cache_size: int = 10
    poll_seconds: float | None = None
    """Live reloading period; None: the listing is read at start and on a miss only."""
    single: bool = False
    """The `uri` form: `get_model()` may omit the name (it is SINGLE_MODEL_NAME)."""

    def to_json(self) -> str:
        return json.dumps({"cacheSize": self.cache_size, "pollSeconds": self.poll_seconds, "single": self.single},
                          separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> RuntimeModels:
        data = json.loads(text)
        return cls(cache_size=int(data.get("cacheSize", 10)), poll_seconds=data.get("pollSeconds"),
                   single=bool(data.get("single", False)))
