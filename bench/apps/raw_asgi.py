"""The floor: a raw ASGI app on uvicorn (httptools, uvloop), no framework, doing what the no-op predictor does.

`POST /predict` reads the body, decodes it as JSON and encodes it back; `GET /readyz` answers 200. Served by
`uvicorn bench.apps.raw_asgi:app` with the runtime's uvicorn options (one worker, no access log). Nothing in
Python serving on uvicorn answers a JSON request with less work: the runtime is measured against it.
"""

import json


async def app(scope, receive, send):
    if scope["type"] != "http":  # lifespan: nothing to start
        message = await receive()
        while message["type"] != "lifespan.shutdown":
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            message = await receive()
        await send({"type": "lifespan.shutdown.complete"})
        return
    if scope["method"] == "POST" and scope["path"] == "/predict":
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        content = json.dumps(json.loads(body), ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()
        status = 200
    elif scope["path"] == "/readyz":
        content, status = b'{"status":"ready"}', 200
    else:
        content, status = b'{"error":"not found"}', 404
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(content)).encode())]})
    await send({"type": "http.response.body", "body": content})
