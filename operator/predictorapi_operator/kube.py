"""The one module that talks to the Kubernetes API: get, create, merge-patch, delete, list, discovery.

Objects are plain dicts (what the builders make). Calls go through the official client's
`ApiClient.call_api`, so authentication and TLS come from the kubeconfig or the in-cluster config.

Why a client-side apply (create, or JSON merge patch plus a last-applied annotation) and not
server-side apply with field management, the usual answer in operators: it is the simplest choice
that behaves the same against a real API server and against the tests' emulator (kmock 0.8 answers
server-side apply of a new object with 404 and has no managed fields), it needs only `create` and
`patch` RBAC, and the annotation gives `kubectl apply`'s semantics: the fields the operator set before
and no longer wants are removed, and fields others set (an HPA's replica count, a mesh's sidecar
annotations) are left alone. The price is one GET per child per reconcile, and the annotation's size
(bounded with the rest of the metadata at 256 KiB).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from predictorapi.contracts.kinds import BY_KIND
from predictorapi.contracts.labels import LAST_APPLIED_ANNOTATION as LAST_APPLIED

MERGE_PATCH = "application/merge-patch+json"


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


def is_subset(desired: Any, live: Any) -> bool:
    """Whether `live` already has every value of `desired` (server-added fields ignored)."""
    if isinstance(desired, dict):
        return isinstance(live, dict) and all(is_subset(v, live.get(k)) for k, v in desired.items())
    if isinstance(desired, list):
        return isinstance(live, list) and len(desired) == len(live) and all(map(is_subset, desired, live))
    return desired == live or (desired is not None and str(desired) == str(live))


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


@dataclass
class Kube:
    """Thin, synchronous access to the API server (kopf runs sync handlers in threads)."""

    api: client.ApiClient

    def request(self, method: str, url: str, body: Any = None, *, content_type: str = "application/json",
                query: list[tuple[str, str]] | None = None) -> Any:
        """One API call; returns the decoded JSON body. Raises `ApiException` on error statuses."""
        request = self.api.param_serialize(
            method, url, query_params=query or [], body=body, auth_settings=["BearerToken"],
            header_params={"Accept": "application/json", "Content-Type": content_type},
        )
        response = self.api.call_api(*request)
        data = response.read()
        if not 200 <= response.status < 300:
            raise ApiException(status=response.status, reason=response.reason, http_resp=response)
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

    def delete(self, kind: str, namespace: str | None, name: str) -> None:
        """DELETE an object (foreground cascading is the API server's default for owned children)."""
        try:
            self.request("DELETE", path(kind, namespace, name))
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

    def apply(self, desired: dict[str, Any]) -> str:
        """Create `desired` if missing, merge-patch it if it differs (removing the fields it set before
        and no longer wants, like `kubectl apply`); returns what was done."""
        meta = desired["metadata"]
        body = with_last_applied(desired)
        live = self.get(desired["kind"], meta.get("namespace"), meta["name"])
        if live is None:
            try:
                self.create(body)
                return "created"
            except ApiException as exc:
                if exc.status != 409:  # 409: created meanwhile (a concurrent reconcile); patch it below
                    raise
                live = self.get(desired["kind"], meta.get("namespace"), meta["name"]) or {}
        if is_subset(body, live):
            return "unchanged"
        last = ((live.get("metadata") or {}).get("annotations") or {}).get(LAST_APPLIED)
        removed = removals(json.loads(last), desired.get("spec", {})) if last else None
        if removed and desired["kind"] == "Deployment":
            removed.pop("replicas", None)  # handing the count to a new HPA must not reset it to 1 first
        patch = _merged(body, {"spec": removed}) if removed else body
        self.patch(desired["kind"], meta.get("namespace"), meta["name"], patch)
        return "patched"
