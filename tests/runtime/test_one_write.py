"""A response of known length goes out in one write, byte for byte what uvicorn writes in two; a stream, an empty
body and the answer to HEAD are written as uvicorn writes them; a held head is written before the connection
closes."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from uvicorn.protocols.http.flow_control import FlowControl
from uvicorn.protocols.http.httptools_impl import RequestResponseCycle

from predictorapi.runtime.framing import CloseDelimitedCycle
from predictorapi.runtime.one_write import OneWriteTransport


class Connection:
    """The transport side of a connection: every write call (a writelines is one call, as it is one writev)."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))

    def writelines(self, chunks: list[bytes]) -> None:
        self.writes.append(b"".join(chunks))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed


class Protocol:
    """What the transport reads of the connection's protocol: its current cycle."""

    cycle: RequestResponseCycle | None = None


def new_cycle(transport: Any, method: str = "POST", keep_alive: bool = True, expect_100_continue: bool = False,
              cycle_class: type[RequestResponseCycle] = RequestResponseCycle) -> RequestResponseCycle:
    """A cycle of uvicorn's for one request, writing to `transport`."""
    scope = {"type": "http", "method": method, "http_version": "1.1", "path": "/predict"}
    return cycle_class(scope, transport, FlowControl(transport), logging.getLogger("test"),  # type: ignore[arg-type]
                       logging.getLogger("test.access"), False, [], asyncio.Event(), expect_100_continue, keep_alive,
                       lambda: None)


async def sent(messages: list[dict[str, Any]], method: str = "POST", keep_alive: bool = True, one_write: bool = True,
               cycle_class: type[RequestResponseCycle] = RequestResponseCycle) -> Connection:
    """What the connection receives of `messages` sent by a cycle of uvicorn's (`one_write`: through
    :class:`OneWriteTransport`, as the runtime's protocol writes; else straight, as uvicorn writes)."""
    connection, protocol = Connection(), Protocol()
    transport = OneWriteTransport(connection, protocol) if one_write else connection
    protocol.cycle = cycle = new_cycle(transport, method, keep_alive, cycle_class=cycle_class)
    for message in messages:
        await cycle.send(message)
    return connection


def start(*headers: tuple[bytes, bytes], status: int = 200) -> dict[str, Any]:
    return {"type": "http.response.start", "status": status, "headers": list(headers)}


def body(data: bytes, more: bool = False) -> dict[str, Any]:
    return {"type": "http.response.body", "body": data, "more_body": more}


JSON = (b"content-type", b"application/json")


@pytest.mark.parametrize("keep_alive", [True, False], ids=["kept-alive", "closing"])
async def test_a_response_of_known_length_is_one_write_of_what_uvicorn_writes(keep_alive: bool) -> None:
    messages = [start(JSON, (b"content-length", b"11")), body(b'{"ok":true}')]
    ours = await sent(messages, keep_alive=keep_alive)
    uvicorns = await sent(messages, keep_alive=keep_alive, one_write=False)
    assert len(ours.writes) == 1 and len(uvicorns.writes) == 2
    assert ours.writes[0] == b"".join(uvicorns.writes)
    assert ours.writes[0].startswith(b"HTTP/1.1 200 OK\r\n") and ours.writes[0].endswith(b'\r\n\r\n{"ok":true}')
    assert ours.closed is uvicorns.closed is (not keep_alive)


async def test_a_body_in_parts_has_the_head_with_its_first_part() -> None:
    messages = [start((b"content-length", b"6")), body(b"abc", more=True), body(b"def")]
    ours = await sent(messages)
    assert [write[-3:] for write in ours.writes] == [b"abc", b"def"]
    assert b"".join(ours.writes) == b"".join((await sent(messages, one_write=False)).writes)


@pytest.mark.parametrize(("messages", "method"), [
    ([start(JSON), body(b"1", more=True), body(b"2")], "POST"),  # a stream: chunked
    ([start((b"content-length", b"0")), body(b"")], "POST"),  # nothing to wait for
    ([start((b"content-length", b"11")), body(b"")], "HEAD"),  # no body is ever written
], ids=["stream", "empty", "head"])
async def test_the_head_of_any_other_response_is_written_at_once(messages: list[dict[str, Any]], method: str) -> None:
    ours = await sent(messages[:1], method)
    assert len(ours.writes) == 1 and ours.writes[0].endswith(b"\r\n\r\n")
    assert (await sent(messages, method)).writes == (await sent(messages, method, one_write=False)).writes


async def test_http_1_0_keeps_one_write_for_known_lengths() -> None:
    messages = [start((b"content-length", b"2")), body(b"ok")]
    assert len((await sent(messages, cycle_class=CloseDelimitedCycle)).writes) == 1


async def test_a_second_response_on_the_connection_is_one_write_too() -> None:
    connection, protocol = Connection(), Protocol()
    transport = OneWriteTransport(connection, protocol)
    for _ in range(2):
        protocol.cycle = new_cycle(transport)
        await protocol.cycle.send(start((b"content-length", b"2")))
        await protocol.cycle.send(body(b"ok"))
    assert len(connection.writes) == 2 and all(write.endswith(b"\r\n\r\nok") for write in connection.writes)


async def test_a_held_head_is_written_before_the_connection_closes() -> None:
    connection, protocol = Connection(), Protocol()
    transport = OneWriteTransport(connection, protocol)
    protocol.cycle = new_cycle(transport)
    await protocol.cycle.send(start((b"content-length", b"2")))
    assert connection.writes == []  # held for the body
    transport.close()  # the app failed before its body: uvicorn closes the connection
    assert len(connection.writes) == 1 and connection.writes[0].startswith(b"HTTP/1.1 200 OK\r\n")
    assert connection.closed


async def test_a_100_continue_is_written_at_once() -> None:
    connection, protocol = Connection(), Protocol()
    transport = OneWriteTransport(connection, protocol)
    protocol.cycle = new_cycle(transport, expect_100_continue=True)
    protocol.cycle.more_body = False
    protocol.cycle.message_event.set()
    await protocol.cycle.receive()  # the app reads the body: the client is told to send it
    assert connection.writes == [b"HTTP/1.1 100 Continue\r\n\r\n"]
