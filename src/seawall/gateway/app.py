"""The ASGI app: SDK endpoints, health, readiness and metrics.

Answers follow what each SDK expects, so that the SDK does the right thing with them:
400 makes it drop a bad batch, 413 makes mixpanel-browser halve it, 503 with
Retry-After makes it try again later. A 200 is sent only after the commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import orjson
from prometheus_client import generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from seawall.core.config import Config
from seawall.core.errors import AuthError, PayloadError, PayloadTooLarge, Saturated, StorageError
from seawall.core.types import Context, Event
from seawall.gateway.cors import CORSMiddleware
from seawall.gateway.runtime import Runtime, forwarded_for
from seawall.ingest import mixpanel, segment

log = logging.getLogger(__name__)

MIXPANEL = ("track", "engage", "groups", "import")
# (error, HTTP status, Retry-After, message replacing the error's own); first match wins.
_FAILURES: tuple[tuple[type[Exception], int, str | None, str | None], ...] = (
    (PayloadTooLarge, 413, None, None),
    (PayloadError, 400, None, None),
    (AuthError, 401, None, None),
    (Saturated, 503, "1", None),
    (StorageError, 503, "5", "the store is unavailable; retry later"),
)


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refused with 413 as soon as it passes ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(
            f"body of {declared} bytes exceeds the {limit}-byte limit; send smaller batches"
        )
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"body exceeds the {limit}-byte limit; send smaller batches")
        chunks.append(chunk)
    return b"".join(chunks)


class Gateway:
    """Request handlers bound to a Runtime (set in the app's lifespan)."""

    def __init__(self) -> None:
        self.rt: Runtime | None = None

    @property
    def runtime(self) -> Runtime:
        assert self.rt is not None, "the gateway is not started"
        return self.rt

    def _client(self, request: Request) -> Context:
        peer = request.client.host if request.client else None
        return Context(
            ip=self.runtime.client_ip(peer, forwarded_for(request.headers)),
            user_agent=request.headers.get("user-agent"),
        )

    async def _accept(self, request: Request, events: list[Event]) -> None:
        origin = request.headers.get("origin")
        for source in {e.source for e in events}:
            if not self.runtime.origin_allowed(source, origin):
                raise AuthError(
                    f"origin {origin} is not allowed for this project; add it to "
                    f"sources.{source}.allowed_origins"
                )
        await self.runtime.pipeline.accept(events)
        for source in {e.source for e in events}:
            self.runtime.metrics.received.labels(source).inc(
                sum(1 for e in events if e.source == source)
            )

    async def mixpanel(self, request: Request, endpoint: str) -> Response:
        query = dict(request.query_params)
        verbose = query.get("verbose") == "1"
        try:
            body = await read_body(request, self.runtime.config.gateway.max_body_bytes)
            verbose = mixpanel.parse_verbose(query, body)
            events = mixpanel.decode(
                endpoint,
                body,
                content_type=request.headers.get("content-type"),
                query=query,
                authorization=request.headers.get("authorization"),
                client=self._client(request),
                sources=self.runtime.mixpanel_tokens,
                import_secrets=self.runtime.mixpanel_secrets,
            )
            await self._accept(request, events)
        except Exception as exc:
            status, message, headers = self._failure(exc)
            content, ctype = mixpanel.answer(False, verbose, message)
            return Response(content, status, headers=headers, media_type=ctype)
        content, ctype = mixpanel.answer(True, verbose, None)
        return Response(content, 200, media_type=ctype)

    async def segment(self, request: Request, endpoint: str) -> Response:
        try:
            body = await read_body(request, self.runtime.config.gateway.max_body_bytes)
            events = segment.decode(
                endpoint,
                body,
                content_type=request.headers.get("content-type"),
                authorization=request.headers.get("authorization"),
                client=self._client(request),
                sources=self.runtime.segment_keys,
            )
            await self._accept(request, events)
        except Exception as exc:
            status, message, headers = self._failure(exc)
            return Response(
                orjson.dumps({"success": False, "error": message}),
                status,
                headers=headers,
                media_type="application/json",
            )
        return Response(b'{"success":true}', 200, media_type="application/json")

    def _failure(self, exc: Exception) -> tuple[int, str, dict[str, str]]:
        """Map an error to the answer an SDK understands; unexpected errors are logged
        without the request body (it holds personal data)."""
        known = next((f for f in _FAILURES if isinstance(exc, f[0])), None)
        if known is None:
            log.error("unexpected %s while ingesting", type(exc).__name__)
            status, message, headers = 500, "internal error", {}
        else:
            _, status, retry_after, generic = known
            message = generic or str(exc)
            headers = {"Retry-After": retry_after} if retry_after else {}
        self.runtime.metrics.rejected.labels(str(status)).inc()
        return status, message, headers

    async def healthz(self, _request: Request) -> Response:
        return Response(b"ok\n", media_type="text/plain")

    async def readyz(self, _request: Request) -> Response:
        rt = self.runtime
        ok = await asyncio.to_thread(rt.db.ping)
        saturated = rt.db.writer.depth() >= rt.config.gateway.max_queue * 0.9
        body = {"database": ok, "writer_queue": rt.db.writer.depth(), "saturated": saturated}
        return Response(
            orjson.dumps(body), 200 if ok and not saturated else 503, media_type="application/json"
        )

    async def metrics(self, _request: Request) -> Response:
        rt = self.runtime
        depth, dead, states = await asyncio.to_thread(
            lambda: (rt.outbox.depth(), rt.outbox.dead_letter_count(), rt.outbox.states())
        )
        for vendor in rt.config.vendors:
            rows, msgs = depth.get(vendor, (0, 0))
            rt.metrics.depth.labels(vendor).set(rows)
            rt.metrics.held.labels(vendor).set(msgs)
            rt.metrics.dead.labels(vendor).set(dead.get(vendor, 0))
            rt.metrics.enabled.labels(vendor).set(1 if states.get(vendor, (True,))[0] else 0)
        if rt.forwarder_stats is not None:
            for vendor, count in rt.forwarder_stats().items():
                rt.metrics.forwarded.labels(vendor).set(count)
        return Response(generate_latest(rt.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    async def flags(self, _request: Request) -> Response:
        # Feature flags are not proxied: an empty answer keeps the SDK quiet.
        return Response(b'{"flags":{}}', media_type="application/json")

    async def settings(self, _request: Request) -> Response:
        return Response(b"{}", media_type="application/json")

    async def record(self, _request: Request) -> Response:
        # Session replay ships whole DOM snapshots: no policy can minimise those.
        return Response(
            b'{"status":0,"error":"session replay is not accepted by Seawall"}',
            403,
            media_type="application/json",
        )


def _routes(gw: Gateway, config: Config) -> list[Route]:
    routes: list[Route] = []

    def bind(
        fn: Callable[[Request, str], Awaitable[Response]], endpoint: str
    ) -> Callable[[Request], Awaitable[Response]]:
        async def handler(request: Request) -> Response:
            return await fn(request, endpoint)

        return handler

    seen: set[str] = set()

    def add(
        path: str, handler: Callable[[Request], Awaitable[Response]], methods: list[str]
    ) -> None:
        for p in (path.rstrip("/") or "/", path.rstrip("/") + "/"):
            if p not in seen:
                seen.add(p)
                routes.append(Route(p, handler, methods=methods))

    for ep in MIXPANEL:
        add(f"/{ep}", bind(gw.mixpanel, ep), ["GET", "POST"])
    for source in config.sources.values():
        for ep, path in source.api_routes.items():
            add("/" + path.strip("/"), bind(gw.mixpanel, ep), ["GET", "POST"])
    for ep in segment.ENDPOINTS:
        add(f"/v1/{ep}", bind(gw.segment, ep), ["POST"])
    for short, ep in segment.SHORT_ENDPOINTS.items():
        add(f"/v1/{short}", bind(gw.segment, ep), ["POST"])
    add("/flags", gw.flags, ["GET", "POST"])
    add("/decide", gw.flags, ["GET", "POST"])
    add("/settings", gw.settings, ["GET", "POST"])
    add("/record", gw.record, ["GET", "POST"])
    if config.canary is not None:
        from seawall.canary.service import beacon_route

        routes.append(beacon_route(lambda: gw.runtime))
    routes += [
        Route("/healthz", gw.healthz),
        Route("/readyz", gw.readyz),
        Route("/metrics", gw.metrics),
    ]
    return routes


def create_app(
    config: Config,
    *,
    runtime: Runtime | None = None,
    forward: bool | None = None,
    canary_options: Mapping[str, Any] | None = None,
) -> Any:
    """The gateway app; opens the store and starts the forwarders (and, with a
    ``canary:`` section, the tripwires, tuned by ``canary_options``) when it starts."""
    gw = Gateway()
    run_forwarders = config.gateway.forward if forward is None else forward

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        rt: Runtime = (
            runtime if runtime is not None else await asyncio.to_thread(Runtime.build, config)
        )
        gw.rt = rt
        stop = asyncio.Event()
        tasks: list[asyncio.Task[None]] = []
        if run_forwarders:
            from seawall.gateway.forwarding import start_forwarders

            tasks = start_forwarders(rt, stop)
        if config.canary is not None:
            from seawall.canary.service import start_canary_services

            tasks += start_canary_services(rt, stop, **(canary_options or {}))
        try:
            yield
        finally:
            stop.set()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await asyncio.wait_for(task, 10)
            if runtime is None:
                await asyncio.to_thread(rt.close)

    app = Starlette(routes=_routes(gw, config), lifespan=lifespan)
    origins = [o for s in config.sources.values() for o in s.allowed_origins]
    return CORSMiddleware(app, origins)
