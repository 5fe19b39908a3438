"""The incident tables, on the shared metadata; migration ``0002`` creates exactly these.

Scopes are versioned: every run of ``incident scope`` or ``incident match`` adds a
version with its inputs and summary, and its exposures; no version is ever rewritten.
Exposures hold the company's own user id (the join key to the directory, which notices
need) but never contact details: those are read from the directory when needed.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)

from seawall.storage.tables import metadata

incidents = Table(
    "incidents",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("vendor", String(100), nullable=False),
    Column("title", Text, nullable=False),
    Column("trigger", String(20), nullable=False),
    Column("status", String(10), nullable=False),
    Column("opened_at", Float, nullable=False),
    Column("aware_at", Float, nullable=False),
    Column("detected_at", Float, nullable=True),
    Column("window_start", Float, nullable=True),
    Column("window_end", Float, nullable=True),
    Column("owner", String(200), nullable=True),
    Column("closed_at", Float, nullable=True),
)
Index("ix_incidents_vendor_status", incidents.c.vendor, incidents.c.status)

incident_timeline = Table(
    "incident_timeline",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("incident", Integer, ForeignKey("incidents.id"), nullable=False),
    Column("at", Float, nullable=False),
    Column("kind", String(60), nullable=False),
    Column("text", Text, nullable=False),
    Column("data", Text, nullable=False),  # JSON object
)
Index("ix_incident_timeline_incident", incident_timeline.c.incident, incident_timeline.c.at)

incident_scopes = Table(
    "incident_scopes",
    metadata,
    Column("incident", Integer, ForeignKey("incidents.id"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("inputs", Text, nullable=False),  # JSON: window, sources, file digest, canaries...
    Column("summary", Text, nullable=False),  # JSON: the counts `scope --json` prints
    PrimaryKeyConstraint("incident", "version"),
)

incident_exposures = Table(
    "incident_exposures",
    metadata,
    Column("incident", Integer, nullable=False),
    Column("version", Integer, nullable=False),
    Column("subject", String(80), nullable=False),
    Column("user_id", String(300), nullable=True),
    Column("org_ids", Text, nullable=False),  # JSON list
    Column("categories", Text, nullable=False),  # JSON list
    Column("fields", Text, nullable=False),  # JSON list
    Column("provenance", String(10), nullable=False),
    Column("risk_tier", String(10), nullable=False),
    Column("first_seen", Float, nullable=True),
    Column("last_seen", Float, nullable=True),
    Column("canary", Boolean, nullable=False),
    Column("file_fields", Text, nullable=False),  # JSON list: what the leaked file shows
    PrimaryKeyConstraint("incident", "version", "subject"),
)

# Since migration 0006 a version's exposures are saved here, as Parquet (zstd, parts of
# up to 256 MB, ~25 MB per million exposures; list columns FIELD_SEP-joined): a million
# rows are written in about a second, where a million INSERTs took ten. Versions saved
# before stay in incident_exposures and are read from there.
incident_scope_files = Table(
    "incident_scope_files",
    metadata,
    Column("incident", Integer, nullable=False),
    Column("version", Integer, nullable=False),
    Column("part", Integer, nullable=False),
    Column("rows", Integer, nullable=False),
    Column("data", LargeBinary, nullable=False),
    PrimaryKeyConstraint("incident", "version", "part"),
)
