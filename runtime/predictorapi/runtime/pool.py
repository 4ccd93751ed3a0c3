"""The thread pool that runs sync `predict` calls (and the steps of sync streams) off the event loop.

:class:`PredictPool` is a `concurrent.futures.Executor` whose fast path, :meth:`PredictPool.start`, hands a call to
a thread with a queue append (the threads are woken once per pass of the event loop, and no more of them than the
queue needs) and its result back to the loop with nothing more, for the calls that end while the loop has not yet
taken earlier outcomes (:class:`Outcomes`: one `call_soon_threadsafe` per batch): no `concurrent.futures.Future`
(a condition variable per call) chained to an asyncio future, as `run_in_executor` does, and no thread woken per
call. The threads are started up front, so a call never waits for one to be created, and are named `predict_N`
(the server looks for them at exit).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any

THREAD_PREFIX = "predict"


class PoolCall:
    """One call handed to the pool: its loop-side `future`, and whether a thread has started it."""

    __slots__ = ("_callbacks", "_fn", "_outcomes", "_pool", "done", "dropped", "future", "started")

    def __init__(self, pool: PredictPool, fn: Callable[[], Any], outcomes: Outcomes) -> None:
        self._pool = pool
        self._fn = fn
        self._outcomes = outcomes
        self._callbacks: list[Callable[[PoolCall], None]] | None = None
        self.future: asyncio.Future[Any] = outcomes.loop.create_future()
        self.started = self.done = self.dropped = False

    def drop(self) -> bool:
        """Make sure the call never starts: True unless a thread has already started it."""
        with self._pool.lock:
            if not self.started:
                self.dropped = True
            return self.dropped

    def add_done_callback(self, callback: Callable[[PoolCall], None]) -> None:
        """Run `callback(self)` when the call has returned (at once if it has), on the pool's thread."""
        with self._pool.lock:
            if not self.done:
                self._callbacks = [*(self._callbacks or ()), callback]
                return
        callback(self)

    def run(self) -> None:
        """Run the call on this (pool) thread, unless it was dropped; hand its outcome to the loop."""
        with self._pool.lock:
            if self.dropped:
                return
            self.started = True
        result: Any = None
        error: BaseException | None = None
        try:
            result = self._fn()
        except BaseException as exc:  # handed to the awaiting request, as a Future does
            error = exc
        self._outcomes.put(self.future, result, error)
        with self._pool.lock:
            self.done = True
            callbacks, self._callbacks = self._callbacks, None
        for callback in callbacks or ():
            callback(self)


class Outcomes:
    """The outcomes of the calls that ended on the pool's threads, handed to the event loop in batches: the first
    outcome since the loop last took them wakes it (`call_soon_threadsafe`, a system call); the outcomes of the
    calls that end before it runs ride along."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._lock = threading.Lock()
        self._pending: list[tuple[asyncio.Future[Any], Any, BaseException | None]] = []

    def put(self, future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
        """Hand one call's outcome to the loop (on a pool thread)."""
        with self._lock:
            self._pending.append((future, result, error))
            wake = len(self._pending) == 1
        if wake:
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits for the outcome
                self.loop.call_soon_threadsafe(self._settle)

    def _settle(self) -> None:
        """Settle every outcome handed over (on the loop)."""
        with self._lock:
            pending, self._pending = self._pending, []
        for future, result, error in pending:
            if future.done():  # cancelled: the request gave up on the call
                continue
            if error is None:
                future.set_result(result)
            else:
                future.set_exception(error)


