"""Fetch a model artifact into the cache, once: the entry point of `predictorapi fetch-model` and
`predictorapi serve`."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from predictorapi.artifacts import cache, progress
from predictorapi.artifacts.errors import DownloadFailed
from predictorapi.artifacts.uri import SHA256, InvalidModelURI, cache_key, parse
from predictorapi.gitfetch import redact_url

log = logging.getLogger("predictorapi.artifacts")
DEFAULT_STALL_SECONDS = 120.0
Downloader = Callable[..., None]


@dataclass(frozen=True)
class ModelRequest:
    """What to fetch and where to keep it."""

    uri: str
    revision: str | None
    cache_dir: Path
    stall_seconds: float = DEFAULT_STALL_SECONDS
    pvc_root: Path | None = None
    """Where `pvc://CLAIM/PATH` is found on this machine (`PVC_ROOT/CLAIM/PATH`); None in a pod."""
    env: Mapping[str, str] = field(default_factory=lambda: os.environ)
    """Credentials and endpoints (the secretRef's keys)."""


def downloader(scheme: str) -> Downloader:
    """The `download(uri, dest, revision, env, stall_seconds)` function of a scheme (imports its client)."""
    from predictorapi.artifacts import gs, hf, https, s3

    return {"s3": s3.download, "gs": gs.download, "https": https.download, "http": https.download,
            "hf": hf.download}[scheme]


def model_folder(request: ModelRequest, on_stall: Callable[[str], None]) -> cache.Cached:
    """The folder holding the artifact, downloaded first when the cache has no complete copy. Raises
    :class:`DownloadFailed`; calls `on_stall(detail)` (from a thread) when the download stops moving."""
    try:
        parsed = parse(request.uri)
    except InvalidModelURI as exc:
        raise DownloadFailed(str(exc)) from None
    if parsed.scheme == "pvc":
        from predictorapi.artifacts.pvc import local_folder

        return cache.Cached(local_folder(parsed, request.pvc_root or Path.cwd()), False)
    if parsed.scheme in ("http", "https") and request.revision and not SHA256.match(request.revision.lower()):
        raise DownloadFailed("revision must be the file's sha256 (64 hex digits) for http(s)://")
    download, shown = downloader(parsed.scheme), redact_url(parsed.raw)

    def into(partial: Path) -> dict[str, object]:
        started = time.monotonic()
        log.info("downloading %s (revision %s)", shown, request.revision or "-")
        with progress.watched(partial, shown, request.stall_seconds, on_stall):
            download(parsed, partial, request.revision, request.env, request.stall_seconds)
        size = progress.folder_bytes(partial)
        log.info("downloaded %s: %s", shown, progress.describe(size, time.monotonic() - started))
        return {"uri": shown, "revision": request.revision, "bytes": size}

    found = cache.cached(request.cache_dir, cache_key(request.uri, request.revision), into)
    if not found.downloaded:
        log.info("%s (revision %s) found in the cache at %s", shown, request.revision or "-", found.path)
    return found
