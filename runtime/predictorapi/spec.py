"""The typed `PredictorAPI` resource: the single source of truth for the CRD schema.

Every field carries the description that `kubectl explain` prints. Cross-field rules are CEL
expressions attached with :func:`cel` so they land in the generated CRD as
``x-kubernetes-validations`` and are evaluated by ``predictorapi validate`` as well.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from predictorapi.names import DNS1035_LABEL, DNS1035_LABEL_MAX

GROUP = "serving.predictorapi.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "PredictorAPI"
PLURAL = "predictorapis"
SINGULAR = "predictorapi"
SHORT_NAMES = ["papi"]

IntOrString = int | str
"""A Kubernetes int-or-string (`x-kubernetes-int-or-string`), e.g. `1` or `"25%"`."""
Quantity = int | str
"""A Kubernetes resource quantity, e.g. `"500m"`, `"2Gi"` or `2`."""


def cel(*rules: tuple[str, str]) -> dict[str, Any]:
    """JSON-schema extra carrying CEL rules as `(expression, message)` pairs."""
    return {"x-kubernetes-validations": [{"rule": rule, "message": message} for rule, message in rules]}


class _Model(BaseModel):
    """Base: Kubernetes camelCase on the wire, snake_case in Python, unknown fields refused."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


# --- Kubernetes core types the spec embeds (only the fields a predictor needs) -------------------


class SecretKeySelector(_Model):
    name: str = Field(description="Name of the Secret in the PredictorAPI's namespace.")
    key: str = Field(description="Key within the Secret.")
    optional: bool | None = Field(None, description="Whether the Secret or its key may be missing.")


class ConfigMapKeySelector(_Model):
    name: str = Field(description="Name of the ConfigMap in the PredictorAPI's namespace.")
    key: str = Field(description="Key within the ConfigMap.")
    optional: bool | None = Field(None, description="Whether the ConfigMap or its key may be missing.")


class ObjectFieldSelector(_Model):
    field_path: str = Field(description="Path of the pod field to expose, e.g. `metadata.name`.")
    api_version: str | None = Field(None, description="Schema version the field path is written in.")


class ResourceFieldSelector(_Model):
    resource: str = Field(description="Container resource to expose, e.g. `limits.memory`.")
    container_name: str | None = Field(None, description="Container whose resource is exposed.")
    divisor: Quantity | None = Field(None, description="Output format of the exposed resource.")


class EnvVarSource(_Model):
    secret_key_ref: SecretKeySelector | None = Field(None, description="A key of a Secret (for credentials).")
    config_map_key_ref: ConfigMapKeySelector | None = Field(None, description="A key of a ConfigMap.")
    field_ref: ObjectFieldSelector | None = Field(None, description="A field of the pod.")
    resource_field_ref: ResourceFieldSelector | None = Field(None, description="A resource of the container.")


class EnvVar(_Model):
    name: str = Field(description="Environment variable name.", min_length=1)
    value: str | None = Field(None, description="Literal value. Never put secrets here: use `valueFrom`.")
    value_from: EnvVarSource | None = Field(None, description="Source of the value (Secret, ConfigMap, ...).")

    model_config = ConfigDict(
        json_schema_extra=cel(
            ("!(has(self.value) && has(self.valueFrom))", "env[].value and env[].valueFrom are mutually exclusive"),
        )
    )


class Toleration(_Model):
    key: str | None = Field(None, description="Taint key the toleration applies to.")
    operator: Literal["Exists", "Equal"] | None = Field(None, description="`Exists` or `Equal`.")
    value: str | None = Field(None, description="Taint value to match when the operator is `Equal`.")
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = Field(
        None, description="Taint effect to match; empty matches all effects."
    )
    toleration_seconds: int | None = Field(None, description="How long a NoExecute taint is tolerated.")


class LocalObjectReference(_Model):
    name: str = Field(description="Name of the Secret in the PredictorAPI's namespace.", min_length=1)


class SecretKeyReference(_Model):
    name: str = Field(description="Name of the Secret in the PredictorAPI's namespace.", min_length=1)
    key: str = Field("api-key", description="Key within the Secret holding the value.")


# --- spec ------------------------------------------------------------------------------------------


class GitSource(_Model):
    repo: str = Field(
        description="Git repository URL (https://, ssh:// or scp-like git@host:org/repo.git).", min_length=1
    )
    revision: str = Field(
        description="Commit SHA, tag or branch to check out. A branch is resolved when each pod starts, "
        "so replicas started later may serve a newer commit; pin a SHA or tag for reproducible rollouts.",
        min_length=1,
    )
    path: str = Field(
        "",
        description="Folder inside the repository holding the predictor code; `predictor.path` is relative "
        "to it. Empty means the repository root.",
    )
    secret_ref: LocalObjectReference | None = Field(
        None,
        description="Secret with credentials for a private repository: key `token` (and optional "
        "`username`) for https, or `ssh-privatekey` (and optional `known_hosts`) for ssh.",
    )


class PredictorSource(_Model):
    git: GitSource = Field(description="Fetch the predictor code from git at a pinned revision.")


