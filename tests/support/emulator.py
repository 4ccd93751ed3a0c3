"""kmock's Kubernetes emulator, with the gaps of kmock 0.8 filled, served over real HTTP in a thread.

Filled gaps: creation sets uid/resourceVersion/creationTimestamp/generation/namespace and answers
201; `metadata.generation` grows when anything but metadata and status changes; the `status`
subresource only changes `status`; PUT replaces (kmock merges); lists carry `kind`/`apiVersion`; watch
streams are JSON for kubectl; deleting an owner deletes what it owns (the garbage collector); a patch carrying
another `metadata.uid`, or a delete whose `preconditions.uid` is not the object's, is answered 409; the request
history is trimmed so a long run does not slow down (`counts` keeps how many requests of each verb were served).

Strict by default (`emulator_running(strict=True)`): every create, update and patch of a built-in kind
the operator writes, of a PredictorAPI and of a ServiceMonitor is admitted as a real API server would
(tests/support/strict.py: official schemas plus the API server's own checks, the CRD read from crds/ at
start with its defaults, structural schema and CEL rules), on the object the write would store (a patch
is checked merged); a refusal is the API server's 422 `Status` naming the field. Stored quantities are
canonical (`1.5` → `1500m`). `emulator.lenient(plural)` lets invalid objects of a resource in, as objects
stored before a stricter CRD was installed.

KEDA (`emulator_running(keda=True)`; off by default): ScaledObjects are served and in discovery, strictly admitted
(tests/support/keda.py: KEDA's published schema and its admission webhook's checks); no KEDA controller runs.
`keda=False` answers 404 on `/apis/keda.sh/v1alpha1`.

Argo Rollouts (`emulator_running(rollouts=True)`, the default): Rollouts (with `status` and `scale`, as
Argo's CRD serves them), AnalysisTemplates and AnalysisRuns are served and in discovery, and strictly
admitted (tests/support/rollouts.py: Argo Rollouts' published schemas and its controller's checks). No
controller runs: a test plays Argo Rollouts by writing a Rollout's status. `rollouts=False` is a cluster
without Argo Rollouts (404 on `/apis/argoproj.io/v1alpha1`).

kopf's peering resources (`emulator_running(peering=True)`): ClusterKopfPeerings and KopfPeerings, as
operator/deploy/peering.yaml installs them, for an operator run with its deployed settings (not standalone).

Faults can be injected: `emulator.fail(method, plural, status, times, message)` answers with the
`Status` the API server would send for `status` (reason `Invalid` for 422, `Conflict`, `InternalError`...).
"""

from __future__ import annotations

import asyncio
import collections
import copy
import datetime
import itertools
import json
import os
import re
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from pathlib import Path
from typing import Any

import aiohttp.web
import jsonpatch
import kmock
import yaml
from kmock._internal import dicts, enums, rendering
from kubernetes import client

from predictorapi import spec
from predictorapi.contracts import kinds
from predictorapi_operator.kube import Kube
from support import keda as keda_support
from support import rollouts as argo
from support.strict import CRD_DIR, REASONS, Admission, Refusal, failure_status, qualified_kind, strip_nulls

# Subresources the API server serves for each kind the operator uses (the kinds are the operator's own).
SUBRESOURCES = {kinds.PREDICTORAPI: {"status", "scale"}, kinds.DEPLOYMENT: {"status", "scale"},
                kinds.SERVICE: {"status"}, kinds.POD: {"status"}, kinds.HPA: {"status"}, kinds.PDB: {"status"},
                kinds.INGRESS: {"status"}, kinds.SERVICE_MONITOR: set(), kinds.ROLLOUT: {"status", "scale"},
                kinds.ANALYSIS_TEMPLATE: set(), kinds.ANALYSIS_RUN: {"status"},
                kinds.SCALED_OBJECT: {"status"}}


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
ROLLOUTS = [_resource(kind) for kind in kinds.ROLLOUT_KINDS]
"""Argo Rollouts' resources (served with `rollouts=True`)."""
KEDA = [_resource(kinds.SCALED_OBJECT)]
"""KEDA's resources the operator writes (served with `keda=True`)."""
PEERING = [("kopf.dev/v1/clusterkopfpeerings", "ClusterKopfPeering", False, set()),
           ("kopf.dev/v1/kopfpeerings", "KopfPeering", True, set())]
