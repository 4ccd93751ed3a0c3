"""`python -m predictorapi.runtime.worker`: one of a replica's worker processes, started by the supervisor
(`predictorapi.runtime.supervisor`), which sets its settings, `PREDICTORAPI_WORKER_INDEX` and
`PROMETHEUS_MULTIPROC_DIR`."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
from pathlib import Path

from predictorapi.runtime.replica import BOARD_FILE, METRICS_DIR_ENV, WORKER_ENV, ReplicaBoard
from predictorapi.runtime.server import serve
from predictorapi.runtime.settings import RuntimeSettings

PR_SET_PDEATHSIG = 1


def main() -> int:
    """Serve as worker `PREDICTORAPI_WORKER_INDEX` of the replica (its settings: one process's, with its share
    of the replica's limits); the exit code."""
    _stop_with_supervisor()
    settings = RuntimeSettings()
    board = ReplicaBoard(Path(os.environ[METRICS_DIR_ENV]) / BOARD_FILE, int(os.environ[WORKER_ENV]))
    return serve(settings, board)


def _stop_with_supervisor() -> None:
    """Have the kernel send this worker SIGTERM (it drains) if the supervisor dies first (Linux only)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


if __name__ == "__main__":
    sys.exit(main())
