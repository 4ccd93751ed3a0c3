"""Run slots: taken at once while free and nobody waits, else handed out in turn; a request that gives up waiting
never takes a slot with it."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import CollectorRegistry, Gauge

from predictorapi.runtime.limits import ConcurrencyLimiter, Overloaded

HANG_GUARD_S = 120  # only ever reached if the limiter is broken


def limiter(slots: int, queue: int = 8) -> ConcurrencyLimiter:
    registry = CollectorRegistry()
    return ConcurrencyLimiter(slots, queue, Gauge("in_flight", "", registry=registry),
                              Gauge("queue_length", "", registry=registry))


async def test_free_slots_are_taken_at_once_then_handed_out_first_come_first_served() -> None:
    limits = limiter(2)
    first, second = limits.take(), await limits.acquire()
    assert first is not None and second is not None and limits.take() is None
    order: list[int] = []

    async def wait(n: int) -> None:
        slot = await limits.acquire()
        order.append(n)
        slot.finish()

    waiting = [asyncio.create_task(wait(n)) for n in range(3)]
    await asyncio.sleep(0)
    assert limits.take() is None  # a slot freed now goes to the first in line, not to a newcomer
    first.finish()
    await asyncio.wait_for(asyncio.gather(*waiting), HANG_GUARD_S)
    assert order == [0, 1, 2]
    second.finish()
    assert limits.take() is not None and limits.take() is not None and limits.take() is None


@pytest.mark.parametrize("handed_first", [False, True], ids=["gave-up-then-freed", "handed-as-it-gives-up"])
async def test_a_request_that_gives_up_waiting_takes_no_slot_with_it(handed_first: bool) -> None:
    """Whether the slot is freed after it gave up, or handed to it just before it runs again to learn it gave up,
    the next request in line gets the slot, and no slot is lost or made."""
    limits = limiter(1)
    held = limits.take()
    assert held is not None
    gave_up = asyncio.create_task(limits.acquire())
    after = asyncio.create_task(limits.acquire())
    await asyncio.sleep(0)
    if handed_first:
        held.finish()  # hands the slot to `gave_up`, which has not run since
    gave_up.cancel()
    with pytest.raises(asyncio.CancelledError):
        await gave_up
    if not handed_first:
        held.finish()
    (await asyncio.wait_for(after, HANG_GUARD_S)).finish()
    assert limits.take() is not None and limits.take() is None


def test_admission_is_bounded_by_slots_and_queue() -> None:
    limits = limiter(1, queue=1)
    limits.enter()
    limits.enter()
    with pytest.raises(Overloaded):
        limits.enter()
    limits.leave()
    limits.enter()