"""kopf's peering resources (served with `peering=True`; operator/deploy/peering.yaml's CRDs)."""
ROLLOUT_SCALE = {"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.HPAReplicas",
                 "labelSelectorPath": ".status.selector"}
"""The scale subresource of Argo Rollouts' Rollout CRD."""
KEEP_REQUESTS = 50
KEEP_VERSIONS = 4
"""Versions of each object kept in kmock's history (it grows by one per write otherwise)."""


@dataclass
class Fault:
    method: str
    plural: str
    status: int
    times: int
    message: str | None = None
    hits: list[str] = dataclass_field(default_factory=list)
    """Names of the objects whose requests it answered (the last ones)."""


class Refused(Exception):
    """A write the API server answers with an error `Status` instead of performing it."""

    def __init__(self, body: dict[str, Any]) -> None:
        super().__init__(body.get("message"))
        self.body = body


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
        self.counts: collections.Counter[tuple[str, str, str, str]] = collections.Counter()
        """How many requests of each of `verbs` were served (discovery: (agent, "", path, "discovery"))."""
        self.admission: Admission | None = None
        """The API server's validation of writes (None: everything is stored as sent)."""
        self.refusals: list[dict[str, Any]] = []
        """Every `Status` the admission answered with (the last ones), for the tests' messages."""
        self._lenient: set[str] = set()
        self.rollouts_schema: argo.RolloutsSchema | None = None
        """Admission of argoproj.io objects (None: stored as sent)."""
        self.keda_schema: keda_support.KedaSchema | None = None
        """Admission of keda.sh objects (None: stored as sent)."""

    def declare(self, key: str, kind: str, namespaced: bool, subresources: set[str],
                shortnames: set[str] | None = None) -> None:
        """Serve a resource in discovery (and lists of it, even when empty)."""
        self.resources[key] = kmock.ResourceInfo(kind=kind, namespaced=namespaced, subresources=subresources,
                                                 shortnames=shortnames or set(), singular=kind.lower(),
                                                 verbs={"get", "list", "watch", "create", "update", "patch",
                                                        "delete"})
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

    def fail(self, method: str, plural: str, status: int, times: int = 1, message: str | None = None) -> Fault:
        """Answer the next `times` `method` requests on `plural` with `status`, as the API server does: a
        `Status` body with its reason (`Invalid` for 422, `Conflict` for 409, `InternalError` for 500...)
        and `message` (else the API server's usual words for that status)."""
        fault = Fault(method.upper(), plural, status, times, message)
        self._faults.append(fault)
        return fault

    @contextmanager
    def lenient(self, *plurals: str) -> Iterator[None]:
        """Store objects of `plurals` without admission while inside (as if written before a stricter CRD)."""
        added = set(plurals) - self._lenient
        self._lenient |= added
        try:
            yield
        finally:
            self._lenient -= added

    def _fault_status(self, request: rendering.Request, fault: Fault) -> dict[str, Any]:
        """The `Status` a real API server sends with `fault.status` for this request."""
        assert request.resource is not None
        plural, group = request.resource.plural or "", request.resource.group or ""
        data = request.data if isinstance(request.data, dict) else {}
        name = request.name or (data.get("metadata") or {}).get("name") or ""
        kind = self._kinds.get(plural, plural)
        resource = f"{plural}.{group}" if group else plural
        code, message = fault.status, fault.message
        fault.hits[:] = [*fault.hits[-(KEEP_REQUESTS - 1):], name]
        details: dict[str, Any] = {"name": name, **({"group": group} if group else {}), "kind": plural}
        reason = REASONS.get(code)
        if code == 422:
            details = {**details, "kind": kind, "causes": []}
            message = message or f"{qualified_kind(kind, group)} {json.dumps(name)} is invalid: injected {code}"
        elif code == 409:
            reason = "AlreadyExists" if request.action == enums.action.CREATE else "Conflict"
            message = message or (f"{resource} {json.dumps(name)} already exists" if reason == "AlreadyExists" else
                                  f"Operation cannot be fulfilled on {resource} {json.dumps(name)}: the object has "
                                  "been modified; please apply your changes to the latest version and try again")
        elif code == 404:
            message = message or f"{resource} {json.dumps(name)} not found"
        elif code in (429, 503, 504):
            details["retryAfterSeconds"] = 1
            message = message or {429: "the server has received too many requests and has asked us to try again "
                                       "later", 503: "the server is currently unable to handle the request",
                                  504: "the server was unable to return a response in the time allotted, but may "
                                       "still be processing the request"}[code]
        elif code == 500:
            message = message or f"Internal error occurred: injected {code}"
        return failure_status(code, message or f"injected {code}", reason, details)

    def _fault(self, request: rendering.Request) -> Fault | None:
        for fault in self._faults:
            if fault.times > 0 and request.method.value.upper() == fault.method and request.resource \
                    and request.resource.plural == fault.plural and request.action != enums.action.WATCH:
                fault.times -= 1
                return fault
        return None

    def _record_verb(self, request: rendering.Request) -> None:
        if request.resource is None or request.action is None or not request.resource.plural:
            self.counts[(request.headers.get("User-Agent", ""), "", request.url.path, "discovery")] += 1
            return
        verb = {enums.action.LIST: "list", enums.action.WATCH: "watch", enums.action.FETCH: "get",
                enums.action.CREATE: "create", enums.action.DELETE: "delete"}.get(request.action)
        if request.action == enums.action.UPDATE:
            verb = "update" if str(request.method).upper().endswith("PUT") else "patch"
        resource = request.resource.plural + (f"/{request.subresource}" if request.subresource else "")
        agent = request.headers.get("User-Agent", "")
        self.verbs.add((agent, request.resource.group or "", resource, verb or "?"))
        self.counts[(agent, request.resource.group or "", resource, verb or "?")] += 1

    def _stored(self, request: rendering.Request) -> dict[str, Any] | None:
        key = (request.resource, request.namespace, request.name)
        if key not in self._objects or self._objects[key].deleted:
            return None
        return copy.deepcopy(self._objects[key].raw)

    @staticmethod
    def _patched(current: dict[str, Any], request: rendering.Request) -> dict[str, Any]:
        """The object a PUT or PATCH would leave (JSON patch, else merge patch as kmock applies it)."""
        body = request.data
        if request.method == enums.method.PUT:
            if not isinstance(body, dict):
                raise Refused(failure_status(400, "the body of a PUT must be an object"))
            replaced = copy.deepcopy(body)
            meta, before = replaced.setdefault("metadata", {}), current.get("metadata") or {}
            for key in ("uid", "creationTimestamp", "namespace", "generation", "deletionTimestamp"):
                if key in before:
                    meta[key] = before[key]
            rv = meta.get("resourceVersion")
            if rv and rv != before.get("resourceVersion"):
                raise Refused(failure_status(409, "Operation cannot be fulfilled: the object has been modified; "
                                                  "please apply your changes to the latest version and try again"))
            return replaced
        if isinstance(body, list):
            try:
                return jsonpatch.apply_patch(copy.deepcopy(current), body)
            except jsonpatch.JsonPatchTestFailed as exc:  # e.g. a stale resourceVersion: the API server's 422
                raise Refused(failure_status(422, "the server rejected our request due to an error in our "
                                                  f"request: {exc}")) from exc
            except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:
                raise Refused(failure_status(422, str(exc))) from exc
        if isinstance(body, dict):
            try:
                return dict(dicts.patch_dict(copy.deepcopy(current), body))
            except ValueError as exc:
                raise Refused(failure_status(422, str(exc))) from exc
        raise Refused(failure_status(400, "the body of a PATCH must be a JSON patch or a merge patch"))

    def _admit(self, request: rendering.Request) -> None:
        """Compute what a create or update would store, stamp it as the API server does, admit it, and make
        kmock store exactly that. Raises `Refused` with the answer instead."""
        resource, action = request.resource, request.action
        if resource is None or action not in (enums.action.CREATE, enums.action.UPDATE):
            return
        if action == enums.action.CREATE:
            if not isinstance(request.data, dict) or request.subresource:
                return
            current = None
            candidate = strip_nulls(copy.deepcopy(request.data))
        else:
            if not request.name or request.subresource not in (None, "status"):
                return
            current = self._stored(request)
            if current is None:
                group = resource.group or ""
                where = f"{resource.plural}.{group}" if group else resource.plural
                raise Refused(failure_status(404, f"{where} {json.dumps(request.name)} not found", None,
                                             {"name": request.name, "kind": resource.plural,
                                              **({"group": group} if group else {})}))
            patched = strip_nulls(self._patched(current, request))
            _check_uid((patched.get("metadata") or {}).get("uid"), current)
            if request.subresource == "status":
                candidate = copy.deepcopy(current)
                candidate.pop("status", None)
                if "status" in patched:
                    candidate["status"] = patched["status"]
            else:
                candidate = patched
        meta = candidate.setdefault("metadata", {})
        if action == enums.action.CREATE:
            if request.namespace:
                meta["namespace"] = request.namespace
            meta.setdefault("uid", str(uuid.uuid4()))
            meta["creationTimestamp"] = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            meta["generation"] = 1
        if self.admission is not None and resource.plural not in self._lenient:
            try:
                refusal = self._admission(resource, candidate, current, request.subresource)
            except Exception as exc:  # a gap in the emulator's own checks: say so rather than hang a client
                raise Refused(failure_status(500, f"Internal error occurred: the emulator's admission failed: "
                                                  f"{exc!r}")) from exc
            if refusal is not None:
                self.refusals = [*self.refusals[-(KEEP_REQUESTS - 1):], refusal.status()]
                raise Refused(refusal.status())
        meta["resourceVersion"] = str(next(self._rv))
        if current is not None:
            def content(obj: dict[str, Any]) -> dict[str, Any]:
                return {k: v for k, v in obj.items() if k not in ("metadata", "status")}
            generation = (current.get("metadata") or {}).get("generation", 1)
            meta["generation"] = generation + 1 if content(candidate) != content(current) else generation
        if action == enums.action.CREATE:
            request.data.clear()
            request.data.update(candidate)
        else:  # kmock merges what it is given: store the result, then let it apply an empty patch (and notify)
            stored = self._objects[(resource, request.namespace, request.name)]
            stored.history = [*stored.history[-(KEEP_VERSIONS - 1):], candidate]  # trimmed, as the requests are
            request.data.clear()

    def _admission(self, resource: Any, candidate: dict[str, Any], current: dict[str, Any] | None,
                   subresource: str | None) -> Refusal | None:
        """The strict admission of one write: Argo Rollouts' kinds here, every other kind in support.strict."""
        group, plural = resource.group or "", resource.plural or ""
        name = str((candidate.get("metadata") or {}).get("name", ""))
        if group == keda_support.GROUP and self.keda_schema is not None:
            errors = keda_support.admit(self.keda_schema, plural, candidate, subresource)
            return Refusal(keda_support.KINDS[plural], group, name, errors) if errors else None
        if group != argo.GROUP or self.rollouts_schema is None:
            assert self.admission is not None
            return self.admission.admit(group, resource.version or "", plural, candidate, current, subresource)
        errors = argo.admit(self.rollouts_schema, plural, candidate, subresource)
        return Refusal(argo.KINDS[plural], group, name, errors) if errors else None

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
        if request.method == enums.method.PUT and request.resource is not None and request.name and \
                request.action is None:  # kmock 0.8 does not route PUT: it is an update (replacing, below)
            object.__setattr__(request, "action", enums.action.UPDATE)
        self.served += 1
        self._record_verb(request)
        fault = self._fault(request)
        if fault is not None:
            body = self._fault_status(request, fault)
            return aiohttp.web.json_response(body, status=fault.status)
        if request.resource is not None and request.action == enums.action.CREATE and isinstance(
                request.data, dict):
            name = (request.data.get("metadata") or {}).get("name")
            key = (request.resource, request.namespace or (request.data.get("metadata") or {}).get("namespace"),
                   name)
            if key in self._objects and not self._objects[key].deleted:
                group = request.resource.group or ""
                where = f"{request.resource.plural}.{group}" if group else request.resource.plural
                body = failure_status(409, f"{where} {json.dumps(name)} already exists", "AlreadyExists",
                                      {"name": name, "kind": request.resource.plural,
                                       **({"group": group} if group else {})})
                return aiohttp.web.json_response(body, status=409)
        key, uid = None, None
        if request.action in (enums.action.DELETE, enums.action.UPDATE) and request.name:
            key = (request.resource, request.namespace, request.name)
            if key in self._objects and not self._objects[key].deleted:
                uid = (self._objects[key].get("metadata") or {}).get("uid")
                wanted = ((request.data or {}).get("preconditions") or {}).get("uid") if isinstance(
                    request.data, dict) and request.action == enums.action.DELETE else None
                try:
                    _check_uid(wanted, self._objects[key].raw)
                except Refused as refused:
                    return aiohttp.web.json_response(refused.body, status=409)
        resource = request.resource
        if resource is not None and resource.group in (argo.GROUP, keda_support.GROUP) and resource.plural and \
                resource.plural not in self._kinds:  # no Argo Rollouts / KEDA in this cluster: not served
            return aiohttp.web.json_response(failure_status(404, "the server could not find the requested "
                                                                 "resource", "NotFound"), status=404)
        if request.subresource == "scale" and request.resource is not None and request.name:
            return await self._serve_scale(request)
        if "as=Table" in request.headers.get("Accept", "") and request.resource is not None and \
                request.resource.plural == kinds.PREDICTORAPI.plural and request.action in (
                    enums.action.FETCH, enums.action.LIST):
            return self._serve_table(request)
        try:
            self._admit(request)
        except Refused as refused:
            return aiohttp.web.json_response(refused.body, status=refused.body["code"])
        response = await super()._handle(request)
        if request.action == enums.action.CREATE and response.status == 200:
            response.set_status(201)
        if uid and self._objects[key].deleted:  # deleted now, or released by its last finalizer
            async with self._lock:
                await self._collect_garbage(uid)
        if request.action == enums.action.CREATE and isinstance(request.data, dict):
            await self._collect_orphan(request)
        return response

    async def _serve_scale(self, request: rendering.Request) -> aiohttp.web.StreamResponse:
        """The `scale` subresource (autoscaling/v1 Scale), mapped onto the object through the CRD's
        `specReplicasPath`, `statusReplicasPath` and `labelSelectorPath` as the API server does."""
        paths = scale_paths(request.resource.plural)
        current = self._stored(request)
        if paths is None or current is None:
            return aiohttp.web.json_response(failure_status(404, "the server could not find the requested "
                                                                 "resource", "NotFound"), status=404)
        if request.action == enums.action.UPDATE:
            try:
                wanted = self._patched(as_scale(current, paths), request)
                replicas = int((wanted.get("spec") or {}).get("replicas", 0))
            except (Refused, TypeError, ValueError) as exc:
                body = exc.body if isinstance(exc, Refused) else failure_status(422, f"invalid Scale: {exc}")
                return aiohttp.web.json_response(body, status=body["code"])
            patch: dict[str, Any] = {}
            *parents, leaf = paths["specReplicasPath"].lstrip(".").split(".")
            node = patch
            for part in parents:
                node = node.setdefault(part, {})
            node[leaf] = replicas
            object.__setattr__(request, "subresource", None)
            object.__setattr__(request, "method", enums.method.PATCH)
            object.__setattr__(request, "data", patch)
            try:
                self._admit(request)
            except Refused as refused:
                return aiohttp.web.json_response(refused.body, status=refused.body["code"])
            await super()._handle(request)
            current = self._stored(request) or current
        return aiohttp.web.json_response(as_scale(current, paths))

    def _serve_table(self, request: rendering.Request) -> aiohttp.web.StreamResponse:
        """A server-side Table (what `kubectl get` prints), with the CRD's additionalPrinterColumns."""
        if request.action == enums.action.FETCH:
            found = self._stored(request)
            if found is None:
                return aiohttp.web.json_response(failure_status(404, f"predictorapis {json.dumps(request.name)} "
                                                                     "not found", "NotFound"), status=404)
            objects = [found]
        else:
            objects = [copy.deepcopy(o.raw) for (resource, namespace, _), o in list(self._objects.items())
                       if resource == request.resource and not o.deleted
                       and (not request.namespace or namespace == request.namespace)]
        return aiohttp.web.json_response(as_table(objects, printer_columns(), str(next(self._rv))))

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


