"""Run the runtime with uvicorn: connection hygiene, and draining gracefully on SIGTERM."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Collection
from pathlib import Path
from types import FrameType
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from predictorapi.commands.termination_log import termination_log, write
from predictorapi.contracts.termination import PREDICTOR_LOAD_FAILED, failure_message
from predictorapi.runtime.app import create_app
from predictorapi.runtime.framing import AmbiguousFraming, CloseDelimitedCycle, framing_refusal, parser_refusal
from predictorapi.runtime.logs import configure_logging
from predictorapi.runtime.one_write import OneWriteTransport
from predictorapi.runtime.replica import METRICS_DIR_ENV, ReplicaBoard
from predictorapi.runtime.replica_metrics import every_worker_metrics
from predictorapi.runtime.settings import RuntimeSettings
from predictorapi.runtime.state import RuntimeState
from predictorapi.runtime.worker_logs import tag_worker_logs

log = logging.getLogger("predictorapi.server")

PROBE_PATHS = frozenset({b"/healthz", b"/readyz", b"/metrics"})
"""Paths served even beyond `max_connections`, and not counted as traffic when deciding a drain is over."""
SWEEP_TICKS = 5
"""Connections are checked for stalled clients every SWEEP_TICKS uvicorn ticks (0.1 s each)."""


def _error_body(message: str) -> tuple[bytes, bytes]:
    """The runtime's JSON error shape for an answer the HTTP layer gives itself, and its request id."""
    request_id = os.urandom(16).hex()
    return json.dumps({"error": message, "request_id": request_id}).encode(), request_id.encode()


def _raw_response(status: int, reason: str, message: str) -> bytes:
    """A whole `Connection: close` response, written straight to a transport."""
    body, request_id = _error_body(message)
    return (f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n"
            f"x-request-id: {request_id.decode()}\r\nconnection: close\r\n\r\n").encode() + body


