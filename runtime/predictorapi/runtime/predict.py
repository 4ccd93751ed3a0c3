"""The predict request path, as a raw ASGI app: refuse early, admit, read and decode, call predict, answer every
failure. No framework object is made per request: the route reads the ASGI scope and messages itself."""

from __future__ import annotations

import asyncio
import functools
import hmac
import logging
import time
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

from starlette.background import BackgroundTask
from starlette.datastructures import Headers, QueryParams
from starlette.requests import ClientDisconnect
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from predictorapi.contracts.models import STORE_UNREACHABLE
from predictorapi.models.errors import ModelNotFound, ModelUnavailable
from predictorapi.runtime.batching import BatchFailed
from predictorapi.runtime.codec import BadPayload, UnserialisableResult, decode_json, decode_payload, encode_result
from predictorapi.runtime.deadlines import Deadlines
from predictorapi.runtime.errors import error_response
from predictorapi.runtime.invocation import Invoke, ModelsScope
from predictorapi.runtime.limits import Overloaded, RunSlot
from predictorapi.runtime.logs import AccessLog, request_id_var
from predictorapi.runtime.middleware import REQUEST_ID_HEADER, access_line, request_id_from, send_response
from predictorapi.runtime.post_predict import PostPredict
from predictorapi.runtime.state import RuntimeState
from predictorapi.runtime.streaming import (
    StreamContext,
    StreamIdle,
    StreamResponse,
    as_items,
    first_item,
    wants_sse,
)

if TYPE_CHECKING:
    from predictorapi.tracing.spans import RequestTracing

log = logging.getLogger("predictorapi.runtime")


class BodyTooLarge(Exception):
    """The request body is over `max_body_bytes` (answered 413)."""


class RequestTimedOut(Exception):
    """The request took longer than `request_timeout_seconds` (answered 504)."""


class Incoming:
    """What the predict path reads of one request: its ASGI `scope`, the `receive` of its body, the few headers it
    needs (taken in one pass, the first of each name, as `Headers.get` gives) and all of them when asked for."""

    __slots__ = ("_headers", "content_length", "content_type", "given_id", "receive", "scope")

    def __init__(self, scope: Scope, receive: Receive) -> None:
        self.scope = scope
        self.receive = receive
        self._headers: Headers | None = None
        content_type = content_length = given_id = None
        for name, value in scope["headers"]:
            if name == b"content-type":
                content_type = value if content_type is None else content_type
            elif name == b"content-length":
                content_length = value if content_length is None else content_length
            elif name == REQUEST_ID_HEADER:
                given_id = value if given_id is None else given_id
        self.content_type: bytes | None = content_type
        self.content_length: bytes | None = content_length
        self.given_id: bytes | None = given_id

    @property
    def headers(self) -> Headers:
        """The request's headers (no copy of the scope's list)."""
        if self._headers is None:
            self._headers = Headers(raw=self.scope["headers"])
        return self._headers


class PredictRoute:
    """`POST` to the predict paths: every request gets its id (`X-Request-ID`, given or new, echoed) and its access
    line, is counted by status code and timed, and is answered by :func:`predict`."""

    def __init__(self, state: RuntimeState, access_log: AccessLog | None) -> None:
        self.state = state
        self.access_log = access_log
        self._tally = state.tally
        self._deadlines = Deadlines(state.settings.request_timeout_seconds)
        self.tracing: RequestTracing | None = state.tracing.requests if state.tracing is not None else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer one predict request."""
        if self.tracing is not None:
            await self._traced(scope, receive, send, self.tracing)
            return
        incoming = Incoming(scope, receive)
        request_id = request_id_from(incoming.given_id)
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500
        try:
            response = await predict(self.state, incoming, self._deadlines)
            status = response.status_code
            self._tally.add(status, time.perf_counter() - started)
            await send_response(response, scope, receive, send, request_id)
        finally:
            if self.access_log is not None:
                access_line(self.access_log, scope, status, started, request_id)
            request_id_var.reset(token)

    async def _traced(self, scope: Scope, receive: Receive, send: Send, tracing: RequestTracing) -> None:
        """Answer one predict request in its trace (tracing is on): its server span is current throughout, its ids
        go on the response (`traceresponse`), the access line and the latency's exemplar."""
        incoming = Incoming(scope, receive)
        request_id = request_id_from(incoming.given_id)
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500
        stream: StreamResponse | None = None
        trace = tracing.start(scope)
        try:
            response = await predict(self.state, incoming, self._deadlines)
            status = response.status_code
            self._tally.add(status, time.perf_counter() - started, trace.exemplar)
            stream = response if isinstance(response, StreamResponse) else None
            trace.answered(stream)
            await send_response(response, scope, receive, send, request_id, (trace.header,))
        finally:
            if self.access_log is not None:
                access_line(self.access_log, scope, status, started, request_id, trace.ids)
            trace.end(status, stream)
            request_id_var.reset(token)


