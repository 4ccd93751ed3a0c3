"""One mapping from a `PredictorAPI` spec to the runtime's settings.

The operator puts these on the runtime container; `predictorapi serve` applies them locally. Keeping
one function for both means a manifest serves the same way on a laptop and in a cluster.
"""

from __future__ import annotations

import json

from predictorapi.contracts.env import setting_env
from predictorapi.spec import PredictorAPISpec


def runtime_settings(name: str, spec: PredictorAPISpec) -> dict[str, object]:
    """Runtime settings (field name -> value) that a spec implies, without paths or networking."""
    return {
        "api_name": name,
        "predictor_class": spec.predictor.class_name,
        "predictor_config": spec.predictor.config,
        "max_concurrency": spec.max_concurrency,
        "max_queue_length": spec.max_queue_length,
        "request_timeout_seconds": spec.request_timeout_seconds,
        "batch_max_size": spec.batching.max_batch_size,
        "batch_timeout_ms": spec.batching.batch_timeout_milliseconds,
        # An Ingress passes its path on unchanged: the runtime serves predict under it too.
        "path_prefix": ingress.path.rstrip("/") if (ingress := spec.networking.ingress) else "",
    }


def runtime_env(name: str, spec: PredictorAPISpec) -> dict[str, str]:
    """The same settings as `PREDICTORAPI_*` environment variable strings."""
    env: dict[str, str] = {}
    for key, value in runtime_settings(name, spec).items():
        text = json.dumps(value, separators=(",", ":")) if isinstance(value, dict | list) else str(value)
        env[setting_env(key)] = text
    return env
