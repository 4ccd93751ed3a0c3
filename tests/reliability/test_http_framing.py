"""HTTP/1.1 message framing at the runtime's edge (RFC 9112 §6), over raw sockets to a runtime process.

An HTTP/1.0 client gets a streamed response close-delimited (it cannot read chunked); a request whose
`Transfer-Encoding` a proxy in front could read otherwise than the runtime (request smuggling) is refused with
400 before its body is read, as nginx refuses it.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import httpx
import pytest
from support.runtimes import runtime_in
from support.soak import Runtime

HANG_GUARD = 60.0

STREAMING = """
    class PythonPredictor:
        def predict(self, payload):
            yield "one "
            yield "two"
"""


@pytest.fixture(scope="module")
def runtime(tmp_path_factory) -> Iterator[Runtime]:
    with runtime_in(tmp_path_factory.mktemp("framing"), STREAMING, api_name="framing") as runtime:
        yield runtime


def exchange(runtime: Runtime, request: bytes) -> bytes:
    """Send `request` on a new connection; everything the runtime sends until it closes the connection."""
    with socket.create_connection(("127.0.0.1", runtime.port), timeout=HANG_GUARD) as sock:
        sock.sendall(request)
        reply = b""
        while chunk := sock.recv(65536):  # a timeout (the connection left open) fails the test
            reply += chunk
    return reply


def parse(reply: bytes) -> tuple[bytes, dict[bytes, bytes], bytes]:
    """The status line, the headers (lower-case names) and the body of one response."""
    head, _, body = reply.partition(b"\r\n\r\n")
    status, *lines = head.split(b"\r\n")
    return status, {name.lower(): value.strip() for name, _, value in (line.partition(b":") for line in lines)}, body


def test_an_http_1_0_client_gets_a_close_delimited_stream(runtime: Runtime) -> None:
    status, headers, body = parse(exchange(runtime, b"POST / HTTP/1.0\r\nContent-Type: application/json\r\n"
                                                    b"Content-Length: 2\r\n\r\n{}"))
    assert status == b"HTTP/1.1 200 OK"
    assert b"transfer-encoding" not in headers and b"content-length" not in headers, headers
    assert headers[b"connection"] == b"close" and headers[b"content-type"].startswith(b"text/plain")
    assert body == b"one two"  # as sent: ended by the connection's end


def test_http_1_1_streams_stay_chunked_and_http_1_0_answers_of_known_length_keep_it(runtime: Runtime) -> None:
    _, headers, body = parse(exchange(runtime, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                                               b"Content-Length: 2\r\nConnection: close\r\n\r\n{}"))
    assert headers[b"transfer-encoding"] == b"chunked" and body == b"4\r\none \r\n3\r\ntwo\r\n0\r\n\r\n"
    _, headers, body = parse(exchange(runtime, b"GET /healthz HTTP/1.0\r\n\r\n"))
    assert int(headers[b"content-length"]) == len(body) and json.loads(body) == {"status": "alive"}


SMUGGLED = b"0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"


@pytest.mark.parametrize(("framing", "why"), [
    (b"Transfer-Encoding: identity, chunked\r\n", b"'identity, chunked' is not accepted"),
    (b"Transfer-Encoding: identity\r\nTransfer-Encoding: chunked\r\n", b"'identity, chunked' is not accepted"),
    (b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", b"Transfer-Encoding"),  # llhttp's words
    (b"Transfer-Encoding: chunked, identity\r\n", b"Transfer-Encoding"),
    (b"Transfer-Encoding: gzip\r\n", b"'gzip' is not accepted"),
    (b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n", b"Content-Length"),
    (b"HTTP/1.0 Transfer-Encoding: chunked\r\n", b"in an HTTP/1.0 request"),
], ids=["identity-chunked", "two-lines", "chunked-twice", "chunked-identity", "gzip", "with-content-length",
        "http-1.0"])
def test_an_ambiguous_transfer_encoding_is_refused_with_400(runtime: Runtime, framing: bytes, why: bytes) -> None:
    version, framing = (b"HTTP/1.0", framing[9:]) if framing.startswith(b"HTTP/1.0 ") else (b"HTTP/1.1", framing)
    reply = exchange(runtime, b"POST / " + version + b"\r\nHost: x\r\nContent-Type: application/json\r\n"
                     + framing + b"\r\n" + SMUGGLED)
    status, headers, body = parse(reply)
    assert status == b"HTTP/1.1 400 Bad Request", reply
    assert headers[b"content-type"] == b"application/json" and headers[b"connection"] == b"close"
    error = json.loads(body)  # the whole reply: one response, nothing for the bytes after the headers
    assert why.decode() in error["error"] and error["request_id"] == headers[b"x-request-id"].decode()
    assert httpx.get(f"{runtime.url}/healthz", timeout=HANG_GUARD).status_code == 200


@pytest.mark.parametrize("coding", [b"chunked", b"Chunked", b"chunked "])
def test_chunked_requests_are_still_served(runtime: Runtime, coding: bytes) -> None:
    status, _, body = parse(exchange(runtime, b"POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                                           b"Content-Type: application/json\r\nTransfer-Encoding: " + coding
                                           + b"\r\n\r\n2\r\n{}\r\n0\r\n\r\n"))
    assert status == b"HTTP/1.1 200 OK" and body == b"4\r\none \r\n3\r\ntwo\r\n0\r\n\r\n"
