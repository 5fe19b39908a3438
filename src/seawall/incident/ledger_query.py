"""The ledger reads a scope needs, aggregated in SQL: one row per exposed person.

A device or anonymous id stitched to a user (``identity_links``) is folded into that
user's subject, so a person is counted once whatever ids their events carried.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Subquery, and_, func, literal, select

from seawall.storage.database import Database
from seawall.storage.tables import identity_links, ledger_fields, ledger_subjects, subject_orgs

_SEP = "\x1f"


@dataclass(frozen=True, slots=True)
class LedgerPerson:
    subject: bytes
    kind: str  # "user" | "anonymous"
    fields: tuple[str, ...]
    first_seen: float
    last_seen: float


@dataclass(frozen=True, slots=True)
class LedgerScope:
    people: list[LedgerPerson]
    categories: dict[str, str]  # field -> category
    orgs: dict[bytes, set[bytes]]  # person subject -> org fingerprints


def read_ledger_scope(
    db: Database, vendor: str, start: float | None, end: float | None
) -> LedgerScope:
    """Every person whose data ``vendor`` received inside [start, end]."""
    lf = ledger_fields
    cond = [lf.c.vendor == vendor]
    if start is not None:
        cond.append(lf.c.last_seen >= start)
    if end is not None:
        cond.append(lf.c.first_seen <= end)
    person = func.coalesce(identity_links.c.subject, lf.c.subject)
    per_field = (
        select(
            person.label("person"),
            lf.c.field,
            func.min(lf.c.first_seen).label("first_seen"),
            func.max(lf.c.last_seen).label("last_seen"),
        )
        .select_from(lf.outerjoin(identity_links, identity_links.c.alias == lf.c.subject))
        .where(and_(*cond))
        .group_by(person, lf.c.field)
        .subquery()
    )
    with db.engine.connect() as conn:
        joined = _aggregate(conn, per_field)
        rows = conn.execute(
            select(
                per_field.c.person,
                func.coalesce(ledger_subjects.c.kind, literal("anonymous")),
                joined,
                func.min(per_field.c.first_seen),
                func.max(per_field.c.last_seen),
            )
            .select_from(
                per_field.outerjoin(
                    ledger_subjects, ledger_subjects.c.subject == per_field.c.person
                )
            )
            .group_by(per_field.c.person, ledger_subjects.c.kind)
        ).all()
        cats = conn.execute(
            select(lf.c.field, func.max(lf.c.category))
            .where(lf.c.vendor == vendor)
            .group_by(lf.c.field)
        ).all()
        org_rows = conn.execute(
            select(
                func.coalesce(identity_links.c.subject, subject_orgs.c.subject), subject_orgs.c.org
            ).select_from(
                subject_orgs.outerjoin(
                    identity_links, identity_links.c.alias == subject_orgs.c.subject
                )
            )
        ).all()
    people = [
        LedgerPerson(bytes(s), k, tuple(sorted(set(f.split(_SEP)))), float(a), float(b))
        for s, k, f, a, b in rows
    ]
    orgs: dict[bytes, set[bytes]] = defaultdict(set)
    for s, o in org_rows:
        orgs[bytes(s)].add(bytes(o))
    return LedgerScope(people, {str(f): str(c) for f, c in cats}, dict(orgs))


def _aggregate(conn: Connection, sub: Subquery) -> Any:
    col = sub.c.field
    if conn.dialect.name == "postgresql":
        return func.string_agg(col, literal(_SEP))
    return func.group_concat(col, _SEP)
