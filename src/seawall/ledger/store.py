"""The ledger's SQL: writing a batch, and reading what a vendor holds."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import Connection, and_, func, literal_column, select

from seawall.ledger.record import LedgerBatch
from seawall.storage.database import Database, run_many
from seawall.storage.tables import (
    FIELD_SEP,
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
    # The subject's summary: its field set grows by union (a no-op when the group sent
    # no new field), and fields_at moves only when the set grew.
    "people": (
        "INSERT INTO ledger_people (vendor, subject, kind, fields, first_seen, last_seen, "
        "fields_at) SELECT {p}, {p}, coalesce((SELECT kind FROM ledger_subjects WHERE "
        "subject = {p}), 'anonymous'), {p}, {p}, {p}, {p} WHERE true "
        "ON CONFLICT (vendor, subject) DO UPDATE SET "
        "kind = CASE WHEN excluded.kind = 'user' THEN 'user' ELSE ledger_people.kind END, "
        "fields = {union}, "
        "fields_at = CASE WHEN {union} = ledger_people.fields THEN ledger_people.fields_at "
        "ELSE {max}(ledger_people.fields_at, excluded.fields_at) END, "
        "first_seen = {min}(ledger_people.first_seen, excluded.first_seen), "
        "last_seen = {max}(ledger_people.last_seen, excluded.last_seen)"
    ),
}
# SQLite: a function the store registers on each connection (storage.database);
# PostgreSQL: the same union in SQL, in code point ("C") order.
_PG_UNION = (
    "CASE WHEN ledger_people.fields = excluded.fields THEN ledger_people.fields "
    'ELSE array_to_string(ARRAY(SELECT DISTINCT u.f COLLATE "C" FROM unnest(string_to_array('
    "ledger_people.fields || chr(31) || excluded.fields, chr(31))) AS u(f) ORDER BY 1), "
    "chr(31)) END"
)
_DIALECT_SQL = {
    "sqlite": {
        k: v.format(
            p="?",
            max="max",
            min="min",
            union="sw_union_fields(ledger_people.fields, excluded.fields)",
        )
        for k, v in _UPSERTS.items()
    },
    "postgresql": {
        k: v.format(p="%s", max="greatest", min="least", union=_PG_UNION)
        for k, v in _UPSERTS.items()
    },
}


def write_batch(conn: Connection, batch: LedgerBatch) -> None:
    """Upsert a batch inside the caller's transaction (sorted: no deadlocks between
    PostgreSQL processes touching the same rows)."""
    if batch.empty():
        return
    sql = _DIALECT_SQL[conn.dialect.name]
    now = batch.now
    run = run_many(conn)
    if batch.subjects:
        run(sql["subjects"], [(s, k, now) for s, k in sorted(batch.subjects.items())])
    if batch.fields:
        fields, people = _field_rows(batch)
        run(sql["fields"], fields)
        run(sql["people"], people)
    if batch.values:
        values = batch.values
        run(
            sql["values"],
            [
                (r.vendor, r.subject, r.field, r.fp, r.first_seen, r.last_seen)
                for r in map(values.__getitem__, sorted(values))
            ],
        )
    if batch.links:
        run(sql["links"], [(a, s, now) for a, s in sorted(batch.links.items())])
    if batch.orgs:
        run(sql["orgs"], [(s, o, now) for s, o in sorted(batch.orgs)])


def _field_rows(batch: LedgerBatch) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    """The field rows in key order, and one summary row per (vendor, subject) they
    cover: (vendor, subject, subject, fields, first seen, last seen, latest first-seen
    of a field). One sort and one pass serve both."""
    fields: list[tuple[object, ...]] = []
    people: list[tuple[object, ...]] = []
    rows = batch.fields
    group: tuple[str, bytes] | None = None
    names: list[str] = []
    firsts: list[float] = []
    lasts: list[float] = []
    for key in sorted(rows):
        r = rows[key]
        if group != key[:2]:
            if group is not None:
                people.append(_person(group, names, firsts, lasts))
            group, names, firsts, lasts = key[:2], [], [], []
        names.append(key[2])
        firsts.append(r.first_seen)
        lasts.append(r.last_seen)
        fields.append(
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
        )
    if group is not None:
        people.append(_person(group, names, firsts, lasts))
    return fields, people


def _person(
    group: tuple[str, bytes], names: list[str], firsts: list[float], lasts: list[float]
) -> tuple[object, ...]:
    return (*group, group[1], FIELD_SEP.join(names), min(firsts), max(lasts), max(firsts))


def backfill_people(conn: Connection) -> None:
    """Build ``ledger_people`` from ``ledger_fields`` (the migration that adds it)."""
    pg = conn.dialect.name == "postgresql"
    joined = (
        'string_agg(field, chr(31) ORDER BY field COLLATE "C")'
        if pg
        else "group_concat(field, char(31))"  # in key order: (vendor, subject, field)
    )
    grouped = (
        f"SELECT vendor, subject, {joined} AS fields, min(first_seen) AS f, "  # noqa: S608
        "max(last_seen) AS l, max(first_seen) AS a FROM ledger_fields GROUP BY vendor, subject"
    )
    conn.exec_driver_sql(
        "INSERT INTO ledger_people (vendor, subject, kind, fields, first_seen, last_seen, "  # noqa: S608
        "fields_at) SELECT g.vendor, g.subject, coalesce((SELECT kind FROM ledger_subjects s "
        "WHERE s.subject = g.subject), 'anonymous'), g.fields, g.f, g.l, g.a FROM ("
        + grouped
        + ") g"
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
