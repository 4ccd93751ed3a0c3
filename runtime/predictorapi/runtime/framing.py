"""HTTP/1.1 message framing that the parser (llhttp, through httptools) and uvicorn leave to the server
(RFC 9112 §6).

* **Requests.** `Transfer-Encoding` must be exactly `chunked`, once, in an HTTP/1.1 request without
  `Content-Length`. llhttp takes `identity, chunked`, two `Transfer-Encoding` lines or a chunked HTTP/1.0
  request as chunked, where a proxy in front may have framed the same bytes otherwise (request smuggling):
  such a request is refused with 400 before its body is read, and its connection closed, as nginx does.
* **Responses.** An HTTP/1.0 client cannot read a chunked body: a response of unknown length (a stream) to one
  is sent as it comes and ends when the connection closes (a close-delimited body), where uvicorn would send
  it chunked.
"""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.http.httptools_impl import RequestResponseCycle

_FRAMING_HEADERS = (b"content-length", b"transfer-encoding")


class AmbiguousFraming(Exception):
    """A request whose body length the server and a proxy in front could read differently."""


def framing_refusal(headers: list[tuple[bytes, bytes]], http_version: str) -> str | None:
    """Why a request with `headers` (as uvicorn keeps them: lower-case names, values stripped) is refused (400);
    None when its framing is unambiguous."""
    encodings = [value for name, value in headers if name == b"transfer-encoding"]
    if not encodings:
        return None
    if http_version != "1.1":
        return f"Transfer-Encoding in an HTTP/{http_version} request"
    if any(name == b"content-length" for name, _ in headers):
        return "Transfer-Encoding together with Content-Length"
    if len(encodings) > 1 or encodings[0].lower() != b"chunked":
        given = b", ".join(encodings).decode("latin-1")
        return f"Transfer-Encoding {given!r} is not accepted: only 'chunked'"
    return None


def parser_refusal(error: BaseException | None) -> str | None:
    """Why the parser refused a request (its `error`), when it was for the request's framing (llhttp refuses
    `chunked` not last, twice, or with `Content-Length`, before the server sees the header); else None."""
    message = str(error) if error is not None else ""
    return f"ambiguous Transfer-Encoding: {message}" if "Transfer-Encoding" in message else None


class CloseDelimitedCycle(RequestResponseCycle):
    """uvicorn's request-response cycle for an HTTP/1.0 request (never kept alive there): a response without
    `Content-Length` goes out close-delimited instead of chunked."""

    close_delimited = False

    async def send(self, message: Any) -> None:
        """Send `message`, a response without a length unchunked."""
        if message["type"] == "http.response.start" and not self.response_started and not any(
                name.lower() in _FRAMING_HEADERS for name, _ in message.get("headers", ())):
            self.close_delimited = True
            self.chunked_encoding = False  # uvicorn adds no Transfer-Encoding; the connection closes at the end
        elif message["type"] == "http.response.body" and self.close_delimited:
            self.expected_content_length = len(message.get("body", b""))  # uvicorn checks each write against it
        await super().send(message)
