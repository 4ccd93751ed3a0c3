"""Check a PredictorAPI document the way the API server would: defaults, schema, then CEL rules, then
the rules Kubernetes applies to the children that a CRD cannot express.

The schema is the generated CRD's own (`predictorapi.crd`), so `predictorapi validate` refuses
what `kubectl apply` would, before the manifest reaches git or a cluster; :func:`spec_problems` adds
what the API server would refuse later, in a child (a node selector's keys, a divisor, numbers JSON
cannot carry, a config too large to deliver).
"""

from __future__ import annotations

import copy
import math
import re
from dataclasses import dataclass
from functools import cache
from typing import Any

import cel
from jsonschema import Draft4Validator, validators
from jsonschema import ValidationError as SchemaError
from pydantic import ValidationError

from predictorapi import crd, names
from predictorapi.contracts.pod import ACTIVATOR_SUFFIX
from predictorapi.spec import API_VERSION, KIND, MAX_CONFIG_BYTES, ObjectMeta, PredictorAPI, config_size

Schema = dict[str, Any]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a manifest: the field (dotted path) and what is wrong."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class InvalidDocument(ValueError):
    """A document the API server would refuse; `problems` names every bad field."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("; ".join(map(str, problems)))


def field_path(loc: tuple[int | str, ...]) -> str:
    """`('spec', 'predictor', 'path')` → `spec.predictor.path`; list indexes as `[0]`."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def pydantic_problems(error: ValidationError, prefix: tuple[int | str, ...] = ()) -> list[Problem]:
    """One problem per error pydantic found, its field prefixed with `prefix`."""
    return [Problem(field_path((*prefix, *e["loc"])), e["msg"]) for e in error.errors(include_url=False)]


def apply_defaults(schema: Schema, value: Any) -> Any:
    """A copy of `value` with the schema's defaults filled in, as the API server does before validating."""
    if isinstance(value, dict) and "properties" in schema:
        out = dict(value)
        for name, child in schema["properties"].items():
            if name not in out and "default" in child:
                out[name] = copy.deepcopy(child["default"])
            if name in out:
                out[name] = apply_defaults(child, out[name])
        return out
    if isinstance(value, list) and "items" in schema:
        return [apply_defaults(schema["items"], item) for item in value]
    return value


def _strict(schema: Schema) -> Schema:
    """The schema with unknown fields refused (kubectl's strict field validation)."""
    out = {k: _strict(v) if isinstance(v, dict) and k in ("items", "additionalProperties") else v
           for k, v in schema.items() if k != "properties"}
    if "properties" in schema:
        out["properties"] = {name: _strict(child) for name, child in schema["properties"].items()}
        if not schema.get("x-kubernetes-preserve-unknown-fields"):
            out["additionalProperties"] = False
    return out


@cache
def _schema() -> Schema:
    return crd.openapi_schema()


@cache
def _go_regex(pattern: str) -> re.Pattern[str]:
    """`pattern` as the API server reads it (Go's RE2): `$` is the end of the text, never before a final
    newline as in Python."""
    return re.compile(re.sub(r"(?<!\\)\$", r"\\Z", pattern))


def _pattern(validator: Any, pattern: str, instance: Any, schema: Schema) -> Any:
    if validator.is_type(instance, "string") and not _go_regex(pattern).search(instance):
        yield SchemaError(f"{instance!r} does not match {pattern!r}")


_GoPatternValidator = validators.extend(Draft4Validator, {"pattern": _pattern})


@cache
def _validator() -> Any:
    return _GoPatternValidator(_strict(_schema()))


def _schema_message(error: Any) -> tuple[str, str]:
    path = ["", *error.absolute_path]
    if error.validator == "required":
        missing = error.message.split("'")[1]
        return field_path((*path[1:], missing)), "required field is missing"
    if error.validator == "additionalProperties":
        unknown = error.message.split("'")[1]
        return field_path((*path[1:], unknown)), "unknown field"
    if error.validator == "enum":
        return field_path(tuple(path[1:])), f"must be one of {', '.join(map(str, error.validator_value))}"
    if error.validator == "anyOf":
        return field_path(tuple(path[1:])), "must be an integer or a string"
    if error.validator == "pattern" and error.validator_value in names.PATTERN_MESSAGES:
        return field_path(tuple(path[1:])), f"{names.PATTERN_MESSAGES[error.validator_value]} (got {error.instance!r})"
    if error.validator == "maxLength":
        return field_path(tuple(path[1:])), f"must be at most {error.validator_value} characters"
    if error.validator == "maxItems":
        return field_path(tuple(path[1:])), f"must have at most {error.validator_value} items"
    return field_path(tuple(path[1:])), error.message


