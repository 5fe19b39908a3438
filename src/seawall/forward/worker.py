"""The forwarder: drains the outbox to each vendor, at least once, in order of age.

Per vendor, one loop: claim due rows (leased, so other processes skip them),
group their messages by API endpoint into batches of ``vendor.batch_size``, and
send each batch only after re-reading the kill switch from the database, so a
disabled vendor gets no new request within a second in any process. Delivered
rows are deleted; a temporary failure puts the rows back with a full-jitter
backoff (at least the vendor's Retry-After) and pauses that vendor for as long;
rows the vendor rejects for good, and rows still failing past
``dead_letter_after_hours``, are dead-lettered: moved aside, logged with a count
and never with a payload.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import httpx

from seawall.core.config import Vendor
from seawall.core.errors import VendorError
from seawall.forward.backoff import Backoff
from seawall.forward.client import PartialFailure, SendHeld, VendorClient
from seawall.outbox.base import Outbox, OutboxItem, WireMessage

__all__ = ["Forwarder", "VendorStats"]

log = logging.getLogger(__name__)
Pair = tuple[int, WireMessage]  # (outbox row id, message)


@dataclass(slots=True)
class VendorStats:
    """Counters for one vendor since start; the gateway maps them to Prometheus."""

    forwarded: int = 0  # messages the vendor accepted
    failed: int = 0  # batch sends that failed (temporary or permanent)
    retried: int = 0  # rows put back for a later attempt
    dead_lettered: int = 0  # messages given up on
    last_status: int | None = None  # status of the last failed send, None for a network error


@dataclass(slots=True)
class _Outcome:
    """What became of the rows of one claim."""

    rejected: set[int] = field(default_factory=set)
    failed: set[int] = field(default_factory=set)
    error: VendorError | None = None
    held: bool = False


class Forwarder:
    """Delivers every vendor's outbox rows until ``stop`` is set.

    ``transports`` (by vendor name) replace the network in tests; ``backoff``,
    ``idle_poll`` and ``disabled_poll`` are tunable so tests stay fast.
    """

    def __init__(
        self,
        vendors: Mapping[str, Vendor],
        outbox: Outbox,
        *,
        backoff: Backoff | None = None,
        transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
        idle_poll: float = 0.2,
        disabled_poll: float = 0.25,
        claim_rows: int | None = None,
        lease_seconds: float | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.vendors = dict(vendors)
        self.outbox = outbox
        self.backoff = backoff or Backoff()
        self.transports = dict(transports or {})
        self.idle_poll = idle_poll
        self.disabled_poll = disabled_poll
        self.claim_rows = claim_rows
        self.lease_seconds = lease_seconds
        self.clock = clock
        self.stats: dict[str, VendorStats] = {name: VendorStats() for name in self.vendors}
        self._paused_until: dict[str, float] = defaultdict(float)
        self._streak: dict[str, int] = defaultdict(int)

    async def run(self, stop: asyncio.Event) -> None:
        """One delivery loop per vendor, until ``stop`` is set."""
        await asyncio.gather(*(self._vendor_loop(name, stop) for name in self.vendors))

    async def is_enabled(self, name: str) -> bool:
        """The kill switch, read from the database (in a thread: it blocks)."""
        return await asyncio.to_thread(self.outbox.is_enabled, name)

    async def _vendor_loop(self, name: str, stop: asyncio.Event) -> None:
        vendor = self.vendors[name]

        async def gate() -> bool:
            return await self.is_enabled(name)

        client = VendorClient(name, vendor, transport=self.transports.get(name), gate=gate)
        try:
            while not stop.is_set():
                try:
                    wait = await self.step(name, client)
                except Exception as exc:  # the loop must outlive a database hiccup
                    # Only the type: database errors can carry the payload as parameters.
                    log.error("%s: forwarding step failed (%s)", name, type(exc).__name__)
                    wait = self.disabled_poll
                if wait > 0:
                    await _sleep(stop, wait)
        finally:
            await client.aclose()

    async def step(self, name: str, client: VendorClient) -> float:
        """Claim and deliver one batch of rows; return how long to wait before the next."""
        pause = self._paused_until[name] - self.clock()
        if pause > 0:
            return min(pause, self.disabled_poll)
        if not await self.is_enabled(name):
            return self.disabled_poll
        vendor = self.vendors[name]
        # A row holds one request's events (up to a full SDK batch), so a few rows fill
        # several vendor batches; the lease covers sending them all, and bounds how long
        # rows claimed by a process that crashed wait before another process retries them.
        limit = self.claim_rows or min(vendor.batch_size, 20)
        lease = self.lease_seconds or 15.0 + 3 * vendor.timeout_seconds
        items = await asyncio.to_thread(self.outbox.claim, name, limit, lease)
        if not items:
            return self.idle_poll
        outcome = await self._send(name, vendor, client, items)
        await self._settle(name, vendor, items, outcome)
        return 0.0

    async def _send(
        self, name: str, vendor: Vendor, client: VendorClient, items: Sequence[OutboxItem]
    ) -> _Outcome:
        outcome = _Outcome()
        stats = self.stats[name]
        for endpoint, pairs in _by_endpoint(items).items():
            for batch in _chunks(pairs, vendor.batch_size):
                rows = {row for row, _ in batch}
                if outcome.error is not None or outcome.held:
                    outcome.failed |= rows  # not attempted: goes back with the failed ones
                    continue
                try:
                    await client.send(endpoint, [m.message for _, m in batch])
                except SendHeld:
                    outcome.held = True
                    outcome.failed |= rows
                except PartialFailure as exc:
                    bad = {row for row, m in batch if m.dedupe_key in exc.failed_keys}
                    outcome.rejected |= bad
                    stats.forwarded += sum(m.dedupe_key not in exc.failed_keys for _, m in batch)
                    stats.failed += 1
                    stats.last_status = exc.status
                except VendorError as exc:
                    stats.failed += 1
                    stats.last_status = exc.status
                    if exc.permanent:
                        outcome.rejected |= rows
                    else:
                        outcome.error = exc
                        outcome.failed |= rows
                else:
                    stats.forwarded += len(batch)
        return outcome

    async def _settle(
        self, name: str, vendor: Vendor, items: Sequence[OutboxItem], outcome: _Outcome
    ) -> None:
        stats = self.stats[name]
        now = self.clock()
        by_id = {item.id: item for item in items}
        rejected = outcome.rejected
        failed = outcome.failed - rejected
        delivered = [i for i in by_id if i not in rejected and i not in failed]
        if delivered:
            await asyncio.to_thread(self.outbox.delete, delivered)
        if rejected:
            await self._dead_letter(name, [by_id[i] for i in rejected], "rejected by the vendor")
        if outcome.held:
            # Disabled mid-claim: hand the rows back untouched by backoff; claim() holds
            # them while the vendor stays disabled.
            await asyncio.to_thread(self.outbox.retry, sorted(failed), 0.0, "held: vendor disabled")
            return
        if outcome.error is None:
            self._streak[name] = 0
            return
        max_age = vendor.dead_letter_after_hours * 3600.0
        expired = [by_id[i] for i in failed if now - by_id[i].created_at > max_age]
        if expired:
            await self._dead_letter(name, expired, f"undelivered after {max_age / 3600:g} hours")
        retry = sorted(failed - {item.id for item in expired})
        attempts = max([by_id[i].attempts for i in retry] + [self._streak[name]])
        delay = self.backoff.delay(attempts, outcome.error.retry_after)
        self._streak[name] += 1
        self._paused_until[name] = now + delay
        if retry:
            await asyncio.to_thread(self.outbox.retry, retry, delay, str(outcome.error))
            stats.retried += len(retry)
        log.warning(
            "%s: send failed (%s); %d rows back in %.2fs", name, outcome.error, len(retry), delay
        )

    async def _dead_letter(self, name: str, items: Sequence[OutboxItem], reason: str) -> None:
        ids = sorted(item.id for item in items)
        messages = sum(len(item.messages) for item in items)
        await asyncio.to_thread(self.outbox.dead_letter, ids, reason)
        self.stats[name].dead_lettered += messages
        log.warning("%s: dead-lettered %d rows (%d messages): %s", name, len(ids), messages, reason)


def _by_endpoint(items: Sequence[OutboxItem]) -> dict[str, list[Pair]]:
    grouped: dict[str, list[Pair]] = defaultdict(list)
    for item in items:
        for message in item.messages:
            grouped[message.endpoint].append((item.id, message))
    return grouped


def _chunks(pairs: list[Pair], size: int) -> Iterator[list[Pair]]:
    for start in range(0, len(pairs), size):
        yield pairs[start : start + size]


async def _sleep(stop: asyncio.Event, seconds: float) -> None:
    """Sleep, but wake at once when ``stop`` is set."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
