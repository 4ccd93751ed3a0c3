"""What the operator's KEDA ScaledObject tells the activator's external scaler (KEDA's `externalscaler.proto`).

KEDA calls the scaler at the trigger's `scalerAddress` with a `ScaledObjectRef` whose `name` and `namespace` are
the ScaledObject's (the same as the PredictorAPI's) and whose `scalerMetadata` is the trigger's `metadata` below,
every value a string. The activator answers `GetMetricSpec` with `TARGET_CONCURRENCY` as the target size and
`GetMetrics` with the held + in-flight requests of that API (`contracts.metrics.ACTIVATOR_SCALER_METRIC`).
"""

from __future__ import annotations

TRIGGER_TYPE = "external-push"
"""KEDA's trigger for a scaler that pushes activation (`StreamIsActive`) instead of being polled."""
SCALER_ADDRESS = "scalerAddress"
"""The trigger metadata key KEDA itself reads: `host:port` of the external scaler's gRPC service."""
TARGET_CONCURRENCY = "targetConcurrency"
"""In-flight requests per pod the autoscaler aims for between 1 and N replicas (`targetConcurrency *
processesPerReplica`), a decimal string such as `"4"` or `"1.5"`."""
SCALER_PORT = 9090
"""Port of the activator's external scaler (gRPC): `PREDICTORAPI_ACTIVATOR_SCALER_PORT`'s default, and the
`scaler` port of the `NAME-activator` Service the ScaledObject's `scalerAddress` names."""
SCALER_PORT_NAME = "scaler"
NEVER_SCALES = 1_000_000
"""A `prometheus` trigger's `threshold` when it only decides whether the API is active (`metric: cpu`)."""
