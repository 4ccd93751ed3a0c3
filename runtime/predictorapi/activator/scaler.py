"""KEDA's external scaler protocol (`externalscaler.proto`) over one `Activator`, on grpc.aio in the same
loop as the proxy.

Which API a call is about: KEDA sends the ScaledObject's name and namespace (the PredictorAPI's, see
`contracts.keda`). Each API has an activator of its own (`NAME-activator`), which answers for its API's name; a ref
naming another API (a misdirected `scalerAddress`) is inactive with a demand of 0.

- `IsActive` / `StreamIsActive`: active while held + in-flight > 0. The stream sends the current value when
  opened and then every change at once (no polling: the activator's change event wakes it), so the 0 -> 1
  of KEDA follows the first held request without waiting for KEDA's polling interval.
- `GetMetricSpec`: one metric, `predictorapi_activator_demand`, target = scalerMetadata `targetConcurrency`
  (default 1).
- `GetMetrics`: held + in-flight.
- `StreamMetricSpec` (optional in KEDA): left UNIMPLEMENTED, KEDA falls back to `GetMetricSpec`.
"""

from __future__ import annotations

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


class ExternalScaler(pb_grpc.ExternalScalerServicer):
    """KEDA's external scaler over the activator of one API."""

    def __init__(self, activator: Activator) -> None:
        self.activator = activator

    def _demand(self, ref) -> int:
        return self.activator.demand if ref.name == self.activator.api else 0

    async def IsActive(self, request, context):
        return pb.IsActiveResponse(result=self._demand(request) > 0)

    async def StreamIsActive(self, request, context):
        last = self._demand(request) > 0
        yield pb.IsActiveResponse(result=last)
        while True:
            await self.activator.wait_change(STREAM_HEARTBEAT_SECONDS)
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


async def start_scaler(activator: Activator, address: str) -> tuple[grpc.aio.Server, int]:
    """Serve the external scaler on `address` (`host:port`, port 0 picks one); the server and its port."""
    server = grpc.aio.server()
    pb_grpc.add_ExternalScalerServicer_to_server(ExternalScaler(activator), server)
    port = server.add_insecure_port(address)
    await server.start()
    return server, port
