"""A runtime process's memory tier and the predictor's `python_client` (Cortex v0.30's `get_model`).

`ModelCache` (one per runtime process) keeps up to `cacheSize` loaded versions (`load_model(path)`'s objects),
least recently used first out, enforced on every load:

- a miss asks the model store for the version's folder (`POST /models/NAME/VERSION/ensure`: downloaded first when it
  is not on disk) and calls `load_model(path)` holding a shared lock on the folder (the store never evicts it under a
  load); concurrent `get_model` calls of one version not yet loaded wait for one load (single flight);
- inside `request_scope()`, each version `get_model` returned is pinned until the scope exits (the runtime opens
  one per request and closes it when the response, a stream included, has ended): a pinned version is never unloaded.
  When every loaded version is pinned the cache holds more than `cacheSize` until a scope exits, which evicts
  down to it;
- live reloading (`pollSeconds`): a thread re-reads the store's listing every `pollSeconds`; `latest` moves to the
  highest version listed, and versions no longer listed are unloaded (once unpinned), their `get_model` a 404.
  Without `pollSeconds` the listing is read once at `start()`, and `latest` follows what a miss finds.
  A listing the store could not refresh keeps serving what it last listed.

`get_model` blocks its thread while it loads: in a sync `predict` that is the worker thread; an `async def predict`
blocks the event loop for the load (as Cortex did) but not on a hit. Unknown names and versions raise
`ModelNotFound`, recorded in the request's scope (`RequestModels.not_found`) so the runtime answers 404 whatever
`predict` does with it; a store that cannot give a version raises `ModelUnavailable`.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

import httpx
from prometheus_client import CollectorRegistry

from predictorapi.artifacts import cache
from predictorapi.contracts.models import (
    DOWNLOAD_FAILED,
    LATEST,
    MODEL_NOT_FOUND,
    MODELS_PATH,
    SINGLE_MODEL_NAME,
    STORE_UNREACHABLE,
    ensure_path,
)
from predictorapi.models.errors import ModelNotFound, ModelUnavailable
from predictorapi.models.metrics import CacheMetrics
from predictorapi.models.store import parse_version

log = logging.getLogger("predictorapi.models")
Key = tuple[str, int]
ENSURE_ATTEMPTS = 3
"""A folder evicted between the store's answer and the load's lock is asked for again, this many times at most."""


class ModelsSettings(Protocol):
    """What ModelCache reads of the runtime's models settings (contracts.models.RuntimeModels has it)."""

    cache_size: int
    poll_seconds: float | None
    single: bool


@dataclass(eq=False)
class RequestModels:
    """One request's scope: the versions `get_model` pinned in it, and the first ModelNotFound it raised."""

    not_found: ModelNotFound | None = None
    pinned: dict[int, _Entry] = field(default_factory=dict)


class _Entry:
    """A version in memory, or being loaded (`done` is set once it is loaded or failed)."""

    __slots__ = ("done", "error", "key", "pins", "ready", "removed", "value")

    def __init__(self, key: Key) -> None:
        self.key = key
        self.done = threading.Event()
        self.ready = False
        self.value: Any = None
        self.error: BaseException | None = None
        self.pins = 0
        self.removed = False


class PythonClient:
    """What the predictor gets as `python_client` (Cortex v0.30's)."""

    def __init__(self, cache: ModelCache) -> None:
        self._cache = cache

    def get_model(self, model_name: str | None = None, model_version: str | int = LATEST) -> object:
        """The object `load_model` returned for this version's folder, loaded first if it is not in memory.
        `model_name` may be omitted with `spec.models.uri`; `model_version`: an int, a numeric string or `latest`.
        Raises ModelNotFound (the request answers 404 naming it) or ModelUnavailable."""
        return self._cache.get_model(model_name, model_version)


