"""Stopping the gateway while canary alerts are on their way: the stop does not wait on
a webhook that hangs, and the next start sends what was left."""

from __future__ import annotations

import asyncio
import signal
import smtplib
import socket
import threading
from collections.abc import Callable, Iterator
from email import message_from_bytes
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from seawall.canary.deliver import Dispatcher
from seawall.canary.mint import canary_key, mint
from seawall.canary.plant import mint_canaries
from seawall.canary.service import service_for
from seawall.canary.store import CanaryStore
from seawall.core.config import Smtp
from seawall.gateway.app import create_app
from seawall.gateway.runtime import Runtime
from seawall.incident.store import IncidentStore
from seawall.sink.server import free_port, running_sink
from seawall.storage.database import open_database
from tests.canary.conftest import CanaryStack, Receiver, canary_config
from tests.gateway.procs import GatewayProcess, write_config
from tests.support import serve_app, wait_for


def test_a_stop_saves_unsent_alerts_and_the_next_start_sends_them(
    canary_stack: CanaryStack, receiver: Receiver
) -> None:
    s = canary_stack
    ((canary, _),) = s.mint("crm")
    receiver.hang.set()
    with smtplib.SMTP("127.0.0.1", s.smtp_port, timeout=10) as client:
        for subject in (b"first", b"second", b"third"):  # one alert, two folded
            client.sendmail("a@attacker.example.net", [canary.email], b"Subject: " + subject)
    # The first alert has reached both webhooks, which do not answer.
    wait_for(lambda: receiver.held >= 2, timeout=30)

    s.stop()  # completes although both webhooks still hang
    assert s.receiver.bodies == []
    assert len(s.store.hits(canary.id)) == 3
    incidents = IncidentStore(s.runtime.db)
    (incident,) = incidents.list()
    assert [e.kind for e in incidents.timeline(incident.id)].count("canary_fired") == 1

    # The next start (a new process: a new runtime on the same database) sends them.
    receiver.hang.clear()
    rt = Runtime.build(s.config)
    try:
        with serve_app(create_app(s.config, runtime=rt), port=free_port()):
            wait_for(lambda: service_for(rt).smtp_listening, timeout=30)
            hooks = wait_for(lambda: (h := receiver.json("/hook")) and len(h) == 2 and h, 30)
            wait_for(lambda: len(receiver.json("/slack")) == 2, timeout=30)
    finally:
        rt.close()
    by_kind = {b["kind"]: b for b in hooks}
    assert by_kind.keys() == {"hit", "summary"}
    assert by_kind["hit"]["evidence"]["subject"] == "first"
    assert by_kind["summary"]["hits"] == 2
    assert {b["canary"] for b in hooks} == {canary.id}
    # Sent, not saved again; the incident was opened once, and the summary added to it.
    assert {b["incident"] for b in hooks} == {incident.id}
    kinds = [e.kind for e in incidents.timeline(incident.id)]
    assert (kinds.count("canary_fired"), kinds.count("canary_hits")) == (1, 1)
    assert asyncio.run(s.store.take_owed()) == []


def test_sigterm_stops_serve_and_the_next_start_sends_the_unsent_alert(
    tmp_path: Path, receiver: Receiver
) -> None:
    # The real `seawall serve`, stopped the way a service manager stops it.
    outs = {"crm": tmp_path / "crm.ndjson", "mailer": tmp_path / "mailer.ndjson"}
    with running_sink(outs["crm"]) as crm, running_sink(outs["mailer"]) as mailer:
        port, smtp_port = free_port(), free_port()
        hook = receiver.url
        cfg = canary_config(tmp_path, {"crm": crm.url, "mailer": mailer.url}, hook, port, smtp_port)
        path = write_config(tmp_path / "seawall.yaml", cfg.model_dump(mode="json"))
        rt = Runtime.build(cfg)
        try:
            key, store = canary_key(rt.keys), CanaryStore(rt.db)
            ((canary, _),) = mint_canaries(cfg, rt.policies, key, store, "crm", 1)
        finally:
            rt.close()

        def serving() -> GatewayProcess:
            gateway = GatewayProcess(path, port).start()
            wait_for(lambda: _listening(smtp_port), timeout=30)
            return gateway

        receiver.hang.set()
        gateway = serving()
        try:
            with smtplib.SMTP("127.0.0.1", smtp_port, timeout=10) as client:
                client.sendmail("a@attacker.example.net", [canary.email], b"Subject: x\r\n\r\n")
            wait_for(lambda: receiver.held >= 2, timeout=30)
        finally:
            gateway.stop()  # SIGTERM; SIGKILL only if it has not exited 15 s later
        assert gateway.proc is not None
        assert gateway.proc.returncode != -signal.SIGKILL  # it ended of its own accord
        assert receiver.bodies == []

        receiver.hang.clear()
        gateway = serving()
        try:
            (alert,) = wait_for(lambda: receiver.json("/hook"), timeout=30)
        finally:
            gateway.stop()
    assert (alert["canary"], alert["kind"], alert["channel"]) == (canary.id, "hit", "email")


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


