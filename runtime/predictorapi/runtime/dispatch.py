"""Between HTTP and the predictor: decode the payload, encode the result."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.datastructures import UploadFile
from starlette.requests import Request
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


async def decode_payload(request: Request, body: bytes) -> Any:
    """Decode `body` by the request's content type: JSON, text, form or raw bytes."""
    media_type, params = parse_content_type(request.headers.get("content-type"))
    if media_type == "application/json" or media_type.endswith("+json"):
        try:
            return json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise BadPayload(f"malformed JSON body: {exc}") from None
        except RecursionError:
            raise BadPayload("malformed JSON body: nested too deeply") from None
    if media_type.startswith("text/"):
        return _decode_text(body, params.get("charset", "utf-8"))
    if media_type == "application/x-www-form-urlencoded":
        return dict(parse_qsl(_decode_text(body, params.get("charset", "utf-8")), keep_blank_values=True))
    if media_type == "multipart/form-data":
        return await _multipart(request, body)
    return body


def _decode_text(body: bytes, charset: str) -> str:
    """`body` decoded with the request's charset; an unknown charset or undecodable bytes are a 400."""
    try:
        return body.decode(charset)
    except LookupError:  # no such codec, or one that is not a text encoding (base64, hex, ...)
        raise BadPayload(f"unknown charset {charset!r}") from None
    except ValueError as exc:  # UnicodeDecodeError, and the plain UnicodeError of codecs such as punycode
        reason = exc.reason if isinstance(exc, UnicodeDecodeError) else exc
        raise BadPayload(f"body is not valid {charset}: {reason}") from None


async def _multipart(request: Request, body: bytes) -> dict[str, Any]:
    request._body = body  # the body was already read (and size-checked); let Starlette parse it from memory
    try:
        form = await request.form()
    except Exception as exc:
        raise BadPayload(f"malformed multipart body: {exc}") from None
    fields: dict[str, Any] = {}
    for key, value in form.multi_items():
        fields[key] = await value.read() if isinstance(value, UploadFile) else value
    await form.close()
    return fields


def encode_result(result: Any) -> Response:
    """Turn `predict`'s return value into a response: JSON, text, bytes or a Response as is."""
    if isinstance(result, Response):
        return result
    if isinstance(result, str):
        return PlainTextResponse(result)
    if isinstance(result, bytes | bytearray | memoryview):
        return Response(bytes(result), media_type="application/octet-stream")
    if isinstance(result, JSON_TYPES):
        return Response(encode_json(result), media_type="application/json")
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
    except (TypeError, ValueError) as exc:
        raise UnserialisableResult(f"predict returned a value that is not JSON serialisable: {exc}") from None
