"""Progress of a download, measured on the folder it writes: bytes and rate logged, a stall detected.

Measuring the folder (instead of each client's callbacks) works the same for every client, including
their retries and temporary files.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger("predictorapi.artifacts")


def folder_bytes(folder: Path) -> int:
    """Bytes of the regular files under `folder` (0 when it is gone)."""
    total = 0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:  # renamed or removed by the client meanwhile
                continue
    return total


def describe(size: int, seconds: float) -> str:
    """`12.3 MiB in 4.0 s (3.1 MiB/s)`."""
    rate = size / seconds if seconds > 0 else 0.0
    return f"{size / 2**20:.1f} MiB in {seconds:.1f} s ({rate / 2**20:.1f} MiB/s)"


@contextmanager
def watched(folder: Path, what: str, stall_seconds: float, on_stall: Callable[[str], None],
            interval: float = 5.0) -> Iterator[None]:
    """While the body runs, log `what`'s progress every `interval` seconds and call `on_stall(detail)` once
    when the folder has not grown for `stall_seconds` (the body cannot be interrupted from a thread, so
    `on_stall` typically ends the process)."""
    done = threading.Event()
    started = time.monotonic()

    def watch() -> None:
        size, changed, logged = 0, started, started
        while not done.wait(min(interval, stall_seconds / 4)):
            now, current = time.monotonic(), folder_bytes(folder)
            if current != size:
                size, changed = current, now
            if now - logged >= interval:
                log.info("downloading %s: %s", what, describe(size, now - started))
                logged = now
            if now - changed >= stall_seconds:
                on_stall(f"stalled: no data for {stall_seconds:g} s after {size} bytes")
                return

    thread = threading.Thread(target=watch, name="download-progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
