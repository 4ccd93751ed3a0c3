"""Names of the runtime's Prometheus metrics (all labelled `api`); see docs/contracts.md."""

from __future__ import annotations

API_LABEL = "api"
"""The label naming the PredictorAPI on every metric."""
REQUESTS = "predictorapi_requests"
"""Counter (exposed with `_total`), label `code`."""
REQUEST_DURATION = "predictorapi_request_duration_seconds"
IN_FLIGHT = "predictorapi_in_flight_requests"
"""Accepted, unanswered requests: the autoscaling signal (the HPA's Pods metric has this name)."""
QUEUE_LENGTH = "predictorapi_queue_length"
MAX_CONCURRENCY = "predictorapi_max_concurrency"
REJECTED = "predictorapi_rejected_requests"
"""Counter (exposed with `_total`), label `reason`."""
LOAD_SECONDS = "predictorapi_predictor_load_seconds"
BATCH_SIZE = "predictorapi_batch_size"
BATCH_WAIT = "predictorapi_batch_wait_seconds"
