"""Runtime settings, read from `PREDICTORAPI_*` environment variables.

These are exactly what the operator sets on the runtime container (see
:func:`predictorapi.runtime_env.runtime_env`) and what `predictorapi serve` derives from a manifest.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from predictorapi.contracts.env import ENV_PREFIX


class RuntimeSettings(BaseSettings):
    """Everything the runtime needs to load and serve one predictor."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    api_name: str = Field("predictor", description="API name; the `api` label on every metric.")
    predictor_path: str = Field("predictor.py", description="Python file defining the predictor class.")
    predictor_class: str = Field("PythonPredictor", description="Name of the predictor class.")
    predictor_config: dict[str, Any] = Field(
        default_factory=dict, description="JSON object passed to the predictor's `__init__`."
    )
    python_path: str | None = Field(None, description="Extra import path prepended to `sys.path`.")
    path_prefix: str = Field(
        "", pattern=r"^(/[^?#]*)?$",
        description="URL path prefix under which predict is served too (`POST PREFIX`, `POST PREFIX/predict`): "
        "the Ingress path, which an Ingress passes on unchanged.",
    )
    host: str = Field("0.0.0.0", description="Address to listen on.")
    port: int = Field(8080, description="Port to listen on.")
    max_concurrency: int = Field(4, ge=1, description="Most requests running at once.")
    max_queue_length: int = Field(16, ge=0, description="Most requests waiting beyond those running.")
    threads: int | None = Field(
        None, ge=1, description="Thread pool size for sync `predict`; defaults to `max_concurrency`."
    )
    request_timeout_seconds: float = Field(60.0, gt=0, description="Per-request timeout (504 past it).")
    max_body_bytes: int = Field(10 * 1024 * 1024, ge=0, description="Largest request body (413 past it).")
    drain_grace_seconds: float = Field(
        25.0, ge=0, description="How long in-flight requests may take to finish after SIGTERM."
    )
    drain_min_seconds: float = Field(
        1.0, ge=0, description="After SIGTERM, keep serving at least this long (with `/readyz` 503) so load "
        "balancers that poll readiness stop sending here before the process stops accepting."
    )
    retry_after_seconds: int = Field(1, ge=0, description="`Retry-After` sent with back-pressure 503s.")
    batch_max_size: int = Field(1, ge=1, description="Most requests per `predict` call; 1 disables batching.")
    batch_timeout_ms: int = Field(10, ge=0, description="Longest a request waits for its batch to fill.")
    api_key: str | None = Field(None, description="When set, prediction requests must carry this key.")
    log_json: bool = Field(False, description="Write logs as JSON lines.")
    log_level: str = Field("INFO", description="Log level.")
    access_log: bool = Field(
        True, description="One log line per request (method, path, status, duration, request id); costs "
        "about a third of the throughput of a no-op predictor (docs/benchmarks.md)."
    )

    @property
    def predict_paths(self) -> tuple[str, ...]:
        """`/` and `/predict`, and both under `path_prefix` when one is set."""
        prefix = self.path_prefix.rstrip("/")
        return tuple(dict.fromkeys(("/", "/predict", *((prefix, f"{prefix}/predict") if prefix else ()))))

    @property
    def thread_pool_size(self) -> int:
        """Threads for sync `predict` calls."""
        return self.threads or self.max_concurrency
