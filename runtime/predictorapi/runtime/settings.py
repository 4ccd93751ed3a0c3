"""Runtime settings, read from `PREDICTORAPI_*` environment variables.

These are exactly what the operator sets on the runtime container (see
:func:`predictorapi.runtime_env.runtime_env`) and what `predictorapi serve` derives from a manifest.
"""

from __future__ import annotations

import json
from typing import Any

from predictorapi.contracts.env import ENV_PREFIX
from predictorapi.contracts.models import RuntimeModels
from predictorapi.runtime.envsettings import EnvSettings, SettingsError, setting


class RuntimeSettings(EnvSettings):
    """Everything the runtime needs to load and serve one predictor."""

    env_prefix = ENV_PREFIX

    api_name: str = setting("predictor", description="API name; the `api` label on every metric.")
    predictor_path: str = setting("predictor.py", description="Python file defining the predictor class.")
    predictor_class: str = setting("PythonPredictor", description="Name of the predictor class.")
    predictor_config: dict[str, Any] = setting(
        default_factory=dict, description="JSON object passed to the predictor's `__init__`."
    )
    python_path: str | None = setting(None, description="Extra import path prepended to `sys.path`.")
    packages_path: str | None = setting(
        None, description="The predictor's installed requirements (`install-packages`), appended to `sys.path` "
        "after the runtime's own packages and the standard library, so they never shadow them."
    )
    model_path: str | None = setting(
        None, description="Local folder of `spec.model`'s artifact (`PREDICTORAPI_MODEL_PATH`); passed to the "
        "predictor as `config[\"model_path\"]`."
    )
    models: dict[str, Any] | None = setting(
        None, description="`spec.models` as a runtime process needs it (`PREDICTORAPI_MODELS`, JSON "
        "`{\"cacheSize\", \"pollSeconds\", \"single\"}`, contracts.models.RuntimeModels): the predictor gets a "
        "`python_client` and must define `load_model`. None: one model or none."
    )
    model_store_url: str | None = setting(
        None, description="The model store's base URL (`PREDICTORAPI_MODEL_STORE_URL`): the `model-store` "
        "container's on loopback, or the thread `predictorapi serve` starts."
    )
    post_predict_queue: int = setting(
        1000, ge=1, description="Most `post_predict` calls waiting to run (after their responses were sent); more "
        "are dropped, counted and logged."
    )
    post_predict_threads: int = setting(
        2, ge=1, description="Threads running `post_predict` calls, off the request path."
    )
    path_prefix: str = setting(
        "", pattern=r"^(/[^?#]*)?$",
        description="URL path prefix under which predict is served too (`POST PREFIX`, `POST PREFIX/predict`): "
        "the Ingress path, which an Ingress passes on unchanged.",
    )
    host: str = setting("0.0.0.0", description="Address to listen on.")
    port: int = setting(8080, description="Port to listen on.")
    max_concurrency: int = setting(4, ge=1, description="Most requests running at once.")
    max_queue_length: int = setting(16, ge=0, description="Most requests waiting beyond those running.")
    processes: int = setting(
        1, ge=1, le=64, description="Worker processes sharing the port (`spec.processesPerReplica`), each loading "
        "the predictor; above 1 a supervisor runs them and splits `max_concurrency`, `max_queue_length` and "
        "`threads` across them (see `predictorapi.runtime.supervisor`)."
    )
    heartbeat_timeout_seconds: float = setting(
        30.0, gt=0, description="With several processes: a worker that has loaded and whose event loop has not "
        "ticked for this long (it answers nothing) is killed and restarted by the supervisor, as the liveness "
        "probe (3 failures, 10 s apart) restarts a single process."
    )
    worker_crash_limit: int = setting(
        5, ge=1, description="With several processes: a worker that dies after loading is restarted after a "
        "back-off (1 s, doubling per crash within `worker_crash_window_seconds`, at most 30 s); this many "
        "crashes within the window stop the replica (a non-zero exit), so that Kubernetes backs off and reports it."
    )
    worker_crash_window_seconds: float = setting(
        600.0, gt=0, description="The window over which `worker_crash_limit` counts a replica's worker crashes."
    )
    threads: int | None = setting(
        None, ge=1, description="Thread pool size for sync `predict`; defaults to `max_concurrency`."
    )
    termination_log: str | None = setting(
        None, description="File receiving the one line that says why the runtime exits with an error "
        "(`PredictorLoadFailed: ...`, `WorkersCrashing: ...`); default Kubernetes' /dev/termination-log, when it "
        "exists."
    )
    request_timeout_seconds: float = setting(
        60.0, gt=0, description="Per-request timeout (504 past it); bounds the whole of a streamed prediction."
    )
    stream_idle_timeout_seconds: float | None = setting(
        None, gt=0, description="Longest wait for the next item of a streamed prediction, the first included "
        "(the stream then ends with an error event and the generator is closed); None: no such bound."
    )
    max_body_bytes: int = setting(10 * 1024 * 1024, ge=0, description="Largest request body (413 past it).")
    drain_grace_seconds: float = setting(
        25.0, ge=0, description="How long in-flight requests may take to finish after SIGTERM."
    )
    drain_min_seconds: float = setting(
        1.0, ge=0, description="After SIGTERM, keep serving at least this long (with `/readyz` 503) so load "
        "balancers that poll readiness stop sending here before the process stops accepting."
    )
    drain_quiet_seconds: float = setting(
        2.0, ge=0, description="After SIGTERM (and `drain_min_seconds`), stop only once no prediction request "
        "and no new connection has arrived for this long: clients whose routing lags are still served "
        "instead of having their request reset by a closing listener (bounded by `drain_grace_seconds`)."
    )
    wedged_seconds: float = setting(
        180.0, gt=0, description="When every run slot has been held this long by `predict` calls whose requests "
        "already timed out (hung calls that Python cannot interrupt), `/healthz` answers 503 so that Kubernetes "
        "restarts the container. `/readyz` answers 503 as soon as every slot is held by such calls."
    )
    max_connections: int = setting(
        1000, ge=1, description="Most open client connections served normally; a request arriving on a "
        "connection beyond it is answered 503 with `Connection: close` at once (probes and `/metrics` excepted)."
    )
    header_timeout_seconds: float = setting(
        10.0, gt=0, description="Longest a connection may take to send a request's headers (from its opening, "
        "or from the first byte of a request on a kept-alive connection); then it is closed (408 when some "
        "of the request arrived)."
    )
    body_timeout_seconds: float = setting(
        30.0, gt=0, description="Longest pause in the arrival of a request body; then the connection is "
        "answered 408 and closed (a prediction is also bounded by `request_timeout_seconds`)."
    )
    max_header_bytes: int = setting(
        64 * 1024, ge=1024, description="Largest request line plus headers (431 and close past it)."
    )
    keep_alive_seconds: float = setting(
        75.0, gt=0, description="How long an idle kept-alive connection stays open after a response; longer "
        "than load balancers' idle timeouts (ingress-nginx: 60 s), so the runtime never closes a connection "
        "a proxy is about to reuse."
    )
    retry_after_seconds: int = setting(1, ge=0, description="`Retry-After` sent with back-pressure 503s.")
    batch_max_size: int = setting(1, ge=1, description="Most requests per `predict` call; 1 disables batching.")
    batch_timeout_ms: int = setting(10, ge=0, description="Longest a request waits for its batch to fill.")
    api_key: str | None = setting(None, description="When set, prediction requests must carry this key.")
    log_json: bool = setting(False, description="Write logs as JSON lines.")
    log_level: str = setting("INFO", description="Log level.")
    access_log: bool = setting(
        True, description="One log line per request (method, path, status, duration, request id). Access lines "
        "are queued on the request path, formatted and written by a background thread every 50 ms (with the "
        "other log lines, in order; at once for warnings and errors)."
    )

    def check(self) -> None:
        """Every process needs a run slot."""
        if self.max_concurrency < self.processes:
            raise SettingsError(f"max_concurrency ({self.max_concurrency}) must be at least processes "
                                f"({self.processes}): it is split across the processes, each needs a run slot")

    @property
    def predict_paths(self) -> tuple[str, ...]:
        """`/` and `/predict`, and both under `path_prefix` when one is set."""
        prefix = self.path_prefix.rstrip("/")
        return tuple(dict.fromkeys(("/", "/predict", *((prefix, f"{prefix}/predict") if prefix else ()))))

    @property
    def runtime_models(self) -> RuntimeModels | None:
        """`models` as the contract's type, or None without `spec.models`."""
        return None if self.models is None else RuntimeModels.from_json(json.dumps(self.models))

    @property
    def thread_pool_size(self) -> int:
        """Threads for sync `predict` calls."""
        return self.threads or self.max_concurrency
