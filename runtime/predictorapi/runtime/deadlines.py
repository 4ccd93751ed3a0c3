"""Per-request timeouts of one length, enforced by one timer for all the requests in flight.

`asyncio.timeout` arms and cancels a timer of its own for every request; as every request here gets
the same timeout, their deadlines come in the order the requests start, so one timer armed for the
oldest is enough: the request path only adds and removes an entry.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict


class Deadline:
    """One request's deadline (`when`, in loop time); `expired` once its task was cancelled for it."""

    __slots__ = ("expired", "finished", "task", "when")

    def __init__(self, task: asyncio.Task[object], when: float) -> None:
        self.task = task
        self.when = when
        self.expired = False
        self.finished = False


class Deadlines:
    """The deadlines of the requests in flight, each `timeout_s` after its :meth:`start`."""

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self._live: OrderedDict[Deadline, None] = OrderedDict()
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> Deadline:
        """The current task's deadline, from now: past it, the task is cancelled (see :meth:`finish`). The loop is
        the last request's, unless it runs no task now (asking for the running loop costs a system call on Python
        3.11)."""
        loop = self._loop
        task = asyncio.current_task(loop) if loop is not None else None
        if task is None:
            self._loop = loop = asyncio.get_running_loop()
            task = asyncio.current_task(loop)
        if task is None:
            raise RuntimeError("a deadline needs a running task")
        deadline = Deadline(task, loop.time() + self.timeout_s)
        self._live[deadline] = None
        if self._timer is None:
            self._timer = loop.call_at(deadline.when, self._expire, loop)
        return deadline

    def finish(self, deadline: Deadline) -> bool:
        """The request is over (or failed): forget its deadline. True when it had expired, in which case
        the task's cancellation is withdrawn (`Task.uncancel`), as `asyncio.timeout` does."""
        if not deadline.finished:
            deadline.finished = True
            self._live.pop(deadline, None)
            if deadline.expired:
                deadline.task.uncancel()
        return deadline.expired

    def _expire(self, loop: asyncio.AbstractEventLoop) -> None:
        """Cancel every task past its deadline; arm the timer for the next deadline."""
        self._timer = None
        now = loop.time()
        while self._live:
            deadline = next(iter(self._live))
            if deadline.when > now:
                self._timer = loop.call_at(deadline.when, self._expire, loop)
                return
            del self._live[deadline]
            deadline.expired = True
            deadline.task.cancel()
