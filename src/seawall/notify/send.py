"""Driving a campaign to the end: resumable, rate-limited, crash-safe.

``send_campaign`` owns the campaign (one live run at a time), reclaims the notices a
dead run left ``sending`` (they are re-sent and flagged uncertain), checks every
template the remaining notices need, then runs ``concurrency`` workers. Each worker
loops: claim a notice (committed as ``sending``), render, wait for the rate limiter,
deliver, and commit the outcome together with its next claim; the claims of all
workers waiting at once share one transaction (``claims.Claimer``). A temporary failure puts
the notice back to ``pending`` with exponential backoff; after ``max_attempts`` it is
``failed``. The incident timeline gets ``notices_started`` / ``notices_resumed`` and
``notices_finished`` (or ``notices_stopped``) with counts; webhooks hear the same.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from email.headerregistry import Address
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from seawall.core.config import Smtp
from seawall.incident.store import IncidentStore
from seawall.notify.address import check_address, parse_sender
from seawall.notify.campaign import Person, index_directory
from seawall.notify.claims import Claimer
from seawall.notify.errors import DeliveryError, NotifyError
from seawall.notify.message import MessageBuilder
from seawall.notify.model import Campaign, Notice, Outcome
from seawall.notify.render import NoticeTexts, Renderer
from seawall.notify.smtp import RateLimiter, SmtpConnection
from seawall.notify.store import NotifyStore
from seawall.notify.suppression import SuppressionList
from seawall.notify.wave import DEFAULT_TEMPLATE
from seawall.storage.database import Database

log = logging.getLogger(__name__)


DEFAULT_RATE = 1000.0  # messages per second, 0: unlimited
DEFAULT_CONCURRENCY = 8  # SMTP connections, and the most notices in flight


@dataclass(frozen=True, slots=True)
class SendOptions:
    rate: float = DEFAULT_RATE
    concurrency: int = DEFAULT_CONCURRENCY
    max_attempts: int = 8
    retry_base: float = 2.0  # seconds before the first retry; doubles each attempt
    retry_max: float = 300.0
    # The relay cannot be reached at all: notices wait (their attempts are not used up)
    # and each worker retries every ``relay_retry`` seconds; after ``relay_patience``
    # seconds without one connection the run stops, every notice still pending.
    relay_retry: float = 5.0
    relay_patience: float = 900.0
    heartbeat_every: float = 5.0
    stale_after: float = 60.0  # a runner on another host is presumed dead after this


@dataclass(slots=True)
class Progress:
    total: int
    sent: int
    failed: int
    suppressed: int
    started: float = field(default_factory=time.monotonic)
    sent_now: int = 0  # by this run, for the rate

    @property
    def remaining(self) -> int:
        return self.total - self.sent - self.failed - self.suppressed

    @property
    def rate(self) -> float:
        return self.sent_now / max(time.monotonic() - self.started, 1e-6)


def status(store: NotifyStore, campaign_id: int) -> dict[str, object]:
    """The machine-readable state of a campaign (``notify status --json``)."""
    c = store.get(campaign_id)
    counts = store.counts(campaign_id)
    failed = store.notices(campaign_id, state="failed")
    return {
        "campaign": c.id,
        "incident": c.incident,
        "wave": c.wave,
        "audience": c.audience,
        "scope_version": c.scope_version,
        "status": c.status,
        "recipients": sum(counts.values()),
        **counts,
        "uncertain": [
            {"notice": n.id, "recipient": n.recipient, "state": n.state, "message_id": n.message_id}
            for n in store.uncertain(campaign_id)
        ],
        "failures": [{"recipient": n.recipient, "reply": n.reason} for n in failed[:100]],
    }


def _runner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _may_take_over(stale_after: float) -> Callable[[str, float], bool]:
    here = socket.gethostname()

    def decide(other: str, heartbeat: float) -> bool:
        host, _, rest = other.partition(":")
        pid = rest.partition(":")[0]
        if host == here and pid.isdigit():
            return not _pid_alive(int(pid))
        return time.time() - heartbeat > stale_after

    return decide


def notify_webhooks(urls: Sequence[str], payload: dict[str, object]) -> None:
    """Tell the security team; a webhook that fails is logged, never fatal."""
    if not urls:
        return
    with httpx.Client(timeout=5.0) as client:
        for url in urls:
            try:
                client.post(url, json=payload).raise_for_status()
            except httpx.HTTPError as exc:
                log.warning("webhook to %s failed: %s", urlsplit(url).netloc, type(exc).__name__)


class _Run:
    """The shared state of one run's workers."""

    def __init__(
        self,
        store: NotifyStore,
        campaign: Campaign,
        incident: IncidentStore,
        people: dict[str, Person],
        suppressed: set[str],
        renderer: Renderer,
        smtp: Smtp,
        sender: Address,
        contact: str,
        options: SendOptions,
        progress: Progress,
    ) -> None:
        self.store, self.campaign, self.people = store, campaign, people
        self.suppressed, self.renderer, self.smtp = suppressed, renderer, smtp
        self.sender, self.contact, self.options = sender, contact, options
        self.incident = incident.get(campaign.incident)
        self.limiter = RateLimiter(options.rate)
        self.messages = MessageBuilder(sender)
        self.texts = NoticeTexts(
            renderer, self.incident, sender.display_name or sender.addr_spec, contact
        )
        self.progress = progress
        self.lock = threading.Lock()
        self.claims = Claimer(store, campaign.id, self.message_id)
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self.unreachable_since: float | None = None  # monotonic time of the first failure

    def message_id(self) -> str:
        return f"<{uuid.uuid4().hex}.{self.campaign.id}@{self.sender.domain}>"

    def work(self) -> None:
        conn = SmtpConnection(self.smtp)
        outcome: Outcome | None = None
        try:
            while not self.stop.is_set():
                claim = self.claims.claim(outcome)
                outcome = None
                if claim.notice is None:
                    if claim.next_due is None:
                        return
                    self.stop.wait(min(max(claim.next_due - time.time(), 0.01), 1.0))
                    continue
                notice = claim.notice
                try:
                    outcome = self.deliver(conn, notice)
                except BaseException:
                    # Nothing left us for this notice: it is simply pending again.
                    self.store.settle(Outcome(notice.id, "pending", None, time.time()))
                    raise
                self.count(outcome)
                if outcome.refund:  # the relay is unreachable: wait before the next one
                    self.store.settle(outcome)
                    outcome = None
                    self.check_relay()
                    self.stop.wait(self.options.relay_retry)
        except BaseException as exc:
            with self.lock:
                self.error = self.error or exc
            self.stop.set()
        finally:
            if outcome is not None:
                self.store.settle(outcome)
            conn.close()

    def count(self, outcome: Outcome) -> None:
        with self.lock:
            p = self.progress
            if outcome.state == "sent":
                p.sent += 1
                p.sent_now += 1
            elif outcome.state == "failed":
                p.failed += 1
            elif outcome.state == "suppressed":
                p.suppressed += 1

    def check_relay(self) -> None:
        """Stop the run when the relay has been unreachable for ``relay_patience``."""
        with self.lock:
            since = self.unreachable_since
        if since is not None and time.monotonic() - since > self.options.relay_patience:
            c = self.smtp
            raise DeliveryError(
                f"the SMTP server {c.host}:{c.port} could not be reached for "
                f"{self.options.relay_patience:.0f} s; no notice was lost (they are still "
                f"pending): check smtp.host and smtp.port, then run "
                f"`seawall notify send {self.campaign.id}` again to resume"
            )

    def deliver(self, conn: SmtpConnection, notice: Notice) -> Outcome:
        person = self.people.get(notice.user_id)
        address = check_address(person.email) if person else None
        if person is None or address is None:
            return Outcome(notice.id, "suppressed", "no valid email in the directory at send time")
        if notice.user_id in self.suppressed:
            return Outcome(notice.id, "suppressed", "suppressed")
        reference = f"SW-{self.campaign.id}-{notice.id}"
        rendered = self.texts.render(
            kind=notice.kind,
            locale=notice.locale,
            name=person.name,
            categories=notice.categories,
            reference=reference,
            org_id=notice.org_id,
            members=notice.members,
        )
        msg = self.messages.build(
            to_name=person.name,
            to_address=address,
            rendered=rendered,
            message_id=notice.message_id or self.message_id(),
            locale=self.renderer.locale_for(notice.locale),
            reference=reference,
        )
        self.limiter.acquire()
        result = conn.deliver(msg, self.sender.addr_spec, address)
        unavailable = result.result == "unavailable"
        with self.lock:
            self.unreachable_since = (
                (self.unreachable_since or time.monotonic()) if unavailable else None
            )
        if unavailable:
            due = time.time() + self.options.relay_retry
            return Outcome(notice.id, "pending", result.reply, due, refund=True)
        if result.result == "sent":
            return Outcome(notice.id, "sent", result.reply)
        if result.result == "permanent":
            return Outcome(notice.id, "failed", result.reply)
        if notice.attempts >= self.options.max_attempts:
            return Outcome(
                notice.id,
                "failed",
                f"gave up after {notice.attempts} attempts; last reply: {result.reply}",
            )
        o = self.options
        delay = min(o.retry_max, o.retry_base * 2 ** (notice.attempts - 1))
        delay *= 0.5 + random.random() / 2  # noqa: S311 - jitter, not a secret
        return Outcome(notice.id, "pending", result.reply, time.time() + delay)


