"""From a tripwire hit to the security team: record, fold, open the incident, send.

``Dispatcher.hit`` commits the hit first (the SMTP sender or the browser is answered
only after that), then decides whether to alert now. Delivery runs in the background:
the vendor's incident is opened or extended (trigger ``canary``) so scoping can start
at once, then every webhook, the security mailbox and the log get the alert in
parallel. A webhook that fails is retried a few times; one that keeps failing never
delays the others.

Probes fold apart from mail and beacon hits (``probes``, same interval), so a mail that
follows a probe is alerted at once with its contents; both share the canary's first-seen
time, so the mail alert says when the address was first probed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import smtplib
import ssl
import time
from collections.abc import Callable, Coroutine
from email.message import EmailMessage
from typing import Any, Protocol

import httpx

from seawall.canary.alerts import Alert, Folded, Folding, email_text, headline, webhook_body
from seawall.canary.model import Canary, Hit, HitChannel
from seawall.canary.store import CanaryStore
from seawall.core.config import Smtp
from seawall.core.errors import describe
from seawall.incident.model import Incident

log = logging.getLogger("seawall.canary")
RETRIES = (0.2, 1.0, 3.0)
TIMELINE = {"hit": "canary_fired", "probe": "canary_probed", "summary": "canary_hits"}


class IncidentRecorder(Protocol):
    """What alerts need of ``seawall.incident.store.IncidentStore``."""

    def open_or_append(
        self,
        vendor: str,
        *,
        trigger: Any,
        at: float,
        kind: str,
        text: str,
        data: dict[str, object],
    ) -> tuple[Incident, bool]: ...


class Dispatcher:
    """Records hits and delivers alerts; ``run`` sends the folded summaries."""

    def __init__(
        self,
        store: CanaryStore,
        incidents: IncidentRecorder | None,
        *,
        webhooks: list[str],
        email_to: str | None = None,
        smtp: Smtp | None = None,
        interval: float = 300.0,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.incidents = incidents
        self.webhooks = webhooks
        self.email_to = email_to if smtp is not None else None
        self.smtp = smtp
        self.folding = Folding(interval)
        self.probes = Folding(interval)
        self.clock = clock
        self._transport = transport
        self._client: httpx.AsyncClient | None = None
        self._tasks: set[asyncio.Task[object]] = set()
        self._first_seen: dict[str, float] = {}

    async def hit(
        self,
        canary: Canary,
        channel: HitChannel,
        evidence: dict[str, Any],
        summary: dict[str, Any],
        remote: str | None,
        at: float | None = None,
    ) -> Hit:
        """Commit one hit; alert at once if it is the canary's first in the interval
        (its first probe, for a probe)."""
        at = self.clock() if at is None else at
        folding = self.probes if channel == "probe" else self.folding
        first = folding.admit(canary.id, canary.vendor, channel, at, remote)
        if not first:  # a flood keeps its headers and hashes, not a body per mail
            evidence = {k: v for k, v in evidence.items() if k not in ("body_text", "html_source")}
        hit = Hit(
            canary.id, canary.vendor, channel, at, remote, evidence, "first" if first else "folded"
        )
        hit_id = await self.store.record_hit(hit)
        # A probe is reported when its transaction ends, after hits that came later.
        self._first_seen[canary.id] = min(self._first_seen.get(canary.id, at), at)
        if first:
            alert = Alert(
                "probe" if channel == "probe" else "hit",
                canary.vendor,
                canary.id,
                channel,
                self._first_seen[canary.id],
                at,
                hit_id=hit_id,
                evidence=summary,
            )
            self._spawn(self.deliver(alert))
        return hit

    async def run(self, stop: asyncio.Event) -> None:
        """Send summaries as their intervals end; at stop, send what is left and wait
        for deliveries in flight."""
        tick = max(0.05, min(1.0, self.folding.interval / 4))
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), tick)
            now, everything = self.clock(), stop.is_set()
            for folding in (self.folding, self.probes):
                for folded in folding.due(now, everything=everything):
                    self._spawn(self.deliver(self._summary(folded)))
        await self.drain()
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def drain(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def _summary(self, f: Folded) -> Alert:
        return Alert(
            "summary",
            f.vendor,
            f.canary,
            ",".join(f.channels),
            self._first_seen.get(f.canary, f.first),
            f.last,
            hits=f.count,
            evidence={
                "first": f.first,
                "last": f.last,
                **({"peers": list(f.peers)} if f.peers else {}),
            },
        )

    def _spawn(self, coro: Coroutine[Any, Any, object]) -> None:
        task: asyncio.Task[object] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def deliver(self, alert: Alert) -> Alert:
        """Open or extend the incident, then send everywhere at once."""
        try:
            alert = await self._with_incident(alert)
        except Exception as exc:
            log.error("canary %s: could not open the incident: %s", alert.canary, describe(exc))
        log.warning("%s", headline(alert))
        sends = [self._post(url, alert) for url in self.webhooks]
        if self.email_to and self.smtp:
            sends.append(asyncio.to_thread(_send_mail, self.smtp, self.email_to, alert))
        results = await asyncio.gather(*sends, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                log.error("canary alert not delivered: %s", type(result).__name__)
        return alert

    async def _with_incident(self, alert: Alert) -> Alert:
        if self.incidents is None:
            return alert
        text = {
            "hit": f"Canary {alert.canary} fired ({alert.channel})",
            "probe": f"Canary {alert.canary} probed over SMTP (no mail delivered)",
            "summary": f"{alert.hits} more hits of canary {alert.canary} ({alert.channel})",
        }[alert.kind]
        data: dict[str, object] = {
            "canary": alert.canary,
            "channel": alert.channel,
            "first_seen": alert.first_seen,
            "hits": alert.hits,
            "hit_id": alert.hit_id,
            "evidence": alert.evidence,
        }
        incident, _ = await asyncio.to_thread(
            self.incidents.open_or_append,
            alert.vendor,
            trigger="canary",
            at=alert.at,
            kind=TIMELINE[alert.kind],
            text=text,
            data=data,
        )
        return Alert(
            alert.kind,
            alert.vendor,
            alert.canary,
            alert.channel,
            alert.first_seen,
            alert.at,
            alert.hits,
            incident.id,
            alert.hit_id,
            alert.evidence,
        )

    async def _post(self, url: str, alert: Alert) -> None:
        if self._client is None:
            self._client = httpx.AsyncClient(transport=self._transport, timeout=5.0)
        target = url.split("#", 1)[0]
        body = webhook_body(url, alert)
        for delay in (*RETRIES, None):
            try:
                response = await self._client.post(target, json=body)
                if response.status_code < 500 and response.status_code != 429:
                    if response.status_code >= 400:
                        log.error("canary webhook answered %d", response.status_code)
                    return
            except httpx.HTTPError:
                if delay is None:
                    raise
            if delay is None:
                log.error("canary webhook kept failing; alert not delivered there")
                return
            await asyncio.sleep(delay)


def _send_mail(smtp: Smtp, to: str, alert: Alert) -> None:
    subject, body = email_text(alert)
    msg = EmailMessage()
    msg["From"] = smtp.sender
    msg["To"] = to
    msg["Subject"] = subject
    msg.set_content(body)  # text/plain: nothing the attacker wrote is rendered
    client: smtplib.SMTP
    if smtp.tls:
        client = smtplib.SMTP_SSL(smtp.host, smtp.port, timeout=10)
    else:
        client = smtplib.SMTP(smtp.host, smtp.port, timeout=10)
    with client:
        if smtp.starttls:
            client.starttls(context=ssl.create_default_context())
        if smtp.username:
            client.login(smtp.username, smtp.password or "")
        client.send_message(msg)
