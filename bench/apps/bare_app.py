"""The baseline: a bare FastAPI route doing what the no-op predictor does through the runtime.

Decode the JSON body, encode it back as JSON. Served by `uvicorn bench.apps.bare_app:app` with the
same uvicorn options as the runtime (one worker, uvloop + httptools, no access log). With
`BARE_FREEZE_HEAP=1` it also freezes its heap at start-up (`gc.freeze()`), as the runtime does once its
predictor is loaded, so that full garbage collections do not pause it under load.
"""

import gc
import json
import os
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response


@asynccontextmanager
async def lifespan(_: FastAPI):
    if os.environ.get("BARE_FREEZE_HEAP") == "1":
        gc.freeze()
    yield


app = FastAPI(lifespan=lifespan)


@app.post("/predict")
async def predict(request: Request) -> Response:
    payload = json.loads(await request.body())
    content = json.dumps(payload, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return Response(content.encode(), media_type="application/json")


@app.get("/readyz")
async def readyz() -> JSONResponse:
    return JSONResponse({"status": "ready"})
