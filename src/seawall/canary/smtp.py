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

A canary named at RCPT, VRFY or EXPN with no message after it is a probe
(``probe.py``): committed before the reply that ends it (``RSET``, ``QUIT``, ``EHLO``,
``VRFY``...) or, when the connection is dropped, as it closes. ``VRFY`` and ``EXPN``
answer every address alike (aiosmtpd's 252 and 502).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import socket
import time
from collections.abc import Awaitable, Callable
from email.utils import parseaddr
from typing import Any, TypeVar, cast

from aiosmtpd.smtp import SMTP, Envelope, Session

from seawall.canary.message import clean_address, mail_evidence, summary
from seawall.canary.model import Canary
from seawall.canary.probe import PROBE_HOLD, OnProbe, Probe, ProbeRecorder, ProbeWatch, probe_from

log = logging.getLogger("seawall.canary")
MAX_BYTES = 4 * 1024 * 1024  # larger mail is refused (552) but still recorded, by its head
HEAD_BYTES = 256 * 1024  # what is kept of a refused mail, for its evidence
MAX_CONNECTIONS = 32  # open at once, per process: at most this many messages in memory
MAX_PER_PEER = 10
IDLE_TIMEOUT = 300.0  # RFC 5321 4.5.3.2's server timeout; a held probe ends at PROBE_HOLD

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
    """aiosmtpd handler: RCPT filter and DATA recorder; records the probes of every
    connection of its server, and closes those still open when the tripwire stops."""

    def __init__(self, book: AddressBook, on_mail: OnMail, on_probe: OnProbe) -> None:
        self.book = book
        self.on_mail = on_mail
        self.probes = ProbeRecorder(on_probe)
        self.connections: set[TripwireSMTP] = set()
        self.closing = False
        self._all_closed = asyncio.Event()  # set by the last connection to close at stop

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        canary = await self.book.find(address)
        if canary is None:
            return "550 5.1.1 No such user here"
        if isinstance(server, TripwireSMTP):
            probe = probe_from(
                canary, "RCPT", address, time.time(), envelope.mail_from, session.host_name
            )
            server.watch.named(probe)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        await self.record(session, envelope, raw, None)
        if isinstance(server, TripwireSMTP):
            server.watch.delivered()
        return "250 2.0.0 OK: queued"

    async def close(self, timeout: float = 5.0) -> None:
        """Close the connections still open (their pending probes are recorded, ended
        by "shutdown") and wait for every probe being recorded."""
        self.closing = True
        for connection in list(self.connections):
            connection.close()
        if self.connections:  # each one's connection_lost runs on a later turn of the loop
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._all_closed.wait(), timeout)
        await self.probes.drain()

    def forget(self, connection: TripwireSMTP) -> None:
        """``connection`` has closed (its probes are being recorded)."""
        self.connections.discard(connection)
        if self.closing and not self.connections:
            self._all_closed.set()

    async def record(
        self, session: Session, envelope: Envelope, raw: bytes, total: int | None
    ) -> None:
        """Parse once, then one hit per canary recipient."""
        evidence = await asyncio.to_thread(mail_evidence, raw, total_bytes=total)
        peer = session.peer[0] if isinstance(session.peer, tuple) else None
        evidence["envelope_from"] = clean_address(envelope.mail_from)
        evidence["envelope_to"] = [clean_address(a) for a in envelope.rcpt_tos]
        evidence["peer"] = peer
        evidence["helo"] = clean_address(session.host_name)
        brief = summary(evidence)
        seen: set[str] = set()
        for address in envelope.rcpt_tos:
            canary = await self.book.find(address)
            if canary is not None and canary.id not in seen:
                seen.add(canary.id)
                await self.on_mail(canary, evidence, brief, peer)


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


F = TypeVar("F", bound=Callable[..., Any])


