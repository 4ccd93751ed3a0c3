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
ROLLOUT_HASH_LABEL = "rollouts-pod-template-hash"
"""Put on every pod of a Rollout by Argo Rollouts: the pod template hash of its revision (stable or canary)."""
ROLLOUT_HASH_SERIES_LABEL = "rollouts_pod_template_hash"
"""The same, as a label of the scraped series: the ServiceMonitor's `podTargetLabels` copies the pod label
(Prometheus turns `-` into `_`), so the analysis queries can select the canary revision's pods."""
NAME_LABEL = "app.kubernetes.io/name"
INSTANCE_LABEL = "app.kubernetes.io/instance"
DEFAULT_CONTAINER_ANNOTATION = "kubectl.kubernetes.io/default-container"
RESERVED_PREFIX = "serving.predictorapi.dev/"
"""Label and annotation keys under this prefix belong to the operator."""
RESERVED_POD_LABELS = (NAME_LABEL, INSTANCE_LABEL, MANAGED_BY_LABEL, API_LABEL, "pod-template-hash",
                       "rollouts-pod-template-hash")
"""Pod labels the operator (or its Deployment's or Rollout's controller) sets: `spec.labels` may not set them."""
RESERVED_POD_ANNOTATIONS = (SPEC_HASH_ANNOTATION, DEFAULT_CONTAINER_ANNOTATION)
"""Pod annotations the operator sets: `spec.annotations` may not set them."""
COMPONENT_LABEL = "serving.predictorapi.dev/component"
"""On the Services and Deployment an API that scales to zero has beside its own: `replicas` (the Service of the
runtime pods the activator forwards to) or `activator`. The API's own Service has none (the ServiceMonitor of such
an API selects the two with it, so each pod is scraped once)."""
ACTIVATOR_LABEL = "serving.predictorapi.dev/activator"
"""On the activator's pods (never the API_LABEL, which selects the runtime pods): names their PredictorAPI."""
