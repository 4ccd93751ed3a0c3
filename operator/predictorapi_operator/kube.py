"""The one module that talks to the Kubernetes API: get, create, merge-patch, delete, list, discovery.

Objects are plain dicts (what the builders make). Calls go through the official client's
`ApiClient.call_api`, so authentication and TLS come from the kubeconfig or the in-cluster config.

Why a client-side apply (create, or JSON merge patch plus a last-applied annotation) and not
server-side apply with field management, the usual answer in operators: it is the simplest choice
that behaves the same against a real API server and against the tests' emulator (kmock 0.8 answers
server-side apply of a new object with 404 and has no managed fields), it needs only `create` and
`patch` RBAC, and the annotation gives `kubectl apply`'s semantics: the fields the operator set before
and no longer wants are removed, and fields others set (an HPA's replica count, a mesh's sidecar
annotations) are left alone. The price is the annotation's size (bounded with the rest of the metadata at
256 KiB).

Reads: with a `Seen` (the watch streams' view, `view.py`), objects of the kinds the operator watches are read
from it instead of with a GET, and a child it has not seen is created at once (a GET only when the API server
answers 409, to check who owns the same-named object); without one (the tests' and benchmarks' own clients),
every read is a GET.

Ownership is decided here and only here (`apply`, `delete_owned`): an object is patched or deleted
only when it carries the owner's uid in its ownerReferences. A same-named object without it (a
user's own Service, something another controller owns) is never touched: `apply` raises `NotOwned`.
Nothing is ever adopted. Patches and deletes carry the uid that was checked, so an object replaced
between the read and the write is refused by the API server instead of being overwritten.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.utils import parse_quantity

from predictorapi.contracts.kinds import BY_KIND, POD
from predictorapi.contracts.labels import API_LABEL
from predictorapi.contracts.labels import LAST_APPLIED_ANNOTATION as LAST_APPLIED
from predictorapi_operator.view import Seen

MERGE_PATCH = "application/merge-patch+json"
RETRIED_STATUSES = {0, 404, 408, 409, 429}
"""Client-error statuses that a later attempt can get past: no connection (0), an object that vanished
between two calls (404), timeouts, optimistic-concurrency conflicts, rate limiting. Every other 4xx is
the API server refusing what was sent (`refused`); 5xx are retried too."""
QUANTITY_PARENTS = {"limits", "requests"}
"""Keys whose values are all quantities (a container's `resources`)."""
QUANTITY_KEYS = {"sizeLimit", "averageValue"}
"""Keys holding one quantity (an `emptyDir`'s size, an HPA target); and `value` under `target`."""


class NotOwned(Exception):
    """A same-named object exists and does not carry the owner's uid: it is left as it is."""

    def __init__(self, kind: str, name: str) -> None:
        super().__init__(f"{kind} {name} exists and is not owned by this PredictorAPI")
        self.kind, self.name = kind, name


def load_config(connections: int = 16) -> client.ApiClient:
    """An API client from the in-cluster service account, else from the kubeconfig."""
    try:
        config.load_incluster_config()
    except config.ConfigException:
        config.load_kube_config()
    configuration = client.Configuration.get_default_copy()
    configuration.connection_pool_maxsize = connections  # one per handler thread (kopf's max_workers)
    return client.ApiClient(configuration)


def path(kind: str, namespace: str | None, name: str | None = None, subresource: str | None = None) -> str:
    """The REST path of a kind (namespaced), optionally of one object and its subresource."""
    resource = BY_KIND[kind]
    parts = [resource.path_prefix, f"namespaces/{namespace}" if namespace else None, resource.plural, name,
             subresource]
    return "/".join(p for p in parts if p)


def refused(exc: ApiException) -> bool:
    """Whether the API server refused the request itself (400, 403, 422, ...): retrying the same
    request will not help until something changes. Other errors are transient."""
    status = exc.status or 0
    return 400 <= status < 500 and status not in RETRIED_STATUSES


def api_message(exc: ApiException) -> str:
    """The API server's own words: the `message` of its Status body (it names the field), else the
    HTTP status line."""
    try:
        body = json.loads(exc.body or "")
    except (TypeError, ValueError):
        body = None
    if isinstance(body, dict) and body.get("message"):
        return str(body["message"])
    return " ".join(str(p) for p in (exc.status, exc.reason) if p) or "no response"


def owned_by(obj: dict[str, Any] | None, uid: str) -> bool:
    """Whether `obj` carries an ownerReference to the object with this uid."""
    refs = ((obj or {}).get("metadata") or {}).get("ownerReferences") or []
    return bool(uid) and any(ref.get("uid") == uid for ref in refs)


def _quantity(value: Any) -> Decimal | None:
    try:
        return parse_quantity(value) if isinstance(value, (str, int, float)) else None
    except (ValueError, TypeError, ArithmeticError):
        return None


def _same_quantity(desired: Any, live: Any) -> bool:
    ours, theirs = _quantity(desired), _quantity(live)
    return ours is not None and ours == theirs


def is_subset(desired: Any, live: Any, key: str | None = None, parent: str | None = None) -> bool:
    """Whether `live` already has every value of `desired` (server-added fields ignored). Quantities the
    API server canonicalises (`1.5` → `1500m`, `0.5Gi` → `512Mi`) compare by value."""
    if isinstance(desired, dict):
        return isinstance(live, dict) and all(is_subset(v, live.get(k), k, key) for k, v in desired.items())
    if isinstance(desired, list):
        return isinstance(live, list) and len(desired) == len(live) and all(
            is_subset(d, v, None, key) for d, v in zip(desired, live, strict=True))
    if desired == live or (desired is not None and str(desired) == str(live)):
        return True
    quantity = parent in QUANTITY_PARENTS or key in QUANTITY_KEYS or (key == "value" and parent == "target")
    return quantity and _same_quantity(desired, live)


def removals(last: Any, desired: Any) -> dict[str, Any] | None:
    """Merge-patch nulls for the keys the operator set before and no longer wants (dicts only:
    a merge patch replaces lists whole)."""
    if not isinstance(last, dict) or not isinstance(desired, dict):
        return None
    out: dict[str, Any] = {}
    for key, value in last.items():
        if key not in desired:
            out[key] = None
        elif (nested := removals(value, desired[key])) is not None:
            out[key] = nested
    return out or None


def with_last_applied(desired: dict[str, Any]) -> dict[str, Any]:
    """`desired` with its spec recorded in the LAST_APPLIED annotation."""
    meta = dict(desired["metadata"])
    meta["annotations"] = {**meta.get("annotations", {}),
                           LAST_APPLIED: json.dumps(desired.get("spec", {}), sort_keys=True, separators=(",", ":"))}
    return {**desired, "metadata": meta}


def _merged(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        out[key] = _merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def _keeping_other_owners(body: dict[str, Any], live: dict[str, Any], uid: str) -> dict[str, Any]:
    """`body` whose ownerReferences keep the live object's references to other owners, in their order,
    with ours in place of the live one (a merge patch replaces the list whole)."""
    ours = [ref for ref in body["metadata"].get("ownerReferences") or [] if ref.get("uid") == uid]
    live_refs = (live.get("metadata") or {}).get("ownerReferences") or []
    if not ours or all(ref.get("uid") == uid for ref in live_refs):
        return body
    refs = [ours[0] if ref.get("uid") == uid else ref for ref in live_refs]
    return {**body, "metadata": {**body["metadata"], "ownerReferences": refs}}


@dataclass
class Kube:
    """Thin, synchronous access to the API server (kopf runs sync handlers in threads)."""

    api: client.ApiClient
    seen: Seen | None = None
    """The watch streams' view (reads of the kinds it knows are answered from it); None: GETs only."""

    def request(self, method: str, url: str, body: Any = None, *, content_type: str = "application/json",
                query: list[tuple[str, str]] | None = None) -> Any:
        """One API call; returns the decoded JSON body. Raises `ApiException` on error statuses, and
        with status 0 when the API server cannot be reached."""
        request = self.api.param_serialize(
            method, url, query_params=query or [], body=body, auth_settings=["BearerToken"],
            header_params={"Accept": "application/json", "Content-Type": content_type},
        )
        try:
            response = self.api.call_api(*request)
            data = response.read()
        except urllib3.exceptions.HTTPError as exc:
            raise ApiException(status=0, reason=f"cannot reach the API server: {exc}") from exc
        if not 200 <= response.status < 300:
            raise ApiException(status=response.status, reason=response.reason, http_resp=response,
                               body=data.decode("utf-8", "replace") if data else None)
        return json.loads(data) if data else None

    def get(self, kind: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        """The object, or None when it does not exist."""
        try:
            return self.request("GET", path(kind, namespace, name))
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        """POST a new object."""
        return self.request("POST", path(obj["kind"], obj["metadata"].get("namespace")), obj)

    def patch(self, kind: str, namespace: str | None, name: str, patch: dict[str, Any],
              subresource: str | None = None) -> dict[str, Any]:
        """JSON merge-PATCH an object (or its `status` subresource)."""
        return self.request("PATCH", path(kind, namespace, name, subresource), patch, content_type=MERGE_PATCH)

    def delete(self, kind: str, namespace: str | None, name: str, uid: str | None = None) -> None:
        """DELETE an object (foreground cascading is the API server's default for owned children);
        with `uid`, only if it is still that object (a precondition the API server checks)."""
        options = {"kind": "DeleteOptions", "apiVersion": "v1", "preconditions": {"uid": uid}} if uid else None
        try:
            self.request("DELETE", path(kind, namespace, name), options)
        except ApiException as exc:
            if exc.status != 404:
                raise

    def list(self, kind: str, namespace: str | None, labels: dict[str, str]) -> list[dict[str, Any]]:
        """Objects of a kind with all the given labels."""
        selector = ",".join(f"{k}={v}" for k, v in labels.items())
        items = self.request("GET", path(kind, namespace), query=[("labelSelector", selector)]).get("items", [])
        # Filter here too: it costs nothing and keeps emulators without selector support honest.
        return [i for i in items if is_subset(labels, (i.get("metadata") or {}).get("labels") or {})]

    def serves(self, group_version: str) -> bool:
        """Whether the cluster serves an API group version (discovery), e.g. `monitoring.coreos.com/v1`."""
        try:
            self.request("GET", f"/apis/{group_version}")
        except ApiException as exc:
            if exc.status in (404, 503):
                return False
            raise
        return True

    def watches(self, kind: str) -> bool:
        """Whether reads of `kind` are answered from the watch streams."""
        return self.seen is not None and self.seen.knows(kind)

    def observed(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        """The object as the watch streams last delivered it where the operator watches its kind (see
        `Seen`), else as a GET answers; None when it does not exist (or was not seen)."""
        if self.seen is not None and self.seen.knows(kind):
            return self.seen.get(kind, namespace, name)
        return self.get(kind, namespace, name)

    def pods(self, namespace: str, api: str) -> list[dict[str, Any]]:
        """The pods serving the PredictorAPI `api` (from the watch streams where they are watched)."""
        if self.seen is not None and self.watches(POD.kind):
            return self.seen.pods(namespace, api)
        return self.list(POD.kind, namespace, {API_LABEL: api})

    def _wrote(self, before: dict[str, Any], after: dict[str, Any] | None, kind: str, namespace: str | None,
               name: str) -> None:
        if self.seen is not None and self.watches(kind):
            self.seen.wrote(before, after, (kind, namespace, name))

    def _create_or_read(self, body: dict[str, Any]) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """(the object created, None) or, when the name is taken (409), (None, the object that has it)."""
        kind, meta = body["kind"], body["metadata"]
        try:
            created = self.create(body)
        except ApiException as exc:
            if exc.status != 409:  # 409: it exists (created meanwhile, not seen yet, or someone else's)
                raise
            live = self.get(kind, meta.get("namespace"), meta["name"])
            if live is None:
                raise  # gone again: a later attempt sorts it out
            return None, live
        return created, None  # not kept as a pending write: until its event, a reconcile meets a 409

    def apply(self, desired: dict[str, Any], owner_uid: str) -> tuple[str, dict[str, Any]]:
        """Create `desired` if missing, merge-patch it if it differs (removing the fields it set before
        and no longer wants, like `kubectl apply`); returns what was done and the object now. An existing
        object that is not owned by `owner_uid` is left untouched: `NotOwned`."""
        kind, meta = desired["kind"], desired["metadata"]
        namespace, name = meta.get("namespace"), meta["name"]
        body = with_last_applied(desired)
        live = self.observed(kind, namespace, name)
        if live is None:
            created, live = self._create_or_read(body)
            if created is not None:
                return "created", created
            assert live is not None
        if not owned_by(live, owner_uid):
            raise NotOwned(kind, name)
        body = _keeping_other_owners(body, live, owner_uid)
        if is_subset(body, live):
            return "unchanged", live
        last = ((live.get("metadata") or {}).get("annotations") or {}).get(LAST_APPLIED)
        removed = removals(json.loads(last), desired.get("spec", {})) if last else None
        if removed and kind in ("Deployment", "Rollout"):
            removed.pop("replicas", None)  # handing the count to a new HPA must not reset it to 1 first
        patch = _merged(body, {"spec": removed}) if removed else body
        # The uid checked above: if the object was replaced meanwhile, the API server refuses the patch.
        patch = _merged(patch, {"metadata": {"uid": live["metadata"].get("uid")}})
        patched = self.patch(kind, namespace, name, patch)
        self._wrote(live, patched, kind, namespace, name)
        return "patched", patched

    def delete_owned(self, kind: str, namespace: str, name: str, owner_uid: str, *,
                     claimed: bool = False) -> bool:
        """Delete the object if it exists and is owned by `owner_uid`; whether it was deleted. One that is
        not owned is left alone, and with `claimed` (the spec wants that name) it is `NotOwned`: a GET then,
        since the watch streams only show objects with the operator's labels."""
        live = self.get(kind, namespace, name) if claimed else self.observed(kind, namespace, name)
        if live is not None and claimed and not owned_by(live, owner_uid):
            raise NotOwned(kind, name)
        if live is None or not owned_by(live, owner_uid):
            return False
        self.delete(kind, namespace, name, uid=(live.get("metadata") or {}).get("uid"))
        self._wrote(live, None, kind, namespace, name)
        return True
