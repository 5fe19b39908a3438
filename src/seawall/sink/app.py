"""A local vendor: accepts the Mixpanel and Segment ingestion APIs and appends
every message it receives to an NDJSON file, one line per message::

    {"received_at": 1718000000.123, "api": "mixpanel", "endpoint": "track",
     "message": {...}, "headers": {"content-type": ..., "user-agent": ...}}

``headers`` keeps the request headers a privacy test cares about (content type,
user agent, and the browser's forwarded-for, cookie, referer and origin headers
when present), so a test can prove the gateway never passes them on.

It answers as the vendors do (``1`` or ``{"status": 1, "error": null}`` with
``verbose=1``; ``{"success": true}``), enforces their size limits, and has a small
control API so tests can make it fail:

* ``POST /_sink/fail {"status": 500, "count": N, "retry_after": S, "delay": D}``:
  the next N API requests wait D seconds (a hang), then answer ``status`` (with
  ``Retry-After: S`` if given); without ``status`` they are served normally.
* ``POST /_sink/limit {"max_messages": K}``: answer 413 to requests of more than K
  messages (``null`` lifts it).
* ``GET /_sink/count``: ``{"requests": R, "messages": M}``.
* ``GET /_sink/requests``: every API request seen: arrival time, path, status,
  message count.
* ``POST /_sink/reset``: clear faults, limits and counters (not the file).
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from seawall.ingest.segment import ENDPOINTS, SHORT_ENDPOINTS
from seawall.sink.decode import BadPayload, form_value, mixpanel_messages, ndjson_or_json

__all__ = ["RECORDED_HEADERS", "SinkState", "create_app"]

RECORDED_HEADERS = (
    "content-type",
    "user-agent",
    "x-forwarded-for",
    "x-real-ip",
    "forwarded",
    "cookie",
    "referer",
    "origin",
)
MIXPANEL_MAX_BYTES = 2 * 1024 * 1024  # documented per-request limit (2 MB, 2000 events)
MIXPANEL_MAX_MESSAGES = 2000
SEGMENT_MAX_BATCH_BYTES = 500 * 1024
SEGMENT_MAX_MESSAGE_BYTES = 32 * 1024
SEGMENT_SHORT = SHORT_ENDPOINTS
SEGMENT_TYPES = frozenset(ENDPOINTS)


@dataclass(slots=True)
class Fault:
    status: int | None
    count: int
    retry_after: float | None = None
    delay: float = 0.0


@dataclass(slots=True)
class SinkState:
    """What the sink has seen, and the faults it has been told to inject."""

    out: Path
    fault: Fault | None = None
    max_messages: int | None = None
    requests: list[dict[str, Any]] = field(default_factory=list)
    messages: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take_fault(self) -> Fault | None:
        fault = self.fault
        if fault is None or fault.count <= 0:
            return None
        fault.count -= 1
        return fault

    def record(
        self, api: str, endpoint: str, messages: list[dict[str, Any]], request: Request
    ) -> None:
        now = time.time()
        headers = {k: request.headers[k] for k in RECORDED_HEADERS if k in request.headers}
        lines = b"".join(
            orjson.dumps(
                {
                    "received_at": now,
                    "api": api,
                    "endpoint": endpoint,
                    "message": m,
                    "headers": headers,
                }
            )
            + b"\n"
            for m in messages
        )
        with self.lock, self.out.open("ab") as fh:
            fh.write(lines)
        self.messages += len(messages)


def _state(request: Request) -> SinkState:
    state: SinkState = request.app.state.sink
    return state


def _log(request: Request, status: int, count: int, at: float) -> None:
    _state(request).requests.append(
        {"at": at, "path": request.url.path, "status": status, "messages": count}
    )


async def _injected(request: Request, at: float) -> Response | None:
    """The response a configured fault dictates, after its delay; None to serve normally."""
    fault = _state(request).take_fault()
    if fault is None:
        return None
    if fault.delay > 0:
        await asyncio.sleep(fault.delay)
    if fault.status is None:
        return None
    headers = {}
    if fault.retry_after is not None:
        headers["Retry-After"] = f"{fault.retry_after:g}"
    _log(request, fault.status, 0, at)
    return JSONResponse(
        {"code": fault.status, "error": "injected by the sink", "status": 0},
        status_code=fault.status,
        headers=headers,
    )


def _too_many(request: Request, count: int, at: float) -> Response | None:
    limit = _state(request).max_messages
    if limit is not None and count > limit:
        _log(request, 413, count, at)
        return JSONResponse({"code": 413, "error": "payload too large"}, status_code=413)
    return None


async def mixpanel(request: Request) -> Response:
    """``/track``, ``/engage``, ``/groups``: form ``data=`` (JSON or base64), GET ``?data=``."""
    at = time.time()
    endpoint = request.url.path.strip("/").rsplit("/", 1)[-1]
    body = await request.body()
    content_type = request.headers.get("content-type", "")
    verbose = (
        request.query_params.get("verbose") or form_value(body, content_type, "verbose") or ""
    ) == "1"

    def answer(ok: bool, status: int, error: str | None = None) -> Response:
        if verbose:
            return JSONResponse({"status": int(ok), "error": error}, status_code=status)
        return PlainTextResponse("1" if ok else "0", status_code=status)

    if (injected := await _injected(request, at)) is not None:
        return injected
    if len(body) > MIXPANEL_MAX_BYTES:
        _log(request, 413, 0, at)
        return answer(False, 413, "request too large")
    try:
        messages = mixpanel_messages(body, content_type, request.query_params.get("data"))
    except BadPayload as exc:
        _log(request, 400, 0, at)
        return answer(False, 400, str(exc))
    if len(messages) > MIXPANEL_MAX_MESSAGES:
        _log(request, 413, len(messages), at)
        return answer(False, 413, "more than 2000 messages")
    if (limited := _too_many(request, len(messages), at)) is not None:
        return limited
    _state(request).record("mixpanel", endpoint, messages, request)
    _log(request, 200, len(messages), at)
    return answer(True, 200)


def _import_failures(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    failed = []
    for index, message in enumerate(messages):
        props = message.get("properties")
        props = props if isinstance(props, dict) else {}
        insert_id = props.get("$insert_id")
        problem = None
        if not isinstance(message.get("event"), str):
            problem = ("event", "'event' must be a string")
        elif not isinstance(props.get("time"), int | float):
            problem = ("properties.time", "'properties.time' is required")
        elif not isinstance(insert_id, str) or not insert_id:
            problem = ("properties.$insert_id", "'properties.$insert_id' is required")
        if problem:
            failed.append(
                {"index": index, "insert_id": insert_id, "field": problem[0], "message": problem[1]}
            )
    return failed


async def mixpanel_import(request: Request) -> Response:
    """``/import``: JSON or NDJSON body, Basic auth; ``strict=1`` validates each event."""
    at = time.time()
    if (injected := await _injected(request, at)) is not None:
        return injected
    if not request.headers.get("authorization", "").startswith("Basic "):
        _log(request, 401, 0, at)
        return JSONResponse({"code": 401, "error": "Unauthorized", "status": 0}, status_code=401)
    body = await request.body()
    try:
        data = form_value(body, request.headers.get("content-type", ""), "data")
        messages = mixpanel_messages(body, "", data) if data is not None else ndjson_or_json(body)
    except BadPayload as exc:
        _log(request, 400, 0, at)
        return JSONResponse({"code": 400, "error": str(exc), "status": 0}, status_code=400)
    if (limited := _too_many(request, len(messages), at)) is not None:
        return limited
    failed = _import_failures(messages) if request.query_params.get("strict") == "1" else []
    bad = {f["index"] for f in failed}
    good = [m for i, m in enumerate(messages) if i not in bad]
    _state(request).record("mixpanel", "import", good, request)
    if failed:
        _log(request, 400, len(messages), at)
        return JSONResponse(
            {
                "code": 400,
                "error": "some data points in the request failed validation",
                "status": "Bad Request",
                "num_records_imported": len(good),
                "failed_records": failed,
            },
            status_code=400,
        )
    _log(request, 200, len(messages), at)
    return JSONResponse({"code": 200, "num_records_imported": len(good), "status": "OK"})


async def segment(request: Request) -> Response:
    """``/v1/{track,identify,page,screen,group,alias,batch}`` and the one-letter forms."""
    at = time.time()
    kind = request.path_params["kind"]
    kind = SEGMENT_SHORT.get(kind, kind)
    if kind not in SEGMENT_TYPES:
        return JSONResponse({"success": False, "error": "not found"}, status_code=404)
    if (injected := await _injected(request, at)) is not None:
        return injected
    body = await request.body()

    def fail(status: int, error: str, count: int = 0) -> Response:
        _log(request, status, count, at)
        return JSONResponse({"success": False, "error": error}, status_code=status)

    limit = SEGMENT_MAX_BATCH_BYTES if kind == "batch" else SEGMENT_MAX_MESSAGE_BYTES
    if len(body) > limit:
        return fail(400, "request too large")
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        return fail(400, "invalid JSON")
    if not isinstance(payload, dict):
        return fail(400, "expected a JSON object")
    has_basic = request.headers.get("authorization", "").startswith("Basic ")
    if not has_basic and not payload.get("writeKey"):
        return fail(401, "missing write key")
    raw = payload.get("batch") if kind == "batch" else [payload]
    if not isinstance(raw, list) or not all(isinstance(m, dict) for m in raw):
        return fail(400, "'batch' must be a list of objects")
    messages: list[dict[str, Any]] = []
    for message in raw:
        if len(orjson.dumps(message)) > SEGMENT_MAX_MESSAGE_BYTES:
            return fail(400, "a message is larger than 32 KB", len(raw))
        kept = {k: v for k, v in message.items() if k != "writeKey"}
        if kind != "batch":
            kept.setdefault("type", kind)
        messages.append(kept)
    if (limited := _too_many(request, len(messages), at)) is not None:
        return limited
    _state(request).record("segment", kind, messages, request)
    _log(request, 200, len(messages), at)
    return JSONResponse({"success": True})


async def control_fail(request: Request) -> Response:
    spec = orjson.loads(await request.body() or b"{}")
    status = spec.get("status")
    _state(request).fault = Fault(
        status=int(status) if status is not None else None,
        count=int(spec.get("count", 1)),
        retry_after=float(spec["retry_after"]) if spec.get("retry_after") is not None else None,
        delay=float(spec.get("delay", 0.0)),
    )
    return JSONResponse({"ok": True})


async def control_limit(request: Request) -> Response:
    spec = orjson.loads(await request.body() or b"{}")
    limit = spec.get("max_messages")
    _state(request).max_messages = int(limit) if limit is not None else None
    return JSONResponse({"ok": True})


async def control_count(request: Request) -> Response:
    state = _state(request)
    return JSONResponse({"requests": len(state.requests), "messages": state.messages})


async def control_requests(request: Request) -> Response:
    return JSONResponse(list(_state(request).requests))


async def control_reset(request: Request) -> Response:
    state = _state(request)
    state.fault, state.max_messages, state.messages = None, None, 0
    state.requests.clear()
    return JSONResponse({"ok": True})


def create_app(out: str | Path) -> Starlette:
    """The sink as an ASGI app appending to ``out`` (created if missing)."""
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()
    methods = ["GET", "POST"]
    routes = [
        *(
            Route(f"/{name}{slash}", mixpanel, methods=methods)
            for name in ("track", "engage", "groups")
            for slash in ("", "/")
        ),
        Route("/import", mixpanel_import, methods=["POST"]),
        Route("/import/", mixpanel_import, methods=["POST"]),
        Route("/v1/{kind}", segment, methods=["POST"]),
        Route("/_sink/fail", control_fail, methods=["POST"]),
        Route("/_sink/limit", control_limit, methods=["POST"]),
        Route("/_sink/count", control_count, methods=["GET"]),
        Route("/_sink/requests", control_requests, methods=["GET"]),
        Route("/_sink/reset", control_reset, methods=["POST"]),
    ]
    app = Starlette(routes=routes)
    app.state.sink = SinkState(out=path)
    return app
