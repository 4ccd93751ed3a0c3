"""`/healthz` (liveness), `/readyz` (readiness) and `/metrics` (Prometheus), answered without a framework."""

from __future__ import annotations

import time
from collections.abc import Callable

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from predictorapi.runtime.logs import AccessLog, request_id_var
from predictorapi.runtime.middleware import access_line, request_id_of, send_response
from predictorapi.runtime.state import RuntimeState

Probe = Callable[[], Response]


class Probes:
    """The probe routes of one app, by path."""

    def __init__(self, state: RuntimeState, registry: CollectorRegistry, access_log: AccessLog | None) -> None:
        self.state = state
        self.registry = registry
        self.access_log = access_log
        self._routes: dict[str, Probe] = {"/healthz": self.healthz, "/readyz": self.readyz, "/metrics": self.metrics}

    def get(self, path: str) -> Probe | None:
        """The probe answering `GET path`, or None."""
        return self._routes.get(path)

    async def answer(self, probe: Probe, scope: Scope, receive: Receive, send: Send) -> None:
        """Send `probe`'s response with the request's id and access line."""
        request_id = request_id_of(scope)
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500
        try:
            response = probe()
            status = response.status_code
            await send_response(response, scope, receive, send, request_id)
        finally:
            if self.access_log is not None:
                access_line(self.access_log, scope, status, started, request_id)
            request_id_var.reset(token)

    def healthz(self) -> Response:
        """Liveness: 503 when hung calls hold every slot for too long, or the replica is crash-looping."""
        status = self.state.liveness()
        return JSONResponse({"status": status}, 200 if status == "alive" else 503)

    def readyz(self) -> Response:
        """Readiness: 200 once loaded, until draining or wedged (with several workers: each worker's status)."""
        status, workers = self.state.readiness()
        body = {"status": status} if workers is None else {"status": status, "workers": workers}
        return JSONResponse(body, 200 if status == "ready" else 503)

    def metrics(self) -> Response:
        """Every metric, in Prometheus' text format."""
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)
