"""The security team hears when a campaign starts and ends; a dead webhook is not fatal."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from seawall.notify.send import notify_webhooks
from seawall.sink.server import free_port
from tests.support import serve_app


def test_webhooks_get_the_event_and_a_dead_one_is_skipped() -> None:
    received: list[dict[str, object]] = []

    async def hook(request: Request) -> Response:
        received.append(await request.json())
        return Response(status_code=204)

    app = Starlette(routes=[Route("/hook", hook, methods=["POST"])])
    with serve_app(app) as base:
        dead = f"http://127.0.0.1:{free_port()}/hook"
        notify_webhooks([dead, f"{base}/hook"], {"text": "Seawall: started", "campaign": 3})
    assert received == [{"text": "Seawall: started", "campaign": 3}]
