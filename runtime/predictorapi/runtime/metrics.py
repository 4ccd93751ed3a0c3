"""The runtime's Prometheus metrics, registered on an injected registry (no globals)."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
BATCH_SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


@dataclass(frozen=True)
class RuntimeMetrics:
    """Every metric of one API; see docs/contracts.md for their meaning."""

    requests: Counter
    latency: Histogram
    in_flight: Gauge
    queue_length: Gauge
    max_concurrency: Gauge
    rejected: Counter
    load_seconds: Gauge
    batch_size: Histogram
    batch_wait: Histogram

    @classmethod
    def register(cls, registry: CollectorRegistry, api: str, max_concurrency: int) -> RuntimeMetrics:
        """Create the metrics on `registry`, labelled with `api`."""
        metrics = cls(
            requests=Counter("predictorapi_requests", "Prediction requests answered, by HTTP status.",
                             ["api", "code"], registry=registry),
            latency=Histogram("predictorapi_request_duration_seconds", "Prediction request latency.",
                              ["api"], buckets=LATENCY_BUCKETS, registry=registry),
            in_flight=Gauge("predictorapi_in_flight_requests",
                            "Accepted prediction requests not yet answered (running + queued).",
                            ["api"], registry=registry),
            queue_length=Gauge("predictorapi_queue_length", "Requests waiting for a concurrency slot.",
                               ["api"], registry=registry),
            max_concurrency=Gauge("predictorapi_max_concurrency", "Configured most concurrent requests.",
                                  ["api"], registry=registry),
            rejected=Counter("predictorapi_rejected_requests", "Requests refused by the runtime, by reason.",
                             ["api", "reason"], registry=registry),
            load_seconds=Gauge("predictorapi_predictor_load_seconds", "Seconds the predictor took to load.",
                               ["api"], registry=registry),
            batch_size=Histogram("predictorapi_batch_size", "Requests per predict call when batching.",
                                 ["api"], buckets=BATCH_SIZE_BUCKETS, registry=registry),
            batch_wait=Histogram("predictorapi_batch_wait_seconds", "Time a request waited for its batch.",
                                 ["api"], buckets=LATENCY_BUCKETS, registry=registry),
        )
        metrics.max_concurrency.labels(api).set(max_concurrency)
        for gauge in (metrics.in_flight, metrics.queue_length):
            gauge.labels(api).set(0)
        return metrics
