"""Canaries and their hits in the database; the only SQL of the canary package.

Writes go through the database's single writer (``db.writer``); reads use the engine.
``canary_user_ids`` and ``canary_emails`` are for other stages: scoping and notices
leave canaries out of people counts, and ``incident match`` attributes a leaked file
by the canary rows it holds.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import orjson
from sqlalchemy import Connection, Row, delete, func, insert, select, update

from seawall.canary.mint import Identity
from seawall.canary.model import Canary, Channel, Hit, HitChannel
from seawall.canary.tables import canaries, canary_alerts_owed, canary_hits
from seawall.core.types import SdkKind
from seawall.storage.database import Database


@dataclass(frozen=True, slots=True)
class HitCount:
    """How often one canary's channel fired, and when first and last."""

    channel: HitChannel
    count: int
    first: float
    last: float


def _canary(row: Row[Any]) -> Canary:
    return Canary(
        id=row.id,
        vendor=row.vendor,
        name=row.name,
        email=row.email,
        user_id=row.user_id,
        org_id=row.org_id,
        device_id=row.device_id,
        token_hash=row.token_hash,
        sdk=cast(SdkKind, row.sdk),
        channels=tuple(orjson.loads(row.channels)),
        memo=orjson.loads(row.memo),
        created_at=row.created_at,
        planted_at=row.planted_at,
        refreshed_at=row.refreshed_at,
    )


def _hit(row: Row[Any]) -> Hit:
    return Hit(
        id=row.id,
        canary_id=row.canary_id,
        vendor=row.vendor,
        channel=cast(HitChannel, row.channel),
        at=row.at,
        remote=row.remote,
        alert=row.alert,
        evidence=orjson.loads(row.evidence),
    )


class CanaryStore:
    """Canary identities, plantings and hits."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def add(
        self,
        identity: Identity,
        *,
        sdk: SdkKind,
        channels: Sequence[Channel],
        memo: dict[str, Any],
    ) -> Canary:
        """Store a freshly minted canary (its token only as a hash)."""
        row = {
            "id": identity.id,
            "vendor": identity.vendor,
            "name": identity.name,
            "email": identity.email,
            "user_id": identity.user_id,
            "org_id": identity.org_id,
            "device_id": identity.device_id,
            "token_hash": identity.token_hash,
            "sdk": sdk,
            "channels": orjson.dumps(list(channels)).decode(),
            "memo": orjson.dumps(memo).decode(),
            "created_at": identity.created_at,
            "planted_at": None,
            "refreshed_at": None,
        }

        def job(conn: Connection) -> None:
            conn.execute(insert(canaries), [row])

        self.db.writer.call(job)
        return self.get(identity.id)

    def get(self, canary_id: str) -> Canary:
        with self.db.engine.connect() as conn:
            row = conn.execute(select(canaries).where(canaries.c.id == canary_id)).one_or_none()
        if row is None:
            raise KeyError(canary_id)
        return _canary(row)

    def list(self, vendor: str | None = None) -> builtins.list[Canary]:
        query = select(canaries).order_by(canaries.c.vendor, canaries.c.created_at)
        if vendor is not None:
            query = query.where(canaries.c.vendor == vendor)
        with self.db.engine.connect() as conn:
            return [_canary(r) for r in conn.execute(query)]

    def by_token_hash(self, token_hash: str) -> Canary | None:
        with self.db.engine.connect() as conn:
            row = conn.execute(
                select(canaries).where(canaries.c.token_hash == token_hash)
            ).one_or_none()
        return None if row is None else _canary(row)

    def by_email(self, email: str) -> Canary | None:
        with self.db.engine.connect() as conn:
            row = conn.execute(
                select(canaries).where(canaries.c.email == email.lower())
            ).one_or_none()
        return None if row is None else _canary(row)

    def mark_planted(self, ids: Iterable[str], at: float) -> None:
        """Record a planting: the first sets ``planted_at``, every one ``refreshed_at``."""
        id_list = list(ids)
        if not id_list:
            return

        def job(conn: Connection) -> None:
            conn.execute(
                update(canaries)
                .where(canaries.c.id.in_(id_list), canaries.c.planted_at.is_(None))
                .values(planted_at=at)
            )
            conn.execute(update(canaries).where(canaries.c.id.in_(id_list)).values(refreshed_at=at))

        self.db.writer.call(job)

    async def record_hit(self, hit: Hit) -> int:
        """Commit a hit (before the sender is answered); returns its id."""
        row = {
            "canary_id": hit.canary_id,
            "vendor": hit.vendor,
            "channel": hit.channel,
            "at": hit.at,
            "remote": hit.remote,
            "alert": hit.alert,
            "evidence": orjson.dumps(hit.evidence).decode(),
        }

        def job(conn: Connection) -> int:
            result = conn.execute(insert(canary_hits).returning(canary_hits.c.id), [row])
            return int(result.scalar_one())

        return await self.db.writer.run(job)

    async def save_owed(self, owed: Iterable[tuple[str, str, dict[str, Any]]], at: float) -> None:
        """Keep alerts this process is stopping before it has sent, as ``(canary id,
        vendor, delivery)``, for the next start to send."""
        rows = [
            {"canary_id": c, "vendor": v, "saved_at": at, "delivery": orjson.dumps(d).decode()}
            for c, v, d in owed
        ]

        def job(conn: Connection) -> None:
            conn.execute(insert(canary_alerts_owed), rows)

        if rows:
            await self.db.writer.run(job)

    async def take_owed(self) -> builtins.list[dict[str, Any]]:
        """Claim the saved alerts, oldest first: each row is deleted as it is read, so with
        several processes starting at once each alert goes to one of them."""
        owed = canary_alerts_owed.c

        def job(conn: Connection) -> builtins.list[tuple[int, str]]:
            result = conn.execute(delete(canary_alerts_owed).returning(owed.id, owed.delivery))
            return sorted((int(i), str(d)) for i, d in result)

        return [orjson.loads(d) for _, d in await self.db.writer.run(job)]

    def hits(self, canary_id: str | None = None, limit: int = 1000) -> builtins.list[Hit]:
        query = select(canary_hits).order_by(canary_hits.c.id).limit(limit)
        if canary_id is not None:
            query = query.where(canary_hits.c.canary_id == canary_id)
        with self.db.engine.connect() as conn:
            return [_hit(r) for r in conn.execute(query)]

    def hit_counts(self) -> dict[str, builtins.list[HitCount]]:
        """Per canary id: each channel's count, first and last hit."""
        query = select(
            canary_hits.c.canary_id,
            canary_hits.c.channel,
            func.count(),
            func.min(canary_hits.c.at),
            func.max(canary_hits.c.at),
        ).group_by(canary_hits.c.canary_id, canary_hits.c.channel)
        out: dict[str, builtins.list[HitCount]] = {}
        with self.db.engine.connect() as conn:
            for canary_id, channel, count, first, last in conn.execute(query):
                out.setdefault(canary_id, []).append(HitCount(channel, count, first, last))
        return out


def canary_user_ids(db: Database) -> dict[str, str]:
    """Every canary's user id -> its vendor (for scoping and ``incident match``)."""
    with db.engine.connect() as conn:
        rows = conn.execute(select(canaries.c.user_id, canaries.c.vendor))
        return {str(user_id): str(vendor) for user_id, vendor in rows}


def canary_emails(db: Database) -> dict[str, str]:
    """Every canary's address (lower case) -> its vendor."""
    with db.engine.connect() as conn:
        return {
            email.lower(): vendor
            for email, vendor in conn.execute(select(canaries.c.email, canaries.c.vendor))
        }
