"""The schema, in SQLAlchemy Core. Migrations under ``migrations/`` create exactly this.

No table holds a raw personal value: subjects, identities, orgs and values are keyed
fingerprints (``core.crypto.fingerprint`` with the ledger key). The outbox holds
minimised payloads only, and only until they are delivered.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)

metadata = MetaData()

FP = LargeBinary(16)

# One row per (vendor, subject, field): the latest value's fingerprint and when.
ledger_fields = Table(
    "ledger_fields",
    metadata,
    Column("vendor", String(100), nullable=False),
    Column("subject", FP, nullable=False),
    Column("field", String(300), nullable=False),
    Column("category", String(120), nullable=False),
    Column("first_seen", Float, nullable=False),
    Column("last_seen", Float, nullable=False),
    Column("count", Integer, nullable=False),
    Column("last_fp", FP, nullable=False),
    PrimaryKeyConstraint("vendor", "subject", "field"),
)

# One row per (vendor, subject), kept by the ledger writer next to ``ledger_fields``:
# what a scope needs of a subject without grouping its field rows. ``fields`` is the
# subject's field names, sorted and joined by FIELD_SEP; ``kind`` is the subject's own
# (as in ``ledger_subjects``); ``fields_at`` is a time by which every listed field had
# been first seen (an upper bound: the last time the set grew).
FIELD_SEP = "\x1f"
ledger_people = Table(
    "ledger_people",
    metadata,
    Column("vendor", String(100), nullable=False),
    Column("subject", FP, nullable=False),
    Column("kind", String(10), nullable=False),
    Column("fields", Text, nullable=False),
    Column("first_seen", Float, nullable=False),
    Column("last_seen", Float, nullable=False),
    Column("fields_at", Float, nullable=False),
    PrimaryKeyConstraint("vendor", "subject"),
)


def union_fields(old: str, new: str) -> str:
    """Two FIELD_SEP-joined field sets as one (sorted by code point, as SQL's "C" order)."""
    if old == new:
        return old
    return FIELD_SEP.join(sorted({*old.split(FIELD_SEP), *new.split(FIELD_SEP)}))


# Every distinct value sent for identifying categories (contact, name, ids).
ledger_values = Table(
    "ledger_values",
    metadata,
    Column("vendor", String(100), nullable=False),
    Column("subject", FP, nullable=False),
    Column("field", String(300), nullable=False),
    Column("fp", FP, nullable=False),
    Column("first_seen", Float, nullable=False),
    Column("last_seen", Float, nullable=False),
    PrimaryKeyConstraint("vendor", "subject", "field", "fp"),
)
Index("ix_ledger_values_fp", ledger_values.c.fp)

# What a subject fingerprint stands for: a known user id, or only a device/distinct id.
ledger_subjects = Table(
    "ledger_subjects",
    metadata,
    Column("subject", FP, primary_key=True),
    Column("kind", String(10), nullable=False),  # "user" | "anonymous"
    Column("first_seen", Float, nullable=False),
)

# Identity stitching: device / anonymous / alias ids that belong to a user subject.
identity_links = Table(
    "identity_links",
    metadata,
    Column("alias", FP, primary_key=True),
    Column("subject", FP, nullable=False),
    Column("first_seen", Float, nullable=False),
)
Index("ix_identity_links_subject", identity_links.c.subject)

subject_orgs = Table(
    "subject_orgs",
    metadata,
    Column("subject", FP, nullable=False),
    Column("org", FP, nullable=False),
    Column("first_seen", Float, nullable=False),
    PrimaryKeyConstraint("subject", "org"),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("vendor", String(100), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("due_at", Float, nullable=False),
    Column("lease_until", Float, nullable=False, default=0.0),
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text, nullable=True),
    Column("messages", Integer, nullable=False),
    Column("payload", LargeBinary, nullable=False),
)
Index("ix_outbox_vendor_due", outbox.c.vendor, outbox.c.due_at)

dead_letters = Table(
    "dead_letters",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("vendor", String(100), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("failed_at", Float, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("reason", Text, nullable=False),
    Column("messages", Integer, nullable=False),
    Column("payload", LargeBinary, nullable=False),
)

vendor_state = Table(
    "vendor_state",
    metadata,
    Column("vendor", String(100), primary_key=True),
    Column("enabled", Boolean, nullable=False),
    Column("changed_at", Float, nullable=False),
    Column("reason", Text, nullable=True),
)
