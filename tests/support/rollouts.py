"""What a cluster running Argo Rollouts refuses, for the tests' emulator: Rollouts, AnalysisTemplates, AnalysisRuns.

Each write is checked against Argo Rollouts' published schemas (`@kubernetes-models/argo-rollouts` under
tests/support/node, in a long-lived node process, when installed; types, enums and required fields; those
schemas do not refuse unknown fields), plus what the API server checks of any object (metadata) and, for a Rollout, what
its controller refuses (`InvalidSpec`): the pod template is checked as a Deployment's (tests/support/strict.py),
the selector must select the template's labels, `setWeight` must be 0..100, and maxSurge and maxUnavailable
cannot both be 0.
"""

from __future__ import annotations

from typing import Any

from support.strict import (
    NODE_DIR,
    FieldError,
    NodeSchema,
    _selector_matches,
    dns1123_subdomain,
    invalid,
    required,
    validate_metadata,
    validate_pod_spec,
    validate_selector,
)

GROUP = "argoproj.io"
PACKAGE = NODE_DIR / "node_modules" / "@kubernetes-models" / "argo-rollouts"
KINDS = {"rollouts": "Rollout", "analysistemplates": "AnalysisTemplate", "analysisruns": "AnalysisRun"}
_SCRIPT = r"""
import { createInterface } from "node:readline";
import { Rollout } from "@kubernetes-models/argo-rollouts/argoproj.io/v1alpha1/Rollout";
import { AnalysisTemplate } from "@kubernetes-models/argo-rollouts/argoproj.io/v1alpha1/AnalysisTemplate";
import { AnalysisRun } from "@kubernetes-models/argo-rollouts/argoproj.io/v1alpha1/AnalysisRun";
const models = { Rollout, AnalysisTemplate, AnalysisRun };
for await (const line of createInterface({ input: process.stdin })) {
  const obj = JSON.parse(line);
  let errors = [];
  try { new models[obj.kind](obj).validate(); }
  catch (e) { errors = (e.errors || [{ instancePath: "", message: String(e.message || e) }])
                .map((x) => ({ path: x.instancePath || "", message: x.message || "" })); }
  process.stdout.write(JSON.stringify(errors) + "\n");
}
"""


class RolloutsSchema(NodeSchema):
    """Validate argoproj.io objects with `@kubernetes-models/argo-rollouts`."""

    script = _SCRIPT
    package = PACKAGE


def available() -> bool:
    """Whether node and the published schemas are installed (`cd tests/support/node && npm install`)."""
    return RolloutsSchema.available()


def _zero(value: Any) -> bool:
    return value in (0, None) or (isinstance(value, str) and value.rstrip("%").strip("0") == "")


def rollout_errors(obj: dict[str, Any]) -> list[FieldError]:
    """What Argo Rollouts' controller refuses in a Rollout's spec (its InvalidSpec condition), by field."""
    spec = obj.get("spec") or {}
    template = spec.get("template") or {}
    errors = validate_selector(spec.get("selector"), "spec.selector") if "selector" in spec else [
        required("spec.selector")]
    errors += validate_pod_spec(template.get("spec"), "spec.template.spec", True)
    labels = (template.get("metadata") or {}).get("labels") or {}
    if isinstance(spec.get("selector"), dict) and not _selector_matches(spec["selector"], labels):
        errors.append(invalid("spec.template.metadata.labels", labels, "`selector` does not match template "
                                                                        "`labels`"))
    canary = (spec.get("strategy") or {}).get("canary")
    if canary is None:
        return errors
    if _zero(canary.get("maxSurge", "25%")) and _zero(canary.get("maxUnavailable", "25%")):
        errors.append(invalid("spec.strategy.canary.maxUnavailable", canary.get("maxUnavailable"),
                              "MaxSurge and MaxUnavailable both can not be zero"))
    for index, step in enumerate(canary.get("steps") or []):
        weight = step.get("setWeight")
        if isinstance(weight, int) and not 0 <= weight <= 100:
            errors.append(invalid(f"spec.strategy.canary.steps[{index}].setWeight", step["setWeight"],
                                  "SetWeight needs to be between 0 and 100"))
    return errors


def admit(schema: RolloutsSchema, plural: str, obj: dict[str, Any], subresource: str | None) -> list[FieldError]:
    """Everything refused in a write of an argoproj.io object (the object as it would be stored)."""
    obj.setdefault("apiVersion", f"{GROUP}/v1alpha1")
    obj.setdefault("kind", KINDS[plural])
    errors = validate_metadata(obj.get("metadata"), dns1123_subdomain)
    errors += schema.errors(obj)
    if plural == "rollouts" and subresource is None:
        errors += rollout_errors(obj)
    return errors
