"""kmock's Kubernetes emulator, with the gaps of kmock 0.8 filled, served over real HTTP in a thread.

Filled gaps: creation sets uid/resourceVersion/creationTimestamp/generation/namespace and answers
201; `metadata.generation` grows when `spec` changes; the `status` subresource only changes `status`;
lists carry `kind`/`apiVersion`; watch streams are JSON for kubectl; deleting an owner deletes what it
owns (the garbage collector); the request history is trimmed so a long run does not slow down.
Faults can be injected: `emulator.fail(method, plural, status, times)`.
"""

from __future__ import annotations

import asyncio
import copy
import datetime
import itertools
import json
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp.web
import jsonpatch
import kmock
from kmock._internal import enums, rendering

from predictorapi import spec
from predictorapi.contracts import kinds

# Subresources the API server serves for each kind the operator uses (the kinds are the operator's own).
SUBRESOURCES = {kinds.PREDICTORAPI: {"status", "scale"}, kinds.DEPLOYMENT: {"status", "scale"},
                kinds.SERVICE: {"status"}, kinds.POD: {"status"}, kinds.HPA: {"status"}, kinds.PDB: {"status"},
                kinds.INGRESS: {"status"}, kinds.SERVICE_MONITOR: set()}


def _resource(kind: kinds.Kind, shortnames: set[str] | None = None) -> tuple:
    """(group/version/plural, kind, namespaced, subresources[, shortnames]) for `Emulator.declare`."""
    return f"{kind.api_version}/{kind.plural}", kind.kind, True, SUBRESOURCES[kind], shortnames


# Every kind the operator reads or writes, except ServiceMonitor (served only with `monitoring=True`).
RESOURCES = [
    _resource(kinds.PREDICTORAPI, set(spec.SHORT_NAMES)),
    *(_resource(kind) for kind in (*kinds.CHILDREN, kinds.POD) if kind is not kinds.SERVICE_MONITOR),
    ("v1/events", "Event", True, set()),
    ("v1/namespaces", "Namespace", False, {"status"}),
    ("events.k8s.io/v1/events", "Event", True, set()),
]
MONITORING = _resource(kinds.SERVICE_MONITOR)
KEEP_REQUESTS = 50


@dataclass
class Fault:
    method: str
    plural: str
    status: int
    times: int


