"""Where kopf keeps its bookkeeping of each PredictorAPI: the last handled spec in this process, not in the object.

kopf compares every event's essence (spec, labels, annotations) with the essence it last handled to tell a
creation or a spec change from an event that changed nothing it handles (a status write); by default it stores
that essence in an annotation, one PATCH of the PredictorAPI per spec change. `MemoryDiffBase` keeps it in memory
instead: no write at all. What is lost at a restart costs nothing: kopf then hands every PredictorAPI to the
creation handler, the same reconcile that resuming would run. Handler progress (retries of a handler that failed)
stays in annotations: it is written only while a handler fails, and kopf needs a write there to wake a delayed retry.
"""

from __future__ import annotations

from typing import Any

import kopf


class MemoryDiffBase(kopf.DiffBaseStorage):
    """kopf's diff-base storage in this process's memory, by uid; `forget` drops a deleted object's."""

    def __init__(self) -> None:
        super().__init__()
        self._essences: dict[str, Any] = {}

    def fetch(self, *, body: kopf.Body) -> Any:
        """The essence last handled for this object (None: not handled by this process yet)."""
        return self._essences.get(body.metadata.uid or "")

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: Any) -> None:
        """Remember the essence just handled (nothing is written to the object)."""
        self._essences[body.metadata.uid or ""] = essence

    def forget(self, uid: str) -> None:
        """The object is gone: drop what was kept for it."""
        self._essences.pop(uid, None)
