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

At stop, deliveries in flight get ``STOP_GRACE`` seconds; what is still unsent then (the
incident step if it had not run, and the targets not yet answered) is saved in the
database, and the next start sends it. Shutdown does not wait on a hanging webhook or a
retry's back-off, and loses no alert: an alert reaches each target at least once.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import hashlib
import logging
import smtplib
import ssl
import threading
import time
from collections.abc import Callable
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
STOP_GRACE = 2.0  # seconds deliveries in flight may still take at stop; the rest is saved
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


@dataclasses.dataclass(slots=True)
class _Delivery:
    """One alert on its way, and what is left to do for it."""

    alert: Alert
    targets: list[str]  # webhook URLs and ``mailto:`` the security mailbox, not yet done
    incident: bool = True  # the incident is still to be opened or extended

    def saved(self) -> dict[str, Any]:
        """The stored form. Targets are kept as hashes: a Slack hook's URL is a secret."""
        return {
            "alert": dataclasses.asdict(self.alert),
            "targets": [_target_key(t) for t in self.targets],
            "incident": self.incident,
        }


def _target_key(target: str) -> str:
    return hashlib.sha256(target.encode()).hexdigest()[:32]


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
        stop_grace: float = STOP_GRACE,
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
        self.stop_grace = stop_grace
        self._deliveries: dict[asyncio.Task[None], _Delivery] = {}
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
            self._start(_Delivery(alert, self._targets()))
        return hit

    async def run(self, stop: asyncio.Event) -> None:
        """Send what the last stop saved, then summaries as their intervals end; at stop,
        send what is left, let deliveries in flight finish for up to ``stop_grace``
        seconds, and save the rest for the next start."""
        await self._resume()
        tick = max(0.05, min(1.0, self.folding.interval / 4))
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), tick)
            now, everything = self.clock(), stop.is_set()
            for folding in (self.folding, self.probes):
                for folded in folding.due(now, everything=everything):
                    self._start(_Delivery(self._summary(folded), self._targets()))
        await self._settle()
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _resume(self) -> None:
        try:
            saved = await self.store.take_owed()
        except Exception as exc:
            log.error("canary alerts saved at the last stop not read: %s", describe(exc))
            return
        current = self._targets()
        for doc in saved:
            try:
                alert, keys, incident = Alert(**doc["alert"]), set(doc["targets"]), doc["incident"]
            except (KeyError, TypeError) as exc:  # another version's; nothing to send it with
                log.error("canary alert saved at the last stop unreadable: %s", describe(exc))
                continue
            # Targets still configured; all of today's when none is (the config changed).
            targets = [t for t in current if _target_key(t) in keys] or (current if keys else [])
            self._start(_Delivery(alert, targets, bool(incident)))

    async def _settle(self) -> None:
        """At stop: wait a little for deliveries in flight, then save what is left."""
        if self._deliveries:
            await asyncio.wait(list(self._deliveries), timeout=self.stop_grace)
        left = list(self._deliveries.items())
        for task, _ in left:
            task.cancel()
        await asyncio.gather(*(task for task, _ in left), return_exceptions=True)
        owed = [job for _, job in left if job.targets or job.incident]
        try:
            saved = [(job.alert.canary, job.alert.vendor, job.saved()) for job in owed]
            await self.store.save_owed(saved, self.clock())
        except Exception as exc:
            log.error("canary alerts unsent at stop, and not saved: %s", describe(exc))
            return
        if owed:
            log.warning("%d canary alert(s) unsent at stop: saved for the next start", len(owed))

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

    def _targets(self) -> list[str]:
        mailbox = [f"mailto:{self.email_to}"] if self.email_to and self.smtp else []
        return [*self.webhooks, *mailbox]

    def _start(self, job: _Delivery) -> None:
        task = asyncio.ensure_future(self._deliver(job))
        self._deliveries[task] = job
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._deliveries.pop(task, None)
        error = None if task.cancelled() else task.exception()
        if error is not None:
            log.error("canary alert failed: %s", describe(error))

    async def _deliver(self, job: _Delivery) -> None:
        """Open or extend the incident, then send everywhere at once."""
        if job.incident:
            try:
                job.alert = await self._with_incident(job.alert)
            except Exception as exc:
                log.error(
                    "canary %s: could not open the incident: %s", job.alert.canary, describe(exc)
                )
            job.incident = False
        log.warning("%s", headline(job.alert))
        await asyncio.gather(*(self._send(job, target) for target in list(job.targets)))

    async def _send(self, job: _Delivery, target: str) -> None:
        """One target: done once sent, or once its retries are used up. Cancelled (at
        stop), it stays in ``job.targets``, to be saved."""
        try:
            if target.startswith("mailto:"):
                assert self.smtp is not None
                await _in_daemon_thread(
                    functools.partial(_send_mail, self.smtp, target[len("mailto:") :], job.alert)
                )
            else:
                await self._post(target, job.alert)
        except Exception as exc:
            log.error("canary alert not delivered: %s", type(exc).__name__)
        job.targets.remove(target)

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


async def _in_daemon_thread(work: Callable[[], None]) -> None:
    """Run blocking ``work`` in a daemon thread of its own. The loop's executor would do,
    but its threads are joined when the process exits: a relay that hangs would hold a
    stopping gateway for smtplib's timeout, where the alert is saved for the next start
    instead."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()

    def settle(error: Exception | None) -> None:
        if done.done():  # cancelled: the stop has saved the alert
            return
        if error is None:
            done.set_result(None)
        else:
            done.set_exception(error)

    def run() -> None:
        error = None
        try:
            work()
        except Exception as exc:
            error = exc
        with contextlib.suppress(RuntimeError):  # the loop has closed: nobody waits
            loop.call_soon_threadsafe(settle, error)

    threading.Thread(target=run, name="canary-alert-mail", daemon=True).start()
    await done


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
