"""`python -m predictorapi.runtime.worker`: one of a replica's worker processes, started by the supervisor
(`predictorapi.runtime.supervisor`), which sets its settings, `PREDICTORAPI_WORKER_INDEX`,
`PREDICTORAPI_SUPERVISOR_PID` and `PROMETHEUS_MULTIPROC_DIR`.

A worker must never outlive its supervisor: an orphan would keep serving old code on the port, which
SO_REUSEPORT lets a new server share. So before it imports anything heavy (the server, the predictor: seconds) it
asks the kernel to SIGKILL it when the supervisor dies, then checks that the supervisor is still its parent (it
may have died before the request; the kernel would then never send the signal) and leaves at once if not.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from pathlib import Path

from predictorapi.runtime.replica import BOARD_FILE, METRICS_DIR_ENV, SUPERVISOR_ENV, WORKER_ENV, ReplicaBoard

PR_SET_PDEATHSIG = 1
ORPHANED = 70
"""The exit code of a worker whose supervisor was gone before it started serving."""


def main() -> int:
    """Serve as worker `PREDICTORAPI_WORKER_INDEX` of the replica (its settings: one process's, with its share
    of the replica's limits); the exit code."""
    if not _stop_with_supervisor():
        return ORPHANED
    from predictorapi.runtime.server import serve  # the heavy imports: once tied to the supervisor
    from predictorapi.runtime.settings import RuntimeSettings

    board = ReplicaBoard(Path(os.environ[METRICS_DIR_ENV]) / BOARD_FILE, int(os.environ[WORKER_ENV]))
    return serve(RuntimeSettings(), board)


def _stop_with_supervisor() -> bool:
    """Have the kernel SIGKILL this worker when the supervisor dies (Linux); whether the supervisor (the pid in
    `PREDICTORAPI_SUPERVISOR_PID`, when set) is still this process's parent."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    supervisor = os.environ.get(SUPERVISOR_ENV)
    return supervisor is None or os.getppid() == int(supervisor)


if __name__ == "__main__":
    sys.exit(main())
