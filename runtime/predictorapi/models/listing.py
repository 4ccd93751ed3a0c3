"""The models of `spec.models` and their versions, as Cortex v0.30 laid them out.

Under a model's folder, the integer-named subfolders (`1`, `2`, `10`) are its versions and `latest` is the highest;
a model folder holding anything else but no integer subfolder has one version, `1`, whose content is the folder
itself; an empty or missing folder has no versions. `dir`: each immediate subfolder of `dir` is a model named after
it. `hf://ORG/NAME` is one model with one version (a repository is not listed).

One listing per source: s3 (`list_objects_v2` under the prefix), gs (`list_blobs` under the prefix), pvc (the
folder `PVC_ROOT/CLAIM/PATH`, two or three levels deep). Each version gets a stamp, a digest of what was listed
under it (ETags, generations, mtimes), so that a rewritten version is a new download. The parse helpers are pure.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from predictorapi.artifacts.errors import DownloadFailed
from predictorapi.artifacts.paths import inside
from predictorapi.artifacts.uri import InvalidModelURI, ModelURI, parse
from predictorapi.contracts.models import SINGLE_MODEL_NAME

LISTED_SCHEMES = ("s3", "gs", "hf", "pvc")
"""`https://` names one file: it cannot be listed, so it is refused for `spec.models`."""
_VERSION = re.compile(r"^(0|[1-9][0-9]{0,17})$")
Entry = tuple[str, str]
"""(path relative to the listed folder, stamp); a folder at the listing's depth limit ends with `/`."""


class ListingFailed(Exception):
    """A source could not be listed (one line, credentials redacted); the store keeps its last good listing."""


@dataclass(frozen=True)
class ModelSource:
    """One source of `spec.models`: the `uri` form (`name` is `_`), one of `paths`, or the `dir` (`name` None)."""

    uri: str
    name: str | None = SINGLE_MODEL_NAME

    @property
    def is_dir(self) -> bool:
        return self.name is None


@dataclass(frozen=True)
class Model:
    """A listed model: its folder's URI and its versions (version → stamp)."""

    name: str
    uri: str
    versions: Mapping[int, str] = field(default_factory=dict)
    versioned: bool = True
    """False: the folder has no integer subfolders; its one version `1` is the folder itself."""

    @property
    def latest(self) -> int | None:
        return max(self.versions) if self.versions else None

    def version_uri(self, version: int) -> str:
        """The URI to download `version` from: `<folder>/<version>/`, or the folder itself when unversioned."""
        if not self.versioned:
            return self.uri
        return f"{self.uri.rstrip('/')}/{version}/"

    def to_json(self) -> dict[str, object]:
        return {"versions": sorted(self.versions), "latest": self.latest}


def sources(spec: Mapping[str, object]) -> tuple[ModelSource, ...]:
    """The sources of a `spec.models` mapping (`uri`, `paths: [{name, uri}]` or `dir`)."""
    if spec.get("uri"):
        return (ModelSource(folder_uri(str(spec["uri"]))),)
    if spec.get("dir"):
        return (ModelSource(folder_uri(str(spec["dir"])), None),)
    paths = spec.get("paths") or []
    if not isinstance(paths, list) or not paths:
        raise ValueError("spec.models needs exactly one of uri, paths, dir")
    return tuple(ModelSource(folder_uri(str(item["uri"])), str(item["name"])) for item in paths)


def folder_uri(uri: str) -> str:
    """An s3/gs URI as a folder (ending with `/`); others as written."""
    scheme = uri.partition("://")[0].lower()
    return uri if scheme not in ("s3", "gs") or uri.endswith("/") else uri + "/"


def list_source(source: ModelSource, env: Mapping[str, str], pvc_root: Path | None = None,
                stall_seconds: float = 120.0) -> dict[str, Model]:
    """The models of one source (name → Model). Raises :class:`ListingFailed`."""
    try:
        parsed = parse(source.uri)
    except InvalidModelURI as exc:
        raise ListingFailed(f"{source.uri}: {exc}") from None
    if parsed.scheme not in LISTED_SCHEMES:
        raise ListingFailed(f"{source.uri}: {parsed.scheme}:// names one file and cannot be listed; use one of "
                            f"{', '.join(s + '://' for s in LISTED_SCHEMES)}")
    if parsed.scheme == "hf":
        if source.is_dir:
            raise ListingFailed(f"{source.uri}: a Hugging Face repository is one model: use uri or paths")
        return {str(source.name): Model(str(source.name), source.uri, {1: ""}, versioned=False)}
    depth = 3 if source.is_dir else 2
    try:
        entries = list(_entries(parsed, env, pvc_root, depth, stall_seconds))
    except DownloadFailed as exc:
        raise ListingFailed(f"{parsed.raw}: {exc.detail}") from None
    if not source.is_dir:
        return {str(source.name): model_from_entries(str(source.name), source.uri, entries)}
    return {name: model_from_entries(name, f"{source.uri.rstrip('/')}/{name}/", items)
            for name, items in split_models(entries).items()}