class Predictor(_Model):
    image: str | None = Field(
        None,
        description="Container image holding the predictor code, built FROM the predictorapi runtime base "
        "image. Exactly one of `image` and `source` must be set.",
    )
    source: PredictorSource | None = Field(
        None,
        description="Fetch the predictor code at run time instead of baking it into an image; the runtime "
        "base image serves it. Exactly one of `image` and `source` must be set.",
    )
    path: str = Field(
        description="Python file defining the predictor class, relative to the code root (the image's "
        "working directory, the `source.git.path` folder, or the manifest's folder for "
        "`predictorapi serve`).",
        min_length=1,
    )
    class_name: str = Field(
        "PythonPredictor",
        description="Name of the predictor class in `path`.",
        min_length=1,
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
    )
    config: dict[str, Any] = Field(
        default_factory=dict,
        description="Free-form configuration passed to the predictor's `__init__(self, config)`.",
        json_schema_extra={"x-kubernetes-preserve-unknown-fields": True},
    )
    env: list[EnvVar] = Field(
        default_factory=list,
        description="Extra environment variables for the predictor; reference secrets with `valueFrom`.",
    )
    python_path: str | None = Field(
        None, description="Extra import path (relative to the code root) prepended to `sys.path`."
    )

    model_config = ConfigDict(
        json_schema_extra=cel(
            (
                "has(self.image) != has(self.source)",
                "exactly one of predictor.image and predictor.source must be set",
            ),
        )
    )


class Compute(_Model):
    cpu: Quantity | None = Field("1", description="CPU requested per replica (a Kubernetes quantity).")
    memory: Quantity | None = Field(
        "2Gi", description="Memory requested and limited per replica (a Kubernetes quantity)."
    )
    gpu: int = Field(0, ge=0, description="Number of GPUs per replica (requested and limited).")
    gpu_resource: str = Field(
        "nvidia.com/gpu", description="Extended resource name of the GPU, e.g. `nvidia.com/gpu`."
    )
    node_selector: dict[str, str] = Field(
        default_factory=dict, description="Node labels a replica's node must have."
    )
    tolerations: list[Toleration] = Field(
        default_factory=list,
        description="Tolerations for replicas; one for the GPU taint is added when `gpu > 0`.",
    )


class Autoscaling(_Model):
    min_replicas: int = Field(1, ge=1, description="Fewest replicas the autoscaler keeps.")
    max_replicas: int = Field(1, ge=1, description="Most replicas the autoscaler may run.")
    metric: Literal["concurrency", "cpu"] = Field(
        "concurrency",
        description="Scaling signal: `concurrency` (in-flight requests per replica, through the Prometheus "
        "adapter) or `cpu` (CPU utilisation).",
    )
    target_concurrency: float = Field(
        1.0, gt=0, description="In-flight requests per replica the autoscaler aims for (metric=concurrency)."
    )
    target_cpu_utilization: int = Field(
        alias="targetCPUUtilization",
        default=80,
        ge=1, le=100, description="CPU utilisation percent the autoscaler aims for (metric=cpu)."
    )
    scale_up_stabilization_seconds: int = Field(
        0, ge=0, le=3600, description="How long the autoscaler looks back before scaling up."
    )
    scale_down_stabilization_seconds: int = Field(
        300, ge=0, le=3600, description="How long the autoscaler looks back before scaling down."
    )

    model_config = ConfigDict(
        json_schema_extra=cel(
            (
                "self.minReplicas <= self.maxReplicas",
                "autoscaling.minReplicas must be less than or equal to autoscaling.maxReplicas",
            ),
        )
    )


_PERCENT_OR_INT = r"^([0-9]+|[0-9]+%)$"
_INT_OR_PERCENT_RULE = "type(self) == int ? self >= 0 : self.matches('^[0-9]+%$')"


class UpdateStrategy(_Model):
    mode: Literal["Surge", "NoSurge"] = Field(
        "Surge",
        description="`Surge` starts new replicas before old ones stop (no capacity loss). `NoSurge` never "
        "runs an extra replica during a rollout (for scarce GPUs): an old replica stops before its "
        "replacement starts.",
    )
    max_surge: IntOrString = Field(
        "25%",
        description="Replicas (int) or percent of desired replicas (e.g. `25%`) created above the desired "
        "count during a rollout. Forced to 0 in `NoSurge` mode.",
        json_schema_extra=cel((_INT_OR_PERCENT_RULE, "updateStrategy.maxSurge must be an int or a percent")),
    )
    max_unavailable: IntOrString = Field(
        0,
        description="Replicas (int) or percent that may be unavailable during a rollout. At least 1 in "
        "`NoSurge` mode.",
        json_schema_extra=cel(
            (_INT_OR_PERCENT_RULE, "updateStrategy.maxUnavailable must be an int or a percent")
        ),
    )

    model_config = ConfigDict(
        json_schema_extra=cel(
            (
                "!(self.maxSurge == 0 || self.maxSurge == '0%') || "
                "!(self.maxUnavailable == 0 || self.maxUnavailable == '0%') || self.mode == 'NoSurge'",
                "updateStrategy.maxSurge and updateStrategy.maxUnavailable cannot both be 0",
            ),
        )
    )


