"""Run the runtime with uvicorn, draining gracefully on SIGTERM."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from types import FrameType

import uvicorn

from predictorapi.runtime.app import create_app
from predictorapi.runtime.logs import configure_logging
from predictorapi.runtime.settings import RuntimeSettings
from predictorapi.runtime.state import RuntimeState

log = logging.getLogger("predictorapi.server")


class DrainingServer(uvicorn.Server):
    """A uvicorn server whose first SIGTERM/SIGINT drains instead of stopping at once.

    Draining turns `/readyz` to 503 (so Kubernetes stops routing new requests here), keeps serving
    for at least `drain_min_seconds` (so routers that poll readiness notice before connections are
    closed), lets every accepted request finish within the grace period, then stops. A second signal
    stops at once.
    """

    def __init__(self, config: uvicorn.Config, state: RuntimeState) -> None:
        super().__init__(config)
        self.state = state
        self.drain_deadline: float | None = None
        self.drain_earliest: float | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        """First signal: start draining. Second: uvicorn's own (forced) exit."""
        if self.drain_deadline is None and sig in (signal.SIGTERM, signal.SIGINT):
            self.state.draining = True
            now = time.monotonic()
            self.drain_deadline = now + self.state.settings.drain_grace_seconds
            self.drain_earliest = now + min(self.state.settings.drain_min_seconds,
                                            self.state.settings.drain_grace_seconds)
            log.info("draining: %d request(s) in flight", self.state.limiter.admitted)
            return
        super().handle_exit(sig, frame)

    async def on_tick(self, counter: int) -> bool:
        """Stop once drained (or the grace period is over), or when the predictor failed to load."""
        if self.state.load_error is not None:
            return True
        now = time.monotonic()
        if self.drain_deadline is not None and (
            (self.state.limiter.admitted == 0 and now >= self.drain_earliest) or now >= self.drain_deadline
        ):
            if self.state.limiter.admitted:
                log.warning("grace period over with %d request(s) in flight", self.state.limiter.admitted)
            return True
        return await super().on_tick(counter)


def serve(settings: RuntimeSettings) -> int:
    """Serve until drained after SIGTERM; returns the process exit code (non-zero on load failure)."""
    configure_logging(settings.log_json, settings.log_level)
    app = create_app(settings=settings)
    state: RuntimeState = app.state.runtime
    config = uvicorn.Config(app, host=settings.host, port=settings.port, log_config=None, access_log=False,
                            timeout_graceful_shutdown=settings.drain_grace_seconds or None,
                            # Longer than load balancers' idle timeouts (ingress-nginx: 60 s), so the
                            # runtime never closes a kept-alive connection a proxy is about to reuse.
                            timeout_keep_alive=75,
                            server_header=False)
    server = DrainingServer(config, state)
    log.info("serving %s on http://%s:%d", settings.api_name, settings.host, settings.port)
    server.run()
    if state.load_error is not None:
        log.error("exiting: %s", state.load_error)
        code = 1
    else:
        code = 0 if server.started else 1
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


def _stuck_predict_threads(timeout: float = 1.0) -> list[threading.Thread]:
    """Thread-pool threads still inside `predict` after shutdown (idle ones get `timeout` to exit)."""
    deadline = time.monotonic() + timeout
    threads = [t for t in threading.enumerate() if t.name.startswith("predict_")]
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    return [t for t in threads if t.is_alive()]