async def predict(state: RuntimeState, request: Incoming, deadlines: Deadlines) -> Response:
    """Answer one prediction request within its deadline: the predictor's result, or the runtime's error
    shape. With `spec.models` (and no batching: a batch has a scope of its own) the request runs in a models scope:
    the versions `get_model` returns are pinned until the response has ended (a stream's too)."""
    invoke = state.invoke
    if invoke is None:
        reason = "predictor failed to load" if state.load_error else "predictor is still loading"
        return error_response(503, reason, {"Retry-After": str(state.settings.retry_after_seconds)})
    refused = _refuse(state, request)
    if refused is not None:
        return refused
    if state.models is None or state.batcher is not None:
        return await _answer(state, invoke, request, deadlines, None)
    scope = state.models.request_scope()
    models = scope.__enter__()
    end = functools.partial(scope.__exit__, None, None, None)
    try:
        response = await _answer(state, invoke, request, deadlines, models)
    except BaseException:
        end()
        raise
    if isinstance(response, StreamResponse):
        response.context.on_end = end  # the stream still runs: its scope ends with it
    else:
        end()
    return response


async def _answer(state: RuntimeState, invoke: Invoke, request: Incoming, deadlines: Deadlines,
                  models: ModelsScope | None) -> Response:
    """The response to an admitted request: `predict`'s result encoded (its `post_predict` queued once it is
    sent), a 404 naming the model `get_model` did not find (whatever `predict` then did), or the error's."""
    kwargs: dict[str, Any] = {}
    try:
        result = await _admitted(state, invoke, request, deadlines, kwargs, models)
        if models is not None and models.not_found is not None:
            return _not_found(models.not_found)
        response = encode_result(result)
    except Exception as exc:
        if models is not None and models.not_found is not None:
            return _not_found(models.not_found)
        return _failure(state, exc)
    if state.post_predict is not None and not isinstance(response, StreamResponse):
        _post_predict_after(response, state.post_predict, result, kwargs)
    return response


def _post_predict_after(response: Response, post_predict: PostPredict, result: Any, kwargs: dict[str, Any]) -> None:
    """Queue `post_predict` once `response` has been sent (after a background task `predict` set on it, if any)."""
    previous = response.background

    async def queue_post_predict() -> None:
        if previous is not None:
            await previous()
        post_predict.submit(result, kwargs)

    response.background = BackgroundTask(queue_post_predict)


def _not_found(exc: ModelNotFound) -> Response:
    """404 naming the model (and version) `get_model` did not find."""
    log.info("answered 404: %s", exc.detail)
    return error_response(404, exc.detail, None, model=exc.model, version=exc.version, reason=exc.reason)


def _refuse(state: RuntimeState, request: Incoming) -> Response | None:
    """The answer to a request refused before admission (bad API key, declared body too large, wedged),
    else None."""
    settings = state.settings
    if settings.api_key and not _authorized(request, settings.api_key):
        return error_response(401, "missing or invalid API key", {"WWW-Authenticate": "Bearer"})
    declared = request.content_length
    if declared is not None and declared.isdigit() and int(declared) > settings.max_body_bytes:
        state.metrics.rejected.labels(settings.api_name, "too_large").inc()
        return error_response(413, f"request body is over {settings.max_body_bytes} bytes")
    if state.limiter.wedged:  # it would only wait for a slot that a hung call holds, then time out
        state.metrics.rejected.labels(settings.api_name, "wedged").inc()
        return error_response(503, "every run slot is held by a predict call that timed out; retry later",
                              {"Retry-After": str(settings.retry_after_seconds)})
    return None


def _authorized(request: Incoming, key: str) -> bool:
    """Whether the bearer token (or `X-API-Key`) is `key`, compared in constant time."""
    auth = request.headers.get("authorization", "")
    given = auth[7:] if auth[:7].lower() == "bearer " else request.headers.get("x-api-key", "")
    return hmac.compare_digest(given.encode(), key.encode())


