"""`/healthz` (liveness), `/readyz` (readiness) and `/metrics` (Prometheus), answered without a framework."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.openmetrics import exposition as openmetrics
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from predictorapi.runtime.state import RuntimeState

Probe = Callable[[Scope], Response]
OPENMETRICS = b"application/openmetrics-text"


class Probes:
    """The probe routes of one app, by path, and the ASGI app answering them."""

    def __init__(self, state: RuntimeState, registry: CollectorRegistry) -> None:
        self.state = state
        self.registry = registry
        self._routes: dict[str, Probe] = {"/healthz": lambda _: self.healthz(), "/readyz": lambda _: self.readyz(),
                                          "/metrics": lambda scope: self.metrics(_accepts_openmetrics(scope))}

    def serves(self, path: str) -> bool:
        """Whether `GET path` is a probe's."""
        return path in self._routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer `GET` to a probe path (:meth:`serves` it; the request's id and access line come from the
        :class:`RequestIdMiddleware` around this app)."""
        await self._routes[scope["path"]](scope)(scope, receive, send)

    def healthz(self) -> Response:
        """Liveness: 503 when hung calls hold every slot for too long, or the replica is crash-looping."""
        status = self.state.liveness()
        return JSONResponse({"status": status}, 200 if status == "alive" else 503)

    def readyz(self) -> Response:
        """Readiness: 200 once loaded, until draining or wedged (with several workers: each worker's status)."""
        status, workers = self.state.readiness()
        body = {"status": status} if workers is None else {"status": status, "workers": workers}
        return JSONResponse(body, 200 if status == "ready" else 503)

    def metrics(self, openmetrics_format: bool = False) -> Response:
        """Every metric, in Prometheus' text format, or in OpenMetrics' (which carries the latency's exemplars: the
        trace ids of sampled requests) when `openmetrics_format`."""
        if openmetrics_format:
            return Response(openmetrics.generate_latest(self.registry), media_type=openmetrics.CONTENT_TYPE_LATEST)
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)


def _accepts_openmetrics(scope: Scope) -> bool:
    """Whether the request's `Accept` names OpenMetrics (as Prometheus' scrapes do)."""
    return any(name == b"accept" and OPENMETRICS in value for name, value in scope["headers"])
