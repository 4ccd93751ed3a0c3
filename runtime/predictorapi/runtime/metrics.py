"""The runtime's Prometheus metrics, registered on an injected registry (no globals)."""

from __future__ import annotations

import bisect
import threading
from collections.abc import Iterable
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.metrics_core import Metric

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
        """Create the metrics on `registry`, labelled with `api` (register a :class:`RequestTally` before them)."""
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


class RequestTally:
    """The prediction requests' count by status code and latency histogram, kept as plain numbers on the request
    path (one lock, one bisect) and added to `predictorapi_requests_total` and `predictorapi_request_duration_seconds`
    in one go whenever the registry is collected (a scrape). The Prometheus client takes three locks and walks the
    buckets on every observation. Not `until_scraped` (a worker process of several: a scrape reads every worker's
    metrics file, not this registry), each request goes to the metrics at once."""

    def __init__(self, api: str, registry: CollectorRegistry, until_scraped: bool = True) -> None:
        self.api = api
        self.until_scraped = until_scraped
        self._lock = threading.Lock()
        self._codes: dict[int, int] = {}
        self._bounds = list(LATENCY_BUCKETS)
        self._buckets = [0] * (len(LATENCY_BUCKETS) + 1)  # the last: over the largest bound (+Inf)
        self._sum = 0.0
        self._requests: Counter | None = None
        self._latency: Histogram | None = None
        registry.register(self)

    def bind(self, requests: Counter, latency: Histogram) -> None:
        """The metrics the tally is added to (registered after it: it flushes before they are collected)."""
        self._requests, self._latency = requests, latency.labels(self.api)

    def add(self, status: int, seconds: float, exemplar: dict[str, str] | None = None) -> None:
        """One request answered with `status` after `seconds` (a sampled trace's `exemplar`: observed at once,
        with it)."""
        if not self.until_scraped or exemplar is not None:
            assert self._requests is not None and self._latency is not None
            self._requests.labels(self.api, str(status)).inc()
            self._latency.observe(seconds, exemplar)
            return
        with self._lock:
            self._codes[status] = self._codes.get(status, 0) + 1
            self._buckets[bisect.bisect_left(self._bounds, seconds)] += 1
            self._sum += seconds

    def flush(self) -> None:
        """Add what was tallied since the last flush to the Prometheus metrics."""
        with self._lock:
            if not self._codes:
                return
            codes, buckets, total = self._codes, self._buckets, self._sum
            self._codes, self._buckets, self._sum = {}, [0] * len(buckets), 0.0
        assert self._requests is not None and self._latency is not None
        for code, count in codes.items():
            self._requests.labels(self.api, str(code)).inc(count)
        # The histogram's own values, each a counter (of the process, or of its multiprocess file): a batch of
        # observations in one increment per bucket. prometheus-client has kept these attributes since 0.4.
        for value, count in zip(self._latency._buckets, buckets, strict=True):  # type: ignore[attr-defined]
            if count:
                value.inc(count)
        self._latency._sum.inc(total)  # type: ignore[attr-defined]

    def collect(self) -> Iterable[Metric]:
        """A registry collecting its metrics: flush first (the tally exports no metric of its own)."""
        self.flush()
        return ()

    def describe(self) -> Iterable[Metric]:
        """Nothing to describe (so that registering it collects nothing)."""
        return ()