def _check_uid(wanted: str | None, current: dict[str, Any]) -> None:
    """A uid in a patch or in a delete's preconditions must be the object's: the API server's 409 otherwise."""
    actual = (current.get("metadata") or {}).get("uid")
    if wanted and wanted != actual:
        raise Refused(failure_status(409, f"Precondition failed: UID in precondition: {wanted}, UID in object meta: "
                                          f"{actual}", "Conflict"))


def scale_paths(plural: str | None) -> dict[str, str] | None:
    """The scale subresource's paths of a kind (the CRD's for PredictorAPIs, apps/v1's for Deployments)."""
    if plural == kinds.DEPLOYMENT.plural:
        return {"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas"}
    if plural == kinds.ROLLOUT.plural:
        return ROLLOUT_SCALE
    if plural != kinds.PREDICTORAPI.plural:
        return None
    crd = yaml.safe_load((CRD_DIR / "predictorapi.yaml").read_text())
    return crd["spec"]["versions"][0]["subresources"]["scale"]


def _at(obj: dict[str, Any], path: str | None) -> Any:
    value: Any = obj
    for part in (path or "").lstrip(".").split("."):
        value = value.get(part) if isinstance(value, dict) and part else None
    return value


def as_scale(obj: dict[str, Any], paths: dict[str, str]) -> dict[str, Any]:
    """The autoscaling/v1 Scale the API server serves for `obj`."""
    meta = obj.get("metadata") or {}
    status: dict[str, Any] = {"replicas": _at(obj, paths.get("statusReplicasPath")) or 0}
    if selector := _at(obj, paths.get("labelSelectorPath")):
        status["selector"] = selector
    return {"apiVersion": "autoscaling/v1", "kind": "Scale",
            "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
                         if k in meta},
            "spec": {"replicas": _at(obj, paths["specReplicasPath"]) or 0}, "status": status}


