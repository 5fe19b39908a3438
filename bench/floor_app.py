"""The floor: an ASGI app that only reads and parses an SDK body, then answers 1.

What any gateway must pay at least; Seawall's figure is reported as a ratio to it."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import unquote_to_bytes

import orjson


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    body = b""
    more = True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    status = 200
    if body:  # GET /healthz has none
        data = unquote_to_bytes(body.partition(b"data=")[2])
        events = orjson.loads(base64.b64decode(data))
        status = 200 if isinstance(events, list) else 400
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"text/plain")],
        }
    )
    await send({"type": "http.response.body", "body": b"1"})
