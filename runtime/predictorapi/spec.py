"""The typed `PredictorAPI` resource: the single source of truth for the CRD schema.

Every field carries the description that `kubectl explain` prints. Cross-field rules are CEL
expressions attached with :func:`cel` so they land in the generated CRD as
``x-kubernetes-validations`` and are evaluated by ``predictorapi validate`` as well.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from predictorapi.contracts.env import ENV_PREFIX
from predictorapi.contracts.pod import RUNTIME_CONTAINER
from predictorapi.names import (
    CONFIG_MAP_KEY,
    CONFIG_MAP_KEY_MAX,
    DNS1035_LABEL,
    DNS1035_LABEL_MAX,
    DNS1123_LABEL,
    DNS1123_LABEL_MAX,
    DNS1123_SUBDOMAIN,
    DNS1123_SUBDOMAIN_MAX,
    ENV_FIELD_PATH,
    ENV_RESOURCE,
    ENV_VAR_NAME,
    EXTENDED_RESOURCE_NAME,
    EXTENDED_RESOURCE_NAME_MAX,
    EXTENDED_RESOURCE_PREFIX_MAX,
    IMAGE,
    INT32_MAX,
    INT64_MAX,
    INT64_MIN,
    IPV4,
    LABEL_VALUE,
    LABEL_VALUE_MAX,
    NONNEGATIVE_QUANTITY,
    OPTIONAL_QUALIFIED_NAME,
    QUALIFIED_NAME_MAX,
    QUALIFIED_NAME_PREFIX_MAX,
    WILDCARD_DNS1123_SUBDOMAIN,
)

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


def int_or_percent_is_zero(value: IntOrString) -> bool:
    """Whether an int-or-percent means 0, as Kubernetes reads it (`0`, `"0%"`, `"00%"`)."""
    return value == 0 if isinstance(value, int) else re.fullmatch(r"0+%", value) is not None


MAX_CONFIG_BYTES = 65536
"""Most bytes `spec.predictor.config` may take as compact JSON (see :func:`config_size`). The config reaches
the container as one environment variable (`PREDICTORAPI_PREDICTOR_CONFIG`): Linux refuses to start a
process with a variable over 128 KiB (E2BIG), and `kubectl apply` / Argo CD's client-side apply copy the
whole manifest into an annotation that may hold at most 256 KiB. 64 KiB stays well under both."""


def config_size(config: Any) -> int:
    """Bytes of `config` as compact ASCII JSON, `<`, `>` and `&` counted as the `\\u003c` escapes Go's JSON
    encoder writes: an upper bound of what the environment variable and kubectl's annotation carry."""
    text = json.dumps(config, separators=(",", ":"), ensure_ascii=True)
    return len(text) + 5 * sum(text.count(char) for char in "<>&")


def cel(*rules: tuple[str, str] | tuple[str, str, str]) -> dict[str, Any]:
    """JSON-schema extra carrying CEL rules as `(expression, message)` pairs, or `(expression, message,
    fieldPath)` triples when a rule on an object is about one of its fields (e.g. `.value`)."""
    out = []
    for rule, message, *where in rules:
        out.append({"rule": rule, "message": message, **({"fieldPath": where[0]} if where else {})})
    return {"x-kubernetes-validations": out}


def _no_chdir(field: str) -> tuple[str, str]:
    """CEL: a name that is not `.`, `..` or starting with `..` (Kubernetes' rule for keys and env names)."""
    return "self != '.' && !self.startsWith('..')", f"{field} must not be '.' or start with '..'"


def _quantity_schema(field: str) -> dict[str, Any]:
    """Schema extra of a non-negative quantity: the pattern for its string form, CEL for its int form."""
    return {"pattern": NONNEGATIVE_QUANTITY,
            **cel(("type(self) == string || self >= 0", f"{field} must not be negative"))}


def _subdomain(description: str, **kwargs: Any) -> Any:
    """A field naming a Secret, ConfigMap or IngressClass: a DNS-1123 subdomain."""
    return Field(description=description, min_length=1, max_length=DNS1123_SUBDOMAIN_MAX,
                 pattern=DNS1123_SUBDOMAIN, **kwargs)


