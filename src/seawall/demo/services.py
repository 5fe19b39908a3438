"""The drill's local stand-ins, each on a real socket on 127.0.0.1: the company's mail
relay (aiosmtpd), a webhook receiver for alerts, and the gateway under uvicorn.

Each is a context manager that stops what it started, also on error or Ctrl-C.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.parser import BytesHeaderParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
import uvicorn
from aiosmtpd.controller import Controller

from seawall.core.config import Config
from seawall.sink.server import free_port

__all__ = ["Hook", "Mail", "Relay", "mail_relay", "running_gateway", "webhook_receiver"]


@dataclass(frozen=True, slots=True)
class Mail:
    """One message the relay accepted."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    subject: str
    reference: str | None  # X-Seawall-Reference: set on every notice


@dataclass
class Relay:
    """The company's outgoing mail relay, as Seawall's ``smtp:`` section names it."""

    port: int = 0
    received: list[Mail] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        # Headers are all the drill checks; parsing the bodies would only cost time.
        msg = BytesHeaderParser().parsebytes(envelope.original_content or envelope.content)
        mail = Mail(
            envelope.mail_from,
            tuple(envelope.rcpt_tos),
            str(msg.get("Subject", "")),
            msg.get("X-Seawall-Reference"),
        )
        with self.lock:
            self.received.append(mail)
        return "250 Message accepted for delivery"

    def notices(self) -> list[Mail]:
        with self.lock:
            return [m for m in self.received if m.reference]

    def others(self) -> list[Mail]:
        with self.lock:
            return [m for m in self.received if not m.reference]


@contextmanager
def mail_relay() -> Iterator[Relay]:
    relay = Relay(port=free_port())
    controller = Controller(relay, hostname="127.0.0.1", port=relay.port)
    controller.start()
    try:
        yield relay
    finally:
        controller.stop()


@dataclass
class Hook:
    """Every JSON body POSTed to the receiver, with its arrival time."""

    url: str
    bodies: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def first(
        self, accept: Callable[[dict[str, Any]], bool]
    ) -> tuple[float, dict[str, Any]] | None:
        with self.lock:
            return next(((t, b) for t, b in self.bodies if accept(b)), None)


@contextmanager
def webhook_receiver() -> Iterator[Hook]:
    port = free_port()
    hook = Hook(url=f"http://127.0.0.1:{port}/hook")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            arrived = time.time()
            try:
                body = orjson.loads(self.rfile.read(length))
            except orjson.JSONDecodeError:
                body = {}
            with hook.lock:
                hook.bodies.append((arrived, body if isinstance(body, dict) else {}))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, name="demo-webhooks", daemon=True)
    thread.start()
    try:
        yield hook
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@contextmanager
def running_gateway(config: Config, start_timeout: float = 30.0) -> Iterator[str]:
    """``seawall serve`` in a thread: the gateway app with its forwarders and canary
    tripwire, under uvicorn on ``config.listen``. Yields the base URL."""
    from seawall.gateway.app import create_app

    host, port = config.listen_host_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(config),
            host=host,
            port=port,
            log_level="warning",
            access_log=False,
            lifespan="on",
        )
    )
    thread = threading.Thread(target=server.run, name="demo-gateway", daemon=True)
    thread.start()
    deadline = time.monotonic() + start_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            thread.join(timeout=10)
            raise RuntimeError(f"the gateway did not start on {host}:{port}")
        time.sleep(0.02)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)
