"""KEDA's external scaler protocol (`externalscaler.proto`) over one `Activator`, on grpc.aio in the same
loop as the proxy.

Which API a call is about: KEDA sends the ScaledObject's name and namespace (the PredictorAPI's, see
`contracts.keda`); an `ActivatorSet` maps them to that API's `Activator` (one activator process serving
several APIs, as the operator's default `scalerAddress` implies), and a lone `Activator` answers for any
ref (one activator per API). An API the set does not know (yet) is inactive with a demand of 0.

- `IsActive` / `StreamIsActive`: active while held + in-flight > 0. The stream sends the current value when
  opened and then every change at once (no polling: the activator's change event wakes it), so the 0 -> 1
  of KEDA follows the first held request without waiting for KEDA's polling interval.
- `GetMetricSpec`: one metric, `predictorapi_activator_demand`, target = scalerMetadata `targetConcurrency`
  (default 1).
- `GetMetrics`: held + in-flight.
- `StreamMetricSpec` (optional in KEDA): left UNIMPLEMENTED, KEDA falls back to `GetMetricSpec`.
"""

from __future__ import annotations

import asyncio
import contextlib

import grpc

from predictorapi.activator import externalscaler_pb2 as pb
from predictorapi.activator import externalscaler_pb2_grpc as pb_grpc
from predictorapi.activator.core import Activator
from predictorapi.contracts.keda import TARGET_CONCURRENCY
from predictorapi.contracts.metrics import ACTIVATOR_SCALER_METRIC

TARGET_METADATA_KEY = TARGET_CONCURRENCY
DEFAULT_TARGET = 1.0
STREAM_HEARTBEAT_SECONDS = 30.0
"""A stream re-checks its API at least this often (it sends only changes; a change wakes it at once)."""


class ActivatorSet:
    """The activators of several APIs, by (namespace, name); `changed` wakes streams waiting for an API."""

    def __init__(self) -> None:
        self.activators: dict[tuple[str, str], Activator] = {}
        self._changed = asyncio.Event()

    def add(self, namespace: str, activator: Activator) -> None:
        self.activators[(namespace, activator.api)] = activator
        self._changed.set()
        self._changed = asyncio.Event()

    def remove(self, namespace: str, name: str) -> None:
        if self.activators.pop((namespace, name), None) is not None:
            self._changed.set()
            self._changed = asyncio.Event()

    def lookup(self, ref) -> Activator | None:
        return self.activators.get((ref.namespace, ref.name))

    async def wait_change(self, timeout: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), timeout)


class ExternalScaler(pb_grpc.ExternalScalerServicer):
    def __init__(self, activators: Activator | ActivatorSet) -> None:
        self.activators = activators

    def _activator(self, ref) -> Activator | None:
        if isinstance(self.activators, Activator):
            return self.activators
        return self.activators.lookup(ref)

    def _demand(self, ref) -> int:
        activator = self._activator(ref)
        return 0 if activator is None else activator.demand

    async def IsActive(self, request, context):
        return pb.IsActiveResponse(result=self._demand(request) > 0)

    async def StreamIsActive(self, request, context):
        last = self._demand(request) > 0
        yield pb.IsActiveResponse(result=last)
        while True:
            activator = self._activator(request)
            if activator is not None:
                await activator.wait_change(STREAM_HEARTBEAT_SECONDS)
            else:  # not known yet: wait for the set to change (bounded: an API may also appear unannounced)
                await self.activators.wait_change(1.0)
            now = self._demand(request) > 0
            if now != last:
                last = now
                yield pb.IsActiveResponse(result=now)

    async def GetMetricSpec(self, request, context):
        target = _target(request)
        return pb.GetMetricSpecResponse(metricSpecs=[
            pb.MetricSpec(metricName=ACTIVATOR_SCALER_METRIC, targetSize=max(1, round(target)),
                          targetSizeFloat=target)])

    async def GetMetrics(self, request, context):
        demand = self._demand(request.scaledObjectRef)
        return pb.GetMetricsResponse(metricValues=[
            pb.MetricValue(metricName=request.metricName or ACTIVATOR_SCALER_METRIC, metricValue=demand,
                           metricValueFloat=float(demand))])


def _target(ref) -> float:
    try:
        value = float(ref.scalerMetadata.get(TARGET_METADATA_KEY, DEFAULT_TARGET))
    except ValueError:
        return DEFAULT_TARGET
    return value if value > 0 else DEFAULT_TARGET


async def start_scaler(activator: Activator | ActivatorSet, address: str) -> tuple[grpc.aio.Server, int]:
    """Serve the external scaler on `address` (`host:port`, port 0 picks one); the server and its port."""
    server = grpc.aio.server()
    pb_grpc.add_ExternalScalerServicer_to_server(ExternalScaler(activator), server)
    port = server.add_insecure_port(address)
    await server.start()
    return server, port
