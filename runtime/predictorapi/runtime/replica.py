"""What the worker processes of one replica (`processes > 1`) and their supervisor tell each other, through a
small shared file.

The supervisor creates the board (a word of its own, then one slot per worker, in the replica's metrics folder);
each worker rewrites its own slot on every server tick (0.1 s), from its event loop: its status (what its
`/readyz` alone would say), whether it has been wedged for `wedged_seconds`, whether its predictor has loaded,
and a heartbeat (the time of that tick). Any worker then answers `/readyz` and `/healthz` for the whole replica:
a ready worker whose heartbeat is older than :data:`UNRESPONSIVE_SECONDS` (its event loop is blocked: it could
not answer a probe in time) counts as `unresponsive`. The supervisor learns which workers had loaded (a crash after
that is restarted; a failure before it stops the replica) and which stopped beating (it kills and replaces
them); it resets a dead worker's slot to `starting`, so that the replica is not ready again until the
replacement has loaded, and marks the replica `crash-looping` when it gives up on it (`/healthz` then fails).
"""

from __future__ import annotations

import mmap
import time
from pathlib import Path

STATUSES = ("starting", "loading", "ready", "draining", "failed", "wedged", "unresponsive")
"""A worker's status; `starting` (0) until the worker first writes its slot."""
WORSE_FIRST = ("failed", "draining", "unresponsive", "wedged", "starting", "loading")
"""Which status the replica reports when several workers are not ready."""
CRASH_LOOPING = "crash-looping"
"""What `/healthz` says once the supervisor has given up on the replica (too many crashes)."""
UNRESPONSIVE_SECONDS = 2.0
"""A worker whose heartbeat is older than this is `unresponsive` (the probes' own timeout is 2 s)."""
BOARD_FILE = "replica.board"
"""The board's name in the replica's metrics folder (prometheus-client reads only `*.db` files there)."""
WORKER_ENV = "PREDICTORAPI_WORKER_INDEX"
"""The worker's index (0 to processes - 1), set by the supervisor; a predictor may read it too."""
SUPERVISOR_ENV = "PREDICTORAPI_SUPERVISOR_PID"
"""The supervisor's pid, set by the supervisor: a worker whose parent is another process is an orphan."""
METRICS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"
"""prometheus-client's multiprocess folder, set by the supervisor before a worker imports prometheus-client."""

_HEADER = 1  # the supervisor's word: whether it gave up on the replica
_FIELDS = 4  # per worker: status, wedged too long, loaded, heartbeat (monotonic ns; 0: none yet)
_STATUS, _WEDGED, _LOADED, _BEAT = range(_FIELDS)
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
        self._words = memoryview(self._map).cast("q")
        self.workers = (len(self._words) - _HEADER) // _FIELDS

    @classmethod
    def create(cls, path: Path, workers: int) -> ReplicaBoard:
        """A new board of `workers` slots, every worker `starting`."""
        path.write_bytes(bytes((_HEADER + workers * _FIELDS) * _WORD))
        return cls(path)

    def _word(self, index: int, field: int) -> int:
        return _HEADER + index * _FIELDS + field

    def publish(self, status: str, wedged_too_long: bool, loaded: bool) -> None:
        """Write this worker's slot, with a heartbeat: now."""
        self._words[self._word(self.index, _STATUS)] = STATUSES.index(status)
        self._words[self._word(self.index, _WEDGED)] = int(wedged_too_long)
        self._words[self._word(self.index, _LOADED)] = int(loaded)
        self._words[self._word(self.index, _BEAT)] = time.monotonic_ns()

    def reset(self, index: int) -> None:
        """Worker `index` is gone (the supervisor restarts it): `starting`, not loaded, no heartbeat."""
        for field in range(_FIELDS):
            self._words[self._word(index, field)] = 0

    def loaded(self, index: int) -> bool:
        """Whether worker `index` had loaded its predictor (the slot as it last wrote it)."""
        return bool(self._words[self._word(index, _LOADED)])

    def silent_for(self, index: int) -> float:
        """Seconds since worker `index`'s last heartbeat (0 before its first)."""
        beat = self._words[self._word(index, _BEAT)]
        return (time.monotonic_ns() - beat) / 1e9 if beat else 0.0

    def statuses(self, own: str | None = None) -> list[str]:
        """Every worker's status (`unresponsive` for a ready one silent for :data:`UNRESPONSIVE_SECONDS`); this
        worker's own is `own` when given (fresher than its slot)."""
        out = [STATUSES[self._words[self._word(i, _STATUS)]] for i in range(self.workers)]
        out = ["unresponsive" if status == "ready" and self.silent_for(i) > UNRESPONSIVE_SECONDS else status
               for i, status in enumerate(out)]
        if own is not None and self.index is not None:
            out[self.index] = own
        return out

    def wedged_too_long(self) -> bool:
        """Whether some worker has been wedged for `wedged_seconds` (the replica's liveness fails)."""
        return any(self._words[self._word(i, _WEDGED)] for i in range(self.workers))

    def give_up(self) -> None:
        """The supervisor stops the replica for crashing too often: `/healthz` fails from now on."""
        self._words[0] = 1

    @property
    def crash_looping(self) -> bool:
        """Whether the supervisor gave up on the replica (:meth:`give_up`)."""
        return bool(self._words[0])


def replica_status(statuses: list[str]) -> str:
    """`ready` when every worker is, else the worst status among them."""
    return next((status for status in WORSE_FIRST if status in statuses), "ready")
