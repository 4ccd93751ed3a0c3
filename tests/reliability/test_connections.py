"""Connection hygiene against slow and hostile clients: slow headers, silent connections, stalled bodies,
oversized headers, more connections than the cap. Each stalled connection is closed by the runtime
(polled until closed, under a generous deadline) while normal requests keep being served."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import statistics
import time

import httpx
from support.soak import metric_value

SLOW_HEADERS = 100  # of which KEPT_ALIVE first complete one request on the connection
KEPT_ALIVE = 10
SILENT = 30
DEADLINE_S = 90.0  # a safety net for a loaded machine, not a measurement
REQUEST = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"


async def _read_until_closed(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                             trickle: bytes | None) -> bytes:
    """Everything the server sends until it closes the connection; meanwhile `trickle` every 0.5 s."""
    received = b""
    while True:
        try:
            chunk = await asyncio.wait_for(reader.read(65536), 0.5)
        except TimeoutError:
            if trickle is not None:
                with contextlib.suppress(OSError):
                    writer.write(trickle)
                    await writer.drain()
            continue
        except OSError:  # reset: closed as well
            return received
        if not chunk:
            return received
        received += chunk


async def _attacker(port: int, kind: str) -> tuple[str, float, bytes]:
    """One hostile connection; returns (kind, seconds until the server closed it, what it answered)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    opened = time.monotonic()
    trickle: bytes | None = b"X-Slow: 1\r\n"
    if kind == "kept-alive":  # one complete request first, then a slow second one on the same connection
        writer.write(REQUEST + b"Content-Length: 2\r\n\r\n{}")
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(next(line for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:"))
                     .split(b":")[1])
        await reader.readexactly(length)
        opened = time.monotonic()
    if kind == "silent":
        trickle = None
    else:
        writer.write(b"POST / HTTP/1.1\r\nHost: x\r\n")
    received = await _read_until_closed(reader, writer, trickle)
    closed_after = time.monotonic() - opened
    writer.close()
    return kind, closed_after, received


async def _normal_traffic(url: str, stop: asyncio.Event) -> tuple[int, list[str]]:
    """Well-behaved requests, one after another, until `stop`; returns (answered 200, anything else)."""
    ok, other = 0, []
    async with httpx.AsyncClient(timeout=30) as client:
        while not stop.is_set():
            try:
                response = await client.post(url, json={"x": 1})
            except httpx.HTTPError as exc:
                other.append(type(exc).__name__)
                continue
            if response.status_code == 200:
                ok += 1
            else:
                other.append(f"HTTP {response.status_code}")
            await asyncio.sleep(0.02)
    return ok, other


def test_slow_and_silent_connections_are_closed_while_normal_requests_are_served(start_runtime) -> None:
    runtime = start_runtime(header_timeout_seconds=2, log_level="WARNING")
    kinds = ["fresh"] * (SLOW_HEADERS - KEPT_ALIVE) + ["kept-alive"] * KEPT_ALIVE + ["silent"] * SILENT

    async def scenario() -> tuple[list[tuple[str, float, bytes]], int, list[str]]:
        stop = asyncio.Event()
        traffic = asyncio.create_task(_normal_traffic(runtime.url, stop))
        try:
            attacks = await asyncio.wait_for(asyncio.gather(*(_attacker(runtime.port, k) for k in kinds)),
                                             DEADLINE_S)
        finally:
            stop.set()
        ok, other = await traffic
        return attacks, ok, other

    attacks, ok, other = asyncio.run(scenario())
    closed = [seconds for _, seconds, _ in attacks]
    print({"closed": len(closed), "close_after_s": {"min": round(min(closed), 2),
           "median": round(statistics.median(closed), 2), "max": round(max(closed), 2)},
           "served_meanwhile": ok, "other": other})
    assert len(attacks) == SLOW_HEADERS + SILENT  # every one was closed by the server (none left at the deadline)
    assert other == [] and ok > 0  # normal requests were served all along, none failed
    for kind, _, received in attacks:  # half-sent requests are told why; silent connections are just closed
        if kind == "silent":
            assert received == b""
        else:
            assert received.startswith(b"HTTP/1.1 408 "), received[:200]
            assert b'"error": "request headers not received within 2.0s"' in received
    closed_total = metric_value(runtime.url, 'predictorapi_connections_closed_total{api="reliability",'
                                             'reason="header_timeout"}')
    assert closed_total == SLOW_HEADERS + SILENT
    assert httpx.post(runtime.url, json={}).status_code == 200


def _recv_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends on `sock` until it closes the connection."""
    received = b""
    with contextlib.suppress(ConnectionResetError):
        while chunk := sock.recv(65536):
            received += chunk
    return received


def _raw_until_closed(port: int, data: bytes, deadline: float = DEADLINE_S) -> bytes:
    """Send `data` on a new connection and read until the server closes it."""
    with socket.create_connection(("127.0.0.1", port), timeout=deadline) as sock:
        sock.sendall(data)
        return _recv_until_closed(sock)


def test_a_stalled_body_is_answered_408_and_its_request_freed(start_runtime) -> None:
    runtime = start_runtime(body_timeout_seconds=1, request_timeout_seconds=300)
    reply = _raw_until_closed(runtime.port, REQUEST + b'Content-Length: 100\r\n\r\n{"a":')
    assert reply.startswith(b"HTTP/1.1 408 "), reply[:300]
    assert b"connection: close" in reply and b"request body paused" in reply
    deadline = time.monotonic() + DEADLINE_S
    while metric_value(runtime.url, "predictorapi_in_flight_requests") != 0:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert metric_value(runtime.url, 'predictorapi_connections_closed_total{api="reliability",'
                                     'reason="body_timeout"}') == 1
    assert httpx.post(runtime.url, json={"x": 1}).json() == {"type": "dict", "size": 1}


def test_oversized_headers_are_431(start_runtime) -> None:
    runtime = start_runtime(max_header_bytes=16 * 1024)
    big = REQUEST + b"X-Big: " + b"a" * 20_000 + b"\r\nContent-Length: 2\r\n\r\n{}"
    many = REQUEST + b"".join(b"X-H%d: v\r\n" % i for i in range(2000)) + b"Content-Length: 2\r\n\r\n{}"
    for data in (big, many):
        reply = _raw_until_closed(runtime.port, data)
        assert reply.startswith(b"HTTP/1.1 431 "), reply[:300]
        assert b'"error": "request headers are over 16384 bytes"' in reply
    ok = httpx.post(runtime.url, json={}, headers={"X-Fine": "a" * 8000})
    assert ok.status_code == 200


def test_connections_beyond_the_cap_get_a_fast_503_and_probes_still_pass(start_runtime) -> None:
    runtime = start_runtime(max_connections=8, header_timeout_seconds=300)
    held = [socket.create_connection(("127.0.0.1", runtime.port)) for _ in range(8)]
    try:
        deadline = time.monotonic() + DEADLINE_S
        while metric_value(runtime.url, "predictorapi_open_connections") < 8:  # /metrics is a probe: served
            assert time.monotonic() < deadline
            time.sleep(0.05)
        refused = httpx.post(runtime.url, json={})
        assert refused.status_code == 503, refused.text
        assert refused.headers["retry-after"] == "1" and refused.headers["connection"] == "close"
        assert set(refused.json()) == {"error", "request_id"} and "connections" in refused.json()["error"]
        assert httpx.get(f"{runtime.url}/healthz").status_code == 200
        assert httpx.get(f"{runtime.url}/readyz").status_code == 200
    finally:
        for sock in held:
            sock.close()
    deadline = time.monotonic() + DEADLINE_S
    while (response := httpx.post(runtime.url, json={})).status_code != 200:
        assert response.status_code == 503 and time.monotonic() < deadline
        time.sleep(0.05)
    assert metric_value(runtime.url, 'predictorapi_rejected_requests_total{api="reliability",'
                                     'reason="connections"}') >= 1


def test_an_idle_kept_alive_connection_is_closed_after_keep_alive_seconds(start_runtime) -> None:
    runtime = start_runtime(keep_alive_seconds=1)
    request = REQUEST + b"Content-Length: 2\r\n\r\n{}"
    with socket.create_connection(("127.0.0.1", runtime.port), timeout=DEADLINE_S) as sock:
        for _ in range(3):  # each request on the connection starts the idle time again
            sock.sendall(request)
            head = b""
            while b"\r\n\r\n" not in head:
                head += sock.recv(65536)
            assert head.startswith(b"HTTP/1.1 200 ") and b"connection: close" not in head.lower()
            time.sleep(0.5)
        answered = time.monotonic()
        received = _recv_until_closed(sock)  # only the last response's body, if any; then the close
        idle = time.monotonic() - answered + 0.5
    assert b"HTTP/" not in received  # closed without an answer, as uvicorn's keep-alive timeout closes
    assert idle >= 1.0  # not before keep_alive_seconds (the server's tick closes it soon after)
    assert httpx.post(runtime.url, json={}).status_code == 200
