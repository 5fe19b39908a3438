"""The ledger's SQL: writing a batch, and reading what a vendor holds."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import Connection, and_, func, literal_column, select

from seawall.ledger.record import LedgerBatch
from seawall.storage.database import Database
from seawall.storage.tables import (
    identity_links,
    ledger_fields,
    ledger_subjects,
    ledger_values,
    subject_orgs,
)

# Upserts as plain driver SQL: on the hot path SQLAlchemy's per-row parameter
# processing cost more than the database itself (profiled under load).
_UPSERTS = {
    "subjects": (
        "INSERT INTO ledger_subjects (subject, kind, first_seen) VALUES ({p}, {p}, {p}) "
        "ON CONFLICT (subject) DO UPDATE SET kind = CASE WHEN excluded.kind = 'user' "
        "THEN 'user' ELSE ledger_subjects.kind END"
    ),
    "fields": (
        "INSERT INTO ledger_fields (vendor, subject, field, category, first_seen, last_seen, "
        '"count", last_fp) VALUES ({p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}) '
        "ON CONFLICT (vendor, subject, field) DO UPDATE SET "
        "last_seen = {max}(ledger_fields.last_seen, excluded.last_seen), "
        '"count" = ledger_fields."count" + excluded."count", last_fp = excluded.last_fp, '
        "category = excluded.category"
    ),
    "values": (
        "INSERT INTO ledger_values (vendor, subject, field, fp, first_seen, last_seen) "
        "VALUES ({p}, {p}, {p}, {p}, {p}, {p}) ON CONFLICT (vendor, subject, field, fp) "
        "DO UPDATE SET last_seen = {max}(ledger_values.last_seen, excluded.last_seen)"
    ),
    "links": (
        "INSERT INTO identity_links (alias, subject, first_seen) VALUES ({p}, {p}, {p}) "
        "ON CONFLICT (alias) DO NOTHING"
    ),
    "orgs": (
        "INSERT INTO subject_orgs (subject, org, first_seen) VALUES ({p}, {p}, {p}) "
        "ON CONFLICT (subject, org) DO NOTHING"
    ),
}
_DIALECT_SQL = {
    "sqlite": {k: v.format(p="?", max="max") for k, v in _UPSERTS.items()},
    "postgresql": {k: v.format(p="%s", max="greatest") for k, v in _UPSERTS.items()},
}


def write_batch(conn: Connection, batch: LedgerBatch) -> None:
    """Upsert a batch inside the caller's transaction (sorted: no deadlocks between
    PostgreSQL processes touching the same rows)."""
    if batch.empty():
        return
    sql = _DIALECT_SQL[conn.dialect.name]
    now = batch.now
    run = conn.exec_driver_sql
    if batch.subjects:
        run(sql["subjects"], [(s, k, now) for s, k in sorted(batch.subjects.items())])
    if batch.fields:
        run(
            sql["fields"],
            [
                (
                    r.vendor,
                    r.subject,
                    r.field,
                    r.category,
                    r.first_seen,
                    r.last_seen,
                    r.count,
                    r.last_fp,
                )
                for r in (batch.fields[k] for k in sorted(batch.fields))
            ],
        )
    if batch.values:
        run(
            sql["values"],
            [
                (r.vendor, r.subject, r.field, r.fp, r.first_seen, r.last_seen)
                for r in (batch.values[k] for k in sorted(batch.values))
            ],
        )
    if batch.links:
        run(sql["links"], [(a, s, now) for a, s in sorted(batch.links.items())])
    if batch.orgs:
        run(sql["orgs"], [(s, o, now) for s, o in sorted(batch.orgs)])


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
        self,
        vendor: str,
        since: float | None = None,
        until: float | None = None,
        exclude: Collection[bytes] = (),
    ) -> Exposure:
        """Subjects stitched to users: a device id linked to a user counts as that user.
        ``exclude`` holds subject fingerprints not to count (the vendor's canaries)."""
        lf = ledger_fields
        person = func.coalesce(identity_links.c.subject, lf.c.subject).label("person")
        cond = [lf.c.vendor == vendor]
        if since is not None:
            cond.append(lf.c.last_seen >= since)
        if until is not None:
            cond.append(lf.c.first_seen <= until)
        if exclude:
            cond.append(func.coalesce(identity_links.c.subject, lf.c.subject).not_in(list(exclude)))
        where = and_(*cond)
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
            linked = lf.outerjoin(identity_links, identity_links.c.alias == lf.c.subject)
            flds = conn.execute(
                select(lf.c.field, func.count())
                .select_from(linked)
                .where(where)
                .group_by(lf.c.field)
            ).all()
            span = conn.execute(
                select(func.min(lf.c.first_seen), func.max(lf.c.last_seen))
                .select_from(linked)
                .where(where)
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
