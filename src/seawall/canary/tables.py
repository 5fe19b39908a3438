"""The canary tables, on the shared ``metadata``; migrations 0003 and 0007 create them.

Canary identities are invented, so their names, addresses and ids are stored as they
are (the SMTP tripwire must recognise an address, ``incident match`` a user id). The
beacon token is the one secret: only its SHA-256 is stored, and the token itself is
derived again from the canary key when a canary is re-planted.
"""

from __future__ import annotations

from sqlalchemy import Column, Float, Index, Integer, String, Table, Text

from seawall.storage.tables import metadata

canaries = Table(
    "canaries",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("vendor", String(100), nullable=False),
    Column("name", String(200), nullable=False),
    Column("email", String(320), nullable=False, unique=True),
    Column("user_id", String(100), nullable=False, unique=True),
    Column("org_id", String(100), nullable=False),
    Column("device_id", String(100), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("sdk", String(20), nullable=False),
    Column("channels", Text, nullable=False),  # JSON list: "email", "beacon"
    Column("memo", Text, nullable=False),  # JSON: which fields carry what, and why
    Column("created_at", Float, nullable=False),
    Column("planted_at", Float, nullable=True),
    Column("refreshed_at", Float, nullable=True),
)
Index("ix_canaries_vendor", canaries.c.vendor)

canary_hits = Table(
    "canary_hits",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("canary_id", String(40), nullable=False),
    Column("vendor", String(100), nullable=False),
    Column("channel", String(10), nullable=False),  # "email" | "beacon" | "probe"
    Column("at", Float, nullable=False),
    Column("remote", String(100), nullable=True),
    Column("alert", String(10), nullable=False),  # "first" | "folded"
    Column("evidence", Text, nullable=False),  # JSON, attacker-controlled: data only
)
Index("ix_canary_hits_canary", canary_hits.c.canary_id, canary_hits.c.at)

# Alerts a stopping process had not finished sending (a webhook hanging, say): the next
# start claims and sends them, so a stop loses no alert. Migration 0007 creates this.
canary_alerts_owed = Table(
    "canary_alerts_owed",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("canary_id", String(40), nullable=False),
    Column("vendor", String(100), nullable=False),
    Column("saved_at", Float, nullable=False),
    Column("delivery", Text, nullable=False),  # JSON: the alert and what is left to do
)
