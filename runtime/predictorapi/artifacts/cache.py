"""The artifact cache: one folder per URI + revision, downloaded once under a file lock.

`ROOT/KEY/` exists only complete: a download goes to `ROOT/.KEY.partial/` and is renamed into place
(atomic on one file system). `ROOT/.KEY.lock` (flock) makes concurrent starts on a shared volume wait for
the first one's download instead of repeating it; a partial folder left by a killed download is cleared
by the next holder of the lock.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("predictorapi.artifacts")
INFO_FILE = ".predictorapi-model.json"
"""In each cached folder: what was downloaded (URI redacted, revision, bytes)."""


@dataclass(frozen=True)
class Cached:
    """Where an artifact lies, and whether this call downloaded it."""

    path: Path
    downloaded: bool


def cached(root: Path, key: str, download: Callable[[Path], dict[str, object]]) -> Cached:
    """`ROOT/KEY`, calling `download(partial_folder) -> info` only when no complete copy exists."""
    final = root / key
    if final.is_dir():
        return Cached(final, False)
    root.mkdir(parents=True, exist_ok=True)
    with (root / f".{key}.lock").open("a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("another start is downloading %s; waiting for it", key)
            fcntl.flock(lock, fcntl.LOCK_EX)
        if final.is_dir():  # the holder we waited for finished it
            return Cached(final, False)
        partial = root / f".{key}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir()
        info = download(partial)
        (partial / INFO_FILE).write_text(json.dumps(info, sort_keys=True))
        os.rename(partial, final)
        _sync(root)
    return Cached(final, True)


def _sync(folder: Path) -> None:
    """Make a rename in `folder` durable (other nodes of a shared volume see it after a crash too)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
