"""The metrics folder of a replica of several processes (`processes > 1`): prometheus-client's multiprocess
mode, one folder that every worker writes its own files into and every worker's `/metrics` reads whole.

A worker that dies leaves its files behind (prometheus-client's `mark_process_dead` removes only its live
gauges'), so that a crash-looping worker would grow the folder, and every scrape's work, by a few files per
restart. :func:`fold_dead_worker` instead folds what a dead worker counted into the folder's `*_dead.db` files
(counters and histograms summed, `max` gauges maxed: the replica's totals are kept) and removes its files. A
lock file makes each fold one step for scrapes: a scrape reads the files holding it shared, a fold holds it
exclusive (:func:`every_worker_metrics`).
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import Metric
from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

LOCK_FILE = "fold.lock"
DEAD = "dead"
"""Stands for the pid in the names of the files that keep the dead workers' counts."""
_FOLDS: dict[str, Callable[[float, float], float]] = {
    "counter": float.__add__, "histogram": float.__add__, "summary": float.__add__,
    "gauge_sum": float.__add__, "gauge_max": max}
"""How a dead worker's values join the kept ones, by file kind; other kinds (live gauges...) are dropped."""


@contextmanager
def _locked(directory: Path, operation: int) -> Iterator[None]:
    with open(directory / LOCK_FILE, "a") as lock:
        fcntl.flock(lock, operation)
        yield  # closing the file releases the lock


def fold_dead_worker(directory: Path, pid: int) -> None:
    """Keep dead worker `pid`'s counts in the `*_dead.db` files and remove its own."""
    with _locked(directory, fcntl.LOCK_EX):
        mark_process_dead(pid, str(directory))
        for path in directory.glob(f"*_{pid}.db"):
            kind = path.name.removesuffix(f"_{pid}.db")
            fold = _FOLDS.get(kind)
            if fold is not None:
                _fold_into(directory / f"{kind}_{DEAD}.db", MmapedDict.read_all_values_from_file(str(path)), fold)
            os.remove(path)


def _fold_into(kept: Path, values: Iterable[tuple], fold: Callable[[float, float], float]) -> None:
    before = ({key: value for key, value, _, _ in MmapedDict.read_all_values_from_file(str(kept))}
              if kept.exists() else {})
    target = MmapedDict(str(kept))
    try:
        for key, value, timestamp, _ in values:
            target.write_value(key, fold(before[key], value) if key in before else value, timestamp)
    finally:
        target.close()


class _FoldSafeCollector(MultiProcessCollector):
    """prometheus-client's multiprocess collector, reading the folder only while no fold is under way."""

    def collect(self) -> Iterable[Metric]:
        with _locked(Path(self._path), fcntl.LOCK_SH):
            return list(super().collect())


def every_worker_metrics(directory: Path) -> CollectorRegistry:
    """A registry that reads every worker's metrics files in `directory`: the replica's totals."""
    registry = CollectorRegistry()
    _FoldSafeCollector(registry, str(directory))
    return registry
