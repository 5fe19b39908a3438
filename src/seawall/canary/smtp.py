"""The SMTP tripwire: an aiosmtpd server for the canary domain.

Mail is accepted only for known canary addresses; any other recipient is refused at
RCPT with 550, so a spammer's dictionary attack records and fires nothing. A message
is parsed into evidence (``message.py``) in a worker thread, committed as a hit, and
only then answered ``250``; the alert goes out in the background.

A message over ``max_bytes`` is refused with 552 as usual, but it still fires: the
server keeps the first ``HEAD_BYTES`` of what it read, so the alert names the sender,
subject and recipients of the oversized mail without holding all of it in memory. (A
declared ``SIZE`` is therefore not refused at MAIL; an MTA that honours the advertised
limit and never connects cannot be seen.)
"""

from __future__ import annotations

import asyncio
import logging
import re
import socket
from collections.abc import Awaitable, Callable
from typing import Any, cast

from aiosmtpd.smtp import SMTP, Envelope, Session

from seawall.canary.message import clean, mail_evidence, summary
from seawall.canary.model import Canary

log = logging.getLogger("seawall.canary")
MAX_BYTES = 4 * 1024 * 1024  # larger mail is refused (552) but still recorded, by its head
HEAD_BYTES = 256 * 1024  # what is kept of a refused mail, for its evidence
MAX_CONNECTIONS = 32  # open at once, per process: at most this many messages in memory
MAX_PER_PEER = 10

_SIZE_PARAM = re.compile(r"\s+SIZE=\d+", re.IGNORECASE)
OnMail = Callable[[Canary, dict[str, Any], dict[str, Any], str | None], Awaitable[None]]


class AddressBook:
    """Canary addresses, loaded from the store. An address not yet known is looked up
    on its own (one indexed read), so a canary minted by another process a moment ago
    is accepted, and a dictionary attack costs one cheap read per guess."""

    def __init__(
        self, load: Callable[[], list[Canary]], load_one: Callable[[str], Canary | None]
    ) -> None:
        self._load = load
        self._load_one = load_one
        self._by_email: dict[str, Canary] = {}

    async def find(self, address: str) -> Canary | None:
        key = normalise_address(address)
        found = self._by_email.get(key)
        if found is None and "@" in key and len(key) <= 320:
            found = await asyncio.to_thread(self._load_one, key)
            if found is not None:
                self._by_email[key] = found
        return found

    async def reload(self) -> None:
        canaries = await asyncio.to_thread(self._load)
        self._by_email = {c.email.lower(): c for c in canaries}


def normalise_address(address: str) -> str:
    return address.strip().strip("<>").strip().lower()


class TripwireHandler:
    """aiosmtpd handler: RCPT filter and DATA recorder."""

    def __init__(self, book: AddressBook, on_mail: OnMail) -> None:
        self.book = book
        self.on_mail = on_mail

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if await self.book.find(address) is None:
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        await self.record(session, envelope, raw, None)
        return "250 2.0.0 OK: queued"

    async def record(
        self, session: Session, envelope: Envelope, raw: bytes, total: int | None
    ) -> None:
        """Parse once, then one hit per canary recipient."""
        evidence = await asyncio.to_thread(mail_evidence, raw, total_bytes=total)
        peer = session.peer[0] if isinstance(session.peer, tuple) else None
        evidence["envelope_from"] = _clean_addr(envelope.mail_from)
        evidence["envelope_to"] = [_clean_addr(a) for a in envelope.rcpt_tos]
        evidence["peer"] = peer
        evidence["helo"] = _clean_addr(session.host_name)
        brief = summary(evidence)
        seen: set[str] = set()
        for address in envelope.rcpt_tos:
            canary = await self.book.find(address)
            if canary is not None and canary.id not in seen:
                seen.add(canary.id)
                await self.on_mail(canary, evidence, brief, peer)


def _clean_addr(value: object) -> str | None:
    return None if value is None else clean(str(value), 320)


class _Tee:
    """Wraps the DATA reader: keeps the first bytes and counts all of them."""

    def __init__(self, reader: Any, cap: int) -> None:
        self._reader = reader
        self.head = bytearray()
        self.total = 0
        self.cap = cap

    def _keep(self, data: bytes) -> None:
        self.total += len(data)
        room = self.cap - len(self.head)
        if room > 0:
            self.head += data[:room]

    async def readuntil(self, separator: bytes = b"\n") -> bytes:
        data: bytes = await self._reader.readuntil(separator)
        self._keep(data)
        return data

    async def read(self, n: int = -1) -> bytes:
        data: bytes = await self._reader.read(n)
        self._keep(data)
        return data

    def __getattr__(self, name: str) -> Any:
        return getattr(self._reader, name)


