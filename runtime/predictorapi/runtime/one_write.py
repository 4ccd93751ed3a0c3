"""A response of known length in one write: its status line and headers go out with its body.

uvicorn writes a response's head when the app sends `http.response.start`, and its body when the app sends
`http.response.body`: two `send` system calls for every small response, where one would do (as nginx sends a
head and a body with one `writev`). :class:`OneWriteTransport`, the transport a connection's protocol writes to,
holds the head of a response with a `Content-Length` until its body's first bytes, and writes both at once
(`writelines`: one `writev` on uvloop, no copy). A response without a length (a stream, chunked or
close-delimited), an empty one and the answer to `HEAD` are written as uvicorn writes them. Nothing is made per
request: the transport looks at the protocol's current cycle when written to.
"""

from __future__ import annotations

from typing import Any, Protocol

from uvicorn.protocols.http.httptools_impl import RequestResponseCycle


class _HasCycle(Protocol):
    cycle: RequestResponseCycle | None


class OneWriteTransport:
    """`transport`, writing the head of each response of known length that `protocol`'s cycles send with the
    first bytes of its body (held until then; written first, alone, if the connection closes before)."""

    __slots__ = ("_headed", "_held", "_protocol", "_transport")

    def __init__(self, transport: Any, protocol: _HasCycle) -> None:
        self._transport = transport
        self._protocol = protocol
        self._held: bytes | None = None
        self._headed: RequestResponseCycle | None = None  # the cycle whose head was written (or held) last

    def write(self, data: bytes) -> None:
        """Write `data`, with the held head before it; hold it instead when it is the head of a response of known,
        non-zero length (uvicorn has set the cycle's framing when it writes the head)."""
        held = self._held
        if held is not None:
            self._held = None
            self._transport.writelines((held, data))
            return
        cycle = self._protocol.cycle
        if cycle is not None and cycle is not self._headed and cycle.response_started:
            self._headed = cycle  # the first write since its response started: the head (a 100 Continue comes before)
            if (cycle.chunked_encoding is False and cycle.expected_content_length > 0
                    and cycle.scope["method"] != "HEAD"):
                self._held = data
                return
        self._transport.write(data)

    def writelines(self, chunks: Any) -> None:
        """Write `chunks`, with the held head before them."""
        self.flush()
        self._transport.writelines(chunks)

    def flush(self) -> None:
        """Write the held head, if any."""
        held = self._held
        if held is not None:
            self._held = None
            self._transport.write(held)

    def close(self) -> None:
        """Close the connection once what was written (the held head too) is sent."""
        self.flush()
        self._transport.close()

    def is_closing(self) -> bool:
        """Whether the connection is closing or closed (asked after every response: not through `__getattr__`)."""
        return self._transport.is_closing()

    def __getattr__(self, name: str) -> Any:
        """Everything else, the transport's own (flow control, `get_extra_info`: not per request)."""
        return getattr(self._transport, name)