class Batching(_Model):
    max_batch_size: int = Field(
        1, ge=1, le=4096, description="Most requests passed to one `predict` call; 1 disables batching."
    )
    batch_timeout_milliseconds: int = Field(
        10, ge=0, le=60000, description="Longest a request waits for its batch to fill."
    )


class IngressTLS(_Model):
    secret_name: str = Field(description="Secret holding the TLS certificate for `host`.", min_length=1)


class Ingress(_Model):
    host: str = Field(description="Public host name routed to the API.", min_length=1)
    path: str = Field("/", description="URL path prefix routed to the API.", pattern=r"^/")
    class_name: str | None = Field(None, description="IngressClass to use; the cluster default if empty.")
    tls: IngressTLS | None = Field(None, description="Serve HTTPS with this certificate.")


class Networking(_Model):
    ingress: Ingress | None = Field(None, description="Expose the API outside the cluster.")


class Monitoring(_Model):
    service_monitor: bool = Field(
        False, description="Create a Prometheus Operator ServiceMonitor scraping `/metrics`."
    )
    interval: str = Field(
        "30s", description="Scrape interval, e.g. `15s`.", pattern=r"^[0-9]+(ms|s|m|h)$"
    )


class Auth(_Model):
    secret_ref: SecretKeyReference = Field(
        description="Secret key holding the API key clients send as `Authorization: Bearer <key>` or "
        "`X-API-Key`."
    )


class PredictorAPISpec(_Model):
    predictor: Predictor = Field(description="The user's predictor: code, class and configuration.")
    compute: Compute = Field(default_factory=Compute, description="Resources per replica.")
    autoscaling: Autoscaling = Field(default_factory=Autoscaling, description="Replica autoscaling.")
    max_concurrency: int = Field(
        4, ge=1, le=10000, description="Most requests one replica runs at once."
    )
    max_queue_length: int = Field(
        16, ge=0, le=100000, description="Most requests one replica queues beyond those running; more get 503."
    )
    request_timeout_seconds: float = Field(
        60.0, gt=0, le=3600, description="Longest one request may take before it gets 504."
    )
    update_strategy: UpdateStrategy = Field(default_factory=UpdateStrategy, description="Rollout strategy.")
    startup_timeout_seconds: int = Field(
        600, ge=10, le=86400, description="How long a replica may take to load its model before it is restarted."
    )
    batching: Batching = Field(default_factory=Batching, description="Server-side batching of requests.")
    networking: Networking = Field(default_factory=Networking, description="How clients reach the API.")
    monitoring: Monitoring = Field(default_factory=Monitoring, description="Prometheus scraping.")
    auth: Auth | None = Field(None, description="Require an API key on prediction requests.")


# --- status ----------------------------------------------------------------------------------------


class Condition(_Model):
    type: str = Field(description="Condition type: Ready, Progressing or Degraded.")
    status: Literal["True", "False", "Unknown"] = Field(description="`True`, `False` or `Unknown`.")
    reason: str = Field("", description="CamelCase machine-readable reason for the last transition.")
    message: str = Field("", description="Human-readable detail.")
    last_transition_time: str | None = Field(None, description="When the status last changed (RFC 3339).")
    observed_generation: int | None = Field(None, description="The `metadata.generation` this reflects.")


class PredictorAPIStatus(_Model):
    conditions: list[Condition] = Field(default_factory=list, description="Ready, Progressing and Degraded.")
    ready: str | None = Field(None, description="Ready/desired replicas at a glance, e.g. `2/3`.")
    replicas: int | None = Field(None, description="Replicas of the API's Deployment.")
    ready_replicas: int | None = Field(None, description="Replicas ready to serve.")
    updated_replicas: int | None = Field(None, description="Replicas running the current spec.")
    desired_replicas: int | None = Field(None, description="Replicas wanted (by the spec or the autoscaler).")
    url: str | None = Field(None, description="In-cluster URL of the API.")
    ingress_url: str | None = Field(None, description="External URL of the API, when an ingress is set.")
    observed_generation: int | None = Field(None, description="The `metadata.generation` last reconciled.")
    selector: str | None = Field(None, description="Label selector of the API's pods (scale subresource).")
    revision: str | None = Field(None, description="Commit SHA of the predictor code, when fetched from git.")
    phase: str | None = Field(None, description="One word summary: Ready, Progressing, Degraded or Pending.")


class ObjectMeta(BaseModel):
    """The subset of metadata a manifest needs; everything else is kept as given."""

    model_config = ConfigDict(extra="allow")

    name: str = Field(min_length=1, max_length=DNS1035_LABEL_MAX, pattern=DNS1035_LABEL)
    namespace: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)


class PredictorAPI(BaseModel):
    """A whole `PredictorAPI` object as committed to git."""

    model_config = ConfigDict(extra="allow")

    api_version: Literal["serving.predictorapi.dev/v1alpha1"] = Field(alias="apiVersion")
    kind: Literal["PredictorAPI"]
    metadata: ObjectMeta
    spec: PredictorAPISpec
