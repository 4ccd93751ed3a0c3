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
