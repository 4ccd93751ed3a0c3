"""The spec → runtime settings mapping is what both the operator and `predictorapi serve` use."""

from __future__ import annotations

from predictorapi.runtime.settings import RuntimeSettings
from predictorapi.runtime_env import runtime_env
from predictorapi.spec import PredictorAPI


def _api(**spec: object) -> PredictorAPI:
    body = {"predictor": {"image": "registry.example.com/demo:1", "path": "predictor.py"}, **spec}
    return PredictorAPI.model_validate(
        {"apiVersion": "serving.predictorapi.dev/v1alpha1", "kind": "PredictorAPI",
         "metadata": {"name": "demo"}, "spec": body}
    )


def test_env_round_trips_through_runtime_settings(monkeypatch) -> None:
    api = _api(maxConcurrency=7, maxQueueLength=3, requestTimeoutSeconds=2.5,
               batching={"maxBatchSize": 8, "batchTimeoutMilliseconds": 5})
    api.spec.predictor.config = {"model": "tiny", "nested": {"k": [1, 2]}}
    for key, value in runtime_env("demo", api.spec).items():
        monkeypatch.setenv(key, value)
    settings = RuntimeSettings()
    assert settings.api_name == "demo"
    assert settings.predictor_config == {"model": "tiny", "nested": {"k": [1, 2]}}
    assert (settings.max_concurrency, settings.max_queue_length) == (7, 3)
    assert settings.request_timeout_seconds == 2.5
    assert (settings.batch_max_size, settings.batch_timeout_ms) == (8, 5)
    assert settings.thread_pool_size == 7


def test_models_settings_round_trip_through_runtime_settings(monkeypatch) -> None:
    from predictorapi.contracts.models import RuntimeModels

    api = _api(models={"dir": "s3://models/many/", "cacheSize": 3, "pollSeconds": 5})
    env = runtime_env("demo", api.spec)
    assert env["PREDICTORAPI_MODELS"] == RuntimeModels(cache_size=3, poll_seconds=5).to_json()
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("PREDICTORAPI_MODEL_STORE_URL", "http://127.0.0.1:8091")
    settings = RuntimeSettings()
    assert settings.runtime_models == RuntimeModels(cache_size=3, poll_seconds=5, single=False)
    assert settings.model_store_url == "http://127.0.0.1:8091"
    assert "PREDICTORAPI_MODELS" not in runtime_env("demo", _api().spec)
