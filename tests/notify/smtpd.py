"""A real SMTP server (aiosmtpd) on 127.0.0.1 that records what it accepts."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

from seawall.sink.server import free_port

# Given the recipient address, a reply to refuse it with ("451 ...", "550 ..."), or None.
RcptRule = Callable[[str], str | None]


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes

    def message(self) -> EmailMessage:
        msg = message_from_bytes(self.data, policy=policy.default)
        assert isinstance(msg, EmailMessage)
        return msg


@dataclass
class Recorder:
    """The aiosmtpd handler: accepts everything unless ``rule`` refuses a recipient."""

    rule: RcptRule | None = None
    received: list[Received] = field(default_factory=list)
    refusals: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        reply = self.rule(address) if self.rule else None
        if reply:
            with self.lock:
                self.refusals += 1
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        data = envelope.original_content or envelope.content
        with self.lock:
            self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), data))
        return "250 Message accepted for delivery"

    def count(self) -> int:
        with self.lock:
            return len(self.received)


@contextmanager
def smtp_server(rule: RcptRule | None = None) -> Iterator[tuple[Recorder, int]]:
    """An aiosmtpd server in a thread; yields (recorder, port)."""
    recorder = Recorder(rule)
    port = free_port()
    controller = Controller(recorder, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield recorder, port
    finally:
        controller.stop()


def temporarily_then(
    count: int, permanent: set[str], temporary_reply: str = "451 4.3.0 try again later"
) -> RcptRule:
    """451 for the first ``count`` recipients offered, then 550 for ``permanent``, else accept."""
    seen = 0
    lock = threading.Lock()

    def rule(address: str) -> str | None:
        nonlocal seen
        with lock:
            seen += 1
            if seen <= count:
                return temporary_reply
        if address in permanent:
            return "550 5.1.1 mailbox unavailable"
        return None

    return rule
