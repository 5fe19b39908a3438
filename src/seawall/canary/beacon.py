"""The HTTP tripwire: ``GET /c/<token>``, the link planted in a canary's profile.

The hit (time, client IP, user agent, referrer) is committed before the answer,
which is the same harmless static page for every token, known or not, so the page
tells a visitor nothing. An image request (an avatar being loaded) gets a 1x1 GIF.
The page has no script, and a CSP that forbids loading anything.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from seawall.canary.message import clean
from seawall.canary.mint import hash_token
from seawall.canary.model import Canary
from seawall.core.errors import describe
from seawall.gateway.runtime import forwarded_for

log = logging.getLogger("seawall.canary")
PAGE = b"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Page not available</title></head>
<body><p>This page is no longer available.</p></body></html>
"""
GIF = bytes.fromhex(
    "47494638396101000100800000000000ffffff21f90401000000002c00000000010001000002024401003b"
)
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Robots-Tag": "noindex, nofollow",
}
_TOKEN = re.compile(r"^[a-z2-7]{32}$")
_IMAGE_SUFFIX = (".png", ".gif", ".jpg", ".jpeg", ".webp", ".svg")

Lookup = Callable[[str], Awaitable[Canary | None]]
OnVisit = Callable[[Canary, dict[str, Any], dict[str, Any], str | None], Awaitable[None]]
ClientIp = Callable[[str | None, str | None], str | None]


def parse_token(raw: str) -> tuple[str | None, bool]:
    """The token in a path segment, and whether it asked for an image (``<t>.png``)."""
    text = raw.lower()
    image = text.endswith(_IMAGE_SUFFIX)
    if image:
        text = text.rsplit(".", 1)[0]
    return (text if _TOKEN.match(text) else None), image


def visit_evidence(request: Request, ip: str | None, image: bool) -> dict[str, Any]:
    """What a visit leaves: request facts only, cleaned to inert text."""
    headers = request.headers

    def header(name: str, limit: int) -> str | None:
        value = headers.get(name)
        return None if value is None else clean(value, limit)

    return {
        "ip": ip,
        "peer": request.client.host if request.client else None,
        "method": request.method,
        "user_agent": header("user-agent", 512),
        "referrer": header("referer", 2000),
        "accept": header("accept", 300),
        "accept_language": header("accept-language", 200),
        "forwarded_for": header("x-forwarded-for", 300),
        "image": image,
        "at": time.time(),
    }


def answer(image: bool) -> Response:
    if image:
        return Response(GIF, media_type="image/gif", headers=HEADERS)
    return Response(PAGE, media_type="text/html; charset=utf-8", headers=HEADERS)


class BeaconHandler:
    """The ``/c/{token}`` endpoint, bound to a lookup and a hit recorder."""

    def __init__(self, lookup: Lookup, on_visit: OnVisit, client_ip: ClientIp) -> None:
        self.lookup = lookup
        self.on_visit = on_visit
        self.client_ip = client_ip

    async def __call__(self, request: Request) -> Response:
        token, image = parse_token(str(request.path_params.get("token", "")))
        image = image or request.headers.get("accept", "").startswith("image/")
        canary = await self.lookup(hash_token(token)) if token else None
        if canary is not None:
            peer = request.client.host if request.client else None
            ip = self.client_ip(peer, forwarded_for(request.headers))
            evidence = visit_evidence(request, ip, image)
            brief = {k: evidence[k] for k in ("ip", "user_agent", "referrer")}
            try:
                await self.on_visit(canary, evidence, brief, ip)
            except Exception as exc:  # the visitor still gets the same page: nothing to learn
                log.error(
                    "canary %s: the beacon hit was not recorded: %s", canary.id, describe(exc)
                )
        return answer(image)