class Emulator(kmock.KubernetesEmulator):
    """The emulator plus the API-server behaviours the operator relies on."""

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        self._rv = itertools.count(1)
        self._faults: list[Fault] = []
        self._watch_epoch = 0
        self._kinds: dict[str, str] = {}
        self.served = 0
        """Requests served (the emulator's own load, for benchmarks)."""
        self.verbs: set[tuple[str, str, str, str]] = set()
        """(user agent, API group, resource[/subresource], RBAC verb) of every request served."""

    def declare(self, key: str, kind: str, namespaced: bool, subresources: set[str],
                shortnames: set[str] | None = None) -> None:
        """Serve a resource in discovery (and lists of it, even when empty)."""
        self.resources[key] = kmock.ResourceInfo(kind=kind, namespaced=namespaced, subresources=subresources,
                                                 shortnames=shortnames or set(), singular=kind.lower(),
                                                 verbs={"get", "list", "watch", "create", "patch", "delete"})
        self._kinds[key.rsplit("/", 1)[-1]] = kind

    def drop_watches(self) -> None:
        """End every open watch stream at its next event (that event is lost to it), as a dropped connection."""
        self._watch_epoch += 1

    async def _serve_watch(self, request: rendering.Request) -> AsyncIterator[rendering.Payload]:
        epoch = self._watch_epoch
        async for item in super()._serve_watch(request):
            if self._watch_epoch != epoch:
                return
            yield item

    def fail(self, method: str, plural: str, status: int, times: int = 1) -> None:
        """Answer the next `times` `method` requests on `plural` with `status`."""
        self._faults.append(Fault(method.upper(), plural, status, times))

    def _fault(self, request: rendering.Request) -> Fault | None:
        for fault in self._faults:
            if fault.times > 0 and request.method.value.upper() == fault.method and request.resource \
                    and request.resource.plural == fault.plural and request.action != enums.action.WATCH:
                fault.times -= 1
                return fault
        return None

    def _record_verb(self, request: rendering.Request) -> None:
        if request.resource is None or request.action is None or not request.resource.plural:
            return
        verb = {enums.action.LIST: "list", enums.action.WATCH: "watch", enums.action.FETCH: "get",
                enums.action.CREATE: "create", enums.action.DELETE: "delete"}.get(request.action)
        if request.action == enums.action.UPDATE:
            verb = "update" if str(request.method).upper().endswith("PUT") else "patch"
        resource = request.resource.plural + (f"/{request.subresource}" if request.subresource else "")
        agent = request.headers.get("User-Agent", "")
        self.verbs.add((agent, request.resource.group or "", resource, verb or "?"))

    def _stamp(self, request: rendering.Request) -> None:
        """Fill in what the API server sets on create and update."""
        data = request.data if isinstance(request.data, dict) else None
        if request.action == enums.action.CREATE and data is not None:
            meta = data.setdefault("metadata", {})
            if request.namespace:
                meta["namespace"] = request.namespace
            meta.setdefault("uid", str(uuid.uuid4()))
            meta["creationTimestamp"] = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            meta["resourceVersion"] = str(next(self._rv))
            meta["generation"] = 1
        elif request.action == enums.action.UPDATE and data is not None:
            key = (request.resource, request.namespace, request.name)
            current = self._objects[key].raw if key in self._objects and not self._objects[key].deleted else None
            if request.subresource == "status":
                for extra in [k for k in data if k != "status"]:
                    del data[extra]
            meta = data.setdefault("metadata", {})
            meta["resourceVersion"] = str(next(self._rv))
            if current is not None and "spec" in data:
                merged = kmock_merge(copy.deepcopy(current.get("spec") or {}), data["spec"])
                if merged != current.get("spec"):
                    meta["generation"] = (current.get("metadata") or {}).get("generation", 1) + 1

    async def _collect_garbage(self, uid: str) -> None:
        """Delete every object owned by `uid` (and what those own)."""
        owned = [(key, obj) for key, obj in list(self._objects.items()) if not obj.deleted and any(
            ref.get("uid") == uid for ref in (obj.get("metadata") or {}).get("ownerReferences") or [])]
        for (resource, _, _), obj in owned:
            raw = obj.raw
            obj.delete()
            await self._buses[resource].put({"type": "DELETED", "object": raw})
            await self._collect_garbage((raw.get("metadata") or {}).get("uid", ""))

    async def _handle(self, request: rendering.Request) -> aiohttp.web.StreamResponse:
        del self._requests[:-KEEP_REQUESTS]  # kmock matches against its whole history: keep it short
        self.served += 1
        self._record_verb(request)
        fault = self._fault(request)
        if fault is not None:
            body = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": fault.status,
                    "reason": "Injected", "message": f"injected {fault.status}"}
            return aiohttp.web.json_response(body, status=fault.status)
        if request.resource is not None and request.action == enums.action.CREATE and isinstance(
                request.data, dict):
            key = (request.resource, request.namespace or (request.data.get("metadata") or {}).get("namespace"),
                   (request.data.get("metadata") or {}).get("name"))
            if key in self._objects and not self._objects[key].deleted:
                body = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 409,
                        "reason": "AlreadyExists", "message": f"{key[2]} already exists"}
                return aiohttp.web.json_response(body, status=409)
        key, uid = None, None
        if request.action in (enums.action.DELETE, enums.action.UPDATE) and request.name:
            key = (request.resource, request.namespace, request.name)
            if key in self._objects and not self._objects[key].deleted:
                uid = (self._objects[key].get("metadata") or {}).get("uid")
        self._stamp(request)
        try:
            response = await super()._handle(request)
        except jsonpatch.JsonPatchTestFailed as exc:  # e.g. a stale resourceVersion: the API server's 422
            body = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 422, "reason": "Invalid",
                    "message": f"the server rejected our request due to an error in our request: {exc}"}
            return aiohttp.web.json_response(body, status=422)
        if request.action == enums.action.CREATE and response.status == 200:
            response.set_status(201)
        if uid and self._objects[key].deleted:  # deleted now, or released by its last finalizer
            async with self._lock:
                await self._collect_garbage(uid)
        if request.action == enums.action.CREATE and isinstance(request.data, dict):
            await self._collect_orphan(request)
        return response

    async def _collect_orphan(self, request: rendering.Request) -> None:
        """An object created with an owner that is already gone is collected, as the GC would."""
        meta = request.data.get("metadata") or {}
        owners = {ref.get("uid") for ref in meta.get("ownerReferences") or []}
        if not owners:
            return
        async with self._lock:
            live = {(o.get("metadata") or {}).get("uid") for o in self._objects.values() if not o.deleted}
            key = (request.resource, meta.get("namespace"), meta.get("name"))
            if not owners & live and key in self._objects and not self._objects[key].deleted:
                raw = self._objects[key].raw
                self._objects[key].delete()
                await self._buses[request.resource].put({"type": "DELETED", "object": raw})

    async def _serve_list(self, request: rendering.Request) -> rendering.Payload:
        result = await super()._serve_list(request)
        plural = request.resource.plural if request.resource else ""
        group, version = (request.resource.group, request.resource.version) if request.resource else ("", "v1")
        result["kind"] = f"{self._kinds.get(plural, 'Object')}List"
        result["apiVersion"] = f"{group}/{version}" if group else version
        result["metadata"] = {"resourceVersion": str(next(self._rv))}
        return result


