"""The outbox on SQLite or PostgreSQL: the only module that speaks SQL to it."""

from __future__ import annotations

import time
from collections.abc import Sequence

import orjson
from sqlalchemy import Connection, delete, func, insert, select, update

from seawall.outbox.base import OutboxItem, WireMessage
from seawall.storage.database import Database, run_many
from seawall.storage.tables import dead_letters, outbox, vendor_state


def encode_messages(messages: Sequence[WireMessage]) -> bytes:
    return orjson.dumps([[m.endpoint, m.message, m.dedupe_key] for m in messages])


def decode_messages(payload: bytes) -> tuple[WireMessage, ...]:
    return tuple(WireMessage(ep, msg, key) for ep, msg, key in orjson.loads(payload))


# The SQLite insert as driver SQL (kept prepared by the sqlite3 connection): the same
# row SQLAlchemy's insert writes, without its per-statement work (see run_many).
_SQLITE_ENQUEUE = (
    "INSERT INTO outbox (vendor, created_at, due_at, lease_until, attempts, last_error, "
    "messages, payload) VALUES (?, ?, ?, 0.0, 0, NULL, ?, ?)"
)


def enqueue(
    conn: Connection, rows: Sequence[tuple[str, Sequence[WireMessage]]], now: float
) -> None:
    """Add one row per (vendor, messages) inside the caller's transaction."""
    if not rows:
        return
    if conn.dialect.name == "sqlite":
        params = [(v, now, now, len(m), encode_messages(m)) for v, m in rows if m]
        if params:
            run_many(conn)(_SQLITE_ENQUEUE, params)
        return
    conn.execute(
        insert(outbox),
        [
            {
                "vendor": vendor,
                "created_at": now,
                "due_at": now,
                "lease_until": 0.0,
                "attempts": 0,
                "last_error": None,
                "messages": len(msgs),
                "payload": encode_messages(msgs),
            }
            for vendor, msgs in rows
            if msgs
        ],
    )


class SqlOutbox:
    """Implements ``seawall.outbox.base.Outbox`` over the project's database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def claim(self, vendor: str, limit: int, lease_seconds: float) -> list[OutboxItem]:
        if not self.is_enabled(vendor):
            return []

        def job(conn: Connection) -> list[OutboxItem]:
            now = time.time()
            query = (
                select(outbox.c.id, outbox.c.payload, outbox.c.attempts, outbox.c.created_at)
                .where(
                    outbox.c.vendor == vendor, outbox.c.due_at <= now, outbox.c.lease_until <= now
                )
                .order_by(outbox.c.id)
                .limit(limit)
            )
            if not self.db.is_sqlite:
                query = query.with_for_update(skip_locked=True)
            rows = conn.execute(query).all()
            if not rows:
                return []
            conn.execute(
                update(outbox)
                .where(outbox.c.id.in_([r.id for r in rows]))
                .values(lease_until=now + lease_seconds)
            )
            return [
                OutboxItem(r.id, vendor, decode_messages(r.payload), r.attempts, r.created_at)
                for r in rows
            ]

        return self.db.writer.call(job)

    def delete(self, ids: Sequence[int]) -> None:
        if ids:
            self.db.writer.call(
                lambda c: c.execute(delete(outbox).where(outbox.c.id.in_(list(ids))))
            )

    def retry(self, ids: Sequence[int], delay_seconds: float, error: str) -> None:
        if not ids:
            return
        due = time.time() + delay_seconds
        self.db.writer.call(
            lambda c: c.execute(
                update(outbox)
                .where(outbox.c.id.in_(list(ids)))
                .values(
                    attempts=outbox.c.attempts + 1,
                    due_at=due,
                    lease_until=0.0,
                    last_error=error[:500],
                )
            )
        )

    def dead_letter(self, ids: Sequence[int], reason: str) -> None:
        if not ids:
            return

        def job(conn: Connection) -> None:
            now = time.time()
            rows = conn.execute(select(outbox).where(outbox.c.id.in_(list(ids)))).all()
            if rows:
                conn.execute(
                    insert(dead_letters),
                    [
                        {
                            "vendor": r.vendor,
                            "created_at": r.created_at,
                            "failed_at": now,
                            "attempts": r.attempts,
                            "reason": reason[:500],
                            "messages": r.messages,
                            "payload": r.payload,
                        }
                        for r in rows
                    ],
                )
            conn.execute(delete(outbox).where(outbox.c.id.in_(list(ids))))

        self.db.writer.call(job)

    def is_enabled(self, vendor: str) -> bool:
        with self.db.engine.connect() as conn:
            row = conn.execute(
                select(vendor_state.c.enabled).where(vendor_state.c.vendor == vendor)
            ).first()
        return True if row is None else bool(row.enabled)

    def set_enabled(self, vendor: str, enabled: bool, reason: str | None = None) -> None:
        """The kill switch: every process reads this row before each send."""

        def job(conn: Connection) -> None:
            values = {"enabled": enabled, "changed_at": time.time(), "reason": reason}
            updated = conn.execute(
                update(vendor_state).where(vendor_state.c.vendor == vendor).values(**values)
            )
            if updated.rowcount == 0:
                conn.execute(insert(vendor_state).values(vendor=vendor, **values))

        self.db.writer.call(job)

    def purge(self, vendor: str) -> int:
        """Drop every held row for a vendor (after a breach: send it nothing more)."""

        def job(conn: Connection) -> int:
            return int(conn.execute(delete(outbox).where(outbox.c.vendor == vendor)).rowcount or 0)

        return self.db.writer.call(job)

    def depth(self) -> dict[str, tuple[int, int]]:
        """Rows and messages held per vendor."""
        with self.db.engine.connect() as conn:
            rows = conn.execute(
                select(outbox.c.vendor, func.count(), func.sum(outbox.c.messages)).group_by(
                    outbox.c.vendor
                )
            ).all()
        return {r[0]: (int(r[1]), int(r[2] or 0)) for r in rows}

    def dead_letter_count(self) -> dict[str, int]:
        with self.db.engine.connect() as conn:
            rows = conn.execute(
                select(dead_letters.c.vendor, func.sum(dead_letters.c.messages)).group_by(
                    dead_letters.c.vendor
                )
            ).all()
        return {r[0]: int(r[1] or 0) for r in rows}

    def states(self) -> dict[str, tuple[bool, float, str | None]]:
        with self.db.engine.connect() as conn:
            rows = conn.execute(select(vendor_state)).all()
        return {r.vendor: (bool(r.enabled), r.changed_at, r.reason) for r in rows}
