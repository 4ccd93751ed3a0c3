"""The typed `PredictorAPI` resource: the single source of truth for the CRD schema.

Every field carries the description that `kubectl explain` prints. Cross-field rules are CEL
expressions attached with :func:`cel` so they land in the generated CRD as
``x-kubernetes-validations`` and are evaluated by ``predictorapi validate`` as well.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator
from pydantic.alias_generators import to_camel

from predictorapi.contracts.env import ENV_PREFIX
from predictorapi.contracts.labels import RESERVED_POD_ANNOTATIONS, RESERVED_POD_LABELS, RESERVED_PREFIX
from predictorapi.contracts.pod import (
    MODEL_CLAIMS_DIR,
    RESERVED_MOUNT_PATHS,
    RESERVED_VOLUME_PREFIX,
    RESERVED_VOLUMES,
    RUNTIME_CONTAINER,
)
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
    MODEL_NAME,
    MODELS_URI,
    NONNEGATIVE_QUANTITY,
    OPTIONAL_QUALIFIED_NAME,
    QUALIFIED_NAME,
    QUALIFIED_NAME_MAX,
    QUALIFIED_NAME_PREFIX_MAX,
    WILDCARD_DNS1123_SUBDOMAIN,
    qualified_name_problem,
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


# --- pod settings (spec.volumes, spec.affinity, ...): Kubernetes' own types, with Kubernetes' rules -------------

_LIST_MAX = 32
"""Most items of a pod-settings list (volumes, mounts, selectors, their terms): bounds the cost of the CEL rules
of their items, which the API server estimates for the largest list allowed."""
_MAP_MAX = 256
"""Most keys of a label or annotation map (bounds the cost of the reserved-key rule)."""
_PATH_MAX = 1024
_RELATIVE_PATH = ("!self.startsWith('/') && !self.matches('(^|/)[.][.](/|$)')",
                  "must be a relative path without '..' elements")


def _qualified_name(description: str, field: str) -> Any:
    """A field holding a qualified name: a label key, a topology key."""
    rule = f"!self.contains('/') || self.matches('^[^/]{{1,{QUALIFIED_NAME_PREFIX_MAX}}}/')"
    return Field(description=description, min_length=1, max_length=QUALIFIED_NAME_MAX, pattern=QUALIFIED_NAME,
                 json_schema_extra=cel((rule, f"{field}: the prefix before '/' must be at most "
                                              f"{QUALIFIED_NAME_PREFIX_MAX} characters")))


def _relative_path(description: str, field: str, **kwargs: Any) -> Any:
    """A file path inside a volume: relative, no `..` element."""
    return Field(description=description, max_length=_PATH_MAX,
                 json_schema_extra=cel((_RELATIVE_PATH[0], f"{field} {_RELATIVE_PATH[1]}")), **kwargs)


def _label_keys(labels: dict[str, str]) -> dict[str, str]:
    """Refuse label keys that are not qualified names (the CRD cannot check map keys)."""
    for key in labels:
        if problem := qualified_name_problem(key):
            raise ValueError(f"key {key!r} {problem}")
    return labels


ANNOTATIONS_MAX_BYTES = 256 * 1024


def _annotation_keys(annotations: dict[str, str]) -> dict[str, str]:
    """Refuse annotation keys Kubernetes refuses (qualified names, case-insensitively), and over 256 KiB."""
    for key in annotations:
        if problem := qualified_name_problem(key.lower()):
            raise ValueError(f"key {key!r} {problem}")
    size = sum(len(k.encode()) + len(v.encode()) for k, v in annotations.items())
    if size > ANNOTATIONS_MAX_BYTES:
        raise ValueError(f"take {size} bytes; at most {ANNOTATIONS_MAX_BYTES} are allowed")
    return annotations


LabelValue = Annotated[str, Field(max_length=LABEL_VALUE_MAX, pattern=LABEL_VALUE)]
LabelMap = Annotated[dict[str, LabelValue], AfterValidator(_label_keys)]
"""Labels: keys are qualified names (checked by `predictorapi validate`), values label values."""


def _reserved_keys_rule(field: str, reserved: tuple[str, ...]) -> tuple[str, str]:
    """CEL refusing the operator's own keys in a label or annotation map."""
    listed = ", ".join(f"'{key}'" for key in reserved)
    return (f"self.all(k, !k.startsWith('{RESERVED_PREFIX}') && !(k in [{listed}]))",
            f"{field} must not set the operator's own keys ({', '.join(reserved)}) nor any key starting with "
            f"{RESERVED_PREFIX}")


class LabelSelectorRequirement(_Model):
    key: str = _qualified_name("Label key the requirement applies to (a qualified name).", "matchExpressions[].key")
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"] = Field(
        description="`In` or `NotIn` (the label's value is, or is not, one of `values`), `Exists` or `DoesNotExist`."
    )
    values: list[LabelValue] = Field(
        default_factory=list, max_length=_LIST_MAX,
        description="Label values: not empty for `In` and `NotIn`, empty for `Exists` and `DoesNotExist`.",
    )

    model_config = ConfigDict(json_schema_extra=cel(
        ("!(self.operator in ['In', 'NotIn']) || (has(self.values) && size(self.values) > 0)",
         "matchExpressions[].values must not be empty when the operator is In or NotIn", ".values"),
        ("!(self.operator in ['Exists', 'DoesNotExist']) || !has(self.values) || size(self.values) == 0",
         "matchExpressions[].values must be empty when the operator is Exists or DoesNotExist", ".values"),
    ))


class LabelSelector(_Model):
    match_labels: LabelMap = Field(default_factory=dict, description="Labels the pods must have (all of them).")
    match_expressions: list[LabelSelectorRequirement] = Field(
        default_factory=list, max_length=_LIST_MAX, description="Requirements the pods' labels must meet (all).",
    )


class NodeSelectorRequirement(_Model):
    key: str = _qualified_name("Node label key (or `metadata.name` in `matchFields`).", "matchExpressions[].key")
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"] = Field(
        description="`In`, `NotIn`, `Exists`, `DoesNotExist`, `Gt` or `Lt` (the value, an integer, is greater or "
        "less than `values[0]`)."
    )
    values: list[Annotated[str, Field(max_length=LABEL_VALUE_MAX)]] = Field(
        default_factory=list, max_length=_LIST_MAX,
        description="Values (node label values, at most 63 characters): not empty for `In` and `NotIn`, empty for "
        "`Exists` and `DoesNotExist`, one integer for `Gt` and `Lt`.",
    )

    model_config = ConfigDict(json_schema_extra=cel(
        ("!(self.operator in ['In', 'NotIn']) || (has(self.values) && size(self.values) > 0)",
         "values must not be empty when the operator is In or NotIn", ".values"),
        ("!(self.operator in ['Exists', 'DoesNotExist']) || !has(self.values) || size(self.values) == 0",
         "values must be empty when the operator is Exists or DoesNotExist", ".values"),
        ("!(self.operator in ['Gt', 'Lt']) || (has(self.values) && size(self.values) == 1 && "
         "self.values[0].matches('^-?[0-9]+$'))",
         "values must be one integer when the operator is Gt or Lt", ".values"),
    ))


