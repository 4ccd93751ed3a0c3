"""Fetch a model artifact into the cache, once: the entry point of `predictorapi fetch-model` and
`predictorapi serve`."""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from predictorapi.artifacts import cache, progress
from predictorapi.artifacts.errors import DownloadFailed
from predictorapi.artifacts.source import Source
from predictorapi.artifacts.transport import check_transport
from predictorapi.artifacts.uri import SHA256, InvalidModelURI, ModelURI, cache_key, parse
from predictorapi.secrets_scrub import redact_url

log = logging.getLogger("predictorapi.artifacts")
DEFAULT_STALL_SECONDS = 120.0
Resolver = Callable[[ModelURI, str | None, Mapping[str, str], float], Source]


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
    allow_insecure_http: bool = False
    """Send credentials over plain http too (`spec.model.allowInsecureHttp`)."""


@dataclass(frozen=True)
class ModelFolder:
    """Where the artifact lies, the revision it was resolved to (hf: the commit), and whether this call
    downloaded it."""

    path: Path
    revision: str | None
    downloaded: bool


def resolver(scheme: str) -> Resolver:
    """The `resolve(uri, revision, env, stall_seconds) -> Source` function of a scheme (imports its module)."""
    from predictorapi.artifacts import gs, hf, https, s3

    return {"s3": s3.resolve, "gs": gs.resolve, "https": https.resolve, "http": https.resolve,
            "hf": hf.resolve}[scheme]


def model_folder(request: ModelRequest, on_stall: Callable[[str], None]) -> ModelFolder:
    """The folder holding the artifact, downloaded first when the cache has no complete copy of this endpoint's
    current version. Raises :class:`DownloadFailed`; calls `on_stall(detail)` (from a thread) when the download
    stops moving, after removing the partial folder."""
    try:
        parsed = parse(request.uri)
    except InvalidModelURI as exc:
        raise DownloadFailed(str(exc)) from None
    if parsed.scheme == "pvc":
        from predictorapi.artifacts.pvc import local_folder

        return ModelFolder(local_folder(parsed, request.pvc_root or Path.cwd()), None, False)
    if parsed.scheme in ("http", "https") and request.revision and not SHA256.match(request.revision.lower()):
        raise DownloadFailed("revision must be the file's sha256 (64 hex digits) for http(s)://")
    check_transport(parsed, request.env, request.allow_insecure_http)
    shown = redact_url(parsed.raw)
    source = resolver(parsed.scheme)(parsed, request.revision, request.env, request.stall_seconds)
    if source.revision != request.revision:
        log.info("%s: revision %s is commit %s", shown, request.revision or "main", source.revision)

    def into(partial: Path) -> dict[str, object]:
        def stalled(detail: str) -> None:
            shutil.rmtree(partial, ignore_errors=True)
            on_stall(detail)

        started = time.monotonic()
        log.info("downloading %s (revision %s) from %s", shown, source.revision or "-", redact_url(source.endpoint))
        with progress.watched(partial, shown, request.stall_seconds, stalled):
            source.download(partial)
        size = progress.folder_bytes(partial)
        log.info("downloaded %s: %s", shown, progress.describe(size, time.monotonic() - started))
        return {"uri": shown, "revision": source.revision, "endpoint": redact_url(source.endpoint),
                "version": source.version, "bytes": size}

    key = cache_key(request.uri, source.revision, source.identity)
    found = cache.cached(request.cache_dir, key, into)
    if not found.downloaded:
        log.info("%s (revision %s) found in the cache at %s", shown, source.revision or "-", found.path)
    return ModelFolder(found.path, source.revision, found.downloaded)