class Relay:
    """An SMTP relay (aiosmtpd) that, while ``hang`` is set, holds each message at the
    end of DATA and then refuses it (451)."""

    def __init__(self) -> None:
        self.hang = threading.Event()
        self.held = 0
        self.messages: list[bytes] = []

    async def handle_DATA(self, server: object, session: object, envelope: Any) -> str:
        if self.hang.is_set():
            self.held += 1
            while self.hang.is_set():
                await asyncio.sleep(0.05)
            return "451 4.3.0 try again later"
        self.messages.append(envelope.original_content)
        return "250 OK"


@pytest.fixture
def relay() -> Iterator[tuple[Relay, int]]:
    handler = Relay()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield handler, controller.port
    finally:
        handler.hang.clear()
        controller.stop()


def test_the_next_start_sends_only_to_the_targets_not_reached(
    tmp_path: Path, receiver: Receiver, relay: tuple[Relay, int]
) -> None:
    # The webhook answers; the security mailbox's relay hangs over the stop. The next
    # start mails the alert and does not post it to the webhook again.
    mailbox, port = relay
    db = open_database(f"sqlite:///{tmp_path / 'seawall.db'}")
    store, incidents = CanaryStore(db), IncidentStore(db)
    identity = mint("crm", "canary.example.com", b"k" * 32)
    store.add(identity, sdk="mixpanel", channels=["email"], memo={"fields": {}})
    canary = store.get(identity.id)

    def dispatcher() -> Dispatcher:
        return Dispatcher(
            store,
            incidents,
            webhooks=[f"{receiver.url}/hook"],
            email_to="security@example.com",
            smtp=Smtp(host="127.0.0.1", port=port),
        )

    async def running(until: Callable[[], bool], hit: bool) -> None:
        d, stop = dispatcher(), asyncio.Event()
        task = asyncio.create_task(d.run(stop))
        if hit:
            await d.hit(canary, "email", {"subject": "x"}, {"subject": "x"}, "192.0.2.1")
        deadline = asyncio.get_running_loop().time() + 60
        while not until():
            assert asyncio.get_running_loop().time() < deadline, "the alert never came"
            await asyncio.sleep(0.05)
        stop.set()
        await task

    mailbox.hang.set()
    try:
        asyncio.run(running(lambda: mailbox.held == 1 and len(receiver.json()) == 1, hit=True))
    finally:
        mailbox.hang.clear()
    assert mailbox.messages == []
    asyncio.run(running(lambda: len(mailbox.messages) == 1, hit=False))
    db.close()

    (alert,) = receiver.json()
    assert alert["canary"] == canary.id
    mail = message_from_bytes(mailbox.messages[0])
    assert mail["Subject"] == "[Seawall] canary fired for vendor crm"
    assert f"incident #{alert['incident']}" in mail.get_payload()


def test_an_alert_saved_for_targets_no_longer_configured_goes_to_todays(
    tmp_path: Path, receiver: Receiver
) -> None:
    # Saved for a webhook the config has since replaced: it is not dropped.
    db = open_database(f"sqlite:///{tmp_path / 'seawall.db'}")
    store = CanaryStore(db)
    alert = {"kind": "hit", "vendor": "crm", "canary": "cn_1", "channel": "beacon"}
    doc = {"alert": {**alert, "first_seen": 1.0, "at": 1.0}, "targets": ["0f" * 16]}
    asyncio.run(store.save_owed([("cn_1", "crm", {**doc, "incident": False})], 2.0))

    async def start_and_stop() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(
            Dispatcher(store, None, webhooks=[f"{receiver.url}/hook"]).run(stop)
        )
        deadline = asyncio.get_running_loop().time() + 60
        while not receiver.json():
            assert asyncio.get_running_loop().time() < deadline, "the alert never came"
            await asyncio.sleep(0.05)
        stop.set()
        await task

    asyncio.run(start_and_stop())
    db.close()
    (sent,) = receiver.json()
    assert {k: sent[k] for k in alert} == alert
