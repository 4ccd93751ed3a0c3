"""Helpers of the many-models tests (issue 27): model folders on disk and in S3, a store on loopback, a runtime-side
cache against it, and waits that fail after a hang guard (never a timing assertion)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry
from support import waiting

from predictorapi.contracts.models import RuntimeModels
from predictorapi.models.client import ModelCache
from predictorapi.models.store import ModelStore, StoreConfig
from predictorapi.models.store_server import RunningStore, start_store_thread

API = "mpg"
HANG_GUARD = 120.0
CLAIM = "claim"


def wait_for(condition: Callable[[], bool], what: str, timeout: float = HANG_GUARD, interval: float = 0.02) -> None:
    """Poll `condition` until true; fail naming `what` after `timeout` seconds (a hang guard)."""
    waiting.wait_for(condition, what, timeout, interval)


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float:
    """A metric's value (0 when it was never set) with label `api` and `labels`."""
    return registry.get_sample_value(name, {"api": API, **labels}) or 0.0


def write_version(root: Path, model: str, version: int | None, content: str) -> Path:
    """`root/model/version/model.txt` (no version: `root/model/model.txt`) holding `content`."""
    folder = root / model / str(version) if version is not None else root / model
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.txt").write_text(content)
    return folder


def s3_files(prefix: str, versions: dict[str, list[int]]) -> dict[str, bytes]:
    """Objects of models under `prefix`: `prefix/MODEL/VERSION/model.txt` holding `MODEL vVERSION`."""
    return {f"{prefix}{model}/{version}/model.txt": f"{model} v{version}".encode()
            for model, numbers in versions.items() for version in numbers}


@dataclass
class Loads:
    """A `load_model` that reads `model.txt` and counts its calls per folder; `gate` (when set) holds loads until
    it is set."""

    calls: Counter[str] = field(default_factory=Counter)
    gate: threading.Event | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, path: str) -> dict[str, Any]:
        with self.lock:
            self.calls[path] += 1
        if self.gate is not None:
            assert self.gate.wait(HANG_GUARD), "load_model held past the hang guard"
        return {"path": path, "content": (Path(path) / "model.txt").read_text()}

    @property
    def total(self) -> int:
        with self.lock:
            return sum(self.calls.values())


@contextmanager
def store_on_loopback(spec: dict[str, Any], cache_dir: Path, *, env: dict[str, str] | None = None,
                      pvc_root: Path | None = None, registry: CollectorRegistry | None = None,
                      relist_seconds: float = 0.0) -> Iterator[RunningStore]:
    """A ModelStore for `spec` (spec.models as written) served on a free loopback port by a thread."""
    registry = registry if registry is not None else CollectorRegistry()
    store = ModelStore(StoreConfig.from_spec(spec), cache_dir, env=env or {}, pvc_root=pvc_root, api=API,
                       registry=registry, relist_seconds=relist_seconds)
    running = start_store_thread(store, registry=registry)
    try:
        yield running
    finally:
        running.stop()


@contextmanager
def model_cache(store_url: str, load: Loads, *, cache_size: int = 10, poll_seconds: float | None = None,
                single: bool = False, registry: CollectorRegistry | None = None) -> Iterator[ModelCache]:
    """A runtime process's ModelCache against the store at `store_url`, its poller started."""
    cache = ModelCache(store_url, RuntimeModels(cache_size, poll_seconds, single), load, API,
                       registry if registry is not None else CollectorRegistry())
    cache.start()
    try:
        yield cache
    finally:
        cache.stop()