def printer_columns() -> list[dict[str, Any]]:
    """The PredictorAPI CRD's additionalPrinterColumns, read from crds/."""
    crd = yaml.safe_load((CRD_DIR / "predictorapi.yaml").read_text())
    return crd["spec"]["versions"][0].get("additionalPrinterColumns", [])


def json_path(obj: Any, path: str) -> Any:
    """The value at a printer column's JSONPath: `.a.b` steps and `[?(@.key=="value")]` filters."""
    values = [obj]
    for step in re.findall(r'\.([^.\[]+)|\[\?\(@\.(\w+)=="([^"]*)"\)\]', path):
        name, key, wanted = step
        out = []
        for value in values:
            if name:
                value = value.get(name) if isinstance(value, dict) else None
                out += [value] if value is not None else []
            else:
                out += [item for item in value or [] if isinstance(item, dict) and item.get(key) == wanted]
        values = out
    return values[0] if values else None


def _age(timestamp: str) -> str:
    when = datetime.datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.UTC)
    seconds = int((datetime.datetime.now(datetime.UTC) - when).total_seconds())
    return f"{seconds}s" if seconds < 120 else f"{seconds // 60}m" if seconds < 7200 else f"{seconds // 3600}h"


def as_table(objects: list[dict[str, Any]], columns: list[dict[str, Any]], resource_version: str) -> dict[str, Any]:
    """The meta.k8s.io/v1 Table the API server serves for custom resources."""
    definitions = [{"name": "Name", "type": "string", "format": "name", "description": "Name", "priority": 0},
                   *({"name": c["name"], "type": c["type"], "format": c.get("format", ""),
                      "description": c.get("description", ""), "priority": c.get("priority", 0)} for c in columns)]
    rows = []
    for obj in objects:
        cells: list[Any] = [obj["metadata"]["name"]]
        for column in columns:
            value = json_path(obj, column["jsonPath"])
            cells.append(_age(value) if column["type"] == "date" and value else value)
        rows.append({"cells": cells, "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                                                "metadata": obj["metadata"]}})
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {"resourceVersion": resource_version},
            "columnDefinitions": definitions, "rows": rows}


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


TEST_USER_AGENT = "predictorapi-tests"
"""The user agent of the tests' own requests (told apart from the operator's)."""


def kube_for(url: str) -> Kube:
    """A client for the tests' own requests to the API server at `url` (user agent `TEST_USER_AGENT`)."""
    configuration = client.Configuration()
    configuration.host = url
    api_client = client.ApiClient(configuration)
    api_client.user_agent = TEST_USER_AGENT
    return Kube(api_client)


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
def emulator_running(directory: Path, *, monitoring: bool = True, rollouts: bool = True, strict: bool | None = None,
                     crd_dir: Path = CRD_DIR, peering: bool = False, keda: bool = False) -> Iterator[RunningEmulator]:
    """Start the emulator on a loopback port in a background thread; `monitoring` / `rollouts` / `peering` /
    `keda`: serve the Prometheus Operator's / Argo Rollouts' / kopf's peering / KEDA's resources (KEDA is off by
    default: only the scale-to-zero tests need it); `strict`: admit writes as the
    API server does (with the CRDs of `crd_dir`, read now); by default unless the environment sets
    `EMULATOR_STRICT=0`."""
    if strict is None:
        strict = os.environ.get("EMULATOR_STRICT", "1") != "0"
    loop = asyncio.new_event_loop()
    started: dict[str, Any] = {}
    stop = asyncio.Event()
    ready = threading.Event()

    admission = Admission(crd_dir) if strict else None
    rollouts_schema = argo.RolloutsSchema() if strict and rollouts else None
    keda_schema = keda_support.KedaSchema() if strict and keda else None

    async def serve() -> None:
        emulator = Emulator()
        emulator.admission = admission
        emulator.rollouts_schema = rollouts_schema
        emulator.keda_schema = keda_schema
        served = RESOURCES + ([MONITORING] if monitoring else []) + (ROLLOUTS if rollouts else []) + (
            PEERING if peering else []) + (KEDA if keda else [])
        for resource in served:
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
        if admission is not None:
            admission.close()
        if rollouts_schema is not None:
            rollouts_schema.close()
        if keda_schema is not None:
            keda_schema.close()