async def _admitted(state: RuntimeState, invoke: Invoke, request: Incoming, deadlines: Deadlines,
                    gathered: dict[str, Any], models: ModelsScope | None) -> Any:
    """Admit the request, then read, decode and predict before its deadline (what was taken from the request goes
    into `gathered`, for `post_predict`). A stream (a generator) keeps the admission and its run slot: they pass to
    its :class:`StreamResponse`."""
    settings, limiter = state.settings, state.limiter
    limiter.enter()
    slot: RunSlot | None = None
    handed_over = False  # to a stream, which releases the slot and the admission when it ends
    started, deadline = time.perf_counter(), deadlines.start()
    try:
        gathered.update(await _predict_kwargs(state, request))
        kwargs = _for_predict(state, gathered)
        if state.batcher is not None:  # the batch takes one concurrency slot
            return _not_a_stream(await state.batcher.submit(kwargs))
        slot = limiter.take() or await limiter.acquire()
        result = await invoke(kwargs, slot)
        items = as_items(result, state.executor)
        if items is None:
            return result
        first = await first_item(items, slot, settings.stream_idle_timeout_seconds)
        if models is not None and models.not_found is not None:  # before the first item: the answer is a 404
            await asyncio.shield(items.close(slot))
            raise models.not_found
        context = StreamContext(items, slot, limiter, started, deadline.when, settings.stream_idle_timeout_seconds,
                                state.metrics, settings.api_name)
        response = StreamResponse(context, first, wants_sse(request.headers))
        handed_over = True
        return response
    except asyncio.CancelledError:
        if deadlines.finish(deadline):  # cancelled for being past its deadline
            raise RequestTimedOut(f"prediction took longer than {settings.request_timeout_seconds}s") from None
        raise
    finally:
        deadlines.finish(deadline)
        if not handed_over:
            if slot is not None:
                slot.finish()
            limiter.leave()


def _not_a_stream(result: Any) -> Any:
    """A batched call's result for one request, which must not be a stream: streaming cannot be batched."""
    if isinstance(result, Iterator | AsyncIterator):
        raise UnserialisableResult("predict returned a generator from a batched call: streaming cannot be "
                                   "batched (set batching.maxBatchSize to 1)")
    return result


def _for_predict(state: RuntimeState, gathered: dict[str, Any]) -> dict[str, Any]:
    """Of what was taken from the request, what `predict` asks for (`post_predict` may ask for more)."""
    wants = state.interface.wants if state.interface else frozenset()
    return gathered if len(gathered) == len(wants) else {name: gathered[name] for name in wants}


async def _predict_kwargs(state: RuntimeState, request: Incoming) -> dict[str, Any]:
    """What predict (and post_predict) ask for, taken from the request: `payload`, `query_params`, `headers`."""
    wants = state.interface.gathers if state.interface else frozenset()
    kwargs: dict[str, Any] = {}
    if "payload" in wants:
        body = await _read_body(request.receive, state.settings.max_body_bytes)
        if request.content_type == b"application/json":  # most requests: no need to parse the header
            kwargs["payload"] = decode_json(body)
        else:
            kwargs["payload"] = await decode_payload(body, request.headers)
    if "query_params" in wants:
        kwargs["query_params"] = dict(QueryParams(request.scope["query_string"]))
    if "headers" in wants:
        kwargs["headers"] = dict(request.headers)
    return kwargs


async def _read_body(receive: Receive, limit: int) -> bytes:
    """The whole body, or :class:`BodyTooLarge` as soon as it is over `limit` bytes (`ClientDisconnect` when the
    client leaves before sending it all)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        if not message.get("more_body", False):
            return b"".join([*chunks, chunk]) if chunks else chunk  # most bodies: one message, no copy
        chunks.append(chunk)


def _failure(state: RuntimeState, exc: Exception) -> Response:
    """The error response for what went wrong after admission (logged here when it is ours to log)."""
    settings, rejected = state.settings, state.metrics.rejected
    if isinstance(exc, Overloaded):
        rejected.labels(settings.api_name, "overloaded").inc()
        return error_response(503, "server is at capacity, retry later",
                              {"Retry-After": str(settings.retry_after_seconds)})
    if isinstance(exc, BodyTooLarge):
        rejected.labels(settings.api_name, "too_large").inc()
        return error_response(413, f"request body is over {settings.max_body_bytes} bytes")
    if isinstance(exc, RequestTimedOut | StreamIdle):
        rejected.labels(settings.api_name, "timeout").inc()
        return error_response(504, str(exc))
    if isinstance(exc, BadPayload):
        return error_response(400, str(exc))
    if isinstance(exc, ClientDisconnect):  # the body was cut short: a client error, not a predictor failure
        log.info("client disconnected before sending the whole request body")
        return error_response(400, "client disconnected before sending the whole request body")
    if isinstance(exc, BatchFailed):  # already logged once for the whole batch
        return error_response(500, str(exc))
    if isinstance(exc, ModelNotFound):  # a batched call's (the batch's scope raised it)
        return _not_found(exc)
    if isinstance(exc, ModelUnavailable):  # get_model's, not caught by predict
        log.error("model %s version %s unavailable: %s", exc.model, exc.version, exc.detail)
        return error_response(503 if exc.reason == STORE_UNREACHABLE else 502, exc.detail, None, model=exc.model,
                              version=exc.version, reason=exc.reason)
    if isinstance(exc, UnserialisableResult):
        log.error("%s", exc)
        return error_response(500, str(exc))
    log.error("predict raised an exception", exc_info=exc)
    return error_response(500, "the predictor raised an exception; see the server log")
