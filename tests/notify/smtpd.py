"""A real SMTP server (aiosmtpd) on 127.0.0.1 that records what it accepts."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

from seawall.sink.server import free_port
from tests.support import wait_for

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
    pipelining: bool = False  # advertise PIPELINING (aiosmtpd reads commands in order)
    received: list[Received] = field(default_factory=list)
    refusals: int = 0
    ehlo: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname  # what aiosmtpd does itself when there is no hook
        with self.lock:
            self.ehlo += 1
        if self.pipelining:
            responses.insert(-1, "250-PIPELINING")
        return responses

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
def smtp_server(
    rule: RcptRule | None = None, *, pipelining: bool = False, port: int | None = None
) -> Iterator[tuple[Recorder, int]]:
    """An aiosmtpd server in a thread (on ``port`` or a free one); yields (recorder, port)."""
    recorder = Recorder(rule, pipelining)
    port = port or free_port()
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


class Drop:
    """An aiosmtpd handler for a server in its own process: one file per message.

    Each file is ``<recipients, comma-separated>\\n`` then the raw bytes as received.
    Run as ``python -m aiosmtpd -n -l 127.0.0.1:PORT -c tests.notify.smtpd.Drop DIR``.
    """

    def __init__(self, folder: str) -> None:
        self.folder = Path(folder)
        self.count = 0

    @classmethod
    def from_cli(cls, parser: Any, *args: str) -> Drop:
        return cls(args[0])

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.count += 1
        data = envelope.original_content or envelope.content
        tmp = self.folder / f"{self.count:07d}.tmp"
        tmp.write_bytes(",".join(envelope.rcpt_tos).encode() + b"\n" + data)
        tmp.rename(tmp.with_suffix(".eml"))
        return "250 Message accepted for delivery"


@contextmanager
def smtp_server_process(folder: Path) -> Iterator[tuple[Callable[[], list[Received]], int]]:
    """aiosmtpd in a child process (no GIL shared with the sender); yields (read, port)."""
    port = free_port()
    folder.mkdir(parents=True, exist_ok=True)
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen(
        [sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}",
         "-c", "tests.notify.smtpd.Drop", str(folder)],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
    )  # fmt: skip

    def up() -> bool:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        except OSError:
            return proc.poll() is not None
        return True

    def read() -> list[Received]:
        out = []
        for path in sorted(folder.glob("*.eml")):
            rcpts, _, data = path.read_bytes().partition(b"\n")
            out.append(Received("", rcpts.decode().split(","), data))
        return out

    try:
        wait_for(up, timeout=30)
        assert proc.poll() is None, "aiosmtpd did not start"
        yield read, port
    finally:
        proc.kill()
        proc.wait()
