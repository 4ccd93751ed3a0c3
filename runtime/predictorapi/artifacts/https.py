"""`https://` and `http://`: one file, checked against `revision` (its sha256) when given.

An `Authorization` header is sent when the environment (the secretRef) has `HTTP_AUTHORIZATION`, to the
URI's own host only: it is not repeated after a redirect.
"""

from __future__ import annotations

import hashlib
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path

from predictorapi import __version__
from predictorapi.artifacts.errors import DownloadFailed
from predictorapi.artifacts.paths import inside
from predictorapi.artifacts.source import Source
from predictorapi.artifacts.transport import AUTHORIZATION_KEY
from predictorapi.artifacts.uri import ModelURI, file_name

CHUNK = 1 << 20


def resolve(uri: ModelURI, revision: str | None, env: Mapping[str, str], stall_seconds: float) -> Source:
    """The URL is its own endpoint; its version is the sha256 `revision` when given (nothing asked before the
    download)."""
    return Source(endpoint=f"{uri.scheme}://{uri.authority}", version=(revision or "").lower(), revision=revision,
                  download=lambda dest: _download(uri, dest, revision, env, stall_seconds))


def _download(uri: ModelURI, dest: Path, revision: str | None, env: Mapping[str, str], stall_seconds: float) -> None:
    """Download the file into `dest/<its name>`; a sha256 `revision` must match."""
    target = inside(dest, file_name(uri))
    request = urllib.request.Request(uri.raw, headers={"User-Agent": f"predictorapi/{__version__}"})
    if env.get(AUTHORIZATION_KEY):
        request.add_unredirected_header("Authorization", env[AUTHORIZATION_KEY])
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(request, timeout=stall_seconds) as response, \
                target.open("wb") as out:
            while chunk := response.read(CHUNK):
                digest.update(chunk)
                out.write(chunk)
    except urllib.error.HTTPError as exc:
        raise DownloadFailed(_http_detail(exc.code, exc.reason)) from None
    except TimeoutError:
        raise DownloadFailed(f"stalled: no data for {stall_seconds:g} s") from None
    except urllib.error.URLError as exc:
        raise DownloadFailed(f"unreachable: {exc.reason}") from None
    if revision and digest.hexdigest() != revision.lower():
        raise DownloadFailed(f"sha256 mismatch: expected {revision.lower()}, got {digest.hexdigest()}")


def _http_detail(code: int, reason: str) -> str:
    hint = {401: " (check HTTP_AUTHORIZATION in the secretRef)", 403: " (check HTTP_AUTHORIZATION in the secretRef)",
            404: " (no such file)"}.get(code, "")
    return f"HTTP {code} {reason}{hint}"
