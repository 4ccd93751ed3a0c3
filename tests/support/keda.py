"""What a cluster running KEDA refuses, for the tests' emulator and the builder tests: ScaledObjects.

Each write is checked against KEDA's published schema (`@kubernetes-models/keda` under tests/support/node, in a
long-lived node process, when installed: types, enums and required fields; it does not refuse unknown fields),
plus what the API server checks of any object (metadata) and what KEDA's admission webhook refuses of a
ScaledObject (`keda/apis/keda/v1alpha1/scaledobject_webhook.go`): a scale target name, at least one trigger,
`minReplicaCount <= maxReplicaCount`, an `external-push` trigger without `scalerAddress`, and a ScaledObject
whose only triggers are `cpu` / `memory` with `minReplicaCount: 0` (those cannot wake a workload at zero).
"""

from __future__ import annotations

from typing import Any

from support.strict import NODE_DIR, FieldError, NodeSchema, dns1123_subdomain, invalid, required, validate_metadata

GROUP = "keda.sh"
PACKAGE = NODE_DIR / "node_modules" / "@kubernetes-models" / "keda"
KINDS = {"scaledobjects": "ScaledObject"}
_SCRIPT = r"""
import { createInterface } from "node:readline";
import { ScaledObject } from "@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject";
const models = { ScaledObject };
for await (const line of createInterface({ input: process.stdin })) {
  const obj = JSON.parse(line);
  let errors = [];
  try { new models[obj.kind](obj).validate(); }
  catch (e) { errors = (e.errors || [{ instancePath: "", message: String(e.message || e) }])
                .map((x) => ({ path: x.instancePath || "", message: x.message || "" })); }
  process.stdout.write(JSON.stringify(errors) + "\n");
}
"""
RESOURCE_TRIGGERS = {"cpu", "memory"}


class KedaSchema(NodeSchema):
    """Validate keda.sh objects with `@kubernetes-models/keda`."""

    script = _SCRIPT
    package = PACKAGE


def available() -> bool:
    """Whether node and the published schema are installed (`cd tests/support/node && npm install`)."""
    return KedaSchema.available()


def webhook_errors(obj: dict[str, Any]) -> list[FieldError]:
    """What KEDA's admission webhook refuses in a ScaledObject's spec, by field."""
    spec = obj.get("spec") or {}
    errors: list[FieldError] = []
    if not (spec.get("scaleTargetRef") or {}).get("name"):
        errors.append(required("spec.scaleTargetRef.name"))
    triggers = spec.get("triggers") or []
    if not triggers:
        errors.append(required("spec.triggers"))
    low, high = spec.get("minReplicaCount", 0), spec.get("maxReplicaCount", 100)
    if isinstance(low, int) and isinstance(high, int) and low > high:
        errors.append(invalid("spec.minReplicaCount", low, f"MinReplicaCount={low} must be less than "
                                                             f"MaxReplicaCount={high}"))
    for index, trigger in enumerate(triggers):
        if trigger.get("type") in ("external", "external-push") and not (trigger.get("metadata") or {}).get(
                "scalerAddress"):
            errors.append(required(f"spec.triggers[{index}].metadata.scalerAddress"))
    if triggers and low == 0 and all(t.get("type") in RESOURCE_TRIGGERS for t in triggers):
        errors.append(invalid("spec.minReplicaCount", low, "scaling to zero needs a trigger other than cpu or "
                                                            "memory"))
    return errors


def admit(schema: KedaSchema, plural: str, obj: dict[str, Any], subresource: str | None) -> list[FieldError]:
    """Everything refused in a write of a keda.sh object (the object as it would be stored)."""
    obj.setdefault("apiVersion", f"{GROUP}/v1alpha1")
    obj.setdefault("kind", KINDS[plural])
    errors = validate_metadata(obj.get("metadata"), dns1123_subdomain)
    errors += schema.errors(obj)
    if subresource is None:
        errors += webhook_errors(obj)
    return errors