class Gate:
    """How many connections the tripwire holds, in all and per peer address. The canary
    MX faces the internet and the attacker knows a canary address (it is in the data
    they took): each connection can hold a message of up to ``max_bytes`` in memory,
    inside the gateway's process, so their number is bounded."""

    def __init__(self, total: int = MAX_CONNECTIONS, per_peer: int = MAX_PER_PEER) -> None:
        self.total, self.per_peer = total, per_peer
        self.open: dict[str | None, int] = {}
        self.count = 0

    def enter(self, peer: str | None) -> bool:
        if self.count >= self.total or self.open.get(peer, 0) >= self.per_peer:
            return False
        self.count += 1
        self.open[peer] = self.open.get(peer, 0) + 1
        return True

    def leave(self, peer: str | None) -> None:
        self.count -= 1
        left = self.open[peer] - 1
        if left:
            self.open[peer] = left
        else:
            del self.open[peer]


class TripwireSMTP(SMTP):
    """aiosmtpd's SMTP, plus evidence and an alert for mail it refuses as too large
    (or for lines too long): aiosmtpd discards such data without calling the handler."""

    def __init__(self, handler: TripwireHandler, gate: Gate, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self.tripwire = handler
        self.gate = gate  # shared by every connection of one server
        self._peer: str | None = None
        self._admitted = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        first = self.transport is None  # not the TLS upgrade of a connection
        super().connection_made(transport)
        if not first:
            return
        peer = transport.get_extra_info("peername")
        self._peer = str(peer[0]) if isinstance(peer, tuple) else None
        self._admitted = self.gate.enter(self._peer)
        if not self._admitted:
            log.warning("canary SMTP: connection from %s refused, too many open", self._peer)
            cast(asyncio.WriteTransport, transport).write(
                b"421 4.7.0 Too many connections, try again later\r\n"
            )
            transport.close()

    def connection_lost(self, error: Exception | None) -> None:
        if self._admitted:
            self._admitted = False
            self.gate.leave(self._peer)
        super().connection_lost(error)

    async def smtp_MAIL(self, arg: str) -> None:
        # A declared SIZE over the limit would be refused here, before RCPT names the
        # canary: let it through, so the oversized mail is read (and discarded past
        # the head), recorded and refused at the end of DATA instead.
        await super().smtp_MAIL(_SIZE_PARAM.sub("", arg) if arg else arg)

    async def smtp_DATA(self, arg: str) -> None:
        envelope, session = self.envelope, self.session
        tee = _Tee(self._reader, HEAD_BYTES)
        reader, self._reader = self._reader, cast(asyncio.StreamReader, tee)
        try:
            await super().smtp_DATA(arg)
        finally:
            self._reader = reader
        if envelope is None or session is None or envelope.content is not None:
            return
        if tee.total > 0 and envelope.rcpt_tos and self.transport is not None:
            log.warning("canary mail of %d bytes refused as too large; recording it", tee.total)
            head = bytes(tee.head).replace(b"\r\n..", b"\r\n.")
            await self.tripwire.record(session, envelope, head, tee.total)


def server_factory(
    handler: TripwireHandler, hostname: str, max_bytes: int = MAX_BYTES, gate: Gate | None = None
) -> Callable[[], TripwireSMTP]:
    """For ``loop.create_server``: one protocol per connection, all behind one gate."""
    shared = gate or Gate()

    def make() -> TripwireSMTP:
        return TripwireSMTP(
            handler,
            shared,
            hostname=hostname,
            data_size_limit=max_bytes,
            enable_SMTPUTF8=True,
            decode_data=False,
            ident="Seawall",
        )

    return make


async def start_smtp(
    handler: TripwireHandler, listen: str, hostname: str, max_bytes: int = MAX_BYTES
) -> asyncio.Server:
    """Bind the tripwire on ``host:port``."""
    host, _, port = listen.rpartition(":")
    loop = asyncio.get_running_loop()
    # reuse_port: with `seawall serve --workers N` every process listens on the port
    # and the kernel spreads connections over them.
    return await loop.create_server(
        server_factory(handler, hostname, max_bytes),
        host.strip("[]") or "127.0.0.1",
        int(port),
        reuse_port=hasattr(socket, "SO_REUSEPORT"),
    )
