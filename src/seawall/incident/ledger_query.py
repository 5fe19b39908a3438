"""The ledger reads a scope needs, aggregated in SQL: one row per exposed person.

A device or anonymous id stitched to a user (``identity_links``) is folded into that
user's subject, so a person is counted once whatever ids their events carried.

The fields are grouped per subject first, in the order of the ``ledger_fields`` key
(vendor, subject, field), so SQLite streams the aggregation off its index instead of
sorting 15 rows per person; only then is each subject joined to its link. The few
subjects that share a person (a user and their stitched devices) are merged here.
The result is columnar: a million people share a few dozen field sets, so each set is
one shared tuple and nobody gets an object of their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, func, literal, select

from seawall.storage.database import Database
from seawall.storage.tables import identity_links, ledger_fields, ledger_subjects, subject_orgs

_SEP = "\x1f"


@dataclass(frozen=True, slots=True)
class LedgerScope:
    """Every exposed person, as parallel columns (index ``i`` is one person)."""

    subjects: list[bytes]
    kinds: list[str]  # "user" | "anonymous"
    fields: list[tuple[str, ...]]  # sorted; equal sets are the same tuple
    first_seen: list[float]
    last_seen: list[float]
    categories: dict[str, str]  # field -> category
    orgs: dict[bytes, list[bytes]]  # person subject -> org fingerprints

    def __len__(self) -> int:
        return len(self.subjects)


def _bytes(value: Any) -> bytes:
    return value if type(value) is bytes else bytes(value)


def read_ledger_scope(
    db: Database, vendor: str, start: float | None, end: float | None
) -> LedgerScope:
    """Every person whose data ``vendor`` received inside [start, end]."""
    with db.engine.connect() as conn:
        rows = conn.execute(_per_subject(conn, vendor, start, end)).all()
        cats = conn.execute(
            select(ledger_fields.c.field, func.max(ledger_fields.c.category))
            .where(ledger_fields.c.vendor == vendor)
            .group_by(ledger_fields.c.field)
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
    scope = _fold(rows)
    for s, o in org_rows:
        scope.orgs.setdefault(_bytes(s), []).append(_bytes(o))
    scope.categories.update({str(f): str(c) for f, c in cats})
    return scope


def _per_subject(conn: Connection, vendor: str, start: float | None, end: float | None) -> Any:
    """(subject, linked person or NULL, the person's kind, fields joined, first, last)."""
    lf = ledger_fields
    cond = [lf.c.vendor == vendor]
    if start is not None:
        cond.append(lf.c.last_seen >= start)
    if end is not None:
        cond.append(lf.c.first_seen <= end)
    if conn.dialect.name == "postgresql":
        joined = func.string_agg(lf.c.field, literal(_SEP))
    else:
        joined = func.group_concat(lf.c.field, _SEP)
    per_subject = (
        select(
            lf.c.subject,
            joined.label("fields"),
            func.min(lf.c.first_seen).label("first_seen"),
            func.max(lf.c.last_seen).label("last_seen"),
        )
        .where(and_(*cond))
        .group_by(lf.c.subject)
        .subquery()
    )
    person = func.coalesce(identity_links.c.subject, per_subject.c.subject)
    return select(
        per_subject.c.subject,
        identity_links.c.subject,
        func.coalesce(ledger_subjects.c.kind, literal("anonymous")),
        per_subject.c.fields,
        per_subject.c.first_seen,
        per_subject.c.last_seen,
    ).select_from(
        per_subject.outerjoin(
            identity_links, identity_links.c.alias == per_subject.c.subject
        ).outerjoin(ledger_subjects, ledger_subjects.c.subject == person)
    )


def _fold(rows: Any) -> LedgerScope:
    """One entry per person: subjects linked to a person are merged into it."""
    sets: dict[str, tuple[str, ...]] = {}
    scope = LedgerScope([], [], [], [], [], {}, {})
    linked: list[tuple[bytes, str, str, float, float]] = []
    for subject, link, kind, joined, first, last in rows:
        if link is not None:
            linked.append((_bytes(link), kind, joined, first, last))
            continue
        fields = sets.get(joined)
        if fields is None:
            fields = sets[joined] = tuple(sorted(set(joined.split(_SEP))))
        scope.subjects.append(_bytes(subject))
        scope.kinds.append(kind)
        scope.fields.append(fields)
        scope.first_seen.append(float(first))
        scope.last_seen.append(float(last))
    if not linked:
        return scope
    at = {s: i for i, s in enumerate(scope.subjects)}  # person -> index
    merged: dict[tuple[str, ...], tuple[str, ...]] = {}
    for person, kind, joined, first, last in linked:
        extra = joined.split(_SEP)
        i = at.get(person)
        if i is None:
            at[person] = len(scope.subjects)
            scope.subjects.append(person)
            scope.kinds.append(kind)
            scope.fields.append(())
            scope.first_seen.append(float(first))
            scope.last_seen.append(float(last))
            i = at[person]
        else:
            scope.first_seen[i] = min(scope.first_seen[i], float(first))
            scope.last_seen[i] = max(scope.last_seen[i], float(last))
        union = tuple(sorted({*scope.fields[i], *extra}))
        scope.fields[i] = merged.setdefault(union, union)
    return scope
