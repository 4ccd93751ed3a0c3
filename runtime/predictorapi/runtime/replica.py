"""What the worker processes of one replica (`processes > 1`) tell each other, through a small shared file.

The supervisor creates the board (one slot per worker, in the replica's metrics folder); each worker rewrites
its own slot on every server tick (0.1 s): its status (what its `/readyz` alone would say), whether it has been
wedged for `wedged_seconds`, and whether its predictor has loaded. Any worker then answers `/readyz` and
`/healthz` for the whole replica, and the supervisor learns which workers had loaded (a crash after that is
restarted; a failure before it stops the replica). The supervisor resets a dead worker's slot to `starting`, so
that the replica is not ready again until the replacement has loaded.
"""

from __future__ import annotations

import mmap
from pathlib import Path

STATUSES = ("starting", "loading", "ready", "draining", "failed", "wedged")
"""A worker's status; `starting` (0) until the worker first writes its slot."""
WORSE_FIRST = ("failed", "draining", "wedged", "starting", "loading")
"""Which status the replica reports when several workers are not ready."""
BOARD_FILE = "replica.board"
"""The board's name in the replica's metrics folder (prometheus-client reads only `*.db` files there)."""
WORKER_ENV = "PREDICTORAPI_WORKER_INDEX"
"""The worker's index (0 to processes - 1), set by the supervisor; a predictor may read it too."""
METRICS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"
"""prometheus-client's multiprocess folder, set by the supervisor before a worker imports prometheus-client."""

_FIELDS = 3  # status, wedged too long, loaded
_STATUS, _WEDGED, _LOADED = range(_FIELDS)
_WORD = 8


def share(total: int, workers: int, index: int) -> int:
    """Worker `index`'s part of a per-replica `total` (a limit): `total // workers`, plus one of the remainder."""
    return total // workers + (1 if index < total % workers else 0)


class ReplicaBoard:
    """The slots of a replica's workers (one per worker, as many as the file holds); `index` is this
    process's own (None in the supervisor)."""

    def __init__(self, path: Path, index: int | None = None) -> None:
        self.index = index
        with open(path, "r+b") as file:
            self._map = mmap.mmap(file.fileno(), 0)
        self._slots = memoryview(self._map).cast("q")
        self.workers = len(self._slots) // _FIELDS

    @classmethod
    def create(cls, path: Path, workers: int) -> ReplicaBoard:
        """A new board of `workers` slots, every worker `starting`."""
        path.write_bytes(bytes(workers * _FIELDS * _WORD))
        return cls(path)

    def publish(self, status: str, wedged_too_long: bool, loaded: bool) -> None:
        """Write this worker's slot."""
        base = self.index * _FIELDS
        self._slots[base + _STATUS] = STATUSES.index(status)
        self._slots[base + _WEDGED] = int(wedged_too_long)
        self._slots[base + _LOADED] = int(loaded)

    def reset(self, index: int) -> None:
        """Worker `index` is gone (the supervisor restarts it): `starting`, not loaded."""
        for field in range(_FIELDS):
            self._slots[index * _FIELDS + field] = 0

    def loaded(self, index: int) -> bool:
        """Whether worker `index` had loaded its predictor (the slot as it last wrote it)."""
        return bool(self._slots[index * _FIELDS + _LOADED])

    def statuses(self, own: str | None = None) -> list[str]:
        """Every worker's status; this worker's own is `own` when given (fresher than its slot)."""
        out = [STATUSES[self._slots[i * _FIELDS + _STATUS]] for i in range(self.workers)]
        if own is not None and self.index is not None:
            out[self.index] = own
        return out

    def wedged_too_long(self) -> bool:
        """Whether some worker has been wedged for `wedged_seconds` (the replica's liveness fails)."""
        return any(self._slots[i * _FIELDS + _WEDGED] for i in range(self.workers))


def replica_status(statuses: list[str]) -> str:
    """`ready` when every worker is, else the worst status among them."""
    return next((status for status in WORSE_FIRST if status in statuses), "ready")
