"""Model URIs: parsing and the cache key. Pure: no I/O, no client imported (the operator builds on it)."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import PurePosixPath
from urllib.parse import unquote, urlsplit

SCHEMES = ("s3", "gs", "https", "http", "hf", "pvc")
DOWNLOADED_SCHEMES = ("s3", "gs", "https", "http", "hf")
"""Schemes the `fetch-model` init container downloads; `pvc://` is a volume mount."""
SHA256 = re.compile(r"^[0-9a-f]{64}$")
HF_COMMIT = re.compile(r"^[0-9a-f]{40}$")
_SLUG = re.compile(r"[^a-z0-9]+")


class InvalidModelURI(ValueError):
    """A URI that no scheme can fetch; the message says why in one line."""


@dataclass(frozen=True)
class ModelURI:
    """A parsed model URI: `scheme://authority/path`."""

    raw: str
    scheme: str
    authority: str
    """The bucket (s3, gs), the host[:port] (http, https), the claim (pvc), or the repo id (hf: `ORG/NAME`)."""
    path: str
    """The key or prefix (s3, gs), the URL path (http, https), the folder in the claim (pvc); '' for hf."""

    @property
    def is_prefix(self) -> bool:
        """Whether an s3/gs URI names a folder (ends with `/` or is the whole bucket)."""
        return self.path == "" or self.path.endswith("/")


def parse(uri: str) -> ModelURI:
    """Parse `uri`; raises :class:`InvalidModelURI` for an unknown scheme or a malformed one."""
    scheme, sep, rest = uri.partition("://")
    scheme = scheme.lower()
    if not sep or scheme not in SCHEMES:
        raise InvalidModelURI(f"the scheme must be one of {', '.join(s + '://' for s in SCHEMES)}")
    if any(char.isspace() for char in uri):
        raise InvalidModelURI("must not contain whitespace")
    if scheme in ("http", "https"):
        parts = urlsplit(uri)
        if not parts.hostname or "@" in parts.netloc:
            raise InvalidModelURI("needs a host and no user info")
        return ModelURI(uri, scheme, parts.netloc, unquote(parts.path))
    if scheme == "hf":
        if not re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*/)?[A-Za-z0-9][A-Za-z0-9._-]*", rest):
            raise InvalidModelURI("must be hf://ORG/NAME (a Hugging Face model repository)")
        return ModelURI(uri, scheme, rest, "")
    authority, _, path = rest.partition("/")
    if not authority:
        raise InvalidModelURI(f"needs a {'claim' if scheme == 'pvc' else 'bucket'} name")
    if ".." in PurePosixPath(path).parts:
        raise InvalidModelURI("the path must not contain '..'")
    if scheme == "pvc":
        return ModelURI(uri, scheme, authority, claim_path(path))
    return ModelURI(uri, scheme, authority, path)


def claim_path(path: str) -> str:
    """A `pvc://CLAIM/PATH`'s PATH normalised (`a//b/./c` → `a/b/c`, '' for the claim's root); refuses one
    that would leave the claim (`/etc`, from `pvc://CLAIM//etc`, or any `..`)."""
    if path.startswith("/") or ".." in path.split("/"):
        raise InvalidModelURI("the path must stay inside the claim: pvc://CLAIM/PATH, without '//' after the "
                              "claim or '..'")
    return "/".join(part for part in path.split("/") if part not in ("", "."))


def cache_key(uri: str, revision: str | None, identity: str = "") -> str:
    """The folder name of an artifact in the cache: a readable slug of its name and a digest of URI, revision
    and `identity` (the store's endpoint and the version it reported: an ETag, a generation, a commit), so that
    another endpoint, a new revision or new content is a new folder, and the same ones are found again."""
    digest = hashlib.sha256(f"{uri}\n{revision or ''}\n{identity}".encode()).hexdigest()[:20]
    parsed = parse(uri)
    name = PurePosixPath(parsed.path.rstrip("/")).name or parsed.authority
    slug = _SLUG.sub("-", f"{parsed.scheme}-{name}".lower()).strip("-")[:40]
    return f"{slug}-{digest}"


def file_name(parsed: ModelURI) -> str:
    """The local file name of a single-file download: the URI path's last segment (`model` if none)."""
    name = PurePosixPath(parsed.path).name
    return name if name not in ("", ".", "..") else "model"