def schema_problems(document: dict[str, Any]) -> list[Problem]:
    """Structural-schema problems (types, required, enums, bounds, patterns, unknown fields)."""
    problems = [Problem(*_schema_message(e)) for e in _validator().iter_errors(document)]
    return sorted(set(problems), key=lambda p: (p.field, p.message))


def cel_problems(schema: Schema, value: Any, path: tuple[str | int, ...] = ()) -> list[Problem]:
    """Evaluate every `x-kubernetes-validations` rule on the (defaulted) value, depth first."""
    problems: list[Problem] = []
    if isinstance(value, dict):
        for name, child in schema.get("properties", {}).items():
            if name in value:
                problems += cel_problems(child, value[name], (*path, name))
    elif isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            problems += cel_problems(schema["items"], item, (*path, index))
    for rule in schema.get("x-kubernetes-validations", []):
        try:
            ok = cel.evaluate(rule["rule"], {"self": value})
        except (KeyError, ValueError, TypeError, RuntimeError) as exc:
            ok, detail = False, f" (rule could not be evaluated: {exc})"
        else:
            detail = ""
        if ok is not True:
            where = tuple(rule.get("fieldPath", "").lstrip(".").split(".")) if rule.get("fieldPath") else ()
            problems.append(Problem(field_path((*path, *where)), rule["message"] + detail))
    return problems


# --- what the API server refuses in a child, and a CRD cannot say ------------------------------------------


def finite_problems(value: Any, path: tuple[str | int, ...]) -> list[Problem]:
    """Every infinity or NaN (YAML `.inf`, `.nan`): JSON, and so Kubernetes, has no such numbers."""
    if isinstance(value, float) and not math.isfinite(value):
        return [Problem(field_path(path), f"must be a finite number, got {value} (JSON has no infinity or NaN)")]
    if isinstance(value, dict):
        return [p for key, child in value.items() for p in finite_problems(child, (*path, str(key)))]
    if isinstance(value, list):
        return [p for index, child in enumerate(value) for p in finite_problems(child, (*path, index))]
    return []


def _config_problems(config: Any) -> list[Problem]:
    size = config_size(config)
    if size <= MAX_CONFIG_BYTES:
        return []
    return [Problem("spec.predictor.config", f"is {size} bytes as compact JSON; at most {MAX_CONFIG_BYTES} "
                    f"({MAX_CONFIG_BYTES // 1024} KiB) are allowed: the config reaches the container as one "
                    "environment variable (a process cannot start with one over 128 KiB) and kubectl apply "
                    "copies it into an annotation (at most 256 KiB); put large data in the image, a model "
                    "artifact or a ConfigMap")]


def _key_problems(mapping: dict[str, Any], field: str, lower: bool = False) -> list[Problem]:
    """Keys of labels, annotations or a node selector that are not qualified names."""
    return [Problem(field, f"key {key!r} {problem}") for key in mapping
            if (problem := names.qualified_name_problem(key.lower() if lower else key))]


def _divisor_problems(env: list[dict[str, Any]]) -> list[Problem]:
    problems = []
    for index, var in enumerate(env):
        ref = (var.get("valueFrom") or {}).get("resourceFieldRef") or {}
        if "divisor" in ref and (problem := names.divisor_problem(ref["resource"], ref["divisor"])):
            problems.append(Problem(f"spec.predictor.env[{index}].valueFrom.resourceFieldRef.divisor", problem))
    return problems


