"""What `/docs` and `/openapi.json` say about the runtime's routes beyond what FastAPI infers."""

from __future__ import annotations

from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST

from predictorapi.runtime.errors import error_schema

PREDICT_ERRORS = (
    (400, "Malformed body"), (401, "Missing or invalid API key"), (413, "Body too large"),
    (500, "The predictor failed"), (503, "At capacity or not ready; see Retry-After"),
    (504, "The prediction timed out"),
)


def predict_route_docs() -> dict[str, Any]:
    """`add_api_route` keywords documenting a predict route: any body in, the result or an error out."""
    error_doc = {"content": {"application/json": {"schema": error_schema()}}}
    responses: dict[int | str, dict[str, Any]] = {
        200: {"description": "The predictor's result: JSON, text or bytes, by its type; a generator's items as "
                             "a chunked stream or as Server-Sent Events (`text/event-stream`)."},
        **{code: {"description": text, **error_doc} for code, text in PREDICT_ERRORS},
    }
    body_doc = {"requestBody": {"description": "Any body; decoded by its Content-Type.", "required": False,
                                "content": {"*/*": {"schema": {}}}}}
    return {"summary": "Call the predictor", "openapi_extra": body_doc, "responses": responses}


def metrics_route_docs() -> dict[str, Any]:
    """Route keywords documenting `/metrics`: the Prometheus text format."""
    return {"summary": "Prometheus metrics",
            "responses": {200: {"content": {CONTENT_TYPE_LATEST.split(";")[0]: {}}}}}
