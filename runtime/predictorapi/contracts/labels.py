"""Labels and annotations the operator puts on children and pods (see docs/contracts.md, "Children")."""

from __future__ import annotations

API_LABEL = "serving.predictorapi.dev/api"
"""Names the PredictorAPI; the pod selector is this label alone."""
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "predictorapi-operator"
SPEC_HASH_ANNOTATION = "serving.predictorapi.dev/spec-hash"
"""On the pod template: digest of what the pods run; a change rolls the pods."""
LAST_APPLIED_ANNOTATION = "serving.predictorapi.dev/last-applied"
"""On every child: the `spec` the operator last applied, to know which fields it must remove."""
