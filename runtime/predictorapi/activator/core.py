"""The activator's state: backends and their readiness, the held requests, the in-flight count.

One `Activator` per API, living in one asyncio loop. A request asks `acquire()` for a ready backend; with
none ready it is held (bounded by `max_held` and `cold_start_timeout`) until the readiness poller sees one.
Every change of the held / in-flight / ready counts wakes `wait_change()` waiters (the KEDA stream).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import httpx
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from predictorapi.contracts import metrics as names

log = logging.getLogger("predictorapi.activator")

READY_PATH = "/readyz"
COLD_START_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600)


class Unavailable(Exception):
    """No backend for this request: `reason` is `held_limit` (refused at once) or `cold_start_timeout`."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass
class Backend:
    """One replica's base URL and what the last `/readyz` said."""

    url: str
    ready: bool = False
    in_flight: int = 0


@dataclass
class ActivatorMetrics:
    held: Gauge
    in_flight: Gauge
    cold_starts: Counter
    first_wait: Histogram
    outcomes: Counter

    @classmethod
    def create(cls, api: str, registry: CollectorRegistry) -> ActivatorMetrics:
        label = [names.API_LABEL]
        made = cls(
            held=Gauge(names.ACTIVATOR_HELD, "Requests held, waiting for a ready replica.", label, registry=registry),
            in_flight=Gauge(names.ACTIVATOR_IN_FLIGHT, "Requests forwarded, response not ended.", label,
                            registry=registry),
            cold_starts=Counter(names.ACTIVATOR_COLD_STARTS, "Requests that found the API at zero.", label,
                                registry=registry),
            first_wait=Histogram(names.ACTIVATOR_COLD_START_WAIT, "First held request to first ready replica.",
                                 label, buckets=COLD_START_BUCKETS, registry=registry),
            outcomes=Counter(names.ACTIVATOR_OUTCOMES, "Activator outcomes by kind.", [*label, "outcome"],
                             registry=registry),
        )
        made.held = made.held.labels(api)
        made.in_flight = made.in_flight.labels(api)
        made.cold_starts = made.cold_starts.labels(api)
        made.first_wait = made.first_wait.labels(api)
        for outcome in ("forwarded", "timed_out", "refused", "failed", "abandoned"):
            made.outcomes.labels(api, outcome)
        return made