def model_from_entries(name: str, uri: str, entries: Iterable[Entry]) -> Model:
    """A model from what lies under its folder: its integer subfolders, else the folder itself as version 1."""
    versions: dict[int, list[str]] = defaultdict(list)
    everything: list[str] = []
    for rel, stamp in entries:
        if not rel:  # the folder's own marker object
            continue
        everything.append(f"{rel} {stamp}")
        head, _, rest = rel.partition("/")
        if rest and _VERSION.match(head):
            versions[int(head)].append(f"{rest} {stamp}")
    if versions:
        return Model(name, uri, {v: _digest(lines) for v, lines in versions.items()})
    if everything:
        return Model(name, uri, {1: _digest(everything)}, versioned=False)
    return Model(name, uri)


def split_models(entries: Iterable[Entry]) -> dict[str, list[Entry]]:
    """`dir`'s entries by model: the first path segment names the model (files right under `dir` are no model)."""
    models: dict[str, list[Entry]] = defaultdict(list)
    for rel, stamp in entries:
        head, sep, rest = rel.partition("/")
        if sep and head and not head.startswith("."):
            models[head].append((rest, stamp))
    return dict(models)


def _digest(lines: list[str]) -> str:
    return hashlib.sha256("\n".join(sorted(lines)).encode()).hexdigest()[:16]


def _entries(uri: ModelURI, env: Mapping[str, str], pvc_root: Path | None, depth: int,
             stall_seconds: float) -> Iterator[Entry]:
    if uri.scheme == "s3":
        return _s3_entries(uri, env, stall_seconds)
    if uri.scheme == "gs":
        return _gs_entries(uri, env)
    return _pvc_entries(uri, pvc_root or Path.cwd(), depth)


def _s3_entries(uri: ModelURI, env: Mapping[str, str], stall_seconds: float) -> Iterator[Entry]:
    from predictorapi.artifacts import s3

    client = s3._client(env, stall_seconds)
    prefix = uri.path
    with s3._errors(stall_seconds):
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=uri.authority, Prefix=prefix)
        found = [(item["Key"][len(prefix):], str(item.get("ETag", ""))) for page in pages
                 for item in page.get("Contents", []) if not item["Key"].endswith("/")]  # no folder markers
    return iter(found)


def _gs_entries(uri: ModelURI, env: Mapping[str, str]) -> Iterator[Entry]:
    from predictorapi.artifacts import gs

    prefix = uri.path
    with gs._errors():
        found = [(blob.name[len(prefix):], str(blob.generation))
                 for blob in gs._client(env).list_blobs(uri.authority, prefix=prefix) if not blob.name.endswith("/")]
    return iter(found)


def _pvc_entries(uri: ModelURI, pvc_root: Path, depth: int) -> Iterator[Entry]:
    claim = inside(pvc_root, uri.authority, f"the claims' folder {pvc_root}")
    if not claim.is_dir():
        raise DownloadFailed(f"no folder {claim} (a pvc:// URI reads PVC_ROOT/CLAIM/PATH on this machine)")
    folder = inside(claim, uri.path, f"the claim {uri.authority}") if uri.path else claim
    if not folder.is_dir():
        return iter(())
    return _local_entries(folder, depth, "")


def _local_entries(folder: Path, depth: int, prefix: str) -> Iterator[Entry]:
    """Files down to `depth` levels (folders at the limit as `PATH/`), with their mtime and size as stamp."""
    try:
        children = list(os.scandir(folder))
    except FileNotFoundError:  # removed while listed
        return
    for child in children:
        try:
            info = child.stat()
            is_dir = child.is_dir()
        except FileNotFoundError:
            continue
        rel, stamp = prefix + child.name, f"{info.st_mtime_ns}:{info.st_size}"
        if is_dir and depth > 1:
            yield from _local_entries(Path(child.path), depth - 1, rel + "/")
        else:
            yield (rel + "/" if is_dir else rel), stamp
