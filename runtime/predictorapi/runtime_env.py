"""One mapping from a `PredictorAPI` spec to the runtime's settings.

The operator puts these on the runtime container; `predictorapi serve` applies them locally. Keeping
one function for both means a manifest serves the same way on a laptop and in a cluster.
"""

from __future__ import annotations

import json
from pathlib import PurePosixPath

from predictorapi.artifacts.uri import parse as parse_model_uri
from predictorapi.contracts.env import settings_env
from predictorapi.contracts.models import RuntimeModels
from predictorapi.contracts.pod import MODEL_DIR, MODEL_LINK
from predictorapi.spec import PredictorAPISpec


def runtime_settings(name: str, spec: PredictorAPISpec) -> dict[str, object]:
    """Runtime settings (field name -> value) that a spec implies, without paths or networking."""
    return {
        "api_name": name,
        "predictor_class": spec.predictor.class_name,
        "predictor_config": spec.predictor.config,
        "max_concurrency": spec.max_concurrency,
        "max_queue_length": spec.max_queue_length,
        "processes": spec.processes_per_replica,
        "request_timeout_seconds": spec.request_timeout_seconds,
        "stream_idle_timeout_seconds": spec.stream_idle_timeout_seconds,
        "batch_max_size": spec.batching.max_batch_size,
        "batch_timeout_ms": spec.batching.batch_timeout_milliseconds,
        # An Ingress passes its path on unchanged: the runtime serves predict under it too.
        "path_prefix": ingress.path.rstrip("/") if (ingress := spec.networking.ingress) else "",
        "models": runtime_models(spec),
    }


def runtime_models(spec: PredictorAPISpec) -> dict[str, object] | None:
    """What a runtime process needs of `spec.models` (`PREDICTORAPI_MODELS`, contracts.models.RuntimeModels);
    None without models."""
    models = spec.models
    if models is None:
        return None
    return json.loads(RuntimeModels(cache_size=models.cache_size, poll_seconds=models.poll_seconds,
                                    single=models.uri is not None).to_json())


def runtime_env(name: str, spec: PredictorAPISpec) -> dict[str, str]:
    """The same settings as `PREDICTORAPI_*` environment variable strings."""
    return settings_env(runtime_settings(name, spec))  # unset in the spec (None): the runtime's own default


def tracing_env(name: str, spec: PredictorAPISpec) -> dict[str, str]:
    """The `OTEL_*` variables `monitoring.tracing` sets (none without it): the OTLP endpoint and protocol, the
    sampler when `sampleRatio` is set, and the service name (the API's name)."""
    tracing = spec.monitoring.tracing
    if tracing is None:
        return {}
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": tracing.endpoint, "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
           "OTEL_SERVICE_NAME": name}
    if tracing.sample_ratio is not None:
        env |= {"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": str(tracing.sample_ratio)}
    return env


def pod_model_path(spec: PredictorAPISpec) -> str | None:
    """Where the runtime container finds `spec.model` (`PREDICTORAPI_MODEL_PATH`): `MODEL_DIR/PATH` of a mounted
    `pvc://CLAIM/PATH` (PATH normalised, never leaving the claim), or for a download the link `fetch-model`
    makes to the folder it resolved (its cache key depends on what the store serves, known only then).
    `predictorapi serve` uses the local folder `predictorapi.artifacts.fetch.model_folder` returns instead."""
    if spec.model is None:
        return None
    uri = parse_model_uri(spec.model.uri)
    if uri.scheme == "pvc":
        return str(PurePosixPath(MODEL_DIR, uri.path))
    return MODEL_LINK


def requirements_file(spec: PredictorAPISpec) -> tuple[str, bool] | None:
    """(path relative to the code root, whether it must exist) of the pip requirements installed for code from
    `source.git`: `predictor.requirements`, else an optional `requirements.txt` beside the predictor file. None
    for an image (it installs its own dependencies)."""
    predictor = spec.predictor
    if predictor.source is None:
        return None
    if predictor.requirements:
        return str(PurePosixPath(predictor.requirements)), True
    return str(PurePosixPath(predictor.path).parent / "requirements.txt"), False
