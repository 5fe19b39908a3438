"""A real gateway with the canary parts, two local vendor sinks, an SMTP tripwire and
a webhook receiver, all on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import pytest

from seawall.canary.mint import canary_key
from seawall.canary.model import Canary
from seawall.canary.plant import mint_canaries, plant
from seawall.canary.service import service_for
from seawall.canary.store import CanaryStore
from seawall.core.config import Config, parse_config
from seawall.gateway.app import create_app
from seawall.gateway.runtime import Runtime
from seawall.sink.records import read_records
from seawall.sink.server import free_port, running_sink
from tests.gateway.conftest import stack_config
from tests.support import serve_app, wait_for

# A CRM keeps contact details (that is its job): the canary's address and link arrive.
CRM_POLICY = {
    "default": "drop",
    "free_text": "keep",
    "rules": [
        {"field": ["event", "$email", "$name", "$website", "time", "$insert_id"], "action": "keep"},
        {"field": ["distinct_id", "$user_id", "$device_id"], "action": "pseudonymize"},
    ],
}
MAILER_POLICY = {
    "default": "drop",
    "free_text": "keep",
    "rules": [
        {"field": ["event", "traits.email", "traits.name", "traits.website"], "action": "keep"},
        {"field": ["userId", "anonymousId"], "action": "pseudonymize"},
    ],
}


@dataclass
class Receiver:
    """A webhook endpoint: every POSTed JSON body, with its path."""

    url: str
    bodies: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # While ``hang`` is set, each POST is read, counted in ``held`` and never answered
    # (nor recorded): a webhook that hangs.
    hang: threading.Event = field(default_factory=threading.Event)
    held: int = 0
    released: threading.Event = field(default_factory=threading.Event)

    def json(self, path: str = "/hook") -> list[dict[str, Any]]:
        with self.lock:
            return [b for p, b in self.bodies if p == path]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    port = free_port()
    rec = Receiver(url=f"http://127.0.0.1:{port}")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            body = orjson.loads(self.rfile.read(length))
            if rec.hang.is_set():
                with rec.lock:
                    rec.held += 1
                rec.released.wait(120)
                self.close_connection = True
                return
            with rec.lock:
                rec.bodies.append((self.path, body))
            self.send_response(200)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield rec
    finally:
        rec.released.set()
        server.shutdown()
        server.server_close()


def canary_config(
    tmp_path: Path, sinks: dict[str, str], hook: str, gateway_port: int, smtp_port: int
) -> Config:
    base = stack_config(tmp_path, sinks["crm"])
    data = base.model_dump(mode="json")
    data["vendors"]["crm"] = {
        "kind": "mixpanel",
        "endpoint": sinks["crm"],
        "token": "crm-token",
        "policy": CRM_POLICY,
    }
    data["vendors"]["mailer"] = {
        "kind": "segment",
        "endpoint": sinks["mailer"],
        "write_key": "mailer-key",
        "policy": MAILER_POLICY,
    }
    data["canary"] = {
        "domain": "canary.example.com",
        "smtp_listen": f"127.0.0.1:{smtp_port}",
        "beacon_base": f"http://127.0.0.1:{gateway_port}",
    }
    data["alerts"] = {"webhooks": [f"{hook}/hook", f"{hook}/slack#slack"], "email": None}
    return parse_config(data, base_dir=str(tmp_path))


@dataclass
class CanaryStack:
    url: str
    config: Config
    runtime: Runtime
    receiver: Receiver
    sinks: dict[str, Path]
    smtp_port: int
    store: CanaryStore
    stop: Callable[[], None]  # stops the gateway (as at shutdown); the store stays open

    def mint(self, vendor: str, count: int = 1) -> list[tuple[Canary, str]]:
        rt = self.runtime
        return mint_canaries(
            self.config, rt.policies, canary_key(rt.keys), self.store, vendor, count
        )

    def plant(self) -> int:
        return asyncio.run(plant(self.runtime, self.store, self.store.list()))

    def received(self, vendor: str) -> list[dict[str, Any]]:
        return read_records(self.sinks[vendor])


@pytest.fixture
def summary_interval() -> float:
    """Seconds between summaries of a canary's folded hits (override per module)."""
    return 1.5


@pytest.fixture
def canary_options(summary_interval: float) -> dict[str, Any]:
    """``CanaryService`` options of the stack (override per module)."""
    return {"summary_interval": summary_interval}


@pytest.fixture
def canary_stack(
    tmp_path: Path, receiver: Receiver, canary_options: dict[str, Any]
) -> Iterator[CanaryStack]:
    outs = {"crm": tmp_path / "crm.ndjson", "mailer": tmp_path / "mailer.ndjson"}
    with running_sink(outs["crm"]) as crm, running_sink(outs["mailer"]) as mailer:
        port, smtp_port = free_port(), free_port()
        cfg = canary_config(
            tmp_path, {"crm": crm.url, "mailer": mailer.url}, receiver.url, port, smtp_port
        )
        rt = Runtime.build(cfg)
        app = create_app(cfg, runtime=rt, canary_options=canary_options)
        try:
            with contextlib.ExitStack() as serving:
                url = serving.enter_context(serve_app(app, port=port))
                tripwire = service_for(rt)  # made as the gateway started
                wait_for(lambda: tripwire.smtp_listening, timeout=10)
                store = CanaryStore(rt.db)
                yield CanaryStack(url, cfg, rt, receiver, outs, smtp_port, store, serving.close)
        finally:
            rt.close()
