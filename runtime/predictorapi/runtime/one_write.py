"""A response of known length in one write: its status line and headers go out with its body.

uvicorn writes a response's head when the app sends `http.response.start`, and its body when the app sends
`http.response.body`: two `send` system calls for every small response, where one would do (as nginx sends a
head and a body with one `writev`). :class:`OneWriteCycle` holds the head of a response with a `Content-Length`
until its body's first bytes, and writes both at once (uvloop's `writelines`: one `writev`, no copy). A response
without a length (a stream, chunked or close-delimited), an empty one and the answer to `HEAD` are written as
uvicorn writes them.
"""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.http.httptools_impl import RequestResponseCycle


class _Written:
    """A transport that keeps what is written to it (the head, while uvicorn writes it)."""

    __slots__ = ("data",)

    def __init__(self) -> None:
        self.data: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.data.append(data)


class _AfterHead:
    """The connection's transport, writing the held head before (with) the first bytes written to it."""

    __slots__ = ("_head", "_transport")

    def __init__(self, transport: Any, head: list[bytes]) -> None:
        self._transport = transport
        self._head = head

    def write(self, data: bytes) -> None:
        if self._head:
            head, self._head = self._head, []
            self._transport.writelines([*head, data])
        else:
            self._transport.write(data)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def flush(self) -> None:
        """Write the head, if nothing was written after it."""
        if self._head:
            head, self._head = self._head, []
            self._transport.writelines(head)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class OneWriteCycle(RequestResponseCycle):
    """uvicorn's request-response cycle, writing the head of a response of known length with its body."""

    _head: list[bytes] | None = None

    async def send(self, message: Any) -> None:
        """Send `message`: a response start of known length is held, and written with the body's first bytes."""
        head = self._head
        if head is not None:
            self._head = None
            transport, self.transport = self.transport, _AfterHead(self.transport, head)
            try:
                await RequestResponseCycle.send(self, message)
            finally:
                after_head, self.transport = self.transport, transport
                if not self.disconnected:
                    after_head.flush()  # nothing was written after it (an error): the head still goes first
            return
        if message["type"] != "http.response.start" or self.response_started or self.disconnected:
            await RequestResponseCycle.send(self, message)
            return
        transport, self.transport = self.transport, _Written()
        try:
            await RequestResponseCycle.send(self, message)
        finally:
            written, self.transport = self.transport, transport
        if (self.chunked_encoding is False and self.expected_content_length > 0
                and self.scope["method"] != "HEAD" and not self.disconnected):
            self._head = written.data
        elif written.data:
            transport.writelines(written.data)
