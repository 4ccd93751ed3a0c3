"""The predict thread pool: results and errors reach the loop, queued calls can be dropped, a running
call tells when it is over, and shutdown cancels what has not started."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from concurrent.futures import CancelledError

import pytest

from predictorapi.runtime.pool import PredictPool

HANG_GUARD_S = 120  # only ever reached if the pool is broken


@pytest.fixture
def pool() -> Iterator[PredictPool]:
    pool = PredictPool(1)
    yield pool
    pool.shutdown(wait=True, cancel_futures=True)


async def test_results_and_exceptions_reach_the_awaiting_request(pool: PredictPool) -> None:
    assert await pool.start(lambda: threading.current_thread().name).future == "predict_0"

    def fail() -> None:
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        await pool.start(fail).future


async def test_calls_run_in_order_and_every_one_is_answered() -> None:
    pool = PredictPool(3)
    try:
        calls = [pool.start(lambda n=n: n * n) for n in range(200)]
        assert [await call.future for call in calls] == [n * n for n in range(200)]
    finally:
        pool.shutdown()


async def idle(pool: PredictPool, size: int) -> None:
    """Wait until every thread of the pool sleeps (the state every call after a quiet spell finds)."""
    while len(pool._sleeping) < size:
        await asyncio.sleep(0.01)


async def test_an_idle_pool_wakes_a_thread_for_each_burst_of_calls() -> None:
    pool = PredictPool(4)
    try:
        for burst in range(3):
            await idle(pool, 4)
            calls = [pool.start(lambda n=n, burst=burst: n + burst) for n in range(10)]
            assert await asyncio.wait_for(asyncio.gather(*(c.future for c in calls)), HANG_GUARD_S) == [
                n + burst for n in range(10)]
    finally:
        pool.shutdown()


async def test_calls_never_wait_behind_a_blocking_one_while_a_thread_is_free() -> None:
    """Calls queued together, each blocking until all of them run: every one gets a thread of its own."""
    pool = PredictPool(4)
    try:
        await idle(pool, 4)
        together = threading.Barrier(4, timeout=HANG_GUARD_S)
        calls = [pool.start(together.wait) for _ in range(4)]
        assert sorted(await asyncio.wait_for(asyncio.gather(*(c.future for c in calls)), HANG_GUARD_S)) == [0, 1, 2, 3]
        await idle(pool, 4)
        release = threading.Event()
        blocked = pool.start(lambda: release.wait(HANG_GUARD_S))
        quick = pool.start(lambda: "quick")
        assert await asyncio.wait_for(quick.future, HANG_GUARD_S) == "quick"
        assert not blocked.future.done()
        release.set()
        assert await blocked.future is True
    finally:
        pool.shutdown()


async def test_a_queued_call_is_dropped_and_never_runs_a_running_one_tells_when_it_is_over(pool: PredictPool) -> None:
    release, ran = threading.Event(), []
    running = pool.start(lambda: (ran.append("first"), release.wait(HANG_GUARD_S)))
    queued = pool.start(lambda: ran.append("second"))
    while not running.started:
        await asyncio.sleep(0.01)
    assert queued.drop() is True  # not started: it never will be
    assert running.drop() is False  # started: it cannot be stopped
    over = asyncio.Event()
    loop = asyncio.get_running_loop()
    running.add_done_callback(lambda call: loop.call_soon_threadsafe(over.set))
    release.set()
    await asyncio.wait_for(over.wait(), HANG_GUARD_S)
    await pool.start(lambda: None).future  # the thread has passed the dropped call by now
    assert ran == ["first"]
    reported = []
    running.add_done_callback(reported.append)  # already over: called at once
    assert reported == [running]


async def test_submit_is_the_executor_interface(pool: PredictPool) -> None:
    future = pool.submit(sum, [1, 2, 3])
    assert await asyncio.wrap_future(future) == 6
    assert await asyncio.get_running_loop().run_in_executor(pool, str.upper, "ok") == "OK"


async def test_shutdown_cancels_what_has_not_started() -> None:
    pool = PredictPool(1)
    release = threading.Event()
    running = pool.start(lambda: release.wait(HANG_GUARD_S))
    while not running.started:
        await asyncio.sleep(0.01)
    queued, submitted = pool.start(lambda: "never"), pool.submit(lambda: "never")
    pool.shutdown(wait=False, cancel_futures=True)
    release.set()
    assert await running.future is True
    with pytest.raises(asyncio.CancelledError):
        await queued.future
    with pytest.raises(CancelledError):
        submitted.result(HANG_GUARD_S)
    with pytest.raises(RuntimeError, match="shut down"):
        pool.start(lambda: None)
