"""Check a PredictorAPI document the way the API server would: defaults, schema, then CEL rules.

The schema is the generated CRD's own (`predictorapi.crd`), so `predictorapi validate` refuses
exactly what `kubectl apply` would, before the manifest reaches git or a cluster.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from functools import cache
from typing import Any

import cel
from jsonschema import Draft4Validator
from pydantic import ValidationError

from predictorapi import crd
from predictorapi.spec import API_VERSION, KIND, ObjectMeta, PredictorAPI

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
def _validator() -> Draft4Validator:
    return Draft4Validator(_strict(_schema()))


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
            problems.append(Problem(field_path(path), rule["message"] + detail))
    return problems


def _metadata_problems(document: dict[str, Any]) -> list[Problem]:
    try:
        ObjectMeta.model_validate(document.get("metadata") or {})
    except ValidationError as exc:
        return pydantic_problems(exc, ("metadata",))
    return []


def _identity_problems(document: Any) -> list[Problem]:
    if not isinstance(document, dict):
        return [Problem("<document>", "expected a YAML mapping")]
    if document.get("kind") != KIND:
        return [Problem("kind", f"expected {KIND}, got {document.get('kind')!r}")]
    if document.get("apiVersion") != API_VERSION:
        return [Problem("apiVersion", f"expected {API_VERSION}, got {document.get('apiVersion')!r}")]
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
