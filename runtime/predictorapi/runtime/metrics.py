"""The runtime's Prometheus metrics, registered on an injected registry (no globals)."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from predictorapi.contracts import metrics as names

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
BATCH_SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
STREAM_DURATION_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)
STREAM_ITEMS_BUCKETS = (0, 1, 4, 16, 64, 256, 1024, 4096, 16384, 65536)
STREAM_END_REASONS = ("complete", "disconnect", "error", "timeout", "idle_timeout")
SUMMED = "livesum"
"""How a gauge aggregates over a replica's worker processes (prometheus-client's multiprocess mode, only used
when `processes > 1`): the sum over the live workers. The predictor's load time takes the max instead."""


@dataclass(frozen=True)
class RuntimeMetrics:
    """Every metric of one API; see docs/contracts.md for their meaning."""

    requests: Counter
    latency: Histogram
    in_flight: Gauge
    queue_length: Gauge
    max_concurrency: Gauge
    rejected: Counter
    busy_slots: Gauge
    abandoned_calls: Gauge
    open_connections: Gauge
    connections_closed: Counter
    load_seconds: Gauge
    batch_size: Histogram
    batch_wait: Histogram
    stream_first_item: Histogram
    stream_duration: Histogram
    stream_items: Histogram
    streams_ended: Counter
    post_predict: Counter

    @property
    def live_gauges(self) -> tuple[Gauge, ...]:
        """The gauges that read live counters when scraped (`set_function`): with several worker processes,
        each worker copies their values into its metrics file on every tick (see `DrainingServer`)."""
        return (self.in_flight, self.queue_length, self.busy_slots, self.abandoned_calls, self.open_connections)

    @classmethod
    def register(cls, registry: CollectorRegistry, api: str, max_concurrency: int) -> RuntimeMetrics:
        """Create the metrics on `registry`, labelled with `api`."""
        metrics = cls(
            requests=Counter(names.REQUESTS, "Prediction requests answered, by HTTP status.",
                             [names.API_LABEL, "code"], registry=registry),
            latency=Histogram(names.REQUEST_DURATION, "Prediction request latency.",
                              [names.API_LABEL], buckets=LATENCY_BUCKETS, registry=registry),
            in_flight=Gauge(names.IN_FLIGHT,
                            "Accepted prediction requests not yet answered (running + queued).",
                            [names.API_LABEL], registry=registry, multiprocess_mode=SUMMED),
            queue_length=Gauge(names.QUEUE_LENGTH, "Requests waiting for a concurrency slot.",
                               [names.API_LABEL], registry=registry, multiprocess_mode=SUMMED),
            max_concurrency=Gauge(names.MAX_CONCURRENCY, "Configured most concurrent requests.",
                                  [names.API_LABEL], registry=registry, multiprocess_mode=SUMMED),
            rejected=Counter(names.REJECTED, "Requests refused by the runtime, by reason.",
                             [names.API_LABEL, "reason"], registry=registry),
            busy_slots=Gauge(names.BUSY_SLOTS, "Run slots held by a predict call (abandoned ones included).",
                             [names.API_LABEL], registry=registry, multiprocess_mode=SUMMED),
            abandoned_calls=Gauge(names.ABANDONED_CALLS,
                                  "Predict calls still running after their request timed out.",
                                  [names.API_LABEL], registry=registry, multiprocess_mode=SUMMED),
            open_connections=Gauge(names.OPEN_CONNECTIONS, "Open client connections.", [names.API_LABEL],
                                   registry=registry, multiprocess_mode=SUMMED),
            connections_closed=Counter(names.CONNECTIONS_CLOSED,
                                       "Connections closed on a client that stalled or sent too much, by reason.",
                                       [names.API_LABEL, "reason"], registry=registry),
            load_seconds=Gauge(names.LOAD_SECONDS, "Seconds the predictor took to load.",
                               [names.API_LABEL], registry=registry, multiprocess_mode="max"),
            batch_size=Histogram(names.BATCH_SIZE, "Requests per predict call when batching.",
                                 [names.API_LABEL], buckets=BATCH_SIZE_BUCKETS, registry=registry),
            batch_wait=Histogram(names.BATCH_WAIT, "Time a request waited for its batch.",
                                 [names.API_LABEL], buckets=LATENCY_BUCKETS, registry=registry),
            **_stream_metrics(registry),
            post_predict=Counter(names.POST_PREDICT, "post_predict calls, by outcome (ok, error, dropped).",
                                 [names.API_LABEL, "outcome"], registry=registry),
        )
        metrics.max_concurrency.labels(api).set(max_concurrency)
        for gauge in metrics.live_gauges:
            gauge.labels(api).set(0)
        for histogram in (metrics.stream_first_item, metrics.stream_duration, metrics.stream_items):
            histogram.labels(api)  # exported from the start (at 0), like every reason below
        for reason in STREAM_END_REASONS:  # so that rate() sees the first stream that ends this way
            metrics.streams_ended.labels(api, reason)
        return metrics


def _stream_metrics(registry: CollectorRegistry) -> dict[str, Histogram | Counter]:
    """The metrics of streamed predictions (a `predict` that yields)."""
    return {
        "stream_first_item": Histogram(names.STREAM_FIRST_ITEM, "Time from admission to a stream's first item.",
                                       [names.API_LABEL], buckets=LATENCY_BUCKETS, registry=registry),
        "stream_duration": Histogram(names.STREAM_DURATION, "Time from admission to a stream's end.",
                                     [names.API_LABEL], buckets=STREAM_DURATION_BUCKETS, registry=registry),
        "stream_items": Histogram(names.STREAM_ITEMS, "Items sent per stream.", [names.API_LABEL],
                                  buckets=STREAM_ITEMS_BUCKETS, registry=registry),
        "streams_ended": Counter(names.STREAMS_ENDED, "Streams ended, by reason (complete, disconnect, error, "
                                 "timeout, idle_timeout).", [names.API_LABEL, "reason"], registry=registry),
    }
