"""The ledger's SQL: writing a batch, and reading what a vendor holds."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from sqlalchemy import Connection, and_, case, func, literal_column, select
from sqlalchemy.dialects import postgresql, sqlite

from seawall.ledger.record import LedgerBatch
from seawall.storage.database import Database
from seawall.storage.tables import (
    identity_links,
    ledger_fields,
    ledger_subjects,
    ledger_values,
    subject_orgs,
)


def write_batch(conn: Connection, batch: LedgerBatch) -> None:
    """Upsert a batch inside the caller's transaction (sorted: no deadlocks between
    PostgreSQL processes touching the same rows)."""
    if batch.empty():
        return
    ins = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    if batch.subjects:
        stmt = ins(ledger_subjects)
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["subject"],
                set_={
                    "kind": case(
                        (stmt.excluded.kind == "user", "user"), else_=ledger_subjects.c.kind
                    )
                },
            ),
            [
                {"subject": s, "kind": k, "first_seen": batch.now}
                for s, k in sorted(batch.subjects.items())
            ],
        )
    if batch.fields:
        stmt = ins(ledger_fields)
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["vendor", "subject", "field"],
                set_={
                    "last_seen": func.max(ledger_fields.c.last_seen, stmt.excluded.last_seen)
                    if conn.dialect.name == "sqlite"
                    else func.greatest(ledger_fields.c.last_seen, stmt.excluded.last_seen),
                    "count": ledger_fields.c.count + stmt.excluded.count,
                    "last_fp": stmt.excluded.last_fp,
                    "category": stmt.excluded.category,
                },
            ),
            [asdict(batch.fields[k]) for k in sorted(batch.fields)],
        )
    if batch.values:
        stmt = ins(ledger_values)
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["vendor", "subject", "field", "fp"],
                set_={"last_seen": stmt.excluded.last_seen},
            ),
            [asdict(batch.values[k]) for k in sorted(batch.values)],
        )
    if batch.links:
        conn.execute(
            ins(identity_links).on_conflict_do_nothing(index_elements=["alias"]),
            [
                {"alias": a, "subject": s, "first_seen": batch.now}
                for a, s in sorted(batch.links.items())
            ],
        )
    if batch.orgs:
        conn.execute(
            ins(subject_orgs).on_conflict_do_nothing(index_elements=["subject", "org"]),
            [{"subject": s, "org": o, "first_seen": batch.now} for s, o in sorted(batch.orgs)],
        )


@dataclass(frozen=True, slots=True)
class Exposure:
    """The blast radius of one vendor: what it holds now, from the ledger."""

    vendor: str
    subjects: int
    users: int
    anonymous: int
    orgs: int
    categories: dict[str, int]
    fields: dict[str, int]
    first_seen: float | None
    last_seen: float | None


class LedgerStore:
    """Reads over the ledger (writes go through ``write_batch`` in the gateway's job)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def exposure(
        self, vendor: str, since: float | None = None, until: float | None = None
    ) -> Exposure:
        """Subjects stitched to users: a device id linked to a user counts as that user."""
        lf = ledger_fields
        cond = [lf.c.vendor == vendor]
        if since is not None:
            cond.append(lf.c.last_seen >= since)
        if until is not None:
            cond.append(lf.c.first_seen <= until)
        where = and_(*cond)
        person = func.coalesce(identity_links.c.subject, lf.c.subject).label("person")
        people = (
            select(person)
            .select_from(lf.outerjoin(identity_links, identity_links.c.alias == lf.c.subject))
            .where(where)
            .distinct()
            .subquery()
        )
        with self.db.engine.connect() as conn:
            kind = func.coalesce(ledger_subjects.c.kind, literal_column("'anonymous'")).label("k")
            kinds = conn.execute(
                select(kind, func.count())
                .select_from(
                    people.outerjoin(ledger_subjects, ledger_subjects.c.subject == people.c.person)
                )
                .group_by(kind)
            ).all()
            orgs = conn.execute(
                select(func.count(func.distinct(subject_orgs.c.org))).where(
                    subject_orgs.c.subject.in_(select(people.c.person))
                )
            ).scalar_one()
            cats = conn.execute(
                select(lf.c.category, func.count(func.distinct(person)))
                .select_from(lf.outerjoin(identity_links, identity_links.c.alias == lf.c.subject))
                .where(where)
                .group_by(lf.c.category)
            ).all()
            flds = conn.execute(
                select(lf.c.field, func.count()).where(where).group_by(lf.c.field)
            ).all()
            span = conn.execute(
                select(func.min(lf.c.first_seen), func.max(lf.c.last_seen)).where(where)
            ).one()
        by_kind = {k: int(n) for k, n in kinds}
        return Exposure(
            vendor=vendor,
            subjects=sum(by_kind.values()),
            users=by_kind.get("user", 0),
            anonymous=by_kind.get("anonymous", 0),
            orgs=int(orgs),
            categories={c: int(n) for c, n in cats},
            fields={f: int(n) for f, n in flds},
            first_seen=span[0],
            last_seen=span[1],
        )

    def has_value(self, vendor: str, value_fp: bytes) -> bool:
        with self.db.engine.connect() as conn:
            return (
                conn.execute(
                    select(ledger_values.c.subject)
                    .where(ledger_values.c.vendor == vendor, ledger_values.c.fp == value_fp)
                    .limit(1)
                ).first()
                is not None
            )
