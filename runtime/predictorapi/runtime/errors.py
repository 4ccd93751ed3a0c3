"""The runtime's one error shape, for every refusal and failure it answers itself."""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse

from predictorapi.runtime.logs import request_id_var


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """The runtime's one error shape: `{"error": ..., "request_id": ...}`."""
    return JSONResponse({"error": message, "request_id": request_id_var.get()}, status, headers=headers)


def error_schema() -> dict[str, Any]:
    """The OpenAPI schema of :func:`error_response`'s body."""
    return {"type": "object", "properties": {"error": {"type": "string"}, "request_id": {"type": "string"}}}
