"""Probes: a canary's address named over SMTP with no message after it.

Whoever holds a leaked list usually checks its addresses before mailing them: ``RCPT
TO`` and then ``RSET`` or ``QUIT`` (or a dropped connection) without ``DATA``, or
``VRFY``/``EXPN``. A canary's address exists nowhere but in one vendor's data, so a
check of it proves that vendor leaked as surely as a mail does, and sooner.

``ProbeWatch`` follows one connection. A canary named at RCPT is pending until its
transaction delivers a message (the mail's own hit then covers it: no probe) or ends
without one: ``RSET``, ``HELO``/``EHLO`` (both reset the transaction; aiosmtpd refuses a
second ``MAIL`` inside one), ``QUIT``, the connection dropped or timed out, the
tripwire stopping, or ``hold`` seconds passing with the transaction still open, so a
client that keeps the connection alive with ``NOOP`` cannot put the alert off.

``ProbeRecorder`` hands the probes of all connections to the dispatcher, each batch in a
task of its own.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from seawall.canary.message import clean, clean_address
from seawall.canary.model import Canary
from seawall.core.errors import describe

log = logging.getLogger("seawall.canary")
PROBE_HOLD = 60.0  # seconds a named canary may wait for its message: MTAs send at once
OnProbe = Callable[[Canary, dict[str, Any], str | None, float], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Probe:
    """One canary address named, with what the connection had said by then."""

    canary: Canary
    command: str  # "RCPT", "VRFY" or "EXPN"
    address: str  # as the client wrote it (cleaned)
    at: float
    envelope_from: str | None
    helo: str | None


def probe_evidence(probe: Probe, peer: str | None, ended: str | None, rcpts: int) -> dict[str, Any]:
    """What a probe's hit stores and its alert shows: small, so the two are the same.
    ``rcpts`` counts the connection's RCPT commands, accepted or not: a list being
    checked shows as many."""
    evidence: dict[str, Any] = {
        "command": probe.command,
        "address": probe.address,
        "envelope_from": probe.envelope_from,
        "peer": peer,
        "helo": probe.helo,
        "rcpts": rcpts,
    }
    if ended is not None:
        evidence["ended"] = ended
    return evidence


def probe_from(
    canary: Canary, command: str, address: str, at: float, mail_from: object, helo: object
) -> Probe:
    """A probe from the raw values of an aiosmtpd session and envelope."""
    return Probe(
        canary, command, clean(address, 320), at, clean_address(mail_from), clean_address(helo)
    )


Report = Callable[[list[Probe], str], asyncio.Task[None]]


class ProbeWatch:
    """The canaries one connection named at RCPT whose message has not come yet."""

    def __init__(self, report: Report, hold: float = PROBE_HOLD) -> None:
        self._report = report
        self.hold = hold
        self.rcpts = 0  # RCPT commands on this connection, for the evidence
        self._pending: dict[str, Probe] = {}
        self._timer: asyncio.TimerHandle | None = None

    def named(self, probe: Probe) -> None:
        """A canary was accepted at RCPT; it is a probe unless a message follows."""
        self._pending.setdefault(probe.canary.id, probe)
        if self._timer is None:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(self.hold, self.end, "held open")

    def delivered(self) -> None:
        """The transaction's message was recorded: its hit speaks for these canaries."""
        self._pending.clear()
        self._cancel()

    def end(self, ended: str) -> asyncio.Task[None] | None:
        """The transaction ended (``ended`` says how) without a message: report what is
        pending. Returns the recording task (await it before replying), or None."""
        self._cancel()
        if not self._pending:
            return None
        probes = list(self._pending.values())
        self._pending.clear()
        return self._report(probes, ended)

    def _cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


class ProbeRecorder:
    """Records probes (and so alerts them) through ``on_probe``, each batch in a task of
    its own: a client that hangs up while its RSET or QUIT is being answered cancels the
    reply, not the recording. ``drain`` waits for every recording (at shutdown)."""

    def __init__(self, on_probe: OnProbe) -> None:
        self.on_probe = on_probe
        self._tasks: set[asyncio.Task[None]] = set()

    def report(
        self, probes: list[Probe], peer: str | None, ended: str | None, rcpts: int
    ) -> asyncio.Task[None]:
        task = asyncio.ensure_future(self._record(probes, peer, ended, rcpts))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def drain(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _record(
        self, probes: list[Probe], peer: str | None, ended: str | None, rcpts: int
    ) -> None:
        for probe in probes:
            evidence = probe_evidence(probe, peer, ended, rcpts)
            try:
                await self.on_probe(probe.canary, evidence, peer, probe.at)
            except Exception as exc:  # the next probe, and the connection, go on
                log.error("canary %s: probe not recorded: %s", probe.canary.id, describe(exc))