def _secret_key(description: str, field: str, *default: str) -> Any:
    """A field naming a key of a Secret or ConfigMap."""
    return Field(*default, description=description, min_length=1, max_length=CONFIG_MAP_KEY_MAX,
                 pattern=CONFIG_MAP_KEY, json_schema_extra=cel(_no_chdir(field)))


class _Model(BaseModel):
    """Base: Kubernetes camelCase on the wire, snake_case in Python, unknown fields refused."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


# --- Kubernetes core types the spec embeds (only the fields a predictor needs) -------------------


class SecretKeySelector(_Model):
    name: str = _subdomain("Name of the Secret in the PredictorAPI's namespace (a DNS-1123 subdomain).")
    key: str = _secret_key("Key within the Secret: letters, digits, `-`, `_` and `.`.", "secretKeyRef.key")
    optional: bool | None = Field(None, description="Whether the Secret or its key may be missing.")


class ConfigMapKeySelector(_Model):
    name: str = _subdomain("Name of the ConfigMap in the PredictorAPI's namespace (a DNS-1123 subdomain).")
    key: str = _secret_key("Key within the ConfigMap: letters, digits, `-`, `_` and `.`.", "configMapKeyRef.key")
    optional: bool | None = Field(None, description="Whether the ConfigMap or its key may be missing.")


class ObjectFieldSelector(_Model):
    field_path: str = Field(
        description="Path of the pod field to expose: `metadata.name`, `metadata.namespace`, `metadata.uid`, "
        "`metadata.labels['KEY']`, `metadata.annotations['KEY']`, `spec.nodeName`, `spec.serviceAccountName`, "
        "`status.hostIP`, `status.hostIPs`, `status.podIP` or `status.podIPs`.",
        pattern=ENV_FIELD_PATH,
    )
    api_version: Literal["v1"] | None = Field(
        None, description="Schema version the field path is written in; only `v1` (the default)."
    )


class ResourceFieldSelector(_Model):
    resource: str = Field(
        description="Container resource to expose: `limits.` or `requests.` followed by `cpu`, `memory`, "
        "`ephemeral-storage` or `hugepages-SIZE`, e.g. `limits.memory`.",
        pattern=ENV_RESOURCE,
    )
    container_name: str | None = Field(
        None,
        description=f"Container whose resource is exposed: only `{RUNTIME_CONTAINER}` (the predictor's "
        "container, also the default).",
        max_length=DNS1123_LABEL_MAX,
        pattern=DNS1123_LABEL,
        json_schema_extra=cel((f"self == '{RUNTIME_CONTAINER}'",
                               f"resourceFieldRef.containerName must be {RUNTIME_CONTAINER} (the predictor's "
                               "container) or unset")),
    )
    divisor: Quantity | None = Field(
        None,
        description="Unit the exposed value is divided by: `1m` or `1` for cpu; `1`, `1k`, `1M`, `1G`, `1T`, "
        "`1P`, `1E`, `1Ki`, `1Mi`, `1Gi`, `1Ti`, `1Pi` or `1Ei` for memory, ephemeral-storage and hugepages.",
        json_schema_extra=_quantity_schema("resourceFieldRef.divisor"),
    )


class EnvVarSource(_Model):
    secret_key_ref: SecretKeySelector | None = Field(None, description="A key of a Secret (for credentials).")
    config_map_key_ref: ConfigMapKeySelector | None = Field(None, description="A key of a ConfigMap.")
    field_ref: ObjectFieldSelector | None = Field(None, description="A field of the pod.")
    resource_field_ref: ResourceFieldSelector | None = Field(None, description="A resource of the container.")

    model_config = ConfigDict(
        json_schema_extra=cel(
            (
                "(has(self.secretKeyRef) ? 1 : 0) + (has(self.configMapKeyRef) ? 1 : 0) + "
                "(has(self.fieldRef) ? 1 : 0) + (has(self.resourceFieldRef) ? 1 : 0) == 1",
                "env[].valueFrom must set exactly one of secretKeyRef, configMapKeyRef, fieldRef and "
                "resourceFieldRef",
            ),
        )
    )


ENV_NAME_MAX = 1024


class EnvVar(_Model):
    name: str = Field(
        description="Environment variable name: letters, digits, `_`, `-` and `.`, not starting with a digit. "
        f"Names starting with `{ENV_PREFIX}` are reserved for the runtime's own settings.",
        min_length=1,
        max_length=ENV_NAME_MAX,
        pattern=ENV_VAR_NAME,
        json_schema_extra=cel(
            _no_chdir("env[].name"),
            (f"!self.startsWith('{ENV_PREFIX}')",
             f"env[].name must not start with {ENV_PREFIX}: those names are reserved for the runtime's own "
             "settings (set them through the spec's fields instead)"),
        ),
    )
    value: str | None = Field(None, description="Literal value. Never put secrets here: use `valueFrom`.")
    value_from: EnvVarSource | None = Field(None, description="Source of the value (Secret, ConfigMap, ...).")

    model_config = ConfigDict(
        json_schema_extra=cel(
            ("!(has(self.value) && has(self.valueFrom))", "env[].value and env[].valueFrom are mutually exclusive"),
        )
    )


class Toleration(_Model):
    key: str | None = Field(
        None,
        description="Taint key the toleration applies to (a qualified name, e.g. `nvidia.com/gpu`); empty "
        "with operator `Exists` matches every taint.",
        max_length=QUALIFIED_NAME_MAX,
        pattern=OPTIONAL_QUALIFIED_NAME,
        json_schema_extra=cel((f"!self.contains('/') || self.matches('^[^/]{{1,{QUALIFIED_NAME_PREFIX_MAX}}}/')",
                               f"tolerations[].key: the prefix before '/' must be at most "
                               f"{QUALIFIED_NAME_PREFIX_MAX} characters")),
    )
    operator: Literal["Exists", "Equal"] | None = Field(
        None, description="`Exists` (any value) or `Equal` (the default: the taint's value must be `value`)."
    )
    value: str | None = Field(
        None,
        description="Taint value to match when the operator is `Equal` (a label value); must be empty with `Exists`.",
        max_length=LABEL_VALUE_MAX,
        pattern=LABEL_VALUE,
    )
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = Field(
        None, description="Taint effect to match; empty matches all effects."
    )
    toleration_seconds: int | None = Field(
        None,
        ge=INT64_MIN,
        le=INT64_MAX,
        description="How long a NoExecute taint is tolerated before eviction; only with effect `NoExecute`.",
    )

    model_config = ConfigDict(
        json_schema_extra=cel(
            ("(has(self.key) && self.key != '') || (has(self.operator) && self.operator == 'Exists')",
             "tolerations[].operator must be Exists when the key is empty (it then matches every taint)",
             ".operator"),
            ("!has(self.operator) || self.operator != 'Exists' || !has(self.value) || self.value == ''",
             "tolerations[].value must be empty when the operator is Exists", ".value"),
            ("!has(self.tolerationSeconds) || (has(self.effect) && self.effect == 'NoExecute')",
             "tolerations[].tolerationSeconds may only be set when the effect is NoExecute", ".tolerationSeconds"),
        )
    )


class LocalObjectReference(_Model):
    name: str = _subdomain("Name of the Secret in the PredictorAPI's namespace (a DNS-1123 subdomain).")


class SecretKeyReference(_Model):
    name: str = _subdomain("Name of the Secret in the PredictorAPI's namespace (a DNS-1123 subdomain).")
    key: str = _secret_key("Key within the Secret holding the value: letters, digits, `-`, `_` and `.`.",
                           "secretRef.key", "api-key")


# --- spec ------------------------------------------------------------------------------------------


class GitSource(_Model):
    repo: str = Field(
        description="Git repository URL (https://, ssh:// or scp-like git@host:org/repo.git). Never put "
        "credentials in it (they would be copied into the pod spec in clear): reference a Secret with "
        "`secretRef`.",
        min_length=1,
        max_length=2048,
        json_schema_extra=cel(
            ("!self.matches('^[hH][tT][tT][pP][sS]?://[^/?#]*@')",
             "source.git.repo must not carry credentials (user or token before @): put them in a Secret and "
             "reference it with source.git.secretRef"),
            ("!self.matches('^[a-zA-Z][a-zA-Z0-9+.-]*://[^/?#]*:[^/?#]*@')",
             "source.git.repo must not carry a password (user:password@): put it in a Secret and reference it "
             "with source.git.secretRef"),
            ("!self.matches('[?&#](access_token|private_token|token|password)=')",
             "source.git.repo must not carry a token in its query: put it in a Secret and reference it with "
             "source.git.secretRef"),
        ),
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
        "image; not empty, no whitespace. Exactly one of `image` and `source` must be set.",
        pattern=IMAGE,
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
        description="Free-form configuration passed to the predictor's `__init__(self, config)`, as JSON: "
        f"at most {MAX_CONFIG_BYTES // 1024} KiB ({MAX_CONFIG_BYTES} bytes) of compact JSON, non-ASCII "
        "characters counted as their \\u escapes. Larger data belongs in the image, in a model artifact or "
        "in a mounted ConfigMap. Numbers must be finite; YAML dates arrive as strings, as with kubectl.",
        json_schema_extra={"x-kubernetes-preserve-unknown-fields": True},
    )
    env: list[EnvVar] = Field(
        default_factory=list,
        description="Extra environment variables for the predictor (at most 512); reference secrets with "
        f"`valueFrom`. Names starting with `{ENV_PREFIX}` are reserved for the runtime's own settings.",
        max_length=512,
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
    cpu: Quantity | None = Field(
        "1",
        description="CPU requested per replica: a non-negative Kubernetes quantity, e.g. `500m`, `2` or `1.5`.",
        json_schema_extra=_quantity_schema("compute.cpu"),
    )
    memory: Quantity | None = Field(
        "2Gi",
        description="Memory requested and limited per replica: a non-negative Kubernetes quantity, e.g. "
        "`512Mi` or `2Gi`.",
        json_schema_extra=_quantity_schema("compute.memory"),
    )
    gpu: int = Field(0, ge=0, le=INT32_MAX, description="Number of GPUs per replica (requested and limited).")
    gpu_resource: str = Field(
        "nvidia.com/gpu",
        description="Extended resource name of the GPU: a domain, `/` and a name, e.g. `nvidia.com/gpu` or "
        "`amd.com/gpu` (not in the `kubernetes.io` domain).",
        max_length=EXTENDED_RESOURCE_NAME_MAX,
        pattern=EXTENDED_RESOURCE_NAME,
        json_schema_extra=cel(
            (f"self.matches('^[^/]{{1,{EXTENDED_RESOURCE_PREFIX_MAX}}}/')",
             f"compute.gpuResource: the domain before '/' must be at most {EXTENDED_RESOURCE_PREFIX_MAX} characters"),
            ("!self.contains('kubernetes.io/') && !self.startsWith('requests.')",
             "compute.gpuResource must be an extended resource (e.g. nvidia.com/gpu), not one of Kubernetes' own "
             "(in a kubernetes.io domain) nor start with 'requests.' (a quota name)"),
        ),
    )
    node_selector: dict[str, Annotated[str, Field(max_length=LABEL_VALUE_MAX, pattern=LABEL_VALUE)]] = Field(
        default_factory=dict,
        description="Node labels a replica's node must have: keys are label keys (qualified names such as "
        "`example.com/pool`), values label values (at most 63 characters).",
    )
    tolerations: list[Toleration] = Field(
        default_factory=list,
        description="Tolerations for replicas (at most 128); one for the GPU taint is added when `gpu > 0`.",
        max_length=128,
    )


class Autoscaling(_Model):
    min_replicas: int = Field(1, ge=1, le=INT32_MAX, description="Fewest replicas the autoscaler keeps.")
    max_replicas: int = Field(1, ge=1, le=INT32_MAX, description="Most replicas the autoscaler may run.")
    metric: Literal["concurrency", "cpu"] = Field(
        "concurrency",
        description="Scaling signal: `concurrency` (in-flight requests per replica, through the Prometheus "
        "adapter) or `cpu` (CPU utilisation).",
    )
    target_concurrency: float = Field(
        1.0,
        ge=0.001,
        description="In-flight requests per replica the autoscaler aims for (metric=concurrency): a finite "
        "number, at least 0.001 (the HPA's target is a quantity in thousandths).",
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


_INT_OR_PERCENT_RULE = f"type(self) == int ? self >= 0 && self <= {INT32_MAX} : self.matches('^[0-9]+%$')"
_INT_OR_PERCENT = f"an integer from 0 to {INT32_MAX} or a percent such as 25%"


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
        json_schema_extra=cel(
            (_INT_OR_PERCENT_RULE, f"updateStrategy.maxSurge must be an int or a percent: {_INT_OR_PERCENT}")
        ),
    )
    max_unavailable: IntOrString = Field(
        0,
        description="Replicas (int) or percent (at most `100%`) that may be unavailable during a rollout. At "
        "least 1 in `NoSurge` mode.",
        json_schema_extra=cel(
            (_INT_OR_PERCENT_RULE, f"updateStrategy.maxUnavailable must be an int or a percent: {_INT_OR_PERCENT}"),
            ("type(self) == int || !self.matches('^[0-9]+%$') || self.matches('^0*([0-9]{1,2}|100)%$')",
             "updateStrategy.maxUnavailable must not be more than 100%"),
        ),
    )

    model_config = ConfigDict(
        json_schema_extra=cel(
            (
                "!(self.maxSurge == 0 || string(self.maxSurge).matches('^0+%$')) || "
                "!(self.maxUnavailable == 0 || string(self.maxUnavailable).matches('^0+%$')) || "
                "self.mode == 'NoSurge'",
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
    secret_name: str = _subdomain("Secret holding the TLS certificate for `host` (a DNS-1123 subdomain).")


class Ingress(_Model):
    host: str = Field(
        description="Public host name routed to the API: a DNS name such as `api.example.com`, optionally "
        "with a leading `*.` wildcard; not an IP address.",
        min_length=1,
        max_length=DNS1123_SUBDOMAIN_MAX,
        pattern=WILDCARD_DNS1123_SUBDOMAIN,
        json_schema_extra=cel((f"!self.matches('{IPV4}')",
                               "networking.ingress.host must be a DNS name, not an IP address")),
    )
    path: str = Field(
        "/",
        description="URL path prefix routed to the API: absolute, without `//`, `/./`, `/../` or `%2f`, not "
        "ending with `/.` or `/..`.",
        max_length=2048,
        pattern=r"^/",
        json_schema_extra=cel((
            "!self.contains('//') && !self.contains('/./') && !self.contains('/../') && !self.contains('%2f') "
            "&& !self.contains('%2F') && !self.endsWith('/..') && !self.endsWith('/.')",
            "networking.ingress.path must not contain '//', '/./', '/../' or '%2f', nor end with '/.' or '/..'",
        )),
    )
    class_name: str | None = Field(
        None,
        description="IngressClass to use (a DNS-1123 subdomain); the cluster default if empty.",
        max_length=DNS1123_SUBDOMAIN_MAX,
        pattern=DNS1123_SUBDOMAIN,
    )
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
    replicas: int | None = Field(
        None,
        ge=0,
        le=INT32_MAX,
        description="Pins the replica count: when set, the API runs exactly this many replicas and no autoscaler "
        "(HorizontalPodAutoscaler) is created. `kubectl scale papi NAME --replicas=N` writes this field. "
        "Unset (the default), `autoscaling` owns the count: a fixed `minReplicas` when it equals "
        "`maxReplicas`, else the autoscaler scales between them; remove `replicas` to hand the count back.",
    )
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
