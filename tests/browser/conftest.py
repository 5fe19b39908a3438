"""Browser SDKs in Debian's headless Chromium, through a real gateway, to a real sink.

Three servers on 127.0.0.1, each on a free port: the vendor sink, the gateway (its
config allows exactly the page server's origin) and a static server for the test pages
and the SDK builds from ``node_modules``. Chromium reaches the page server as
``app.example.com`` and the gateway as ``seawall.example.com`` (its host resolver maps
both to 127.0.0.1), as a site and its gateway would be deployed: same site, so the
SDK's cookie (on ``.example.com``) goes to the gateway with every request, and page
URLs have a domain name (``scrub_url`` drops URLs whose host is an IP address).

``drive.mjs`` opens a page in Chromium; the test waits until the sink holds what it
expects, then lets the driver go and reads its report (console, requests, cookies).
Skipped, not failed, where Chromium or the npm packages are absent.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from seawall.core.config import Config, parse_config
from seawall.gateway.app import create_app
from seawall.sink.records import read_records
from seawall.sink.server import free_port, running_sink
from tests.gateway.conftest import EXAMPLE, SEGMENT_POLICY
from tests.support import serve_app

HERE = Path(__file__).resolve().parent
PAGES = HERE / "pages"
MODULES = HERE / "node_modules"
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
NODE = shutil.which("node") or "node"
SEGMENT_WRITE_KEY = "wk-browser"
PAGE_HOST = "app.example.com"
GATEWAY_HOST = "seawall.example.com"
#: The static directories the page server mounts: URL prefix -> directory.
ASSETS = {
    "/pages": PAGES,
    "/vendor/mixpanel-browser": MODULES / "mixpanel-browser" / "dist",
    # analytics.js loads its lazy chunks from <cdn>/analytics-next/bundles/; the page
    # names its own origin as the CDN, so they come from node_modules too.
    "/analytics-next/bundles": MODULES / "@segment" / "analytics-next" / "dist" / "umd",
}


def missing_requirements() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if not CHROMIUM.exists():
        return f"Chromium not found at {CHROMIUM} (apt-get install chromium)"
    if shutil.which(NODE) is None:
        return "node not found"
    for package in ("playwright-core", "mixpanel-browser", "@segment/analytics-next"):
        if not (MODULES / package).is_dir():
            return f"{package} not installed (run `npm ci` in tests/browser)"
    return None


class RequestLog:
    """Pure ASGI: records each request as the gateway receives it (method, path, query,
    headers, body), so a test can show what the browser sent and the gateway answered."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.requests: list[dict[str, Any]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        entry: dict[str, Any] = {
            "method": scope["method"],
            "path": scope["path"],
            "query": scope["query_string"].decode("latin-1"),
            "headers": {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]},
            "body": b"",
            "status": None,
            "response_headers": {},
        }
        self.requests.append(entry)

        async def logged_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                entry["body"] += message.get("body", b"")
            return message

        async def logged_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                entry["status"] = message["status"]
                entry["response_headers"] = {
                    k.decode("latin-1"): v.decode("latin-1") for k, v in message["headers"]
                }
            await send(message)

        await self.app(scope, logged_receive, logged_send)

    def describe(self) -> str:
        return "\n".join(
            f"{r['method']} {r['path']}?{r['query']} -> {r['status']} "
            f"{json.dumps(r['response_headers'])}\n  headers={json.dumps(r['headers'])}"
            f"\n  body={r['body'][:2000]!r}"
            for r in self.requests
        )


