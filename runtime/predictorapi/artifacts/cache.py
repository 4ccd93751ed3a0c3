"""The artifact cache: one folder per key (URI, revision, endpoint, version), downloaded once under a file lock.

`ROOT/KEY/` exists only complete: a download goes to `ROOT/.KEY.partial/` and is renamed into place
(atomic on one file system). `ROOT/.KEY.lock` (flock) makes concurrent starts on a shared volume wait for
the first one's download instead of repeating it. A download that fails removes its partial folder; one
killed half-way (OOM, a node lost) leaves it to the next holder of its lock, and any download sweeps the
partial folders of other keys that nobody holds and that have not changed for `STALE_PARTIAL_SECONDS`.
Nothing else under ROOT is written: only `KEY`, `.KEY.partial` and `.KEY.lock`.

The model store (`spec.models`) also evicts folders (`evict`: under the exclusive lock, `KEY` is renamed to its
partial folder and removed), and a runtime loading a folder holds a shared lock on it meanwhile (`reading`), so
that no eviction removes a folder being read.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from predictorapi.contracts.models import version_lock_file

log = logging.getLogger("predictorapi.artifacts")
INFO_FILE = ".predictorapi-model.json"
"""In each cached folder: what was downloaded (URI redacted, revision, endpoint, version, bytes)."""
PARTIAL_SUFFIX = ".partial"
STALE_PARTIAL_SECONDS = 3600.0
"""A partial folder of another key, unlocked and unchanged for this long, is a dead download's: swept."""
_KEY = re.compile(r"^[a-z0-9][a-z0-9-]*$")


@dataclass(frozen=True)
class Cached:
    """Where an artifact lies, and whether this call downloaded it."""

    path: Path
    downloaded: bool


def cached(root: Path, key: str, download: Callable[[Path], dict[str, object]]) -> Cached:
    """`ROOT/KEY`, calling `download(partial_folder) -> info` only when no complete copy exists."""
    if not _KEY.match(key):
        raise ValueError(f"not a cache key: {key!r}")
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
        sweep_stale_partials(root, keep=key)
        partial = partial_folder(root, key)
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir()
        try:
            info = download(partial)
            (partial / INFO_FILE).write_text(json.dumps(info, sort_keys=True))
            os.rename(partial, final)
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
        _sync(root)
    return Cached(final, True)


def partial_folder(root: Path, key: str) -> Path:
    """Where `key` is downloaded before it is complete."""
    return root / f".{key}{PARTIAL_SUFFIX}"


def sweep_stale_partials(root: Path, keep: str, older_than: float = STALE_PARTIAL_SECONDS) -> list[Path]:
    """Remove the partial folders of keys other than `keep` whose lock nobody holds and whose newest entry
    is older than `older_than` seconds; returns them."""
    swept = []
    for partial in root.glob(f".*{PARTIAL_SUFFIX}"):
        key = partial.name[1:-len(PARTIAL_SUFFIX)]
        if key == keep or not _KEY.match(key) or partial.is_symlink() or not partial.is_dir():
            continue
        if time.time() - _newest_change(partial) < older_than or _locked(root / f".{key}.lock"):
            continue
        log.info("removing %s: a download that died %.0f s ago", partial.name, time.time() - _newest_change(partial))
        shutil.rmtree(partial, ignore_errors=True)
        swept.append(partial)
    return swept


def evict(root: Path, key: str) -> bool:
    """Remove `ROOT/KEY` unless a download or a reader holds its lock (then leave it); True when removed."""
    try:
        fd = os.open(version_lock_file(root / key), os.O_RDWR | os.O_NOFOLLOW)  # read-write: NFS flock
    except OSError:
        return False
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False
        final, partial = root / key, partial_folder(root, key)
        if not final.is_dir() or final.is_symlink():
            return False
        shutil.rmtree(partial, ignore_errors=True)
        os.rename(final, partial)  # atomic: readers see the folder whole or not at all
        shutil.rmtree(partial, ignore_errors=True)  # what is left is a dead download's: swept later
        return True
    finally:
        os.close(fd)  # releases the lock


@contextmanager
def reading(folder: Path) -> Iterator[bool]:
    """Hold a shared lock on cache folder `ROOT/KEY` (`ROOT/.KEY.lock`) while reading it, so `evict` leaves it;
    yields whether the folder is there (evicted before the lock was taken: False). A folder with no lock file (not
    a cache folder: a pvc:// claim's) is never evicted: yields whether it exists, without a lock."""
    try:
        fd = os.open(version_lock_file(folder), os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        yield folder.is_dir()
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
        yield folder.is_dir()
    finally:
        os.close(fd)


def _newest_change(folder: Path) -> float:
    """The newest modification time of `folder` and anything under it."""
    newest = folder.lstat().st_mtime
    for base, dirs, files in os.walk(folder):
        for name in (*dirs, *files):
            try:
                newest = max(newest, os.lstat(os.path.join(base, name)).st_mtime)
            except OSError:  # removed meanwhile
                continue
    return newest


def _locked(lock_file: Path) -> bool:
    """Whether a download may hold `lock_file` now: False only when it is missing or this call could take it."""
    try:
        fd = os.open(lock_file, os.O_RDWR | os.O_NOFOLLOW)  # read-write: flock over NFS is a POSIX write lock
    except FileNotFoundError:
        return False
    except OSError:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)  # closing releases a lock taken here
    return False


def _sync(folder: Path) -> None:
    """Make a rename in `folder` durable (other nodes of a shared volume see it after a crash too)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
