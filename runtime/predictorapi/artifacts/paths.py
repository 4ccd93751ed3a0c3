"""The one check every downloaded name passes: it must land inside its download folder."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from predictorapi.artifacts.errors import DownloadFailed


def inside(dest: Path, name: str, what: str = "the download folder") -> Path:
    """`dest/name`, where `name` is a store's `/`-separated name (an object key, a Hub file, a claim's path).

    Raises :class:`DownloadFailed` when it would land outside `dest` (`what`, in the message): empty, absolute,
    with a `..` segment, or through a symlink that leaves `dest`."""
    parts = PurePosixPath(name).parts
    if not name or name.startswith("/") or ".." in parts:
        raise DownloadFailed(f"refusing {name!r}: it leads outside {what}")
    target = dest.joinpath(*parts)
    root = dest.resolve()
    if not target.resolve().is_relative_to(root):
        raise DownloadFailed(f"refusing {name!r}: it leads outside {what} through a symlink")
    return target
