"""The model metrics (contracts.metrics) of a runtime process (memory tier) and of the model store (disk tier), with
the `model` label capped at contracts.models.MODEL_LABEL_CAP distinct values."""

from __future__ import annotations

import threading

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from predictorapi.contracts import metrics as names
from predictorapi.contracts.models import MODEL_LABEL_CAP, OTHER_MODEL_LABEL
from predictorapi.runtime.metrics import SUMMED

LOAD_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)


class ModelLabels:
    """The `model` label value of a model name: its own for the first `cap` names seen, `_other` after."""

    def __init__(self, cap: int = MODEL_LABEL_CAP) -> None:
        self._cap = cap
        self._seen: dict[str, str] = {}
        self._lock = threading.Lock()

    def __call__(self, model: str) -> str:
        found = self._seen.get(model)
        if found is not None:
            return found
        with self._lock:
            if model not in self._seen:
                self._seen[model] = model if len(self._seen) < self._cap else OTHER_MODEL_LABEL
            return self._seen[model]


class CacheMetrics:
    """A runtime process's memory-tier metrics."""

    def __init__(self, api: str, registry: CollectorRegistry | None) -> None:
        kw = {"registry": registry} if registry is not None else {}
        self.api = api
        self.label = ModelLabels()
        labels = [names.API_LABEL, names.MODEL_LABEL]
        self.loads = Counter(names.MODEL_LOADS, "load_model calls", [*labels, "outcome"], **kw)
        self.evictions = Counter(names.MODEL_EVICTIONS, "Model versions dropped from memory", labels, **kw)
        self.requests = Counter(names.MODEL_CACHE_REQUESTS, "get_model calls", [*labels, "result"], **kw)
        self.load_seconds = Histogram(names.MODEL_LOAD_SECONDS, "A miss: ensure on disk and load_model", labels,
                                      buckets=LOAD_BUCKETS, **kw)
        self.in_memory = Gauge(names.MODELS_IN_MEMORY, "Model versions loaded in memory (a replica: its processes'"
                               " sum)", [names.API_LABEL], multiprocess_mode=SUMMED, **kw).labels(api)
        self._hits: dict[str, Counter] = {}
        self._misses: dict[str, Counter] = {}

    def hit(self, model: str) -> None:
        child = self._hits.get(model)
        if child is None:
            child = self._hits[model] = self.requests.labels(self.api, self.label(model), "hit")
        child.inc()

    def miss(self, model: str) -> None:
        child = self._misses.get(model)
        if child is None:
            child = self._misses[model] = self.requests.labels(self.api, self.label(model), "miss")
        child.inc()


class StoreMetrics:
    """The model store's disk-tier metrics."""

    def __init__(self, api: str, registry: CollectorRegistry | None) -> None:
        kw = {"registry": registry} if registry is not None else {}
        self.api = api
        self.label = ModelLabels()
        labels = [names.API_LABEL, names.MODEL_LABEL]
        self.on_disk = Gauge(names.MODELS_ON_DISK, "Model version folders on disk", [names.API_LABEL],
                             **kw).labels(api)
        self.downloads = Counter(names.MODEL_DOWNLOADS, "Model version downloads", [*labels, "outcome"], **kw)
        self.disk_evictions = Counter(names.MODEL_DISK_EVICTIONS, "Model version folders removed (disk LRU)",
                                      labels, **kw)
        self.listing_errors = Counter(names.MODEL_LISTING_ERRORS, "Failed listings of the models",
                                      [names.API_LABEL], **kw).labels(api)

    def download(self, model: str, outcome: str) -> None:
        self.downloads.labels(self.api, self.label(model), outcome).inc()

    def disk_eviction(self, model: str) -> None:
        self.disk_evictions.labels(self.api, self.label(model)).inc()