async def _refuse(send: Any, status: int, message: str, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    """Send the JSON error response `status` with `Connection: close`."""
    body, request_id = _error_body(message)
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
        *(headers or []), (b"x-request-id", request_id), (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


class ConnectionGuard:
    """What all connections of one server share: the limits, the drain flag, the last traffic, counters."""

    def __init__(self, state: RuntimeState, app: Any) -> None:
        settings, metrics, api = state.settings, state.metrics, state.settings.api_name
        self.settings = settings
        self.app = app
        self.draining = False
        self.last_request = -math.inf
        """Loop time at which the last request other than a probe had its headers."""
        self.closed = {reason: metrics.connections_closed.labels(api, reason)
                       for reason in ("header_timeout", "body_timeout", "headers_too_large")}
        self._rejected = metrics.rejected.labels(api, "connections")
        self._retry_after = str(settings.retry_after_seconds).encode()

    def protocol(self) -> type[GuardedHttpToolsProtocol]:
        """uvicorn's httptools protocol, bound to this guard."""
        return type("GuardedProtocol", (GuardedHttpToolsProtocol,), {"guard": self})

    async def too_many_connections(self, scope: Any, receive: Any, send: Any) -> None:
        """The ASGI app answering a request that arrived beyond `max_connections`: a fast 503."""
        self._rejected.inc()
        await _refuse(send, 503, "too many open connections, retry later", [(b"retry-after", self._retry_after)])

    async def headers_too_large(self, scope: Any, receive: Any, send: Any) -> None:
        """The ASGI app answering a request whose headers are over `max_header_bytes`: 431."""
        self.closed["headers_too_large"].inc()
        await _refuse(send, 431, f"request headers are over {self.settings.max_header_bytes} bytes")

    def sweep(self, connections: Collection[Any], now: float) -> None:
        """Close the connections whose client stalled: headers or body not arriving in time."""
        for connection in list(connections):
            if isinstance(connection, GuardedHttpToolsProtocol):
                connection.check(now)

    def quiet(self, connections: Collection[Any], now: float) -> bool:
        """No request (probes aside) for `drain_quiet_seconds`, and no connection opened or request
        started within it that is still sending its headers: clients have stopped sending here."""
        quiet = self.settings.drain_quiet_seconds
        if now - self.last_request < quiet:
            return False
        return not any(getattr(c, "waiting_since", None) is not None and now - c.waiting_since < quiet
                       for c in connections)

    def close_after_response(self, connections: Collection[Any]) -> None:
        """Draining: requests in progress get `Connection: close` (idle connections stay open until the
        server stops, so that a client never writes on one the server is closing while it still routes here)."""
        for connection in list(connections):
            cycle = getattr(connection, "cycle", None)
            if cycle is not None and not cycle.response_complete:
                cycle.keep_alive = False


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with what it lacks against slow or hostile clients.

    * headers must arrive within `header_timeout_seconds` of the connection opening (or of the first
      byte of a request on a kept-alive connection), and be at most `max_header_bytes`;
    * a request body must not pause for longer than `body_timeout_seconds`;
    * a request on a connection beyond `max_connections` is answered 503 at once (probes excepted);
    * while draining, every response carries `Connection: close`;
    * a request with an ambiguous `Transfer-Encoding` is answered 400 and closed, and a response of unknown
      length to an HTTP/1.0 request is close-delimited, not chunked (:mod:`predictorapi.runtime.framing`).

    Timestamps are kept here; :meth:`ConnectionGuard.sweep` enforces the timeouts from the server's tick (the
    keep-alive timeout too, which uvicorn arms a timer for after every response), so the request path arms no
    timer. The parser's callbacks, run for every request, call uvicorn's by name rather than through `super()`
    (which builds a proxy object on each call).
    """

    guard: ConnectionGuard

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.waiting_since: float | None = None
        """Loop time since which the connection owes us request headers (None: it does not)."""
        self._partial = False  # some of a request arrived, not all of its headers
        self._unparsed = 0  # bytes received while reading headers (the parser buffers a header until whole)
        self._body_last: float | None = None  # loop time of the last body bytes of an unfinished body
        self._idle_since: float | None = None  # loop time of the last response, until the next bytes arrive

    def connection_made(self, transport: Any) -> None:  # type: ignore[override]
        super().connection_made(OneWriteTransport(transport, self))  # each response of known length: one write
        self.waiting_since = self.loop.time()

    def data_received(self, data: bytes) -> None:
        self._idle_since = None
        if self.waiting_since is None and self._body_last is None and (
                self.cycle is None or self.cycle.response_complete):
            self.waiting_since = self.loop.time()  # bytes on an idle connection: headers are due now
        reading_headers = self.waiting_since is not None
        HttpToolsProtocol.data_received(self, data)
        if reading_headers and self._partial and self.waiting_since is not None:  # headers still incomplete
            self._unparsed += len(data)
            limit = self.guard.settings.max_header_bytes
            if self._unparsed > limit and not self.transport.is_closing():
                self._close(431, "Request Header Fields Too Large", f"request headers are over {limit} bytes",
                            "headers_too_large")

    def on_message_begin(self) -> None:
        HttpToolsProtocol.on_message_begin(self)
        self._partial = True
        if self.waiting_since is None:  # a new request on a kept-alive connection
            self.waiting_since = self.loop.time()

    def on_headers_complete(self) -> None:
        guard, now = self.guard, self.loop.time()
        self.waiting_since, self._partial, self._unparsed = None, False, 0
        header_bytes, transfer_encoding = len(self.url), False  # the request line's target and the headers, as kept
        for name, value in self.headers:
            header_bytes += len(name) + len(value) + 4
            transfer_encoding = transfer_encoding or name == b"transfer-encoding"
        refusal = framing_refusal(self.headers, self.parser.get_http_version()) if transfer_encoding else None
        if refusal is not None:  # the parser stops here, before the body: uvicorn answers 400 and closes
            raise AmbiguousFraming(refusal)
        probe = self.url.partition(b"?")[0] in PROBE_PATHS
        if not probe:
            guard.last_request = now
        refuse = (guard.headers_too_large if header_bytes > guard.settings.max_header_bytes else
                  guard.too_many_connections if not probe and len(self.connections) > guard.settings.max_connections
                  else None)
        self.app = refuse or guard.app
        HttpToolsProtocol.on_headers_complete(self)
        if self.scope["http_version"] != "1.1" and self.cycle is not None and self.cycle.scope is self.scope:
            self.cycle.__class__ = CloseDelimitedCycle  # a response of unknown length to HTTP/1.0: close-delimited
        self._body_last = now
        if self.cycle is not None and (refuse is not None or guard.draining):
            self.cycle.keep_alive = False

    def on_body(self, body: bytes) -> None:
        self._body_last = self.loop.time()
        HttpToolsProtocol.on_body(self, body)

    def on_message_complete(self) -> None:
        self._body_last = None
        HttpToolsProtocol.on_message_complete(self)

    def on_response_complete(self) -> None:
        """uvicorn's, but with no keep-alive timer: the connection is idle from now until its next bytes
        (:meth:`check` closes it after `keep_alive_seconds`)."""
        self.server_state.total_requests += 1
        if self.transport.is_closing():
            return
        self.flow.resume_reading()
        if self.pipeline:  # a pipelined request waits: start it
            cycle, app = self.pipeline.pop()
            self._start_asgi_task(cycle, app)
        else:
            self._idle_since = self.loop.time()

    def send_400_response(self, msg: str) -> None:
        """uvicorn's answer to a request the parser refused; JSON when the request's framing is ambiguous (the
        parser refuses some such requests itself, `on_headers_complete` the others). uvicorn calls this while
        handling the parser's error, whose message `sys.exc_info` gives."""
        refusal = framing_refusal(self.headers, self.parser.get_http_version()) or parser_refusal(sys.exc_info()[1])
        if refusal is None:
            super().send_400_response(msg)
            return
        self.transport.write(_raw_response(400, "Bad Request", refusal))
        self.transport.close()

    def check(self, now: float) -> None:
        """Close the connection if its client is late with headers or stalls in a body, or if it has been idle
        since its last response for `keep_alive_seconds`."""
        if self.transport is None or self.transport.is_closing():
            return
        settings = self.guard.settings
        if self.waiting_since is not None and now - self.waiting_since >= settings.header_timeout_seconds:
            self._close(408, "Request Timeout", f"request headers not received within "
                        f"{settings.header_timeout_seconds}s", "header_timeout", answer=self._partial)
        elif self._body_last is not None:
            if self.flow.read_paused:  # the app is not reading yet: not the client's fault
                self._body_last = now
            elif now - self._body_last >= settings.body_timeout_seconds:
                self._close(408, "Request Timeout", f"request body paused for over {settings.body_timeout_seconds}s",
                            "body_timeout")
        elif self._idle_since is not None and now - self._idle_since >= settings.keep_alive_seconds:
            self.transport.close()  # as uvicorn's keep-alive timeout does: no answer, not counted as refused

    def _close(self, status: int, reason: str, message: str, why: str, answer: bool = True) -> None:
        """Answer `status` (when `answer` and the client is not already receiving a response) and close."""
        cycle, headers_phase = self.cycle, self._partial or self.waiting_since is not None
        self.waiting_since, self._body_last, self._partial = None, None, False
        in_progress = cycle is not None and not cycle.response_complete
        # Late headers: that request has no cycle yet (`cycle` is an earlier one, which must be over).
        # A stalled body: answer only if the app has not started answering.
        answer = answer and (not in_progress if headers_phase else in_progress and not cycle.response_started)
        if in_progress:
            cycle.disconnected = True  # the app's receive() gets http.disconnect; its answer is dropped
            cycle.message_event.set()
        if answer:
            self.transport.write(_raw_response(status, reason, message))
        self.transport.close()
        self.guard.closed[why].inc()


class DrainingServer(uvicorn.Server):
    """A uvicorn server whose first SIGTERM/SIGINT drains instead of stopping at once.

    Draining turns `/readyz` to 503 (so Kubernetes stops routing new requests here) and puts
    `Connection: close` on every response (so clients stop reusing connections to this replica); it
    keeps serving for at least `drain_min_seconds`, then until no accepted request is left and no
    traffic has arrived for `drain_quiet_seconds` (clients whose routing lags are still served), or
    until the grace period is over; then it stops. A second signal stops at once.
    """

    def __init__(self, config: uvicorn.Config, state: RuntimeState, guard: ConnectionGuard | None = None) -> None:
        super().__init__(config)
        self.state = state
        self.guard = guard
        self.drain_deadline: float | None = None
        self.drain_earliest: float | None = None
        self._closing_after_response = False
        connections = self.server_state.connections
        state.metrics.open_connections.labels(state.settings.api_name).set_function(lambda: len(connections))

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        """First signal: start draining. Second: uvicorn's own (forced) exit."""
        if self.drain_deadline is None and sig in (signal.SIGTERM, signal.SIGINT):
            self.state.draining = True
            if self.guard is not None:
                self.guard.draining = True
            now = time.monotonic()
            self.drain_deadline = now + self.state.settings.drain_grace_seconds
            self.drain_earliest = now + min(self.state.settings.drain_min_seconds,
                                            self.state.settings.drain_grace_seconds)
            log.info("draining: %d request(s) in flight", self.state.limiter.admitted)
            return
        super().handle_exit(sig, frame)

    async def on_tick(self, counter: int) -> bool:
        """Close stalled connections; stop once drained (or the grace period is over), or when the
        predictor failed to load. A worker of several publishes its status and live gauges first."""
        if self.state.replica is not None:
            self._publish()
        if self.state.load_error is not None:
            return True
        guard, connections = self.guard, self.server_state.connections
        if guard is not None and counter % SWEEP_TICKS == 0:
            guard.sweep(connections, _loop_time())
        if self.drain_deadline is not None:
            if guard is not None and not self._closing_after_response:
                self._closing_after_response = True
                guard.close_after_response(connections)
            if self._drained():
                return True
        return await super().on_tick(counter)

    def _publish(self) -> None:
        """This worker's slot on the replica's board, and the values of its live gauges written to its metrics
        file (they read counters when scraped, `set_function`, which prometheus-client's multiprocess mode
        cannot export): once per tick, so that the request path pays nothing for them."""
        state = self.state
        state.replica.publish(state.status, state.wedged_too_long, state.invoke is not None)
        for gauge in state.metrics.live_gauges:
            for family in gauge.collect():
                for sample in family.samples:
                    gauge.labels(**sample.labels).set(sample.value)

    def _drained(self) -> bool:
        """Whether draining is over: nothing in flight and quiet, or out of time."""
        now, admitted = time.monotonic(), self.state.limiter.admitted
        if now >= self.drain_deadline:
            if admitted:
                log.warning("grace period over with %d request(s) in flight", admitted)
            self.config.timeout_graceful_shutdown = 1.0  # the grace is spent: do not wait as long again
            return True
        if admitted or now < self.drain_earliest:
            return False
        if self.guard is not None and not self.guard.quiet(self.server_state.connections, _loop_time()):
            return False
        self.config.timeout_graceful_shutdown = max(1.0, self.drain_deadline - now)
        log.info("drained: nothing in flight, no traffic for %.1fs; stopping with %d connection(s) open",
                 _loop_time() - self.guard.last_request if self.guard else math.inf,
                 len(self.server_state.connections))
        return True


def _loop_time() -> float:
    return asyncio.get_running_loop().time()


def serve(settings: RuntimeSettings, replica: ReplicaBoard | None = None) -> int:
    """Serve until drained after SIGTERM; returns the process exit code (non-zero on load failure). With
    `processes > 1` this process supervises that many workers instead (`predictorapi.runtime.supervisor`),
    each of which serves as one process with its `replica` board; with 1 nothing of that runs."""
    if settings.processes > 1:
        from predictorapi.runtime.supervisor import supervise

        return supervise(settings)
    configure_logging(settings.log_json, settings.log_level)
    worker = {}
    if replica is not None:
        tag_worker_logs(replica.index)
        worker = {"replica": replica, "scraped": every_worker_metrics(Path(os.environ[METRICS_DIR_ENV]))}
    app = create_app(settings=settings, **worker)
    state: RuntimeState = app.state.runtime
    state.freeze_heap = True  # this process is the server's own
    guard = ConnectionGuard(state, app)  # its protocol is part of the config; its app is uvicorn's, below
    config = uvicorn.Config(app, host=settings.host, port=settings.port, log_config=None, access_log=False,
                            http=guard.protocol(), ws="none",
                            timeout_graceful_shutdown=settings.drain_grace_seconds or None,
                            timeout_keep_alive=settings.keep_alive_seconds, server_header=False,
                            proxy_headers=False)  # nothing reads the client address: skip its rewrite
    config.load()
    guard.app = config.loaded_app  # the app as uvicorn wraps it
    server = DrainingServer(config, state, guard)
    log.info("serving %s on http://%s:%d", settings.api_name, settings.host, settings.port)
    server.run(sockets=None if replica is None else [_shared_port(settings.host, settings.port)])
    if state.load_error is not None:
        log.error("exiting: %s", state.load_error)
        # Kubernetes shows this line as the container's termination message (and so the operator's status).
        line = failure_message(PREDICTOR_LOAD_FAILED, " ".join(state.load_error.split()))
        write(termination_log(settings.termination_log), line)
        code = 1
    else:
        code = 0 if server.started else 1
    return _exit(code)


def _exit(code: int) -> int:
    """`code`, or leave at once (with `code`) when a sync `predict` is still running."""
    stuck = _stuck_predict_threads()
    if stuck:
        # A hung sync `predict` cannot be interrupted, and the interpreter would wait for its thread
        # at exit (until SIGKILL): leave now, so that a drained replica stops within its grace period.
        log.warning("exiting with %d predict call(s) still running", len(stuck))
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


def _shared_port(host: str, port: int) -> socket.socket:
    """A socket bound to `host:port` with SO_REUSEPORT, beside the replica's other workers' own: the kernel
    spreads new connections across them (why, in `predictorapi.runtime.supervisor`)."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


def _stuck_predict_threads(timeout: float = 1.0) -> list[threading.Thread]:
    """Thread-pool threads still inside `predict` after shutdown (idle ones get `timeout` to exit)."""
    deadline = time.monotonic() + timeout
    threads = [t for t in threading.enumerate() if t.name.startswith("predict_")]
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    return [t for t in threads if t.is_alive()]
