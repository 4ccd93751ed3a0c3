"""Generate the `PredictorAPI` CustomResourceDefinition from the pydantic spec.

Pydantic writes JSON Schema 2020-12 with `$ref`s, `anyOf` for optionals and numeric
`exclusiveMinimum`; a CRD needs a *structural* OpenAPI v3.0 schema: every node typed and inlined,
int-or-string marked with `x-kubernetes-int-or-string`, free-form objects marked with
`x-kubernetes-preserve-unknown-fields`. :func:`structural` does that translation.
"""

from __future__ import annotations

import copy
from typing import Any

from predictorapi import spec

Schema = dict[str, Any]

# Keys of pydantic's output a CRD schema does not accept or need.
_DROPPED = {"title", "$defs", "additionalProperties", "$ref", "anyOf", "exclusiveMinimum", "exclusiveMaximum"}

PRINTER_COLUMNS = [
    {"name": "Ready", "type": "string", "jsonPath": ".status.ready", "description": "Ready/desired replicas."},
    {"name": "Status", "type": "string", "jsonPath": ".status.phase",
     "description": "Ready, Progressing, Degraded or Pending."},
    {"name": "URL", "type": "string", "jsonPath": ".status.url", "description": "In-cluster URL."},
    {"name": "Replicas", "type": "integer", "jsonPath": ".status.replicas",
     "description": "Replicas running now: 0 while the API is scaled to zero (autoscaling.minReplicas: 0)."},
    {"name": "Revision", "type": "string", "jsonPath": ".status.revision", "priority": 1,
     "description": "Commit SHA of the predictor code (source.git)."},
    {"name": "Reason", "type": "string", "jsonPath": ".status.conditions[?(@.type==\"Degraded\")].reason",
     "priority": 1, "description": "Why the API is degraded, if it is."},
    {"name": "Canary", "type": "integer", "jsonPath": ".status.canary.weight", "priority": 1,
     "description": "Percent of replicas (or traffic) on the canary revision, while a canary is in flight."},
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
]