def send_campaign(
    db: Database,
    campaign_id: int,
    *,
    smtp: Smtp,
    people: Iterable[Person],
    renderer: Renderer | None = None,
    options: SendOptions | None = None,
    contact_email: str | None = None,
    webhooks: Sequence[str] = (),
    on_progress: Callable[[Progress], None] | None = None,
    stop: threading.Event | None = None,
) -> dict[str, object]:
    """Send (or resume) a campaign; returns its status. Raises before sending on bad input."""
    options = options or SendOptions()
    if options.concurrency < 1:
        raise NotifyError("--concurrency must be at least 1")
    store = NotifyStore(db)
    incidents = IncidentStore(db)
    campaign = store.get(campaign_id)
    try:
        sender = parse_sender(campaign.sender)
    except ValueError as exc:
        raise NotifyError(f"campaign {campaign_id}: smtp.sender {exc}") from None
    if renderer is None:
        custom = campaign.template != DEFAULT_TEMPLATE
        renderer = Renderer(Path(campaign.template) if custom else None)
    renderer.check(store.pending_shapes(campaign_id))
    by_user, _ = index_directory(people)
    runner = _runner()
    first, reclaimed = store.start_run(
        campaign_id, runner, may_take_over=_may_take_over(options.stale_after)
    )
    counts = store.counts(campaign_id)
    progress = Progress(
        total=sum(counts.values()),
        sent=counts["sent"],
        failed=counts["failed"],
        suppressed=counts["suppressed"],
    )
    _announce(incidents, webhooks, campaign, "started" if first else "resumed", counts, reclaimed)
    run = _Run(
        store,
        campaign,
        incidents,
        by_user,
        SuppressionList(db).user_ids(),
        renderer,
        smtp,
        sender,
        contact_email or sender.addr_spec,
        options,
        progress,
    )
    _drive(run, options, on_progress, stop, runner)
    finished = store.finish_run(campaign_id, runner)
    counts = store.counts(campaign_id)
    _announce(incidents, webhooks, campaign, "finished" if finished else "stopped", counts, 0)
    if run.error is not None:
        raise run.error
    return status(store, campaign_id)