@dataclass
class BrowserStack:
    gateway: str
    page_origin: str
    config: Config
    sink_out: Path
    log: RequestLog
    reports: list[dict[str, Any]] = field(default_factory=list)

    def received(self) -> list[dict[str, Any]]:
        if not self.sink_out.exists():
            return []
        return read_records(self.sink_out)

    def drive(
        self,
        page: str,
        init: dict[str, Any],
        until: Callable[[list[dict[str, Any]]], bool],
        *,
        leave: bool = False,
        timeout: float = 20.0,
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Open ``page`` in Chromium and keep it open until ``until(sink lines)`` holds
        (or ``timeout``); returns the driver's report and the sink's lines."""
        job = {
            "url": f"{self.page_origin}/pages/{page}",
            "hosts": [PAGE_HOST, GATEWAY_HOST],
            "init": {"gateway": self.gateway, **init},
            "leave": leave,
            "timeoutMs": int(timeout * 1000),
        }
        proc = subprocess.Popen(
            [NODE, str(HERE / "drive.mjs"), json.dumps(job)],
            cwd=HERE,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + timeout
        lines = self.received()
        while not until(lines) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
            lines = self.received()
        out, err = proc.communicate(input=b"", timeout=timeout + 10)
        if proc.returncode != 0 or not out.strip():
            pytest.fail(f"drive.mjs failed ({proc.returncode}): {err.decode()[-2000:]}")
        report: dict[str, Any] = json.loads(out)
        self.reports.append(report)
        lines = self.received()
        if not until(lines):
            pytest.fail(
                f"the sink did not receive what the page sent within {timeout}s\n"
                f"page errors: {report['pageErrors']}\nconsole: {report['console']}\n"
                f"gateway saw:\n{self.log.describe()}\nsink: {lines}"
            )
        return report, lines


def browser_config(tmp_path: Path, sink_url: str, page_origin: str) -> Config:
    """The example config, with the page server as the only allowed browser origin, and
    an analytics.js source feeding a Segment vendor (both vendors at the sink)."""
    data = orjson.loads(orjson.dumps(EXAMPLE))
    data["database"] = f"sqlite:///{tmp_path / 'seawall.db'}"
    data["keys_dir"] = str(tmp_path / "keys")
    data["sources"]["web"]["allowed_origins"] = [page_origin]
    data["sources"]["web-segment"] = {
        "kind": "segment",
        "write_key": SEGMENT_WRITE_KEY,
        "allowed_origins": [page_origin],
        "destinations": ["segment"],
    }
    data["vendors"]["mixpanel"]["endpoint"] = sink_url
    data["vendors"]["segment"] = {
        "kind": "segment",
        "endpoint": sink_url,
        "write_key": "vendor-write-key",
        "policy": SEGMENT_POLICY,
    }
    return parse_config(data, base_dir=str(tmp_path))


def page_server() -> Starlette:
    return Starlette(
        routes=[Mount(prefix, StaticFiles(directory=path)) for prefix, path in ASSETS.items()]
    )


@contextmanager
def running_stack(directory: Path) -> Iterator[BrowserStack]:
    """Sink, gateway and page server, with their files in ``directory``."""
    page_port, gateway_port = free_port(), free_port()
    page_origin = f"http://{PAGE_HOST}:{page_port}"
    out = directory / "sink.ndjson"
    with running_sink(out) as sink:
        cfg = browser_config(directory, sink.url, page_origin)
        log = RequestLog(create_app(cfg))
        with serve_app(log, port=gateway_port), serve_app(page_server(), port=page_port):
            yield BrowserStack(
                gateway=f"http://{GATEWAY_HOST}:{gateway_port}",
                page_origin=page_origin,
                config=cfg,
                sink_out=out,
                log=log,
            )


def require_browser() -> None:
    reason = missing_requirements()
    if reason is not None:
        pytest.skip(reason)


@pytest.fixture
def browser_stack(tmp_path: Path) -> Iterator[BrowserStack]:
    require_browser()
    with running_stack(tmp_path) as stack:
        yield stack


# What a vendor must never be told about the browser's request.
BROWSER_HEADERS = frozenset({"cookie", "referer", "origin", "x-forwarded-for", "x-real-ip"})


def assert_browser_was_content(stack: BrowserStack, report: dict[str, Any]) -> None:
    """The SDK got its answers: no console error (a CORS refusal shows there and means
    the SDK dropped its batch), no failed request, no request beyond the page server and
    the gateway (nothing to the vendor's API or CDN), and every gateway answer let the
    page read it with credentials."""
    errors = [m["text"] for m in report["console"] if m["type"] == "error"]
    assert errors == [], errors
    assert report["pageErrors"] == []
    assert report["failed"] == []
    offsite = [
        r["url"]
        for r in report["requests"]
        if not r["url"].startswith((stack.page_origin + "/", stack.gateway + "/"))
    ]
    assert offsite == []
    assert stack.log.requests
    for request in stack.log.requests:
        assert request["status"] in (200, 204), stack.log.describe()
        headers = request["response_headers"]
        assert headers.get("access-control-allow-origin") == stack.page_origin
        assert headers.get("access-control-allow-credentials") == "true"


def assert_headers_not_passed_on(lines: list[dict[str, Any]]) -> None:
    for line in lines:
        assert not set(line["headers"]) & BROWSER_HEADERS, line["headers"]


def id_fragments(raw_id: str, width: int = 12) -> set[str]:
    """Every run of ``width`` hex digits in an id (dashes removed): a vendor holding one
    of them can link the message to the raw id."""
    digits = "".join(c for c in raw_id.lower() if c in "0123456789abcdef")
    return {digits[i : i + width] for i in range(len(digits) - width + 1)}


def leaked_fragments(raw_id: str, lines: list[dict[str, Any]]) -> set[str]:
    text = json.dumps([line["message"] for line in lines]).lower().replace("-", "")
    return {f for f in id_fragments(raw_id) if f in text}
