"""From decoded events to committed outbox rows and ledger rows: the hot path.

Policy and encoding are pure CPU work done in the request; the single writer then
commits the outbox rows and the ledger rows of many requests in one transaction, and
only then is the SDK answered.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from sqlalchemy import Connection

from seawall.core.config import Config
from seawall.core.errors import describe
from seawall.core.types import Disclosure, Event
from seawall.forward.wire import encode
from seawall.gateway.metrics import Metrics
from seawall.ledger.record import LedgerBatch, LedgerRecorder
from seawall.ledger.store import write_batch
from seawall.outbox.base import WireMessage
from seawall.outbox.store import enqueue
from seawall.policy.engine import CompiledPolicy, apply
from seawall.storage.database import Database

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Minimised:
    """What one request becomes: per-vendor wire messages and the ledger rows behind them."""

    rows: list[tuple[str, list[WireMessage]]] = field(default_factory=list)
    ledger: LedgerBatch | None = None


class Pipeline:
    """Minimise, record and commit. Pure apart from ``accept``'s one awaited write."""

    def __init__(
        self,
        config: Config,
        db: Database,
        policies: Mapping[str, CompiledPolicy],
        recorder: LedgerRecorder,
        metrics: Metrics,
    ) -> None:
        self.config = config
        self.db = db
        self.policies = policies
        self.recorder = recorder
        self.metrics = metrics
        self.destinations = {name: tuple(s.destinations) for name, s in config.sources.items()}

    def minimise(self, events: Sequence[Event]) -> Minimised:
        """Apply every destination vendor's policy to every event (fail closed)."""
        out = Minimised()
        per_vendor: dict[str, list[WireMessage]] = {}
        disclosures: list[Disclosure] = []
        # How many disclosures share each dropped-fields sequence, per vendor: mostly a
        # plan's own tuple, so it is counted once per request, not field by field.
        # ``held`` keeps each sequence alive, so its id stays its own.
        drops: dict[tuple[str, int], int] = {}
        held: dict[int, Sequence[tuple[str, str]]] = {}
        vendors_cfg = self.config.vendors
        policies = self.policies
        writer = self.db.writer
        for event in events:
            if writer.writing:
                time.sleep(0)  # let the writer thread run its SQL: see GroupWriter.writing
            for vendor in self.destinations.get(event.source, ()):
                try:
                    disclosure = apply(event, policies[vendor])
                    messages = encode(vendor, vendors_cfg[vendor], disclosure)
                except Exception as exc:
                    # A bug in a policy or an encoder must never let raw data out: the
                    # event is not sent to this vendor, and the operator sees a count.
                    log.error(
                        "policy failed for vendor %s; event not sent (fail closed): %s",
                        vendor,
                        describe(exc),
                    )
                    self.metrics.policy_failures.labels(vendor).inc()
                    continue
                disclosures.append(disclosure)
                per_vendor.setdefault(vendor, []).extend(messages)
                if disclosure.dropped:
                    held[id(disclosure.dropped)] = disclosure.dropped
                    key = (vendor, id(disclosure.dropped))
                    drops[key] = drops.get(key, 0) + 1
        counts: dict[tuple[str, str], int] = {}
        for (vendor, ref), times in drops.items():
            for _field, category in held[ref]:
                counts[vendor, category] = counts.get((vendor, category), 0) + times
        for (vendor, category), count in counts.items():
            self.metrics.policy_drops.labels(vendor, category).inc(count)
        out.rows = [(v, msgs) for v, msgs in per_vendor.items() if msgs]
        out.ledger = self.recorder.prepare(disclosures)
        return out

    async def accept(self, events: Sequence[Event]) -> None:
        """Minimise, then wait until the outbox and ledger rows are committed."""
        if not events:
            return
        started = time.perf_counter()
        work = self.minimise(events)
        batch = work.ledger
        rows = work.rows
        now = time.time()

        def job(conn: Connection) -> None:
            enqueue(conn, rows, now)
            if batch is not None:
                write_batch(conn, batch)

        await self.db.writer.run(job)
        if batch is not None:
            self.recorder.committed(batch)
        self.metrics.commit_seconds.observe(time.perf_counter() - started)
        for vendor, msgs in rows:
            self.metrics.disclosed.labels(vendor).inc(len(msgs))