def _drive(
    run: _Run,
    options: SendOptions,
    on_progress: Callable[[Progress], None] | None,
    stop: threading.Event | None,
    runner: str,
) -> None:
    threads = [
        threading.Thread(target=run.work, name=f"seawall-notify-{i}", daemon=True)
        for i in range(options.concurrency)
    ]
    run.claims.start()
    for t in threads:
        t.start()
    beat = time.monotonic()
    try:
        while alive := [t for t in threads if t.is_alive()]:
            alive[0].join(0.2)
            if stop is not None and stop.is_set():
                run.stop.set()
            if on_progress is not None:
                on_progress(run.progress)
            if time.monotonic() - beat > options.heartbeat_every:
                run.store.heartbeat(run.campaign.id, runner)
                beat = time.monotonic()
    except KeyboardInterrupt:
        run.stop.set()
        for t in threads:
            t.join()
        raise
    finally:
        run.claims.close()  # every worker has returned: no claim is waiting
    if on_progress is not None:
        on_progress(run.progress)


def _announce(
    incidents: IncidentStore,
    webhooks: Sequence[str],
    campaign: Campaign,
    event: str,
    counts: dict[str, int],
    reclaimed: int,
) -> None:
    total = sum(counts.values())
    what = f"campaign {campaign.id} (wave {campaign.wave}, {campaign.audience})"
    texts = {
        "started": f"{what} started: {counts['pending']} of {total} notice(s) to send",
        "resumed": f"{what} resumed: {counts['pending']} notice(s) left, "
        f"{reclaimed} uncertain after an interrupted run",
        "finished": f"{what} finished: {counts['sent']} sent, {counts['failed']} failed, "
        f"{counts['suppressed']} suppressed",
        "stopped": f"{what} stopped: {counts['sent']} sent, {counts['failed']} failed, "
        f"{counts['pending'] + counts['sending']} left",
    }
    data: dict[str, object] = {"campaign": campaign.id, "wave": campaign.wave, **counts}
    if reclaimed:
        data["uncertain"] = reclaimed
    incidents.add_timeline(campaign.incident, f"notices_{event}", texts[event], data)
    notify_webhooks(
        webhooks,
        {"text": f"Seawall: {texts[event]}", "event": f"notices_{event}", **data},
    )
