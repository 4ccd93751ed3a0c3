"""Scaled-down soak, overload and rolling update (the full runs: bench/soak.py, bench/rolling.py)."""

from __future__ import annotations

import asyncio

import httpx
from support.rolling import rolling
from support.runtimes import BLOCKING_PREDICTOR
from support.soak import metric_value, overload, soak


def test_soak_has_no_errors_but_back_pressure_and_bounded_rss(tmp_path) -> None:
    result = soak(total=1000, concurrency=64, max_concurrency=16, max_queue_length=64, warmup=200,
                  workdir=tmp_path)
    print(result)
    assert result["sent"] == 1000
    assert result["non_503_errors"] == 0, result
    assert result["statuses"].get(200, 0) >= 900, result
    assert result["rss_mib"]["growth"] < 30, result["rss_mib"]
    assert result["in_flight_after"] == 0
    assert result["healthz_after"] is True
    assert result["exit_code"] == 0


def test_overload_sheds_excess_with_503_and_serves_the_rest(tmp_path) -> None:
    """Behaviour under 4x overload; its latencies are a benchmark (`bench/soak.py overload`), not asserted."""
    result = overload(factor=4, max_concurrency=4, max_queue_length=4, sleep_ms=100, duration=2.0,
                      workdir=tmp_path)
    print(result)
    loaded, baseline = result["overload"], result["baseline"]
    assert loaded["non_503_errors"] == 0 and baseline["non_503_errors"] == 0, result
    assert loaded["statuses"].get(503, 0) > 0 and loaded["statuses"].get(200, 0) > 0, result
    assert baseline["statuses"].get(503, 0) == 0, result  # at maxConcurrency clients nothing is shed
    assert set(result["retry_after"]) == {"1"}
    assert result["in_flight_after"] == 0


def test_excess_is_refused_at_once_without_waiting_for_a_slot(start_runtime, tmp_path) -> None:
    """With every run slot and queue place taken by requests that cannot finish, more requests still get
    their 503 (with Retry-After): shedding never waits for a slot. Then the accepted ones all finish."""
    release = tmp_path / "release"
    runtime = start_runtime(BLOCKING_PREDICTOR, max_concurrency=2, max_queue_length=2, request_timeout_seconds=300,
                            predictor_config={"release": str(release)})

    async def scenario() -> tuple[list[httpx.Response], list[httpx.Response], bool]:
        async with httpx.AsyncClient(timeout=300) as client:
            accepted = [asyncio.create_task(client.post(runtime.url, json={})) for _ in range(4)]
            while metric_value(runtime.url, "predictorapi_in_flight_requests") != 4:
                assert not any(task.done() for task in accepted), [t.result() for t in accepted if t.done()]
                await asyncio.sleep(0.05)
            excess = await asyncio.gather(*(client.post(runtime.url, json={}) for _ in range(6)))
            still_blocked = not any(task.done() for task in accepted)
            release.touch()
            return excess, await asyncio.gather(*accepted), still_blocked

    excess, accepted, still_blocked = asyncio.run(scenario())
    assert [(r.status_code, r.headers.get("retry-after")) for r in excess] == [(503, "1")] * 6
    assert still_blocked  # every 503 came back while all accepted requests were still held
    assert [r.json() for r in accepted] == [{"released": True}] * 4


def test_rolling_update_loses_no_request(tmp_path) -> None:
    """Every request is answered 200, also on a loaded machine: a draining replica answers with
    `Connection: close` and keeps serving until its clients have stopped sending to it
    (`drain_quiet_seconds`), so no request is written on a connection it is closing (docs/reliability.md)."""
    result = rolling(total=3000, concurrency=32, workdir=tmp_path)
    print(result)
    assert result["answered"] == 3000
    assert result["lost"] == 0, (result["lost_by_kind"], result["events"], result["refused_then_retried"])
    assert result["closed_unread_after_exit"] == 0, result
    assert result["ok"] == 3000
    assert set(result["exit_codes"]) == {"a", "b", "c", "d"}
    assert all(code == 0 for code in result["exit_codes"].values()), result["exit_codes"]
    assert len(result["ok_by_replica_port"]) == 4, result  # all four replicas served