class NodeSelectorTerm(_Model):
    match_expressions: list[NodeSelectorRequirement] = Field(
        default_factory=list, max_length=_LIST_MAX, description="Requirements on the node's labels (all of them).",
    )
    match_fields: list[NodeSelectorRequirement] = Field(
        default_factory=list, max_length=_LIST_MAX,
        description="Requirements on the node's fields: only `metadata.name`, with `In` or `NotIn` and one value.",
        json_schema_extra=cel(("self.all(r, r.key == 'metadata.name' && r.operator in ['In', 'NotIn'] && "
                               "has(r.values) && size(r.values) == 1)",
                               "matchFields supports only key metadata.name, operator In or NotIn, and one value")),
    )


class NodeSelector(_Model):
    node_selector_terms: list[NodeSelectorTerm] = Field(
        min_length=1, max_length=_LIST_MAX, description="Terms, any of which a node must match (ORed).",
    )


class PreferredSchedulingTerm(_Model):
    weight: int = Field(ge=1, le=100, description="Weight of this preference, 1 to 100.")
    preference: NodeSelectorTerm = Field(description="The node labels or fields preferred.")


class NodeAffinity(_Model):
    required_during_scheduling_ignored_during_execution: NodeSelector | None = Field(
        None, description="Nodes a replica must run on."
    )
    preferred_during_scheduling_ignored_during_execution: list[PreferredSchedulingTerm] = Field(
        default_factory=list, max_length=_LIST_MAX, description="Nodes a replica should preferably run on.",
    )


class PodAffinityTerm(_Model):
    label_selector: LabelSelector | None = Field(None, description="The pods this term is about.")
    namespace_selector: LabelSelector | None = Field(
        None, description="Namespaces whose pods are considered (with `namespaces`); empty `{}` means all."
    )
    namespaces: list[Annotated[str, Field(max_length=DNS1123_LABEL_MAX, pattern=DNS1123_LABEL)]] = Field(
        default_factory=list, max_length=_LIST_MAX,
        description="Namespaces whose pods are considered; none (and no `namespaceSelector`) means the "
        "PredictorAPI's own.",
    )
    topology_key: str = _qualified_name(
        "Node label whose value defines a topology domain, e.g. `kubernetes.io/hostname` or "
        "`topology.kubernetes.io/zone`.", "topologyKey")
    match_label_keys: list[Annotated[str, Field(max_length=QUALIFIED_NAME_MAX, pattern=QUALIFIED_NAME)]] = Field(
        default_factory=list, max_length=_LIST_MAX,
        description="Label keys whose values, taken from the incoming pod, are ANDed with `labelSelector`.",
    )
    mismatch_label_keys: list[Annotated[str, Field(max_length=QUALIFIED_NAME_MAX, pattern=QUALIFIED_NAME)]] = Field(
        default_factory=list, max_length=_LIST_MAX,
        description="Label keys whose values, taken from the incoming pod, must differ (ANDed with `labelSelector`).",
    )

    model_config = ConfigDict(json_schema_extra=cel(
        ("has(self.labelSelector) || ((!has(self.matchLabelKeys) || size(self.matchLabelKeys) == 0) && "
         "(!has(self.mismatchLabelKeys) || size(self.mismatchLabelKeys) == 0))",
         "matchLabelKeys and mismatchLabelKeys need a labelSelector", ".labelSelector"),
    ))


class WeightedPodAffinityTerm(_Model):
    weight: int = Field(ge=1, le=100, description="Weight of this preference, 1 to 100.")
    pod_affinity_term: PodAffinityTerm = Field(description="The pods preferred (or avoided).")


class PodAffinity(_Model):
    required_during_scheduling_ignored_during_execution: list[PodAffinityTerm] = Field(
        default_factory=list, max_length=_LIST_MAX, description="Terms every replica's placement must meet.",
    )
    preferred_during_scheduling_ignored_during_execution: list[WeightedPodAffinityTerm] = Field(
        default_factory=list, max_length=_LIST_MAX, description="Terms the scheduler tries to meet, by weight.",
    )


class Affinity(_Model):
    node_affinity: NodeAffinity | None = Field(None, description="Which nodes replicas run on.")
    pod_affinity: PodAffinity | None = Field(None, description="Run replicas near these pods.")
    pod_anti_affinity: PodAffinity | None = Field(None, description="Run replicas away from these pods.")


class TopologySpreadConstraint(_Model):
    max_skew: int = Field(ge=1, le=INT32_MAX, description="Most a topology domain's count of matching pods may "
                          "exceed the least populated one's (at least 1).")
    topology_key: str = _qualified_name(
        "Node label defining the domains, e.g. `kubernetes.io/hostname` or `topology.kubernetes.io/zone`.",
        "topologySpreadConstraints[].topologyKey")
    when_unsatisfiable: Literal["DoNotSchedule", "ScheduleAnyway"] = Field(
        description="`DoNotSchedule` (a hard rule: the pod stays pending) or `ScheduleAnyway` (a preference)."
    )
    label_selector: LabelSelector | None = Field(
        None, description="The pods counted; omitted, the PredictorAPI's own replicas are (the operator fills in "
        "its selector)."
    )
    min_domains: int | None = Field(None, ge=1, le=INT32_MAX, description="Fewest eligible domains; only with "
                                    "`DoNotSchedule`.")
    node_affinity_policy: Literal["Honor", "Ignore"] | None = Field(
        None, description="Whether node affinity and the node selector limit the domains counted (`Honor`, the "
        "default) or not (`Ignore`)."
    )
    node_taints_policy: Literal["Honor", "Ignore"] | None = Field(
        None, description="Whether tainted nodes the pod does not tolerate are left out (`Honor`) or counted "
        "(`Ignore`, the default)."
    )
    match_label_keys: list[Annotated[str, Field(max_length=QUALIFIED_NAME_MAX, pattern=QUALIFIED_NAME)]] = Field(
        default_factory=list, max_length=_LIST_MAX,
        description="Pod label keys whose values (from the incoming pod) are ANDed with `labelSelector`, e.g. "
        "`pod-template-hash` to spread each rollout's replicas.",
    )

    model_config = ConfigDict(json_schema_extra=cel(
        ("!has(self.minDomains) || self.whenUnsatisfiable == 'DoNotSchedule'",
         "topologySpreadConstraints[].minDomains may only be set when whenUnsatisfiable is DoNotSchedule",
         ".minDomains"),
    ))