class ModelCache:
    """The memory tier of one runtime process; thread-safe."""

    def __init__(self, store_url: str, settings: ModelsSettings, load_model: Callable[[str], object], api: str,
                 registry: CollectorRegistry | None = None) -> None:
        self.store_url = store_url.rstrip("/")
        self.cache_size = max(1, int(settings.cache_size))
        self.poll_seconds = settings.poll_seconds
        self.single = bool(settings.single)
        self._load_model = load_model
        self.metrics = CacheMetrics(api, registry)
        logging.getLogger("httpx").setLevel(logging.WARNING)  # not a log line per store call among the requests'
        self._http = httpx.Client(base_url=self.store_url, timeout=httpx.Timeout(30.0, read=None, pool=None))
        self._lock = threading.Lock()
        self._entries: OrderedDict[Key, _Entry] = OrderedDict()  # least recently used first
        self._latest: dict[str, int] = {}
        self._scope: contextvars.ContextVar[RequestModels | None] = contextvars.ContextVar(
            f"predictorapi-models-{id(self)}", default=None)
        self._stop = threading.Event()
        self._poller: threading.Thread | None = None

    def client(self) -> PythonClient:
        return PythonClient(self)

    # -- get_model -----------------------------------------------------------------------------------------------
    def get_model(self, model_name: str | None = None, model_version: str | int = LATEST) -> object:
        scope = self._scope.get()
        name = self._name(model_name)
        try:
            version = parse_version(name, model_version)
            number = self._latest.get(name) if version == LATEST else version
            if isinstance(number, int):
                entry = self._hit((name, number), scope)
                if entry is not None:
                    self.metrics.hit(name)
                    return entry.value
            self.metrics.miss(name)
            return self._miss(name, version, scope)
        except ModelNotFound as exc:
            if scope is not None and scope.not_found is None:
                scope.not_found = exc
            raise

    def _name(self, model_name: str | None) -> str:
        if model_name is not None:
            return str(model_name)
        if self.single:
            return SINGLE_MODEL_NAME
        raise ValueError("get_model needs model_name: spec.models has paths or dir (only uri has one model)")

    def _hit(self, key: Key, scope: RequestModels | None) -> _Entry | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or not entry.ready or entry.removed:
                return None
            self._entries.move_to_end(key)
            self._pin(entry, scope)
            return entry

    def _miss(self, name: str, version: int | str, scope: RequestModels | None) -> object:
        """Load the version (or wait for the load in progress): `latest` is the one the store says is latest."""
        path = None
        if version == LATEST:
            number, path = self._ensure(name, LATEST)
            self._latest[name] = number  # the store's answer is the freshest
        else:
            number = int(version)
        with self._lock:
            entry = self._entries.get((name, number))
            owner = entry is None or entry.removed or (entry.done.is_set() and not entry.ready)
            if owner:
                entry = self._entries[(name, number)] = _Entry((name, number))
            else:
                self._entries.move_to_end((name, number))
            self._pin(entry, scope)
        if owner:
            self._load(entry, path)
        else:
            entry.done.wait()
        if entry.error is not None:
            raise entry.error
        return entry.value

    def _pin(self, entry: _Entry, scope: RequestModels | None) -> None:
        """Under the lock: pin `entry` for the scope's life (once per scope)."""
        if scope is not None and id(entry) not in scope.pinned:
            entry.pins += 1
            scope.pinned[id(entry)] = entry

    def _load(self, entry: _Entry, path: str | None) -> None:
        """Ensure the version on disk and call load_model on it; sets `entry.done` whatever happens."""
        name, number = entry.key
        started = time.perf_counter()
        try:
            value = self._load_folder(name, number, path)
        except BaseException as exc:
            with self._lock:
                entry.error = exc
                if self._entries.get(entry.key) is entry:
                    del self._entries[entry.key]
                entry.done.set()
            raise
        self.metrics.load_seconds.labels(self.metrics.api, self.metrics.label(name)).observe(
            time.perf_counter() - started)
        with self._lock:
            entry.value, entry.ready = value, True
            entry.done.set()
            evicted = self._evict_locked(keep=entry)
        self._evicted(evicted, "least recently used")
        self.metrics.in_memory.set(self.loaded_count())

    def _load_folder(self, name: str, number: int, path: str | None) -> object:
        for _attempt in range(ENSURE_ATTEMPTS):
            if path is None:
                _number, path = self._ensure(name, number)
            with cache.reading(Path(path)) as present:
                if present:
                    try:
                        value = self._load_model(path)
                    except BaseException:
                        self.metrics.loads.labels(self.metrics.api, self.metrics.label(name), "error").inc()
                        log.exception("load_model failed for model %s version %d (%s)", name, number, path)
                        raise
                    self.metrics.loads.labels(self.metrics.api, self.metrics.label(name), "ok").inc()
                    log.info("loaded model %s version %d from %s", name, number, path)
                    return value
            path = None  # evicted from disk before the lock was taken: ask the store again
        raise ModelUnavailable(name, number, f"model {name!r} version {number} kept leaving the disk cache before "
                               "it could be loaded (diskCacheSize too small for the replicas' working set?)",
                               DOWNLOAD_FAILED)

    def _ensure(self, name: str, version: int | str) -> tuple[int, str]:
        """(version, local folder) from the store; raises ModelNotFound or ModelUnavailable."""
        url = ensure_path(quote(name, safe=""), version)
        try:
            response = self._http.post(url)
        except httpx.HTTPError as exc:
            raise ModelUnavailable(name, version, f"the model store at {self.store_url} is unreachable: {exc}",
                                   STORE_UNREACHABLE) from None
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.status_code == 404:
            raise ModelNotFound(name, version, body.get("reason", MODEL_NOT_FOUND), body.get("error"))
        if response.status_code != 200:
            raise ModelUnavailable(name, version, body.get("error") or f"the model store answered HTTP "
                                   f"{response.status_code}", body.get("reason", DOWNLOAD_FAILED))
        return int(body["version"]), str(body["path"])

    # -- eviction ------------------------------------------------------------------------------------------------
    def _evict_locked(self, keep: _Entry | None) -> list[_Entry]:
        """Under the lock: drop the least recently used unpinned versions beyond cacheSize."""
        excess = sum(1 for entry in self._entries.values() if entry.ready) - self.cache_size
        evicted = []
        for entry in list(self._entries.values()):
            if excess <= 0:
                break
            if entry is keep or not entry.ready or entry.pins:
                continue
            del self._entries[entry.key]
            evicted.append(entry)
            excess -= 1
        return evicted

    def _evicted(self, evicted: list[_Entry], why: str) -> None:
        for entry in evicted:
            name, number = entry.key
            self.metrics.evictions.labels(self.metrics.api, self.metrics.label(name)).inc()
            log.info("unloaded model %s version %d (%s)", name, number, why)
        if evicted:
            self.metrics.in_memory.set(self.loaded_count())

    def loaded(self) -> list[Key]:
        """The versions in memory, least recently used first."""
        with self._lock:
            return [key for key, entry in self._entries.items() if entry.ready and not entry.removed]

    def loaded_count(self) -> int:
        with self._lock:
            return sum(1 for entry in self._entries.values() if entry.ready)

    # -- request scopes ------------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def request_scope(self) -> Iterator[RequestModels]:
        """Pins taken by get_model inside are released on exit (the context is copied into worker threads)."""
        scope = RequestModels()
        token = self._scope.set(scope)
        try:
            yield scope
        finally:
            try:
                self._scope.reset(token)
            except ValueError:  # exited in another context than it was entered in
                self._scope.set(None)
            self._release(scope)

    def _release(self, scope: RequestModels) -> None:
        if not scope.pinned:
            return
        with self._lock:
            dropped = []
            for entry in scope.pinned.values():
                entry.pins -= 1
                if entry.removed and not entry.pins and self._entries.get(entry.key) is entry:
                    del self._entries[entry.key]
                    dropped.append(entry)
            scope.pinned.clear()
            evicted = self._evict_locked(keep=None)
        self._evicted(dropped, "no longer listed")
        self._evicted(evicted, "least recently used")

    # -- live reloading ------------------------------------------------------------------------------------------
    def start(self) -> None:
        """Read the listing now (in the background) and, with pollSeconds, every pollSeconds after."""
        if self._poller is not None and self._poller.is_alive():
            return
        self._stop.clear()
        self._poller = threading.Thread(target=self._poll, name="model-cache-listing", daemon=True)
        self._poller.start()

    def stop(self) -> None:
        self._stop.set()
        if self._poller is not None:
            self._poller.join(timeout=30)
        self._http.close()

    def _poll(self) -> None:
        self.refresh()
        while self.poll_seconds and not self._stop.wait(self.poll_seconds):
            self.refresh()

    def refresh(self) -> bool:
        """Read the store's listing: move `latest`, unload versions no longer listed. False when it failed."""
        try:
            response = self._http.get(MODELS_PATH)
            response.raise_for_status()
            listing = response.json()
            models = {str(name): model for name, model in listing["models"].items()}
        except (httpx.HTTPError, ValueError, KeyError, TypeError, AttributeError) as exc:
            log.warning("reading the models' listing from %s failed, serving what is loaded: %s", self.store_url,
                        exc)
            return False
        if listing.get("listedAt") is None:  # the store has not listed anything yet: nothing to unload
            return False
        self._latest = {name: int(model["latest"]) for name, model in models.items() if model.get("latest") is not None}
        listed = {(name, int(version)) for name, model in models.items() for version in model.get("versions", [])}
        with self._lock:
            dropped = []
            for key, entry in list(self._entries.items()):
                if key not in listed and entry.ready and not entry.removed:  # a load in progress was just ensured
                    entry.removed = True
                    if not entry.pins:
                        del self._entries[key]
                        dropped.append(entry)
        self._evicted(dropped, "no longer listed")
        return True
