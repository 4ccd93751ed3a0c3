"""The model store: the listing of `spec.models` and the disk tier (what `predictorapi model-store` serves).

Listing: every source is listed at start, every `pollSeconds` (live reloading), and on demand when an ensure names
a model or version not listed (at most once per `relist_seconds`). A source that fails to list keeps its last good
listing (`error` says why; `predictorapi_model_listing_errors_total`, a warning in the log).

Disk tier: a version is downloaded with the artifact code (`predictorapi.artifacts.fetch.model_folder`: transport
checks, progress, stall detection, credentials, cache keys) into `cache_dir/KEY/`; concurrent ensures of one version
download it once (a lock per version here, the artifact cache's file lock across processes). Every download is
followed by the LRU: while more than `diskCacheSize` version folders of these models lie in `cache_dir`, the least
recently ensured one is removed, unless a runtime holds its lock (it is loading it) or a download does. Use times
are the folders' mtimes (set on every ensure), so replicas sharing the folder on a claim see each other's uses;
folders are told apart by the URI their info file records, so other APIs' folders in a shared claim are left alone.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from predictorapi.artifacts import cache
from predictorapi.artifacts.errors import DownloadFailed, download_secrets
from predictorapi.artifacts.fetch import DEFAULT_STALL_SECONDS, ModelRequest, model_folder
from predictorapi.contracts.models import LATEST, MODEL_NOT_FOUND, VERSION_NOT_FOUND
from predictorapi.models.errors import ModelNotFound
from predictorapi.models.listing import ListingFailed, Model, ModelSource, list_source, sources
from predictorapi.models.metrics import StoreMetrics
from predictorapi.secrets_scrub import redact_url, scrub

log = logging.getLogger("predictorapi.models")
RELIST_SECONDS = 1.0
"""The shortest time between two listings made on demand (an ensure of a model or version not listed)."""


@dataclass(frozen=True)
class StoreConfig:
    """What the store needs of `spec.models`."""

    sources: tuple[ModelSource, ...]
    disk_cache_size: int = 50
    poll_seconds: float | None = None
    allow_insecure_http: bool = False

    @classmethod
    def from_spec(cls, spec: Mapping[str, object]) -> StoreConfig:
        """From `spec.models` as written in the spec (camelCase keys; snake_case accepted too)."""
        def get(camel: str, snake: str) -> Any:
            return spec.get(camel, spec.get(snake))

        poll = get("pollSeconds", "poll_seconds")
        return cls(sources(spec), disk_cache_size=int(get("diskCacheSize", "disk_cache_size") or 50),
                   poll_seconds=float(poll) if poll else None,
                   allow_insecure_http=bool(get("allowInsecureHttp", "allow_insecure_http")))


@dataclass(frozen=True)
class Ensured:
    """A version on disk: the model, the version number (`latest` resolved) and its local folder."""

    name: str
    version: int
    path: Path

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, "version": self.version, "path": str(self.path)}


def parse_version(name: str, version: str | int) -> int | str:
    """`latest`, or the version number of an int or a numeric string; ModelNotFound for anything else."""
    if version == LATEST or (isinstance(version, int) and not isinstance(version, bool)):
        return version
    text = str(version).strip()
    if text.isdigit() and len(text) <= 18:
        return int(text)
    raise ModelNotFound(name, version, VERSION_NOT_FOUND)


class ListingUnavailable(Exception):
    """A name not listed while a source has never been listed: not known to be missing (a 503, not a 404)."""


class ModelStore:
    """The listing and the disk tier; thread-safe (the HTTP server calls it from its thread pool)."""

    def __init__(self, config: StoreConfig, cache_dir: Path, *, env: Mapping[str, str] | None = None,
                 pvc_root: Path | None = None, stall_seconds: float = DEFAULT_STALL_SECONDS, api: str = "",
                 registry: CollectorRegistry | None = None, relist_seconds: float = RELIST_SECONDS) -> None:
        self.config = config
        self.cache_dir = cache_dir
        self.env = dict(os.environ if env is None else env)
        self.pvc_root = pvc_root
        self.stall_seconds = stall_seconds
        self.relist_seconds = relist_seconds
        self.metrics = StoreMetrics(api, registry)
        self._secrets = download_secrets(self.env)
        self._listed: list[dict[str, Model] | None] = [None] * len(config.sources)
        self._errors: list[str | None] = [None] * len(config.sources)
        self._models: dict[str, Model] = {}
        self._listed_at: float | None = None
        self._refreshed: float | None = None  # monotonic time of the last listing, good or not
        self._refresh_lock = threading.Lock()
        self._locks: dict[tuple[str, int], threading.Lock] = {}
        self._locks_lock = threading.Lock()
        self._folders: dict[tuple[str, int, str], Path] = {}  # (name, version, stamp) -> its folder
        self._owners: dict[str, str | None] = {}  # cache folder name -> model name (None: not ours)
        self._disk_lock = threading.Lock()
        self._clock_lock = threading.Lock()
        self._last_use_ns = 0
        self._stop = threading.Event()
        self._poller: threading.Thread | None = None

    # -- the listing ---------------------------------------------------------------------------------------------
    def refresh(self) -> None:
        """List every source now (one listing at a time); a source that fails keeps its last good listing."""
        with self._refresh_lock:
            self._refresh_locked()

    def refresh_if_older(self, seconds: float) -> None:
        """List unless a listing ended less than `seconds` ago (callers arriving during one wait and reuse it)."""
        if self._fresh(seconds):
            return
        with self._refresh_lock:
            if not self._fresh(seconds):
                self._refresh_locked()

    def _fresh(self, seconds: float) -> bool:
        return self._refreshed is not None and time.monotonic() - self._refreshed < seconds

    def _refresh_locked(self) -> None:
        ok = False
        for index, source in enumerate(self.config.sources):
            try:
                self._listed[index] = list_source(source, self.env, self.pvc_root, self.stall_seconds)
                self._errors[index] = None
                ok = True
            except (ListingFailed, DownloadFailed, OSError, ValueError) as exc:
                detail = scrub(redact_url(str(exc)), self._secrets)
                self._errors[index] = detail
                self.metrics.listing_errors.inc()
                log.warning("listing %s failed, serving the last good listing: %s", redact_url(source.uri), detail)
        merged: dict[str, Model] = {}
        for listed in self._listed:
            merged.update(listed or {})
        self._models = merged
        if ok:
            self._listed_at = time.time()
        self._refreshed = time.monotonic()

    def models(self) -> dict[str, Model]:
        """The models listed (listing them first if nothing was listed yet)."""
        if self._refreshed is None:
            self.refresh_if_older(float("inf"))
        return self._models

    def listing_json(self) -> dict[str, object]:
        """`GET /models`: the last good listing, when it was made, and why the last listing failed (if it did)."""
        if self.config.poll_seconds:
            self.refresh_if_older(self.config.poll_seconds)
        models = self.models()
        errors = [error for error in self._errors if error]
        return {"models": {name: model.to_json() for name, model in sorted(models.items())},
                "listedAt": self._listed_at, "error": "; ".join(errors) if errors else None}

    def start(self) -> None:
        """List now and, with `pollSeconds`, every `pollSeconds` after (a daemon thread)."""
        self._stop.clear()
        self._poller = threading.Thread(target=self._poll, name="model-store-listing", daemon=True)
        self._poller.start()

    def stop(self) -> None:
        self._stop.set()
        if self._poller is not None:
            self._poller.join(timeout=30)

    def _poll(self) -> None:
        self.refresh_if_older(float("inf"))
        poll = self.config.poll_seconds
        while poll and not self._stop.wait(poll):
            try:
                self.refresh_if_older(poll / 2)
            except Exception:  # never let the poller die
                log.exception("listing the models failed")

    # -- the disk tier -------------------------------------------------------------------------------------------
    def ensure(self, name: str, version: str | int = LATEST) -> Ensured:
        """The version's local folder, downloaded first if needed. Raises ModelNotFound, DownloadFailed."""
        model, number = self._resolve(name, parse_version(name, version))
        stamp = model.versions[number]
        with self._version_lock(name, number):
            path = self._folders.get((name, number, stamp))
            if path is None or not path.is_dir():
                path = self._download(model, number)
                self._folders[(name, number, stamp)] = path
            else:
                self._touch(path)
        return Ensured(name, number, path)

    def _resolve(self, name: str, version: int | str) -> tuple[Model, int]:
        """The listed model and version number; a miss lists again (at most once per `relist_seconds`)."""
        for attempt in range(2):
            model = self.models().get(name)
            if model is not None:
                number = model.latest if version == LATEST else version
                if isinstance(number, int) and number in model.versions:
                    return model, number
            if attempt == 0:
                self.refresh_if_older(self.relist_seconds)
        if model is None:
            never = [error for listed, error in zip(self._listed, self._errors, strict=True)
                     if listed is None and error]
            if never:
                raise ListingUnavailable(f"model {name!r} is not listed, and listing failed: {'; '.join(never)}")
            raise ModelNotFound(name, version, MODEL_NOT_FOUND)
        raise ModelNotFound(name, version, VERSION_NOT_FOUND)

    def _version_lock(self, name: str, number: int) -> threading.Lock:
        with self._locks_lock:
            return self._locks.setdefault((name, number), threading.Lock())

    def _download(self, model: Model, number: int) -> Path:
        """Fetch one version (the artifact cache finds it when it is there already), then apply the disk LRU."""
        uri = model.version_uri(number)
        request = ModelRequest(uri=uri, revision=None, cache_dir=self.cache_dir, stall_seconds=self.stall_seconds,
                               pvc_root=self.pvc_root, env=self.env,
                               allow_insecure_http=self.config.allow_insecure_http)

        def stalled(detail: str) -> None:
            log.warning("downloading %s stalled: %s", redact_url(uri), detail)

        try:
            found = model_folder(request, stalled)
        except DownloadFailed as exc:
            self.metrics.download(model.name, "error")
            detail = scrub(exc.detail, self._secrets)
            log.warning("downloading %s version %d failed: %s", model.name, number, detail)
            self._gone_since_listing(model.name, number)
            raise DownloadFailed(f"{redact_url(uri)}: {detail}") from None
        if found.path.parent != self.cache_dir:  # a pvc:// folder: nothing downloaded, nothing to evict
            return found.path
        self._owners[found.path.name] = model.name
        self._touch(found.path)
        if found.downloaded:
            self.metrics.download(model.name, "ok")
            log.info("model %s version %d is on disk at %s", model.name, number, found.path)
            self.enforce_disk(keep=found.path)
        return found.path

    def _gone_since_listing(self, name: str, number: int) -> None:
        """After a failed download: a version removed since the listing is a 404, not a download failure."""
        self.refresh_if_older(self.relist_seconds)
        model = self._models.get(name)
        if model is None:
            raise ModelNotFound(name, number, MODEL_NOT_FOUND)
        if number not in model.versions:
            raise ModelNotFound(name, number, VERSION_NOT_FOUND)

    def _touch(self, folder: Path) -> None:
        """Record a use: the folder's mtime, strictly increasing within this store."""
        with self._clock_lock:
            now = self._last_use_ns = max(time.time_ns(), self._last_use_ns + 1)
        with contextlib.suppress(OSError):  # evicted meanwhile (another replica's store): the runtime asks again
            os.utime(folder, ns=(now, now))

    def enforce_disk(self, keep: Path | None = None) -> int:
        """Remove the least recently used version folders of these models beyond `diskCacheSize` (never `keep`,
        nor one whose lock is held); returns the folders left."""
        with self._disk_lock:
            folders = self._owned_folders()
            left = len(folders)
            for _used, folder, model in sorted(folders):
                if left <= self.config.disk_cache_size:
                    break
                if folder == keep or not cache.evict(self.cache_dir, folder.name):
                    continue
                left -= 1
                self.metrics.disk_eviction(model)
                log.info("model %s: removed %s from disk (least recently used)", model, folder.name)
            self.metrics.on_disk.set(left)
            return left

    def _owned_folders(self) -> list[tuple[int, Path, str]]:
        """(use time, folder, model) of each complete version folder of these models in `cache_dir`."""
        found = []
        try:
            entries = list(os.scandir(self.cache_dir))
        except FileNotFoundError:
            return []
        for entry in entries:
            if entry.name.startswith(".") or not entry.is_dir(follow_symlinks=False):
                continue
            model = self._owner(Path(entry.path))
            try:
                used = entry.stat(follow_symlinks=False).st_mtime_ns
            except FileNotFoundError:
                continue
            if model is not None:
                found.append((used, Path(entry.path), model))
        return found

    def _owner(self, folder: Path) -> str | None:
        """The model whose version `folder` holds, from the URI its info file records (None: another API's)."""
        if folder.name in self._owners:
            return self._owners[folder.name]
        try:
            uri = str(json.loads((folder / cache.INFO_FILE).read_text()).get("uri", ""))
        except (OSError, ValueError, AttributeError):
            return None  # being evicted, or not a complete artifact folder: ask again next time
        owner = None
        for source in self.config.sources:
            base = redact_url(source.uri)
            if source.is_dir and uri.startswith(base.rstrip("/") + "/"):
                owner = uri[len(base.rstrip("/")) + 1:].split("/")[0] or None
            elif not source.is_dir and (uri == base or uri.startswith(base.rstrip("/") + "/")):
                owner = source.name
            if owner:
                break
        self._owners[folder.name] = owner
        return owner