def kmock_merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """JSON merge patch (RFC 7386), as the emulator applies it."""
    for key, value in patch.items():
        if value is None:
            base.pop(key, None)
        elif isinstance(value, dict) and isinstance(base.get(key), dict):
            base[key] = kmock_merge(base[key], value)
        else:
            base[key] = copy.deepcopy(value)
    return base


@dataclass
class RunningEmulator:
    """An emulator serving on loopback, with the kubeconfig that reaches it."""

    emulator: Emulator
    url: str
    kubeconfig: Path
    loop: asyncio.AbstractEventLoop

    def objects(self, plural: str) -> list[dict[str, Any]]:
        """Snapshot of the live objects of one resource (thread-safe copy)."""
        async def snapshot() -> list[dict[str, Any]]:
            return [copy.deepcopy(obj.raw) for (resource, _, _), obj in list(self.emulator.objects.items())
                    if resource.plural == plural and not obj.deleted]
        return asyncio.run_coroutine_threadsafe(snapshot(), self.loop).result(10)


def write_kubeconfig(path: Path, url: str) -> Path:
    """A kubeconfig for `url` (no auth: the emulator accepts anything)."""
    config = {
        "apiVersion": "v1", "kind": "Config", "current-context": "emulator",
        "clusters": [{"name": "emulator", "cluster": {"server": url}}],
        "users": [{"name": "emulator", "user": {"token": "emulator"}}],
        "contexts": [{"name": "emulator", "context": {"cluster": "emulator", "user": "emulator",
                                                       "namespace": "default"}}],
    }
    path.write_text(json.dumps(config))
    return path


@contextmanager
def emulator_running(directory: Path, *, monitoring: bool = True) -> Iterator[RunningEmulator]:
    """Start the emulator on a loopback port in a background thread."""
    loop = asyncio.new_event_loop()
    started: dict[str, Any] = {}
    stop = asyncio.Event()
    ready = threading.Event()

    async def serve() -> None:
        emulator = Emulator()
        for resource in RESOURCES + ([MONITORING] if monitoring else []):
            emulator.declare(*resource)
        async with emulator, kmock.Server(emulator) as server:
            started.update(emulator=emulator, url=f"http://{server.host}:{server.port}")
            ready.set()
            await stop.wait()

    thread = threading.Thread(target=lambda: loop.run_until_complete(serve()), daemon=True, name="emulator")
    thread.start()
    assert ready.wait(30), "the emulator did not start"
    kubeconfig = write_kubeconfig(directory / "kubeconfig", started["url"])
    try:
        yield RunningEmulator(started["emulator"], started["url"], kubeconfig, loop)
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
