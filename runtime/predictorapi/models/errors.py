"""The errors `get_model` raises: an unknown model or version (a 404 naming it), or a store that cannot give one."""

from __future__ import annotations

from predictorapi.contracts.models import LATEST, MODEL_NOT_FOUND, SINGLE_MODEL_NAME, VERSION_NOT_FOUND


class ModelNotFound(LookupError):
    """No model `model`, or no version `version` of it (`reason`: `model_not_found` or `version_not_found`).

    The runtime answers the request with a 404 JSON error naming them, even when the predictor catches this."""

    def __init__(self, model: str, version: str | int | None = None, reason: str = MODEL_NOT_FOUND,
                 detail: str | None = None) -> None:
        self.model = model
        self.version = version
        self.reason = reason
        shown = "the model" if model == SINGLE_MODEL_NAME else f"model {model!r}"
        if detail is None:
            if reason == VERSION_NOT_FOUND:
                which = "no versions" if version in (None, LATEST) else f"no version {version}"
                detail = f"{shown} has {which}"
            else:
                detail = f"{shown} not found"
        self.detail = detail
        super().__init__(detail)

    def to_json(self) -> dict[str, object]:
        """The 404 body: `{"error", "reason", "model", "version"}`."""
        return {"error": self.detail, "reason": self.reason, "model": self.model, "version": self.version}


class ModelUnavailable(RuntimeError):
    """The store could not give a listed version (`reason` `download_failed`: the download failed) or could not be
    reached (`model_store_unreachable`); the runtime answers a 502 / 503, not a 404."""

    def __init__(self, model: str, version: str | int | None, detail: str, reason: str) -> None:
        self.model = model
        self.version = version
        self.reason = reason
        self.detail = detail
        super().__init__(detail)
