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
MAX_BYTES = 10 * 1024 * 1024  # the usual provider limit; larger mail is refused
HEAD_BYTES = 256 * 1024  # what is kept of a refused mail, for its evidence

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


class TripwireSMTP(SMTP):
    """aiosmtpd's SMTP, plus evidence and an alert for mail it refuses as too large
    (or for lines too long): aiosmtpd discards such data without calling the handler."""

    def __init__(self, handler: TripwireHandler, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self.tripwire = handler

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
    handler: TripwireHandler, hostname: str, max_bytes: int = MAX_BYTES
) -> Callable[[], TripwireSMTP]:
    """For ``loop.create_server``: one protocol per connection."""

    def make() -> TripwireSMTP:
        return TripwireSMTP(
            handler,
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