class KeyToPath(_Model):
    key: str = _secret_key("Key of the ConfigMap or Secret to project.", "items[].key")
    path: str = _relative_path("File the key is written to, relative to the mount point.", "items[].path",
                               min_length=1)
    mode: int | None = Field(None, ge=0, le=0o777, description="File mode bits, 0 to 0777 (YAML octal `0440` or "
                             "decimal `288`); the volume's `defaultMode` when unset.")


_DEFAULT_MODE = "File mode bits of the files, 0 to 0777 (YAML octal `0440` or decimal `288`); 0644 when unset."
_ITEMS = "Keys to project, each to its own path; all keys (as file names) when empty."


class ConfigMapVolumeSource(_Model):
    name: str = _subdomain("Name of the ConfigMap in the PredictorAPI's namespace (a DNS-1123 subdomain).")
    items: list[KeyToPath] = Field(default_factory=list, max_length=_LIST_MAX, description=_ITEMS)
    default_mode: int | None = Field(None, ge=0, le=0o777, description=_DEFAULT_MODE)
    optional: bool | None = Field(None, description="Whether the ConfigMap (or a key of `items`) may be missing.")


class SecretVolumeSource(_Model):
    secret_name: str = _subdomain("Name of the Secret in the PredictorAPI's namespace (a DNS-1123 subdomain).")
    items: list[KeyToPath] = Field(default_factory=list, max_length=_LIST_MAX, description=_ITEMS)
    default_mode: int | None = Field(None, ge=0, le=0o777, description=_DEFAULT_MODE)
    optional: bool | None = Field(None, description="Whether the Secret (or a key of `items`) may be missing.")


class PersistentVolumeClaimVolumeSource(_Model):
    claim_name: str = _subdomain("Name of the PersistentVolumeClaim in the PredictorAPI's namespace.")
    read_only: bool | None = Field(None, description="Mount the claim read-only.")


class EmptyDirVolumeSource(_Model):
    medium: Literal["", "Memory"] | None = Field(
        None, description="`Memory` for a tmpfs (counted against the container's memory limit); empty for the "
        "node's disk."
    )
    size_limit: Quantity | None = Field(
        None, description="Most bytes the folder may hold (a quantity, e.g. `1Gi`).",
        json_schema_extra=_quantity_schema("emptyDir.sizeLimit"),
    )


class Volume(_Model):
    name: str = Field(
        description="Volume name (a DNS-1123 label), referenced by `volumeMounts[].name`. The operator's own "
        f"({', '.join(RESERVED_VOLUMES)}) and names starting with `{RESERVED_VOLUME_PREFIX}` are reserved.",
        min_length=1, max_length=DNS1123_LABEL_MAX, pattern=DNS1123_LABEL,
        json_schema_extra=cel((
            f"!(self in [{', '.join(repr(v) for v in RESERVED_VOLUMES)}]) && "
            f"!self.startsWith('{RESERVED_VOLUME_PREFIX}')",
            f"volumes[].name must not be one the operator uses ({', '.join(RESERVED_VOLUMES)}) nor start with "
            f"{RESERVED_VOLUME_PREFIX}")),
    )
    persistent_volume_claim: PersistentVolumeClaimVolumeSource | None = Field(None, description="A claim's volume.")
    config_map: ConfigMapVolumeSource | None = Field(None, description="A ConfigMap's keys as files.")
    secret: SecretVolumeSource | None = Field(None, description="A Secret's keys as files.")
    empty_dir: EmptyDirVolumeSource | None = Field(None, description="An empty folder living as long as the pod.")

    model_config = ConfigDict(json_schema_extra=cel((
        "(has(self.persistentVolumeClaim) ? 1 : 0) + (has(self.configMap) ? 1 : 0) + (has(self.secret) ? 1 : 0) + "
        "(has(self.emptyDir) ? 1 : 0) == 1",
        "volumes[] must set exactly one of persistentVolumeClaim, configMap, secret and emptyDir",
    )))


class VolumeMount(_Model):
    name: str = Field(description="Name of a volume of `spec.volumes`.", min_length=1, max_length=DNS1123_LABEL_MAX,
                      pattern=DNS1123_LABEL)
    mount_path: str = Field(
        description="Absolute path in the predictor's container where the volume appears; unique, and not one the "
        f"operator uses ({', '.join(RESERVED_MOUNT_PATHS)}).",
        min_length=2, max_length=_PATH_MAX, pattern=r"^/",
        json_schema_extra=cel((f"!(self in [{', '.join(repr(p) for p in RESERVED_MOUNT_PATHS)}]) && "
                               f"!self.startsWith('{MODEL_CLAIMS_DIR}/')",
                               f"volumeMounts[].mountPath must not be one the operator uses "
                               f"({', '.join(RESERVED_MOUNT_PATHS)}) nor lie under {MODEL_CLAIMS_DIR}")),
    )
    sub_path: str | None = _relative_path("Folder (or file) inside the volume to mount instead of its root.",
                                          "volumeMounts[].subPath", default=None)
    read_only: bool | None = Field(None, description="Mount read-only.")


class ConfigMapEnvSource(_Model):
    name: str = _subdomain("Name of the ConfigMap in the PredictorAPI's namespace (a DNS-1123 subdomain).")
    optional: bool | None = Field(None, description="Whether the ConfigMap may be missing.")


class SecretEnvSource(_Model):
    name: str = _subdomain("Name of the Secret in the PredictorAPI's namespace (a DNS-1123 subdomain).")
    optional: bool | None = Field(None, description="Whether the Secret may be missing.")


class EnvFromSource(_Model):
    prefix: str | None = Field(
        None, description=f"Prefix added to every key (an environment variable name; not starting with "
        f"`{ENV_PREFIX}`).", max_length=ENV_NAME_MAX, pattern=ENV_VAR_NAME,
        json_schema_extra=cel((f"!self.startsWith('{ENV_PREFIX}')",
                               f"envFrom[].prefix must not start with {ENV_PREFIX} (reserved for the runtime's "
                               "settings)")),
    )
    config_map_ref: ConfigMapEnvSource | None = Field(None, description="Every key of a ConfigMap.")
    secret_ref: SecretEnvSource | None = Field(None, description="Every key of a Secret.")

    model_config = ConfigDict(json_schema_extra=cel((
        "has(self.configMapRef) != has(self.secretRef)",
        "envFrom[] must set exactly one of configMapRef and secretRef",
    )))


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
    requirements: str | None = _relative_path(
        "pip requirements file of code from `source.git`, relative to the code root (the `source.git.path` folder); "
        "installed by the `install-packages` init container (no credentials, only this API's cache folder "
        "writable) onto the import path, after the runtime's own packages; cached by everything that decides the "
        "install (the files it pulls in with `-r`/`-c`, local paths, `PIP_*` variables, the runtime image). "
        "`-r`/`-c` outside the repository, `-e` and index options not listed in `allowedIndexUrls` are refused, as "
        "are packages shipping a module the runtime or the standard library provides. Unset, a `requirements.txt` "
        "beside the predictor file is installed when there is one. Not with `image` (an image installs its own "
        "dependencies).", "predictor.requirements", default=None, min_length=1)
    allowed_index_urls: list[Annotated[str, Field(max_length=2048, pattern=r"^https?://[^\s/?#@]+(/[^\s?#]*)?$")]] = (
        Field(default_factory=list, max_length=16,
              description="Package index URLs (http(s), no credentials, no query) that requirements files may name "
              "with `--index-url`/`-i`, `--extra-index-url` or `--find-links`/`-f` (and whose hosts they may name "
              "with `--trusted-host`); any other index option in a requirements file fails the install. An index "
              "that needs credentials belongs in `env` as `PIP_INDEX_URL` from a Secret (`valueFrom`)."))

    model_config = ConfigDict(
        json_schema_extra=cel(
            (
                "has(self.image) != has(self.source)",
                "exactly one of predictor.image and predictor.source must be set",
            ),
            ("!has(self.requirements) || has(self.source)",
             "predictor.requirements needs predictor.source (an image installs its own dependencies)", ".requirements"),
            ("!has(self.allowedIndexUrls) || size(self.allowedIndexUrls) == 0 || has(self.source)",
             "predictor.allowedIndexUrls needs predictor.source (an image installs its own dependencies)",
             ".allowedIndexUrls"),
        )
    )


