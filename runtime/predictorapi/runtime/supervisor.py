"""`processes > 1` (`spec.processesPerReplica`): one supervisor process runs that many runtime workers.

Each worker is a fresh interpreter (`python -m predictorapi.runtime.worker`, not a fork: forking a process
with threads is unsafe, and a predictor's libraries, CUDA's for one, must initialise in the process that uses
them) that loads the predictor and serves with the single-process machinery unchanged (`DrainingServer`,
`ConnectionGuard`, the limiter), with its share of `max_concurrency`, `max_queue_length` and `threads`
(:func:`~predictorapi.runtime.replica.share`): the limits are per replica, split per process, so one process
can refuse a request while another has room.

**One port, one socket per worker.** Each worker binds its own listening socket to the same host and port
with SO_REUSEPORT, and the kernel hashes every new connection to one of them: connections spread evenly. One
socket bound here and inherited by every worker would leave them all waiting on one accept queue, where the
kernel wakes waiters in an order that piles connections onto a few processes (the known epoll imbalance of
pre-fork servers). The cost: a connection stays with the worker it was hashed to, even while that worker is
busy and another idle (keep-alive connections from a proxy spread the same way).

**Metrics** use prometheus-client's multiprocess mode: this process points `PROMETHEUS_MULTIPROC_DIR` at a
fresh temporary folder before any worker starts, every worker writes its metrics there, and a scrape of any
worker reads them all (counters and histograms summed, in-flight and the other live gauges summed over live
workers, the load time the max). A dead worker's counts are folded into the folder's `*_dead.db` files and its
own files removed (:mod:`predictorapi.runtime.replica_metrics`: restarts do not grow the folder, totals are
kept); the folder is removed when this process exits.

**Readiness and liveness** are the replica's: a board in that folder (:mod:`predictorapi.runtime.replica`)
lets any worker answer `/readyz` 200 only while every worker has loaded and none is draining, failed, wedged or
unresponsive (no heartbeat from its event loop for 2 s), and `/healthz` 503 when any has been wedged for
`wedged_seconds` or once this process has given up on the replica (`crash-looping`, below).

**Heartbeats.** Each worker writes a heartbeat to its slot from its event loop every 0.1 s. A worker that has
loaded and stops beating for `heartbeat_timeout_seconds` (its event loop is blocked: it answers nothing, probes
included) is killed (SIGKILL) and replaced as a crashed one, below, as the liveness probe would restart a
single process.

**Signals.** SIGTERM or SIGINT here is forwarded to every worker, which drains as a single process does; a
second one is forwarded too (the workers then stop at once). This process exits when every worker has,
non-zero when any failed. Workers run in their own process group (a terminal's Ctrl-C reaches them once,
through here); each asks the kernel for SIGKILL if this process dies without stopping them, and exits at once
if it already has (:mod:`predictorapi.runtime.worker`): no worker outlives its supervisor to serve on the port.

**A worker that dies** after its predictor loaded (a crash, SIGKILL, the OOM killer, a missed heartbeat) is
restarted after a back-off: 1 s, doubling with each crash within `worker_crash_window_seconds`, at most 30 s.
The other workers keep serving, `/readyz` answers 503 until the replacement has loaded (the whole replica is
not ready meanwhile), counters keep their totals. The `worker_crash_limit`-th crash within the window stops
the replica: `/healthz` turns 503 (`crash-looping`), the other workers drain, and this process exits non-zero,
so that Kubernetes backs off (CrashLoopBackOff) and the operator reports why. So does a worker that exits before
its predictor loaded (the predictor fails to load, the port cannot be bound), at once: restarting it would fail
the same way.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Mapping
from pathlib import Path
from types import FrameType

from predictorapi.commands.termination_log import termination_log, write
from predictorapi.contracts.env import setting_env, settings_env
from predictorapi.contracts.termination import WORKERS_CRASHING, failure_message
from predictorapi.runtime.logs import configure_logging
from predictorapi.runtime.replica import (
    BOARD_FILE,
    METRICS_DIR_ENV,
    SUPERVISOR_ENV,
    WORKER_ENV,
    ReplicaBoard,
    share,
)
from predictorapi.runtime.replica_metrics import fold_dead_worker
from predictorapi.runtime.settings import RuntimeSettings

log = logging.getLogger("predictorapi.supervisor")

POLL_SECONDS = 0.1
"""How often the supervisor looks for exited and silent workers."""
BACKOFF_FIRST_SECONDS = 1.0
"""The wait before restarting a worker after its first crash within the window; it doubles with each one."""
BACKOFF_MAX_SECONDS = 30.0
"""The longest wait before restarting a worker."""
KILL_AFTER_GRACE_SECONDS = 10.0
"""Once stopping, workers still running this long after `drain_grace_seconds` are killed."""
WORKER_MODULE = "predictorapi.runtime.worker"


def supervise(settings: RuntimeSettings) -> int:
    """Run `settings.processes` workers until they have all exited; the exit code (non-zero if any failed)."""
    configure_logging(settings.log_json, settings.log_level)
    directory = Path(tempfile.mkdtemp(prefix="predictorapi-metrics-"))
    try:
        return Supervisor(settings, directory).run()
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def worker_settings(settings: RuntimeSettings, index: int) -> RuntimeSettings:
    """Worker `index`'s settings: the replica's, for one process serving its share of the per-replica limits."""
    count = settings.processes
    threads = None if settings.threads is None else max(1, share(settings.threads, count, index))
    return settings.replace(max_concurrency=share(settings.max_concurrency, count, index),
                            max_queue_length=share(settings.max_queue_length, count, index),
                            threads=threads, processes=1)


def worker_env(settings: RuntimeSettings, base: Mapping[str, str]) -> dict[str, str]:
    """`base` (an environment) with `settings` as the `PREDICTORAPI_*` variables a worker reads them from."""
    values = settings.as_dict()
    unset = {setting_env(name) for name, value in values.items() if value is None}
    return {**{key: value for key, value in base.items() if key not in unset}, **settings_env(values)}


class Supervisor:
    """Starts the workers, forwards signals to them, restarts or stops them as they exit or stop beating."""

    def __init__(self, settings: RuntimeSettings, directory: Path) -> None:
        self.settings = settings
        self.directory = directory
        self.board = ReplicaBoard.create(directory / BOARD_FILE, settings.processes)
        self.workers: dict[int, subprocess.Popen] = {}
        self.restart_at: dict[int, float] = {}  # worker index: when its replacement starts (monotonic)
        self.crashes: deque[float] = deque()  # when workers crashed, within the window
        self.killed: set[int] = set()  # pids of the workers killed for missing heartbeats, not yet reaped
        self.stopping = False
        self.kill_at: float | None = None
        self.code = 0
        self.forwarded: list[int] = []  # signals forwarded, not yet logged (a handler must not log: locks)

    def run(self) -> int:
        """Start every worker and supervise them until all have exited."""
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._forward)
        log.info("supervising %d worker processes of %s on port %d", self.settings.processes,
                 self.settings.api_name, self.settings.port)
        for index in range(self.settings.processes):
            if not self.stopping:
                self._start(index)
        while self.workers or self.restart_at:
            time.sleep(POLL_SECONDS)
            self._log_forwarded()
            for index, proc in list(self.workers.items()):
                if proc.poll() is not None:
                    self._exited(index, proc)
                elif not self.stopping:
                    self._check_heartbeat(index, proc)
            self._restart_due()
            if self.kill_at is not None and time.monotonic() >= self.kill_at:
                self._kill_the_rest()
        self._log_forwarded()
        return self.code

    def _log_forwarded(self) -> None:
        while self.forwarded:
            log.info("%s: forwarded to the workers", signal.Signals(self.forwarded.pop(0)).name)

    def _start(self, index: int) -> None:
        env = worker_env(worker_settings(self.settings, index), os.environ)
        env.update({WORKER_ENV: str(index), METRICS_DIR_ENV: str(self.directory), SUPERVISOR_ENV: str(os.getpid())})
        proc = subprocess.Popen([sys.executable, "-m", WORKER_MODULE], env=env, process_group=0)
        self.workers[index] = proc
        log.info("started worker %d (pid %d)", index, proc.pid)

    def _forward(self, sig: int, frame: FrameType | None) -> None:
        """A signal handler: pass `sig` on to every worker (the first one starts the replica's drain)."""
        self.forwarded.append(sig)
        self._stop()
        for proc in list(self.workers.values()):
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):  # it just exited; the loop reaps it
                    os.kill(proc.pid, sig)

    def _stop(self) -> None:
        if not self.stopping:
            self.stopping = True
            self.kill_at = time.monotonic() + self.settings.drain_grace_seconds + KILL_AFTER_GRACE_SECONDS

    def _check_heartbeat(self, index: int, proc: subprocess.Popen) -> None:
        """Kill worker `index` if it has loaded and not beaten for `heartbeat_timeout_seconds` (it is then
        restarted as a crashed one)."""
        silent = self.board.silent_for(index)
        if (self.board.loaded(index) and silent >= self.settings.heartbeat_timeout_seconds
                and proc.pid not in self.killed):
            log.error("worker %d (pid %d) has not reported for %.1fs (its event loop is blocked); killing it",
                      index, proc.pid, silent)
            self.killed.add(proc.pid)
            proc.kill()

    def _exited(self, index: int, proc: subprocess.Popen) -> None:
        """Worker `index` exited: done (stopping), restarted (it had loaded) or fatal (it had not)."""
        del self.workers[index]
        self.killed.discard(proc.pid)
        code = proc.returncode
        if self.stopping:
            log.info("worker %d (pid %d) exited with %d", index, proc.pid, code)
            self.code = self.code or _exit_status(code)
        elif self.board.loaded(index):
            self._crashed(index, proc)
        else:
            log.error("worker %d (pid %d) exited with %d before its predictor loaded; stopping the replica",
                      index, proc.pid, code)
            self._fail(_exit_status(code) or 1)
        fold_dead_worker(self.directory, proc.pid)  # once its slot says what became of it

    def _crashed(self, index: int, proc: subprocess.Popen) -> None:
        """Worker `index` died after loading: restart it after a back-off, or stop the replica if it is the
        `worker_crash_limit`-th crash within the window."""
        now, settings = time.monotonic(), self.settings
        self.crashes.append(now)
        while self.crashes[0] <= now - settings.worker_crash_window_seconds:
            self.crashes.popleft()
        crashes = len(self.crashes)
        if crashes >= settings.worker_crash_limit:
            log.error("worker %d (pid %d) exited with %d after loading: %d crashes within %.0fs; stopping the "
                      "replica", index, proc.pid, proc.returncode, crashes, settings.worker_crash_window_seconds)
            # Kubernetes shows this line as the container's termination message (and so the operator's status).
            write(termination_log(settings.termination_log), failure_message(
                WORKERS_CRASHING, f"{crashes} worker crashes within {settings.worker_crash_window_seconds:.0f}s, "
                f"the last exited with {proc.returncode}"))
            self.board.give_up()
            self._fail(_exit_status(proc.returncode) or 1)
            return
        delay = min(BACKOFF_FIRST_SECONDS * 2 ** (crashes - 1), BACKOFF_MAX_SECONDS)
        log.warning("worker %d (pid %d) exited with %d after loading; restarting it in %.1fs (crash %d of %d "
                    "allowed within %.0fs)", index, proc.pid, proc.returncode, delay, crashes,
                    settings.worker_crash_limit - 1, settings.worker_crash_window_seconds)
        self.board.reset(index)
        self.restart_at[index] = now + delay

    def _restart_due(self) -> None:
        """Start the replacements whose back-off is over (none once stopping)."""
        if self.stopping:
            self.restart_at.clear()
        now = time.monotonic()
        for index, at in list(self.restart_at.items()):
            if now >= at:
                del self.restart_at[index]
                self._start(index)

    def _fail(self, code: int) -> None:
        """Stop the replica for good: the other workers drain, this process will exit with `code`."""
        self.code = code
        self._stop()
        for other in self.workers.values():
            other.send_signal(signal.SIGTERM)

    def _kill_the_rest(self) -> None:
        log.error("workers still running %.0fs after the grace period; killing them", KILL_AFTER_GRACE_SECONDS)
        for proc in self.workers.values():
            proc.kill()
        self.code = self.code or 1
        self.kill_at = None


def _exit_status(returncode: int) -> int:
    """A worker's return code as a shell would report it: killed by signal N is 128 + N."""
    return returncode if returncode >= 0 else 128 - returncode