class PredictPool(Executor):
    """`size` threads running calls from one queue, in order, woken no more than the queue needs.

    A queued call wakes a sleeping thread only when no thread is *spinning* (awake and not inside a call), and a
    thread that takes a call while more are queued wakes the next one if none is spinning: whenever calls wait,
    at least one awake thread is free to take them (so a call never waits behind one that blocks), but a burst of
    short calls is run by the few threads already awake, not handed out to as many threads, each of which would
    wake only to wait for the interpreter lock (Go's scheduler keeps the same invariant for its spinning threads).
    """

    def __init__(self, size: int) -> None:
        self.lock = threading.Lock()
        """Guards the queue, the spinning count and each call's started/dropped/done state (held for a few
        instructions at a time)."""
        self._calls: deque[PoolCall | _Submitted | None] = deque()
        self._sleeping: list[threading.Lock] = []  # one held lock per sleeping thread: releasing it wakes the thread
        self._spinning = size  # every thread starts awake, and sleeps once it finds the queue empty
        self._shutdown = False
        self._waking = False
        self._outcomes: Outcomes | None = None  # bound to the loop of the first call
        self._threads = [threading.Thread(target=self._work, name=f"{THREAD_PREFIX}_{index}", daemon=True)
                         for index in range(size)]
        for thread in self._threads:
            thread.start()

    def start(self, fn: Callable[[], Any]) -> PoolCall:
        """Queue `fn()` for a thread (on the event loop); await the returned call's `future` for its result.

        Every call is started from the event loop of the first (the server's: asking for the running loop costs a
        system call on Python 3.11). The threads are woken once the loop has queued the calls that the requests
        it is handling now start (:meth:`_wake`, next in its ready queue), not for each call: a thread woken at
        once would take the CPU from the loop only to wait for the interpreter lock it holds."""
        if self._shutdown:
            raise RuntimeError("the predict pool is shut down")
        outcomes = self._outcomes
        if outcomes is None:
            outcomes = self._outcomes = Outcomes(asyncio.get_running_loop())
        call = PoolCall(self, fn, outcomes)
        with self.lock:
            self._calls.append(call)
        if not self._waking:
            self._waking = True
            outcomes.loop.call_soon(self._wake)
        return call

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        """`Executor.submit`: `fn(*args, **kwargs)` on a pool thread, as a `concurrent.futures.Future`."""
        if self._shutdown:
            raise RuntimeError("the predict pool is shut down")
        task = _Submitted(fn, args, kwargs)
        self._put(task)
        return task.future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stop the threads once the queue is empty (`cancel_futures`: drop what has not started)."""
        self._shutdown = True
        if cancel_futures:
            with self.lock:
                dropped = [item for item in self._calls if item is not None]
                self._calls.clear()
            for item in dropped:
                _cancel(item)
        for _ in self._threads:
            self._put(None)
        if wait:
            for thread in self._threads:
                thread.join()

    def _wake(self) -> None:
        """Wake a thread for the calls queued, unless one is awake and free to take them (on the loop)."""
        self._waking = False
        with self.lock:
            self._wake_one()

    def _wake_one(self) -> None:
        """(Holding the lock.) Calls are queued and no thread is free to take them: wake one that sleeps."""
        if self._calls and self._spinning == 0 and self._sleeping:
            self._spinning = 1
            self._sleeping.pop().release()

    def _put(self, item: PoolCall | _Submitted | None) -> None:
        with self.lock:
            self._calls.append(item)
            self._wake_one()

    def _work(self) -> None:
        wake = threading.Lock()
        wake.acquire()  # held while the thread runs: the thread sleeps on acquiring it again
        while True:
            with self.lock:
                self._spinning -= 1  # into a call, or to sleep
                item = self._calls.popleft() if self._calls else wake
                if item is wake:
                    self._sleeping.append(wake)
                else:
                    self._wake_one()  # more calls wait: a thread free to take them, in case this call blocks
            if item is wake:
                wake.acquire()  # whoever released it counted this thread as spinning again
                continue
            if item is None:
                return
            item.run()
            del item  # do not keep the last call's arguments and result alive while idle
            with self.lock:
                self._spinning += 1


class _Submitted:
    """A call from :meth:`PredictPool.submit`, with its `concurrent.futures.Future`."""

    __slots__ = ("args", "fn", "future", "kwargs")

    def __init__(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self.fn, self.args, self.kwargs = fn, args, kwargs
        self.future: Future[Any] = Future()

    def run(self) -> None:
        if not self.future.set_running_or_notify_cancel():
            return
        try:
            self.future.set_result(self.fn(*self.args, **self.kwargs))
        except BaseException as exc:  # the Future carries it, as in ThreadPoolExecutor
            self.future.set_exception(exc)


def _cancel(item: PoolCall | _Submitted | None) -> None:
    """A queued item that will not run: its awaiting side learns so."""
    if isinstance(item, PoolCall):
        if item.drop():
            item.future.get_loop().call_soon_threadsafe(item.future.cancel)
    elif item is not None:
        item.future.cancel()