class Compute(_Model):
    cpu: Quantity | None = Field(
        None,
        description="CPU requested per replica: a non-negative Kubernetes quantity, e.g. `500m`, `2` or `1.5`. "
        "Unset: one core per runtime process (`processesPerReplica` cores; 1 by default).",
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
    shared_memory: Quantity | None = Field(
        None,
        description="Size of `/dev/shm` (a quantity, e.g. `1Gi`): an in-memory emptyDir, counted against the "
        "memory limit. Containers get 64 MiB otherwise, too little for PyTorch's DataLoader workers and NCCL.",
        json_schema_extra=_quantity_schema("compute.sharedMemory"),
    )


IDLE_SECONDS_DEFAULT = 300
"""`autoscaling.idleSeconds` when unset: five minutes without a request before an API scales to zero."""


class Autoscaling(_Model):
    min_replicas: int = Field(
        1, ge=0, le=INT32_MAX,
        description="Fewest replicas the autoscaler keeps. `0` scales to zero on KEDA (a `keda.sh/v1alpha1` "
        "ScaledObject in place of the HorizontalPodAutoscaler): after `idleSeconds` without a request the API "
        "runs no replica, and the activator holds the next requests until a replica is ready (at most "
        "`coldStartTimeoutSeconds`). Not with `rollout.strategy: Canary`.",
    )
    max_replicas: int = Field(1, ge=1, le=INT32_MAX, description="Most replicas the autoscaler may run.")
    metric: Literal["concurrency", "cpu"] = Field(
        "concurrency",
        description="Scaling signal: `concurrency` (in-flight requests per replica, through the Prometheus "
        "adapter) or `cpu` (CPU utilisation).",
    )
    target_concurrency: float = Field(
        1.0,
        ge=0.001,
        description="In-flight requests per runtime process the autoscaler aims for (metric=concurrency): a "
        "finite number, at least 0.001 (the HPA's target is a quantity in thousandths). The HPA's target per pod "
        "is this times `processesPerReplica`, since a pod's in-flight requests are summed over its processes.",
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
    idle_seconds: int = Field(
        IDLE_SECONDS_DEFAULT, ge=30, le=86400,
        description="With `minReplicas: 0`: how long the API must go without a request before it scales to zero "
        "(the ScaledObject's `cooldownPeriod`).",
    )
    cold_start_timeout_seconds: int | None = Field(
        None, ge=1, le=86400,
        description="With `minReplicas: 0`: how long a request that arrives at zero may wait for the first ready "
        "replica before it gets 503. Unset: the startup probe's budget (`startupTimeoutSeconds`).",
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


class Tracing(_Model):
    endpoint: str = Field(
        pattern=r"^https?://[^\s/?#]+(/[^\s?#]*)?$", max_length=2048,
        description="OTLP/HTTP collector URL the runtime (and the init containers) export spans to, e.g. "
        "`http://otel-collector.observability:4318` (`/v1/traces` is added; `OTEL_EXPORTER_OTLP_ENDPOINT`).",
    )
    sample_ratio: float | None = Field(
        None, ge=0, le=1,
        description="Share of new traces sampled (`parentbased_traceidratio`): a request whose caller's trace is "
        "sampled is always traced, whatever the ratio. Unset: the `OTEL_TRACES_SAMPLER` of `predictor.env`, else "
        "every request.",
    )


class Monitoring(_Model):
    service_monitor: bool = Field(
        False, description="Create a Prometheus Operator ServiceMonitor scraping `/metrics`."
    )
    interval: str = Field(
        "30s", description="Scrape interval, e.g. `15s`.", pattern=r"^[0-9]+(ms|s|m|h)$"
    )
    tracing: Tracing | None = Field(
        None, description="Distributed tracing (OpenTelemetry, W3C Trace Context): spans of every sampled request "
        "exported over OTLP/HTTP; off when unset. See docs/tracing.md.",
    )


DURATION = r"^[0-9]+(s|m|h)$"
"""A whole number of seconds, minutes or hours, e.g. `30s`, `2m`, `1h` (Argo Rollouts' pause and analysis
intervals, Prometheus range selectors)."""
LATENCY = r"^([0-9]+ms|[0-9]+(\.[0-9]+)?s)$"
"""A latency: milliseconds or (fractional) seconds, e.g. `250ms`, `2s`, `1.5s`."""


class CanaryStep(_Model):
    weight: int = Field(
        ge=1, le=100,
        description="Percent of the replicas (or, with `trafficRouting`, of the traffic) that run the new revision "
        "during this step.",
    )
    pause: str = Field(
        "1m", pattern=DURATION,
        description="How long the step holds its weight before its analysis is measured, e.g. `2m`.",
    )


def _default_steps() -> list[CanaryStep]:
    return [CanaryStep(weight=10, pause="2m"), CanaryStep(weight=50, pause="5m")]


class CanaryAnalysis(_Model):
    max_error_ratio: float = Field(
        0.01, ge=0, le=1,
        description="Largest share of the canary revision's requests that may answer 5xx (0.01 = 1%); more aborts "
        "the canary.",
    )
    max_latency_p99: str = Field(
        "2s", pattern=LATENCY,
        description="Largest 99th-percentile request duration of the canary revision, e.g. `2s` or `500ms`; more "
        "aborts the canary.",
    )
    min_requests: int = Field(
        50, ge=0, le=INT32_MAX,
        description="Fewest requests the canary revision must have answered in `interval` for a step to be judged; "
        "below it the measurement is inconclusive and the rollout waits (paused) instead of passing.",
    )
    interval: str = Field(
        "1m", pattern=DURATION,
        description="Window the analysis measures over (the PromQL range), e.g. `1m`; at least twice the scrape "
        "interval.",
    )


class GatewayAPIRouting(_Model):
    http_route: str = Field(
        alias="httpRoute", min_length=1, max_length=DNS1123_SUBDOMAIN_MAX, pattern=DNS1123_SUBDOMAIN,
        description="HTTPRoute (Gateway API) in the PredictorAPI's namespace whose backends Argo Rollouts weighs "
        "between the `-stable` and `-canary` Services (needs the Argo Rollouts Gateway API plugin).",
    )


class NginxRouting(_Model):
    """Weigh traffic with ingress-nginx canary annotations on a copy of the API's own Ingress."""


class IstioRouting(_Model):
    virtual_service: str = Field(
        min_length=1, max_length=DNS1123_SUBDOMAIN_MAX, pattern=DNS1123_SUBDOMAIN,
        description="Istio VirtualService in the PredictorAPI's namespace whose HTTP route to the `-stable` and "
        "`-canary` Services Argo Rollouts weighs.",
    )


class TrafficRouting(_Model):
    gateway_api: GatewayAPIRouting | None = Field(
        None, alias="gatewayAPI", description="Weigh traffic with a Gateway API HTTPRoute.")
    nginx: NginxRouting | None = Field(
        None, description="Weigh traffic with ingress-nginx on `networking.ingress` (which must be set).")
    istio: IstioRouting | None = Field(None, description="Weigh traffic with an Istio VirtualService.")

    model_config = ConfigDict(
        json_schema_extra=cel(
            ("(has(self.gatewayAPI) ? 1 : 0) + (has(self.nginx) ? 1 : 0) + (has(self.istio) ? 1 : 0) <= 1",
             "rollout.trafficRouting may set at most one of gatewayAPI, nginx and istio"),
        )
    )


class Rollout(_Model):
    strategy: Literal["RollingUpdate", "Canary"] = Field(
        "RollingUpdate",
        description="`RollingUpdate` (the default): a Deployment's rolling update (see `updateStrategy`). `Canary`: "
        "an Argo Rollouts canary (the cluster must run Argo Rollouts) that shifts `steps` and judges each step "
        "from the runtime's own metrics (`analysis`), rolling back to the stable revision when it fails.",
    )
    steps: list[CanaryStep] = Field(
        default_factory=_default_steps, min_length=1, max_length=20,
        description="Canary steps, in order (at most 20): each sets a weight, holds it for `pause`, then is "
        "analysed; after the last one the new revision is promoted to 100%. Default: 10% for 2m, 50% for 5m.",
    )
    analysis: CanaryAnalysis = Field(
        default_factory=CanaryAnalysis,
        description="How each step is judged, from the canary revision's `predictorapi_*` metrics in Prometheus.",
    )
    traffic_routing: TrafficRouting = Field(
        default_factory=TrafficRouting,
        description="How traffic is weighed; empty (the default): by the ratio of canary to stable replicas.",
    )


class Auth(_Model):
    secret_ref: SecretKeyReference = Field(
        description="Secret key holding the API key clients send as `Authorization: Bearer <key>` or "
        "`X-API-Key`."
    )


class ModelCache(_Model):
    claim_name: str = _subdomain(
        "PersistentVolumeClaim in the PredictorAPI's namespace holding downloaded models, one folder per URI, "
        "revision (an hf:// branch's commit), endpoint and the version the store reports (ETags, generations): "
        "replicas starting together download once (a file lock), later ones not at all. "
        "ReadWriteMany when replicas may run on several nodes."
    )


_MODEL_URI_PATH = "!self.contains('/../') && !self.endsWith('/..')"
_SUBDOMAIN_RE = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*"


def _uri_rules(field: str, secret_field: str, http: bool = True) -> dict[str, Any]:
    """CEL rules of a model URI field (`spec.model.uri`, `spec.models.uri`, ...): no credentials nor signatures in
    it, and each scheme's form; `http`: whether http(s):// is one of the field's schemes."""
    return cel(
        ("!self.matches('^[a-zA-Z][a-zA-Z0-9+.-]*://[^/?#]*@')",
         f"{field} must not carry credentials (user or password before @): put them in a Secret and reference "
         f"it with {secret_field}"),
        ("!self.matches('(?i)[?&#](access_token|token|password|sig|x-amz-signature|x-amz-credential|"
         "x-goog-signature|x-goog-credential)=')",
         f"{field} must not carry a token or a signature in its query: put credentials in a Secret and "
         f"reference it with {secret_field}"),
        ("!self.startsWith('s3://') || self.matches('^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/.*)?$') && "
         + _MODEL_URI_PATH,
         f"{field}: an s3:// URI is s3://BUCKET/KEY or s3://BUCKET/PREFIX/ (a bucket: 3 to 63 lower-case "
         "letters, digits, dots and hyphens), without '..'"),
        ("!self.startsWith('gs://') || self.matches('^gs://[a-z0-9][a-z0-9._-]{1,220}[a-z0-9](/.*)?$') && "
         + _MODEL_URI_PATH,
         f"{field}: a gs:// URI is gs://BUCKET/OBJECT or gs://BUCKET/PREFIX/ (a bucket: 3 to 222 lower-case "
         "letters, digits, dots, hyphens and underscores), without '..'"),
        ("!self.startsWith('hf://') || "
         "self.matches('^hf://([A-Za-z0-9][A-Za-z0-9._-]*/)?[A-Za-z0-9][A-Za-z0-9._-]*$')",
         f"{field}: an hf:// URI is hf://ORG/NAME, a Hugging Face model repository"),
        *([("!self.startsWith('http') || self.matches('^https?://[^/?#@]+([/?#].*)?$')",
            f"{field}: an http(s):// URI needs a host")] if http else []),
        (f"!self.startsWith('pvc://') || self.matches('^pvc://{_SUBDOMAIN_RE}(/([^/].*)?)?$') && "
         + _MODEL_URI_PATH,
         f"{field}: a pvc:// URI is pvc://CLAIM/PATH (a claim name: a DNS-1123 subdomain), a PATH inside the "
         "claim: without '..' or '//' after the claim"),
    )


class ModelArtifact(_Model):
    uri: str = Field(
        description="Where the model is: `s3://BUCKET/KEY` or `s3://BUCKET/PREFIX/` (any S3-compatible "
        "endpoint), `gs://BUCKET/OBJECT` or `gs://BUCKET/PREFIX/`, `https://HOST/PATH` (one file), `hf://ORG/NAME` "
        "(a Hugging Face model repository) or `pvc://CLAIM/PATH` (a folder of a PersistentVolumeClaim, mounted, "
        "not downloaded). The predictor finds the local folder in `config[\"model_path\"]` and in the env "
        "`PREDICTORAPI_MODEL_PATH`. Never put credentials in it: reference a Secret with `secretRef`.",
        min_length=1,
        max_length=2048,
        pattern=r"^(s3|gs|https?|hf|pvc)://\S+$",
        json_schema_extra=_uri_rules("model.uri", "model.secretRef"),
    )
    revision: str | None = Field(
        None,
        description="hf://: the commit SHA to serve (a branch or tag is resolved to its commit when the pod "
        "starts, shown as status.modelRevision; a commit is checked). https://: the file's sha256 (64 hex digits), "
        "checked after download. s3:// and gs://: a label of your choosing, part of the cache key (so are the "
        "objects' ETags or generations: new content is downloaded again). Not for pvc://.",
        min_length=1,
        max_length=255,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._/+:-]*$",
    )
    secret_ref: LocalObjectReference | None = Field(
        None,
        description="Secret whose keys become environment variables of the download (the `fetch-model` init "
        "container) only, never of the predictor: s3:// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, optional "
        "`AWS_SESSION_TOKEN`, `AWS_REGION` and `AWS_ENDPOINT_URL` (MinIO, Ceph, R2, ...); gs:// "
        "`GOOGLE_APPLICATION_CREDENTIALS_JSON` (a service account key); hf:// `HF_TOKEN` and optional "
        "`HF_ENDPOINT`; https:// `HTTP_AUTHORIZATION` (the Authorization header). Without it: the pod's "
        "workload identity (see serviceAccountName), or anonymous.",
    )
    cache: ModelCache | None = Field(
        None,
        description="Keep downloads on a PersistentVolumeClaim shared by the replicas (download once, reuse). "
        "Without it each pod downloads into an emptyDir.",
    )
    allow_insecure_http: bool = Field(
        False,
        description="Send the secretRef's credentials over plain http:// too (`HTTP_AUTHORIZATION` to an http:// "
        "URI, `HF_TOKEN` to an http:// `HF_ENDPOINT`): on a network you trust only. Without it such a download "
        "is refused.",
    )

    model_config = ConfigDict(
        json_schema_extra=cel(
            ("!has(self.revision) || !self.uri.startsWith('http') || self.revision.matches('^[0-9a-f]{64}$')",
             "model.revision must be the file's sha256 (64 lower-case hex digits) for an http(s):// URI", ".revision"),
            ("!has(self.revision) || !self.uri.startsWith('pvc://')",
             "model.revision does not apply to a pvc:// URI (the claim is mounted as it is)", ".revision"),
            ("!has(self.cache) || !self.uri.startsWith('pvc://')",
             "model.cache does not apply to a pvc:// URI (the claim is mounted as it is)", ".cache"),
            ("!has(self.secretRef) || !self.uri.startsWith('pvc://')",
             "model.secretRef does not apply to a pvc:// URI (nothing is downloaded)", ".secretRef"),
            ("!has(self.secretRef) || !self.uri.startsWith('http://') || "
             "(has(self.allowInsecureHttp) && self.allowInsecureHttp)",
             "model.secretRef over plain http:// would send its credentials in clear: use https://, or set "
             "model.allowInsecureHttp: true on a network you trust", ".secretRef"),
        )
    )



MODEL_NAME_MAX = 63
MODELS_PATHS_MAX = 100
"""Most entries of `spec.models.paths` (bounds the cost of the unique-name rule); more models: use `dir`."""
CACHE_SIZE_DEFAULT = 10
DISK_CACHE_SIZE_DEFAULT = 50


def _models_uri(description: str, field: str) -> Any:
    """A `spec.models` URI field: the schemes that can be listed, and `spec.model.uri`'s rules."""
    return Field(None, description=description, min_length=1, max_length=2048, pattern=MODELS_URI,
                 json_schema_extra=_uri_rules(field, "models.secretRef", http=False))


class ModelPath(_Model):
    name: str = Field(
        description="The model's name, as the predictor asks for it (`python_client.get_model(name)`): lower-case "
        "letters, digits, `-`, `_` and `.`, starting and ending with a letter or digit.",
        min_length=1, max_length=MODEL_NAME_MAX, pattern=MODEL_NAME,
    )
    uri: str = Field(
        description="The model's folder: `s3://BUCKET/PREFIX/`, `gs://BUCKET/PREFIX/`, `hf://ORG/NAME` (one "
        "version) or `pvc://CLAIM/PATH`. Its integer-named subfolders (`1`, `2`, ...) are its versions, the "
        "highest is `latest`; without any, the folder itself is its one version, `1`.",
        min_length=1, max_length=2048, pattern=MODELS_URI,
        json_schema_extra=_uri_rules("models.paths[].uri", "models.secretRef", http=False),
    )


class ModelsSpec(_Model):
    uri: str | None = _models_uri(
        "One model, many versions: its folder (`s3://BUCKET/PREFIX/`, `gs://BUCKET/PREFIX/`, `hf://ORG/NAME` or "
        "`pvc://CLAIM/PATH`), whose integer-named subfolders are its versions (the highest is `latest`; none: "
        "the folder is version `1`). The predictor may omit the name: `python_client.get_model()`. Exactly one "
        "of `uri`, `paths` and `dir`.", "models.uri")
    paths: list[ModelPath] | None = Field(
        None, min_length=1, max_length=MODELS_PATHS_MAX,
        description=f"Named models (at most {MODELS_PATHS_MAX}, names unique), each a folder of versions as for "
        "`uri`. Exactly one of `uri`, `paths` and `dir`.",
        json_schema_extra=cel(("self.all(p, self.exists_one(q, q.name == p.name))",
                               "models.paths[].name must be unique")),
    )
    dir: str | None = _models_uri(
        "A folder of models (`s3://BUCKET/PREFIX/`, `gs://BUCKET/PREFIX/` or `pvc://CLAIM/PATH`; not hf://): each "
        "subfolder is a model named after it, a folder of versions as for `uri`; models added later are found "
        "(at the next `pollSeconds`, or when asked for). Exactly one of `uri`, `paths` and `dir`.", "models.dir")
    cache_size: int = Field(
        CACHE_SIZE_DEFAULT, ge=1, le=1000,
        description="Model versions kept loaded in memory by each runtime process (least recently used "
        "evicted on every load; a version in use by a request is never unloaded under it).",
    )
    disk_cache_size: int = Field(
        DISK_CACHE_SIZE_DEFAULT, ge=1, le=10000,
        description="Model versions kept on the replica's disk (least recently used removed on every download); "
        "at least `cacheSize`.",
    )
    poll_seconds: int | None = Field(
        None, ge=1, le=86400,
        description="Live reloading: the models are listed again every `pollSeconds` (new versions appear, "
        "`latest` moves, removed versions are unloaded). Unset: listed once at start and when a model is not found.",
    )
    secret_ref: LocalObjectReference | None = Field(
        None,
        description="Secret whose keys (as `model.secretRef`'s: `AWS_*`, `GOOGLE_APPLICATION_CREDENTIALS_JSON`, "
        "`HF_TOKEN`, ...) become environment variables of the `model-store` container only, never of the "
        "predictor's.",
    )
    cache: ModelCache | None = Field(
        None,
        description="Keep the disk tier on a PersistentVolumeClaim (its `models/` folder) shared by the replicas: "
        "a version is downloaded once. Without it each pod keeps its own in an emptyDir.",
    )
    allow_insecure_http: bool = Field(
        False, description="Send `HF_TOKEN` to a plain http:// `HF_ENDPOINT` too, as `model.allowInsecureHttp`: on "
        "a network you trust only.",
    )

    model_config = ConfigDict(
        json_schema_extra=cel(
            ("(has(self.uri) ? 1 : 0) + (has(self.paths) ? 1 : 0) + (has(self.dir) ? 1 : 0) == 1",
             "exactly one of models.uri, models.paths and models.dir must be set"),
            ("!has(self.dir) || !self.dir.startsWith('hf://')",
             "models.dir cannot be an hf:// URI (a Hugging Face repository is one model): name it in models.uri "
             "or models.paths", ".dir"),
            ("!has(self.cacheSize) || !has(self.diskCacheSize) || self.diskCacheSize >= self.cacheSize",
             "models.diskCacheSize must be at least models.cacheSize (a version loaded in memory is kept on disk)",
             ".diskCacheSize"),
        )
    )

    @model_validator(mode="after")
    def _one_source(self) -> ModelsSpec:
        if sum(source is not None for source in (self.uri, self.paths, self.dir)) != 1:
            raise ValueError("exactly one of models.uri, models.paths and models.dir must be set")
        if self.disk_cache_size < self.cache_size:
            raise ValueError("models.diskCacheSize must be at least models.cacheSize")
        return self

    def sources(self) -> list[str]:
        """Every URI the models come from."""
        if self.paths is not None:
            return [path.uri for path in self.paths]
        return [uri for uri in (self.uri, self.dir) if uri is not None]


_MODEL_AND_MODELS = ("spec.model and spec.models cannot both be set: spec.model is one artifact downloaded before "
                     "the predictor starts, spec.models many served through python_client.get_model; use one")

_SLOT_PER_PROCESS_RULE = ("!has(self.processesPerReplica) || !has(self.maxConcurrency) || "
                          "self.maxConcurrency >= self.processesPerReplica")
_SLOT_PER_PROCESS = ("processesPerReplica must be at most maxConcurrency: maxConcurrency is split across the "
                     "processes and each one needs at least one run slot")


_ZERO_CANARY_RULE = ("!has(self.autoscaling) || !has(self.autoscaling.minReplicas) || "
                     "self.autoscaling.minReplicas > 0 || !has(self.rollout) || !has(self.rollout.strategy) || "
                     "self.rollout.strategy != 'Canary'")
_ZERO_CANARY = ("autoscaling.minReplicas: 0 (scale to zero) is not supported with rollout.strategy: Canary: a "
                "canary's analysis needs traffic on both revisions; set autoscaling.minReplicas to 1 or more, or "
                "rollout.strategy: RollingUpdate")


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
    processes_per_replica: int = Field(
        1, ge=1, le=64,
        description="Runtime worker processes per replica (Cortex's `processes_per_replica`), sharing the port: "
        "each loads the predictor, so a pure-Python predictor can use that many cores. `maxConcurrency` and "
        "`maxQueueLength` stay per replica and are split across the processes (process i gets `max // N`, plus "
        "one of the remainder), so a process can refuse a request while another has room; `maxConcurrency` must "
        "be at least this (each process needs a run slot). Metrics (one scrape shows the replica's totals) and "
        "readiness (only once every process loaded) are the replica's; `compute.cpu` defaults to one core per "
        "process. At most 64: each process holds its own copy of the model in memory, and beyond a few dozen "
        "cores more replicas serve better than a bigger one (a replica is what the autoscaler adds and what "
        "Kubernetes fits on one node).",
    )
    request_timeout_seconds: float = Field(
        60.0, gt=0, le=3600, description="Longest one request may take before it gets 504."
    )
    stream_idle_timeout_seconds: float | None = Field(
        None, gt=0, le=3600,
        description="Longest wait for the next item of a streamed prediction (a `predict` that yields), the "
        "first included; past it the stream ends with an error event and the generator is closed. Unset: "
        "only `requestTimeoutSeconds` bounds a stream (it bounds the whole stream).",
    )
    update_strategy: UpdateStrategy = Field(default_factory=UpdateStrategy, description="Rollout strategy.")
    rollout: Rollout = Field(
        default_factory=Rollout,
        description="Release strategy: a rolling update, or a canary judged by its own metrics (Argo Rollouts).",
    )
    startup_timeout_seconds: int = Field(
        600, ge=10, le=86400, description="How long a replica may take to load its model before it is restarted."
    )
    batching: Batching = Field(default_factory=Batching, description="Server-side batching of requests.")
    networking: Networking = Field(default_factory=Networking, description="How clients reach the API.")
    monitoring: Monitoring = Field(default_factory=Monitoring, description="Prometheus scraping and tracing.")
    auth: Auth | None = Field(None, description="Require an API key on prediction requests.")
    model: ModelArtifact | None = Field(
        None,
        description="A model artifact downloaded (once, with `cache`) before the runtime starts, by an init "
        "container; the predictor finds its local folder in `config[\"model_path\"]` and in the env "
        "`PREDICTORAPI_MODEL_PATH`. A download that fails (403, missing object, digest or revision mismatch, "
        "stall) shows as Degraded, reason ModelDownloadFailed.",
    )
    models: ModelsSpec | None = Field(
        None,
        description="Many models behind one API (Cortex's multi-model caching and live reloading): the predictor's "
        "`__init__(self, config, python_client)` gets a client whose `get_model(model_name, model_version)` returns "
        "what its `load_model(self, model_path)` returned for that version's local folder, kept in an LRU memory "
        "cache (`cacheSize` per process) and an LRU disk cache (`diskCacheSize` per replica), filled by a "
        "`model-store` container (the only one with `secretRef`'s credentials). An unknown model or version is a "
        "404. Not with `model`.",
    )
    service_account_name: str | None = Field(
        None, description="ServiceAccount the pods run as, e.g. one bound to a cloud role (workload identity, "
        "IRSA); the namespace's `default` when unset. Its API token is not mounted.",
        max_length=DNS1123_SUBDOMAIN_MAX, pattern=DNS1123_SUBDOMAIN,
    )
    image_pull_secrets: list[LocalObjectReference] = Field(
        default_factory=list, max_length=_LIST_MAX,
        description="Secrets (type `kubernetes.io/dockerconfigjson`) to pull the images from private registries.",
    )
    volumes: list[Volume] = Field(
        default_factory=list, max_length=_LIST_MAX,
        description="Volumes for `volumeMounts`: a PersistentVolumeClaim, ConfigMap, Secret or emptyDir each.",
        json_schema_extra=cel(("self.all(v, self.exists_one(w, w.name == v.name))", "volumes[].name must be unique")),
    )
    volume_mounts: list[VolumeMount] = Field(
        default_factory=list, max_length=_LIST_MAX,
        description="Where `volumes` appear in the predictor's container.",
        json_schema_extra=cel(("self.all(m, self.exists_one(n, n.mountPath == m.mountPath))",
                               "volumeMounts[].mountPath must be unique")),
    )
    env_from: list[EnvFromSource] = Field(
        default_factory=list, max_length=_LIST_MAX,
        description="ConfigMaps and Secrets whose every key becomes an environment variable of the predictor's "
        "container; `predictor.env` and the runtime's own settings win over them.",
    )
    affinity: Affinity = Field(default_factory=Affinity,
                               description="Node affinity, pod affinity and anti-affinity of replicas.")
    topology_spread_constraints: list[TopologySpreadConstraint] = Field(
        default_factory=list, max_length=_LIST_MAX,
        description="How replicas spread over zones or nodes. Unset, and more than one replica possible, replicas "
        "spread over nodes as a preference (`kubernetes.io/hostname`, `ScheduleAnyway`).",
        json_schema_extra=cel(("self.all(c, self.exists_one(d, d.topologyKey == c.topologyKey && "
                               "d.whenUnsatisfiable == c.whenUnsatisfiable))",
                               "topologySpreadConstraints must not repeat a topologyKey with the same "
                               "whenUnsatisfiable")),
    )
    priority_class_name: str | None = Field(
        None, description="PriorityClass of the pods (a DNS-1123 subdomain), e.g. to preempt batch work.",
        max_length=DNS1123_SUBDOMAIN_MAX, pattern=DNS1123_SUBDOMAIN,
    )
    runtime_class_name: str | None = Field(
        None, description="RuntimeClass of the pods (a DNS-1123 subdomain), e.g. `nvidia` or a sandbox (gVisor).",
        max_length=DNS1123_SUBDOMAIN_MAX, pattern=DNS1123_SUBDOMAIN,
    )
    labels: LabelMap = Field(
        default_factory=dict, max_length=_MAP_MAX,
        description="Extra labels on the pods (cost allocation, service mesh); the operator's own keys are "
        f"reserved ({', '.join(RESERVED_POD_LABELS)} and every key starting with `{RESERVED_PREFIX}`).",
        json_schema_extra=cel(_reserved_keys_rule("labels", RESERVED_POD_LABELS)),
    )
    annotations: Annotated[dict[str, str], AfterValidator(_annotation_keys)] = Field(
        default_factory=dict, max_length=_MAP_MAX,
        description="Extra annotations on the pods (e.g. `sidecar.istio.io/inject`); the operator's own keys are "
        f"reserved ({', '.join(RESERVED_POD_ANNOTATIONS)} and every key starting with `{RESERVED_PREFIX}`).",
        json_schema_extra=cel(_reserved_keys_rule("annotations", RESERVED_POD_ANNOTATIONS)),
    )

    model_config = ConfigDict(
        json_schema_extra=cel(
            ("!has(self.volumeMounts) || self.volumeMounts.all(m, has(self.volumes) && "
             "self.volumes.exists(v, v.name == m.name))",
             "volumeMounts[].name must name a volume of spec.volumes", ".volumeMounts"),
            ("!has(self.rollout) || !has(self.rollout.trafficRouting) || !has(self.rollout.trafficRouting.nginx) "
             "|| (has(self.networking) && has(self.networking.ingress))",
             "rollout.trafficRouting.nginx needs networking.ingress: it weighs traffic on the API's own Ingress",
             ".rollout.trafficRouting.nginx"),
            (_SLOT_PER_PROCESS_RULE, _SLOT_PER_PROCESS, ".processesPerReplica"),
            (_ZERO_CANARY_RULE, _ZERO_CANARY, ".autoscaling.minReplicas"),
            ("!has(self.model) || !has(self.models)", _MODEL_AND_MODELS, ".models"),
        )
    )

    @model_validator(mode="after")
    def _zero_not_canary(self) -> PredictorAPISpec:
        """Scale to zero and a canary do not mix (see `_ZERO_CANARY`)."""
        if self.autoscaling.min_replicas == 0 and self.rollout.strategy == "Canary":
            raise ValueError(_ZERO_CANARY)
        return self

    @model_validator(mode="after")
    def _model_or_models(self) -> PredictorAPISpec:
        """`spec.model` and `spec.models` do not mix (see `_MODEL_AND_MODELS`)."""
        if self.model is not None and self.models is not None:
            raise ValueError(_MODEL_AND_MODELS)
        return self

    def cold_start_timeout(self) -> int:
        """`autoscaling.coldStartTimeoutSeconds`, or the startup probe's budget when unset."""
        timeout = self.autoscaling.cold_start_timeout_seconds
        return self.startup_timeout_seconds if timeout is None else timeout

    @field_validator("processes_per_replica")
    @classmethod
    def _slot_per_process(cls, processes: int, info: ValidationInfo) -> int:
        """`maxConcurrency` is split across the processes: each one needs at least one run slot."""
        if processes > info.data.get("max_concurrency", processes):
            raise ValueError(_SLOT_PER_PROCESS)
        return processes


# --- status ----------------------------------------------------------------------------------------


class Condition(_Model):
    type: str = Field(description="Condition type: Ready, Progressing or Degraded.")
    status: Literal["True", "False", "Unknown"] = Field(description="`True`, `False` or `Unknown`.")
    reason: str = Field("", description="CamelCase machine-readable reason for the last transition.")
    message: str = Field("", description="Human-readable detail.")
    last_transition_time: str | None = Field(None, description="When the status last changed (RFC 3339).")
    observed_generation: int | None = Field(None, description="The `metadata.generation` this reflects.")


class CanaryStatus(_Model):
    step: int | None = Field(None, description="Canary step in progress (1-based); the number of steps once promoted.")
    steps: int | None = Field(None, description="Number of canary steps.")
    weight: int | None = Field(None, description="Percent of replicas (or traffic) on the canary revision now.")
    stable_revision: str | None = Field(None, description="Pod template hash of the stable revision.")
    canary_revision: str | None = Field(None, description="Pod template hash of the revision being released.")
    analysis: str | None = Field(
        None, description="Verdict of the current step's analysis: Pending, Running, Successful, Failed, "
        "Inconclusive or Error.")
    message: str | None = Field(None, description="The analysis' or Argo Rollouts' message, e.g. the failing "
                                "measurement.")


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
    model_revision: str | None = Field(
        None, description="The revision `spec.model` was resolved to by the newest pod (hf://: the commit of a "
        "branch or tag), when it is downloaded.")
    phase: str | None = Field(None, description="One word summary: Ready, Progressing, Degraded or Pending.")
    canary: CanaryStatus | None = Field(None, description="The canary in flight (spec.rollout.strategy Canary).")


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
