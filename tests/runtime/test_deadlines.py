"""Request deadlines: one timer for all, a request past its deadline is cancelled (and told so), one that
finished in time is left alone, and the timer keeps serving requests that start later."""

from __future__ import annotations

import asyncio
import contextlib

from predictorapi.runtime.deadlines import Deadlines

HANG_GUARD_S = 120


async def _request(deadlines: Deadlines, work: asyncio.Event) -> str:
    deadline = deadlines.start()
    try:
        await work.wait()
        return "answered"
    except asyncio.CancelledError:
        if deadlines.finish(deadline):
            assert asyncio.current_task().cancelling() == 0  # the cancellation was withdrawn
            return "timed out"
        raise
    finally:
        deadlines.finish(deadline)


async def test_only_the_requests_past_their_deadline_are_cancelled() -> None:
    deadlines = Deadlines(0.05)
    done, never = asyncio.Event(), asyncio.Event()
    done.set()
    outcomes = await asyncio.wait_for(asyncio.gather(
        _request(deadlines, never), _request(deadlines, done), _request(deadlines, never)), HANG_GUARD_S)
    assert outcomes == ["timed out", "answered", "timed out"]
    # Later requests are still bounded: the timer re-arms for them.
    assert await asyncio.wait_for(_request(deadlines, never), HANG_GUARD_S) == "timed out"


async def test_a_request_cancelled_for_another_reason_is_not_a_timeout() -> None:
    deadlines = Deadlines(HANG_GUARD_S)
    task = asyncio.create_task(_request(deadlines, asyncio.Event()))
    await asyncio.sleep(0)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert task.cancelled()