def spec_problems(spec: dict[str, Any]) -> list[Problem]:
    """Problems with a (defaulted, schema-valid) spec that the CRD cannot express but Kubernetes refuses in
    a child, or that would stop the pods: the Python-only half of validation parity."""
    return (finite_problems(spec, ("spec",))
            + _config_problems(spec["predictor"].get("config", {}))
            # label keys: CEL could check them only at a cost beyond Kubernetes' limits (unbounded map keys)
            + _key_problems(spec["compute"].get("nodeSelector", {}), "spec.compute.nodeSelector")
            + _divisor_problems(spec["predictor"].get("env", [])))


ANNOTATIONS_MAX_BYTES = 256 * 1024


def _object_meta_problems(meta: ObjectMeta) -> list[Problem]:
    """What the API server checks in any object's metadata: namespace, label and annotation syntax."""
    problems = []
    if meta.namespace is not None and (problem := names.dns1123_label_problem(meta.namespace)):
        problems.append(Problem("metadata.namespace", problem))
    problems += _key_problems(meta.labels, "metadata.labels")
    problems += [Problem(f"metadata.labels.{key}", problem) for key, value in meta.labels.items()
                 if (problem := names.label_value_problem(value))]
    problems += _key_problems(meta.annotations, "metadata.annotations", lower=True)
    size = sum(len(k.encode()) + len(v.encode()) for k, v in meta.annotations.items())
    if size > ANNOTATIONS_MAX_BYTES:
        problems.append(Problem("metadata.annotations", f"take {size} bytes; at most {ANNOTATIONS_MAX_BYTES} "
                                "are allowed"))
    return problems


def _metadata_problems(document: dict[str, Any]) -> list[Problem]:
    try:
        meta = ObjectMeta.model_validate(document.get("metadata") or {})
    except ValidationError as exc:
        return pydantic_problems(exc, ("metadata",))
    return _object_meta_problems(meta)


def _identity_problems(document: Any) -> list[Problem]:
    if not isinstance(document, dict):
        return [Problem("<document>", "expected a YAML mapping")]
    if document.get("kind") != KIND:
        return [Problem("kind", f"expected {KIND}, got {document.get('kind')!r}")]
    if document.get("apiVersion") != API_VERSION:
        return [Problem("apiVersion", f"expected {API_VERSION}, got {document.get('apiVersion')!r}")]
    return []


def _name_problems(document: dict[str, Any]) -> list[Problem]:
    """An API that scales to zero has Services named `NAME-activator` and `NAME-replicas`: its name must leave
    room for the suffix within a Service name's 63 characters."""
    name = str((document.get("metadata") or {}).get("name") or "")
    spec = document.get("spec") or {}
    zero = (spec.get("autoscaling") or {}).get("minReplicas") == 0 and spec.get("replicas") is None
    most = names.DNS1035_LABEL_MAX - len(ACTIVATOR_SUFFIX)
    if zero and len(name) > most:
        return [Problem("metadata.name", f"is {len(name)} characters; with autoscaling.minReplicas: 0 at most "
                        f"{most} are allowed (the API's activator Service is named NAME{ACTIVATOR_SUFFIX})")]
    return []


def check_document(document: Any) -> tuple[PredictorAPI | None, list[Problem]]:
    """The typed resource of one document and every problem with it (the resource only when none)."""
    problems = _identity_problems(document)
    if problems:
        return None, problems
    schema = _schema()
    defaulted = apply_defaults(schema, document)
    problems = _metadata_problems(document) + schema_problems(defaulted)
    if not problems:
        problems = cel_problems(schema["properties"]["spec"], defaulted["spec"], ("spec",))
        problems += spec_problems(defaulted["spec"]) + _name_problems(defaulted)
    if problems:
        return None, problems
    try:  # the schema and the model agree; this catches a drift between them
        return PredictorAPI.model_validate(defaulted), []
    except ValidationError as exc:
        return None, pydantic_problems(exc)


def validate_document(document: Any) -> list[Problem]:
    """Every problem with one PredictorAPI document; empty when the API server would accept it."""
    return check_document(document)[1]


def parse_document(document: Any) -> PredictorAPI:
    """The typed resource of a document the API server would accept; else :class:`InvalidDocument`."""
    api, problems = check_document(document)
    if api is None:
        raise InvalidDocument(problems)
    return api
