"""What the watch streams have delivered: the operator's children, their pods and the PredictorAPIs (kopf indexes).

kopf watches every kind the operator manages and keeps, in one index per kind (`handlers.py`), the objects that
carry the operator's labels, as their last event delivered them; it fills the indexes before any handler runs
and drops an object once it is deleted or loses the labels. `Seen` answers the reconcile's reads from them
instead of a GET: an object found is the live one as of its last event; an object not found is only probably
absent (an object without the labels, e.g. a user's own of the same name, is never indexed), so `Kube.apply`
creates it and reads it only when the API server answers 409.

The operator's own patches and deletes that the streams have not delivered yet are kept beside the indexes
(`wrote`), so that a read right after one sees it (a patch computed from a stale object would miss the fields
to remove): a write is forgotten at the object's next event. Creates are not kept: "not seen" cannot tell a
create not delivered yet from one delivered and deleted since; a reconcile before the event meets a 409.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from typing import Any

from predictorapi.contracts import kinds
from predictorapi.contracts.labels import API_LABEL

Key = tuple[str, str, str]
"""(kind, namespace, name); for pods (Pod, namespace, the PredictorAPI's name)."""
Index = Mapping[tuple[str, str, str], Iterable[Any]]
"""A kopf index (read-only): key → the values of every object indexed under it."""


def index_key(body: Mapping[str, Any]) -> Key | None:
    """Where an object is indexed: pods by the PredictorAPI they serve, everything else by name."""
    meta = body.get("metadata") or {}
    kind, namespace = str(body.get("kind", "")), str(meta.get("namespace", ""))
    if kind == kinds.POD.kind:
        api = (meta.get("labels") or {}).get(API_LABEL)
        return (kind, namespace, api) if api else None
    return kind, namespace, str(meta.get("name", ""))


def _version(obj: Mapping[str, Any] | None) -> str | None:
    return ((obj or {}).get("metadata") or {}).get("resourceVersion")


class Seen:
    """Reads answered from kopf's indexes (one per watched kind), with the operator's own pending writes."""

    def __init__(self, indexes: Mapping[str, Index]) -> None:
        self._indexes = indexes
        self._pending: dict[Key, tuple[str | None, dict[str, Any] | None]] = {}
        self._lock = threading.Lock()

    def knows(self, kind: str) -> bool:
        """Whether `kind` is watched (else reads of it are GETs)."""
        return kind in self._indexes

    def _indexed(self, key: Key) -> list[Any]:
        store = self._indexes[key[0]].get(key)
        return list(store) if store else []  # one C-level copy: the event loop may update the index meanwhile

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        """The object as last delivered, or as the operator's own write left it; None when not seen."""
        key = (kind, namespace, name)
        seen = next(iter(self._indexed(key)), None)
        with self._lock:
            pending = self._pending.get(key)
        if pending is not None and pending[0] == _version(seen):  # the stream has not delivered the write yet
            return pending[1]
        return seen

    def pods(self, namespace: str, api: str) -> list[dict[str, Any]]:
        """The pods labelled as serving the PredictorAPI `api`."""
        return self._indexed((kinds.POD.kind, namespace, api))

    def wrote(self, before: Mapping[str, Any], after: dict[str, Any] | None, key: Key) -> None:
        """Record a patch or delete of the operator's: `before` is the object it was computed from, `after`
        what the API server answered (None: deleted)."""
        with self._lock:
            self._pending[key] = (_version(before), after)

    def delivered(self, key: Key, body: Mapping[str, Any]) -> None:
        """An event of the object arrived: a write made from an older version of it is now in the stream."""
        with self._lock:
            pending = self._pending.get(key)
            if pending is not None and pending[0] != _version(body):
                del self._pending[key]
