"""The runtime's one error shape, for every refusal and failure it answers itself."""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse

from predictorapi.runtime.logs import request_id_var


def error_response(status: int, message: str, headers: dict[str, str] | None = None, **detail: Any) -> JSONResponse:
    """The runtime's one error shape: `{"error": ..., "request_id": ...}`, plus `detail`'s fields when given (a
    model not found: `model`, `version`, `reason`)."""
    return JSONResponse({"error": message, "request_id": request_id_var.get(), **detail}, status, headers=headers)


def error_schema() -> dict[str, Any]:
    """The OpenAPI schema of :func:`error_response`'s body."""
    return {"type": "object", "properties": {
        "error": {"type": "string"}, "request_id": {"type": "string"},
        "model": {"type": "string", "description": "spec.models: the model get_model did not find (404)."},
        "version": {"description": "spec.models: its version asked for (an integer or latest)."},
        "reason": {"type": "string", "description": "spec.models: model_not_found, version_not_found, "
                   "download_failed or model_store_unreachable."}}}
