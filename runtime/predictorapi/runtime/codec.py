"""The wire format of a prediction: decode the request body into a payload, encode the result."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.datastructures import Headers, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.responses import PlainTextResponse, Response

JSON_TYPES = (dict, list, tuple, int, float, bool, type(None))


class BadPayload(Exception):
    """The request body does not match its content type (answered 400)."""


class UnserialisableResult(Exception):
    """`predict` returned something the runtime cannot send (answered 500)."""


def parse_content_type(header: str | None) -> tuple[str, dict[str, str]]:
    """Split a Content-Type header into its lower-case media type and parameters."""
    if not header:
        return "", {}
    media_type, *params = header.split(";")
    parsed = {}
    for param in params:
        key, _, value = param.partition("=")
        parsed[key.strip().lower()] = value.strip().strip('"')
    return media_type.strip().lower(), parsed


async def decode_payload(body: bytes, headers: Mapping[str, str]) -> Any:
    """Decode `body` by its Content-Type in `headers`: JSON, text, form, multipart or raw bytes.

    Whatever cannot be decoded is :class:`BadPayload` (a 400), never an exception that would look like
    the predictor's: a ValueError, UnicodeError or RecursionError from any decoder is the body's fault.
    """
    try:
        return await _decode(body, headers)
    except RecursionError:
        raise BadPayload("cannot decode the request body: nested too deeply") from None
    except ValueError as exc:  # UnicodeError included
        raise BadPayload(f"cannot decode the request body: {_reason(exc)}") from None


async def _decode(body: bytes, headers: Mapping[str, str]) -> Any:
    media_type, params = parse_content_type(_content_type(headers))
    if media_type == "application/json" or media_type.endswith("+json"):
        return decode_json(body)
    if media_type.startswith("text/"):
        return _decode_text(body, params.get("charset", "utf-8"))
    if media_type == "application/x-www-form-urlencoded":
        return dict(parse_qsl(_decode_text(body, params.get("charset", "utf-8")), keep_blank_values=True))
    if media_type == "multipart/form-data":
        return await _multipart(body, headers)
    return body


def decode_json(body: bytes) -> Any:
    """A JSON body (:class:`BadPayload` when it is not JSON)."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        pass  # json.loads takes a little more (NaN, big integers, UTF-16, a BOM) and says what is wrong
    try:
        return json.loads(body)
    except RecursionError:
        raise BadPayload("malformed JSON body: nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, the int-string digit limit, ...
        raise BadPayload(f"malformed JSON body: {_reason(exc)}") from None


def _reason(exc: ValueError, limit: int = 200) -> str:
    """The exception's message, cut to `limit` characters (it may quote the body)."""
    text = str(exc)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _content_type(headers: Mapping[str, str]) -> str | None:
    """The Content-Type header, whatever the case of the mapping's keys."""
    value = headers.get("content-type")
    if value is None and not isinstance(headers, Headers):
        value = next((v for k, v in headers.items() if k.lower() == "content-type"), None)
    return value


def _decode_text(body: bytes, charset: str) -> str:
    """`body` decoded with the request's charset; an unknown charset or undecodable bytes are a 400."""
    try:
        return body.decode(charset)
    except LookupError:  # no such codec, or one that is not a text encoding (base64, hex, ...)
        raise BadPayload(f"unknown charset {charset!r}") from None
    except ValueError as exc:  # UnicodeDecodeError, and the plain UnicodeError of codecs such as punycode
        reason = exc.reason if isinstance(exc, UnicodeDecodeError) else exc
        raise BadPayload(f"body is not valid {charset}: {reason}") from None


async def _multipart(body: bytes, headers: Mapping[str, str]) -> dict[str, Any]:
    """Parse a multipart/form-data body held in memory: fields as str, files as bytes."""
    parser = MultiPartParser(headers if isinstance(headers, Headers) else Headers(headers=dict(headers)),
                             _chunks(body))
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise BadPayload(f"malformed multipart body: {exc.message}") from None
    except Exception as exc:
        raise BadPayload(f"malformed multipart body: {exc}") from None
    fields: dict[str, Any] = {}
    for key, value in form.multi_items():
        fields[key] = await value.read() if isinstance(value, UploadFile) else value
    await form.close()
    return fields


async def _chunks(body: bytes) -> AsyncIterator[bytes]:
    """`body` as the one-chunk stream the multipart parser reads."""
    yield body


class JSONBody(Response):
    """A JSON result: what `Response(body, media_type="application/json")` sends, its headers made directly."""

    media_type = "application/json"

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.status_code = 200
        self.background = None
        self.raw_headers = [(b"content-length", str(len(body)).encode()), (b"content-type", b"application/json")]


def encode_result(result: Any) -> Response:
    """Turn `predict`'s return value into a response: JSON, text, bytes or a Response as is."""
    if isinstance(result, JSON_TYPES):  # first: most results, and none of them a Response, str or bytes
        return JSONBody(encode_json(result))
    if isinstance(result, Response):
        return result
    if isinstance(result, str):
        return PlainTextResponse(result)
    if isinstance(result, bytes | bytearray | memoryview):
        return Response(bytes(result), media_type="application/octet-stream")
    raise UnserialisableResult(f"predict returned an unsupported type: {type(result).__name__}")


def encode_json(value: Any) -> bytes:
    """Compact UTF-8 JSON: orjson (numpy arrays included, NaN/Infinity as null), else the json module.

    orjson is ~15x faster on lists of floats (an embedding is 384 of them). What it refuses (integers
    beyond 64 bits, float subclasses) goes through `json.dumps`; what neither can encode raises
    :class:`UnserialisableResult`.
    """
    try:
        return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS)
    except TypeError:
        pass
    try:
        return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()
    except RecursionError:
        raise UnserialisableResult("predict returned a value nested too deeply to serialise as JSON") from None
    except (TypeError, ValueError) as exc:
        raise UnserialisableResult(f"predict returned a value that is not JSON serialisable: {exc}") from None