def _resolve(node: Any, defs: dict[str, Schema]) -> Any:
    """Inline every `$ref` (pydantic puts field descriptions next to the ref)."""
    if isinstance(node, list):
        return [_resolve(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = copy.deepcopy(defs[node["$ref"].rsplit("/", 1)[-1]])
        target.pop("description", None)  # a model's docstring is not the field's description
        merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        return _resolve(merged, defs)
    return {key: _resolve(value, defs) for key, value in node.items()}


def _is_int_or_string(options: list[Schema]) -> bool:
    return sorted(o.get("type", "") for o in options) == ["integer", "string"]


def structural(node: Schema) -> Schema:
    """Turn one resolved pydantic JSON-schema node into a structural CRD schema node."""
    options = [o for o in node.get("anyOf", []) if o.get("type") != "null"]
    if options and _is_int_or_string(options):
        out: Schema = {"anyOf": [{"type": "integer"}, {"type": "string"}], "x-kubernetes-int-or-string": True}
    elif len(options) == 1:  # Optional[X]: the X, not nullable (absent means unset)
        out = structural(options[0])
    elif options:
        raise ValueError(f"cannot express anyOf {options} in a structural schema")
    else:
        out = {}
    for key, value in node.items():
        if key in _DROPPED or (key == "default" and value is None):
            continue
        if key == "const":  # a one-value Literal; structural schemas have no `const`
            out["enum"] = [value]
            continue
        if key == "properties":
            out["properties"] = {name: structural(child) for name, child in value.items()}
        elif key == "items":
            out["items"] = structural(value)
        elif key == "required":
            out["required"] = sorted(value)
        else:
            out[key] = value
    for bound in ("exclusiveMinimum", "exclusiveMaximum"):
        if bound in node:
            out[bound.replace("exclusive", "").lower()] = node[bound]
            out[bound] = True
    extra = node.get("additionalProperties")
    if isinstance(extra, dict) and extra:
        out["additionalProperties"] = structural(extra)
    if out.get("type") == "object" and "properties" not in out and "additionalProperties" not in out:
        out["x-kubernetes-preserve-unknown-fields"] = True
    if out.get("x-kubernetes-int-or-string"):
        out.setdefault("maxLength", 16)  # bounds the cost of CEL rules on the string form
    return _ordered(out)


_FIRST = ("type", "description", "default")


def _ordered(node: Schema) -> Schema:
    """Readable key order: type, description, default, then the rest, x-kubernetes-* last."""
    rest = sorted((k for k in node if k not in _FIRST), key=lambda k: (k.startswith("x-"), k == "properties"))
    return {k: node[k] for k in (*_FIRST, *rest) if k in node}


def _with_object_defaults(schema: Schema, model: type[spec._Model]) -> None:
    """Give sub-objects with all-defaulted fields `default: {}` so the API server fills them in; not those that
    are unset by default (None in the model, e.g. `models`: present means asked for)."""
    unset = {field.alias or name for name, field in model.model_fields.items() if field.default is None}
    for name, child in schema.get("properties", {}).items():
        if (child.get("type") == "object" and "properties" in child and not child.get("required")
                and name not in unset):
            child.setdefault("default", {})


def _spec_schema(model: type[spec._Model]) -> Schema:
    raw = model.model_json_schema(by_alias=True, mode="validation")
    resolved = _resolve({k: v for k, v in raw.items() if k != "$defs"}, raw.get("$defs", {}))
    schema = structural(resolved)
    schema.pop("description", None)
    return schema


def spec_schema() -> Schema:
    """The structural schema of `spec`."""
    schema = _spec_schema(spec.PredictorAPISpec)
    _with_object_defaults(schema, spec.PredictorAPISpec)
    schema["description"] = "Desired state: the predictor and how it is served."
    return schema


def status_schema() -> Schema:
    """The structural schema of `status`."""
    schema = _spec_schema(spec.PredictorAPIStatus)
    conditions = schema["properties"]["conditions"]
    conditions["x-kubernetes-list-type"] = "map"
    conditions["x-kubernetes-list-map-keys"] = ["type"]
    conditions["items"]["required"] = ["status", "type"]
    schema["description"] = "Observed state, written by the operator."
    return schema


def openapi_schema() -> Schema:
    """The whole object's schema (`openAPIV3Schema`)."""
    return {
        "type": "object",
        "description": "A predictor served as an autoscaled HTTP API.",
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": spec_schema(),
            "status": status_schema(),
        },
    }


def build_crd() -> dict[str, Any]:
    """The CustomResourceDefinition manifest for `PredictorAPI`."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{spec.PLURAL}.{spec.GROUP}",
            "labels": {"app.kubernetes.io/name": "predictorapi", "app.kubernetes.io/part-of": "predictorapi"},
        },
        "spec": {
            "group": spec.GROUP,
            "names": {
                "kind": spec.KIND,
                "listKind": f"{spec.KIND}List",
                "plural": spec.PLURAL,
                "singular": spec.SINGULAR,
                "shortNames": list(spec.SHORT_NAMES),
                "categories": ["all", "predictorapi"],
            },
            "scope": "Namespaced",
            "versions": [
                {
                    "name": spec.VERSION,
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": openapi_schema()},
                    "subresources": {
                        "status": {},
                        "scale": {
                            "specReplicasPath": ".spec.replicas",
                            "statusReplicasPath": ".status.replicas",
                            "labelSelectorPath": ".status.selector",
                        },
                    },
                    "additionalPrinterColumns": PRINTER_COLUMNS,
                }
            ],
        },
    }


def crd_yaml() -> str:
    """The CRD as YAML, exactly as committed under `crds/`."""
    import yaml

    header = "# Generated by `predictorapi crd` from predictorapi.spec; do not edit by hand.\n"
    return header + yaml.safe_dump(build_crd(), sort_keys=False, width=100)