def _help(command: str) -> Callable[[F], F]:
    """Keep aiosmtpd's HELP text on a command overridden here: HELP answers as a plain
    aiosmtpd would, and the tripwire does not stand out by what it lists."""
    parent = getattr(SMTP, f"smtp_{command}")

    def keep(method: F) -> F:
        for attr in ("__smtp_syntax__", "__smtp_syntax_extended__", "__smtp_syntax_when__"):
            if hasattr(parent, attr):
                setattr(method, attr, getattr(parent, attr))
        return method

    return keep


class TripwireSMTP(SMTP):
    """aiosmtpd's SMTP, plus evidence and an alert for mail it refuses as too large
    (or for lines too long): aiosmtpd discards such data without calling the handler."""

    def __init__(
        self, handler: TripwireHandler, gate: Gate, probe_hold: float = PROBE_HOLD, **kwargs: Any
    ) -> None:
        super().__init__(handler, **kwargs)
        self.tripwire = handler
        self.gate = gate  # shared by every connection of one server
        self.watch = ProbeWatch(self._report, probe_hold)
        self._peer: str | None = None
        self._admitted = False
        self._timed_out = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        first = self.transport is None  # not the TLS upgrade of a connection
        super().connection_made(transport)
        if not first:
            return
        peer = transport.get_extra_info("peername")
        self._peer = str(peer[0]) if isinstance(peer, tuple) else None
        if self.tripwire.closing:
            # Accepted as the tripwire stops: its probes would be recorded after the
            # alerts were drained, so it is turned away like a full gate.
            cast(asyncio.WriteTransport, transport).write(
                b"421 4.3.2 Service shutting down, try again later\r\n"
            )
            transport.close()
            return
        self._admitted = self.gate.enter(self._peer)
        if not self._admitted:
            log.warning("canary SMTP: connection from %s refused, too many open", self._peer)
            cast(asyncio.WriteTransport, transport).write(
                b"421 4.7.0 Too many connections, try again later\r\n"
            )
            transport.close()
            return
        self.tripwire.connections.add(self)

    def connection_lost(self, error: Exception | None) -> None:
        if self._admitted:
            self._admitted = False
            self.gate.leave(self._peer)
            ended = "timeout" if self._timed_out else "dropped"
            try:
                self.watch.end("shutdown" if self.tripwire.closing else ended)
            finally:
                # after ``end``: its probes are now being recorded; and even when ``end``
                # failed, ``close`` must not wait for this connection
                self.tripwire.forget(self)
        super().connection_lost(error)

    def close(self) -> None:
        """Hang up (the tripwire is stopping)."""
        if self.transport is not None:
            self.transport.close()

    # aiosmtpd 1.4 has no public hook for its idle timeout: ``_reset_timeout`` schedules
    # the private ``_timeout_cb``, which closes the transport, and ``connection_lost``
    # then looks like any dropped connection. Overriding it is the only way to tell a
    # probe that "timeout" from one that was "dropped". aiosmtpd is pinned below 1.5 for
    # this, and tests/canary/test_probe.py fails by name if the hook goes away (the
    # probe would still be recorded, only as "dropped").
    def _timeout_cb(self) -> None:
        self._timed_out = True
        super()._timeout_cb()  # type: ignore[no-untyped-call]

    def _report(self, probes: list[Probe], ended: str | None) -> asyncio.Task[None]:
        return self.tripwire.probes.report(probes, self._peer, ended, self.watch.rcpts)

    async def _end_transaction(self, ended: str) -> None:
        """The transaction ends here: record its probes before the reply."""
        task = self.watch.end(ended)
        if task is not None:
            await asyncio.shield(task)

    async def _named_outside_mail(self, command: str, arg: str | None) -> None:
        """VRFY or EXPN of a canary address: a probe, recorded before the reply (which is
        the same for every address)."""
        canary = None
        # ``Name <addr>``, or an address with parameters after it (``addr SMTPUTF8``,
        # RFC 6531), as aiosmtpd itself reads the argument.
        for address in dict.fromkeys((parseaddr(arg or "")[1], (arg or "").split(" ")[0])):
            if address and canary is None:
                canary = await self.tripwire.book.find(address)
        if canary is not None and self.session is not None:
            mail_from = self.envelope.mail_from if self.envelope is not None else None
            probe = probe_from(
                canary, command, arg or "", time.time(), mail_from, self.session.host_name
            )
            await asyncio.shield(self._report([probe], None))

    @_help("RSET")
    async def smtp_RSET(self, arg: str) -> None:
        await self._end_transaction("RSET")
        await super().smtp_RSET(arg)

    @_help("HELO")
    async def smtp_HELO(self, hostname: str) -> None:
        await self._end_transaction("HELO")
        await super().smtp_HELO(hostname)

    @_help("EHLO")
    async def smtp_EHLO(self, hostname: str) -> None:
        await self._end_transaction("EHLO")
        await super().smtp_EHLO(hostname)

    @_help("QUIT")
    async def smtp_QUIT(self, arg: str) -> None:
        await self._end_transaction("QUIT")
        await super().smtp_QUIT(arg)

    @_help("RCPT")
    async def smtp_RCPT(self, arg: str | None) -> None:
        self.watch.rcpts += 1
        await super().smtp_RCPT(arg)

    @_help("VRFY")
    async def smtp_VRFY(self, arg: str) -> None:
        await self._named_outside_mail("VRFY", arg)
        await super().smtp_VRFY(arg)

    @_help("EXPN")
    async def smtp_EXPN(self, arg: str) -> None:
        await self._named_outside_mail("EXPN", arg)
        await super().smtp_EXPN(arg)

    @_help("MAIL")
    async def smtp_MAIL(self, arg: str) -> None:
        # A declared SIZE over the limit would be refused here, before RCPT names the
        # canary: let it through, so the oversized mail is read (and discarded past
        # the head), recorded and refused at the end of DATA instead.
        await super().smtp_MAIL(_SIZE_PARAM.sub("", arg) if arg else arg)

    @_help("DATA")
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
            self.watch.delivered()