@dataclass
class Activator:
    """Holds requests for `api` while none of `backends` is ready; see the module docstring."""

    api: str
    backends: list[Backend]
    max_held: int = 1000
    cold_start_timeout: float = 600.0
    poll_interval: float = 0.05
    """Seconds between `/readyz` polls while a request is held (woken at once by the first one)."""
    idle_poll_interval: float = 1.0
    """Seconds between polls while nothing is held."""
    registry: CollectorRegistry | None = None
    backend_capacity: int | None = None
    """Most requests forwarded to one backend at once (the runtime's max_concurrency + max_queue_length), so
    that a burst released by a cold start waits here instead of overflowing the first replica's queue into
    503s; None: unbounded."""
    on_demand: Callable[[], None] | None = None
    """Called (in the loop) when a request is held with no ready backend: the local mode starts its runtime."""
    held: int = 0
    in_flight: int = 0
    last_request: float = field(default_factory=time.monotonic)
    held_since: float | None = None
    """When the current cold start's first request was held (monotonic), None when none is pending."""

    def __post_init__(self) -> None:
        self.metrics_registry = self.registry if self.registry is not None else CollectorRegistry()
        self.metrics = ActivatorMetrics.create(self.api, self.metrics_registry)
        self._changed = asyncio.Event()
        self._wake_poller = asyncio.Event()
        self._poller: asyncio.Task | None = None
        self._client: httpx.AsyncClient | None = None
        self._failures = 0
        self._failure: Unavailable | None = None
        self._turn = -1
        """The round robin's last pick (an index into the ready backends)."""

    @classmethod
    def for_urls(cls, api: str, urls: Iterable[str], **kwargs) -> Activator:
        return cls(api, [Backend(url.rstrip("/")) for url in urls], **kwargs)

    # -- state and notifications -------------------------------------------------------------------

    @property
    def demand(self) -> int:
        """Held + in-flight requests: what KEDA's GetMetrics reports, and > 0 means active."""
        return self.held + self.in_flight

    @property
    def ready_count(self) -> int:
        return sum(1 for backend in self.backends if backend.ready)

    def _notify(self) -> None:
        """Wake everything waiting for a change (a fresh event for the next wait)."""
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_change(self, timeout: float | None = None) -> None:
        """Return at the next change of held / in-flight / readiness, or after `timeout` seconds."""
        event = self._changed
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout)

    def set_backends(self, urls: Iterable[str]) -> None:
        """Replace the backend list (the endpoint watch's entry point); known URLs keep their readiness."""
        known = {backend.url: backend for backend in self.backends}
        self.backends = [known.get(url.rstrip("/"), Backend(url.rstrip("/"))) for url in urls]
        self._wake_poller.set()
        self._notify()

    def mark_down(self, backend: Backend) -> None:
        """A backend refused a connection or is being stopped: route nothing there until `/readyz` says so."""
        if backend.ready:
            backend.ready = False
            self._notify()
        self._wake_poller.set()

    def _set_ready(self, backend: Backend, ready: bool) -> None:
        if backend.ready == ready:
            return
        backend.ready = ready
        log.info("backend %s %s", backend.url, "ready" if ready else "not ready")
        if ready and self.held_since is not None:
            self.metrics.first_wait.observe(time.monotonic() - self.held_since)
            self.held_since = None
        self._notify()

    def _pick(self) -> Backend | None:
        """A ready backend with a free slot, round robin (enough for the 0 -> 1 path), or None."""
        cap = self.backend_capacity
        ready = [backend for backend in self.backends if backend.ready and (cap is None or backend.in_flight < cap)]
        if not ready:
            return None
        self._turn = (self._turn + 1) % len(ready)
        return ready[self._turn]

    # -- holding -------------------------------------------------------------------------------------

    def try_acquire(self) -> Backend | None:
        """A ready backend with a free slot now, or None (then `acquire` holds the request)."""
        self.last_request = time.monotonic()
        backend = self._pick()
        if backend is not None:
            self._reserve(backend)
        return backend

    async def acquire(self, deadline: float | None = None) -> Backend:
        """A ready backend now, or once one is ready (its slot reserved: call `end` when the request is over);
        `Unavailable` over the bounds."""
        backend = self.try_acquire()
        if backend is not None:
            return backend
        if self.held >= self.max_held:
            self.metrics.outcomes.labels(self.api, "refused").inc()
            raise Unavailable("held_limit", f"{self.held} requests already wait for {self.api} to start")
        if deadline is None:
            deadline = time.monotonic() + self.cold_start_timeout
        self.held += 1
        self.metrics.held.inc()
        if self.held_since is None and self.ready_count == 0:
            self.held_since = time.monotonic()
            self.metrics.cold_starts.inc()
        self._wake_poller.set()
        self._notify()
        if self.on_demand is not None:
            self.on_demand()
        failures = self._failures
        try:
            while (backend := self._pick()) is None:
                if self._failures != failures and self._failure is not None:
                    self.metrics.outcomes.labels(self.api, "failed").inc()
                    raise self._failure
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    self.metrics.outcomes.labels(self.api, "timed_out").inc()
                    raise Unavailable("cold_start_timeout", f"no replica of {self.api} became ready within "
                                      f"{self.cold_start_timeout:g}s")
                await self.wait_change(remaining)
            self._reserve(backend)  # in the same step as the pick: no other waiter can take this slot
            return backend
        finally:
            self.held -= 1
            self.metrics.held.dec()
            if self.held == 0 and self.ready_count == 0:
                self.held_since = None  # this cold start failed; the next held request starts another
            self.last_request = time.monotonic()
            self._notify()

    def fail_held(self, reason: str, detail: str) -> None:
        """Answer every request held now with `Unavailable(reason, detail)` (the local runtime exited while
        starting: waiting out the cold-start bound would help nobody); later requests are held as usual."""
        self._failure = Unavailable(reason, detail)
        self._failures += 1
        self._notify()

    def _reserve(self, backend: Backend) -> None:
        """Count a request as in flight on `backend` (its slot) from the moment it is chosen; `end` frees it."""
        backend.in_flight += 1
        self.in_flight += 1
        self.metrics.in_flight.inc()
        self._notify()

    def end(self, backend: Backend) -> None:
        backend.in_flight -= 1
        self.in_flight -= 1
        self.metrics.in_flight.dec()
        self.last_request = time.monotonic()
        self._notify()

    # -- readiness polling -----------------------------------------------------------------------------

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(None, connect=5.0),
                limits=httpx.Limits(max_connections=None, max_keepalive_connections=100),
            )
        return self._client

    async def start(self) -> None:
        if self._poller is None:
            self._poller = asyncio.create_task(self._poll_forever(), name="activator-readiness")

    async def stop(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
            self._poller = None
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _check(self, probe: httpx.AsyncClient, backend: Backend) -> None:
        try:
            response = await probe.get(backend.url + READY_PATH)
            self._set_ready(backend, response.status_code == 200)
        except httpx.HTTPError:
            self._set_ready(backend, False)

    async def _poll_forever(self) -> None:
        async with httpx.AsyncClient(timeout=httpx.Timeout(2.0)) as probe:
            while True:
                self._wake_poller.clear()
                backends = list(self.backends)
                if backends:
                    await asyncio.gather(*(self._check(probe, backend) for backend in backends))
                interval = self.poll_interval if self.held > 0 else self.idle_poll_interval
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake_poller.wait(), interval)