def server_factory(
    handler: TripwireHandler,
    hostname: str,
    max_bytes: int = MAX_BYTES,
    gate: Gate | None = None,
    probe_hold: float = PROBE_HOLD,
    timeout: float = IDLE_TIMEOUT,
) -> Callable[[], TripwireSMTP]:
    """For ``loop.create_server``: one protocol per connection, all behind one gate."""
    shared = gate or Gate()

    def make() -> TripwireSMTP:
        return TripwireSMTP(
            handler,
            shared,
            probe_hold,
            timeout=timeout,
            hostname=hostname,
            data_size_limit=max_bytes,
            enable_SMTPUTF8=True,
            decode_data=False,
            ident="Seawall",
        )

    return make


async def start_smtp(
    handler: TripwireHandler,
    listen: str,
    hostname: str,
    max_bytes: int = MAX_BYTES,
    *,
    probe_hold: float = PROBE_HOLD,
    timeout: float = IDLE_TIMEOUT,
) -> asyncio.Server:
    """Bind the tripwire on ``host:port``."""
    # aiosmtpd logs every peer address, MAIL FROM and RCPT TO at INFO: what an attacker
    # sends, possibly someone's real address, and noise in every log. The hit and probe
    # records keep what an investigation needs; its warnings and errors still show.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    host, _, port = listen.rpartition(":")
    loop = asyncio.get_running_loop()
    # reuse_port: with `seawall serve --workers N` every process listens on the port
    # and the kernel spreads connections over them.
    return await loop.create_server(
        server_factory(handler, hostname, max_bytes, probe_hold=probe_hold, timeout=timeout),
        host.strip("[]") or "127.0.0.1",
        int(port),
        reuse_port=hasattr(socket, "SO_REUSEPORT"),
    )
