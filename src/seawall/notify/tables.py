"""The notification tables; migration ``0004`` creates exactly these.

No contact details are stored: a notice names its recipient by the company's own
user id (and org id for org admins); the address is read from the directory when the
notice is sent. Categories are stored so a later wave knows what each person was told.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Float, Index, Integer, String, Table, Text, UniqueConstraint

from seawall.storage.tables import metadata

notify_campaigns = Table(
    "notify_campaigns",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("incident", Integer, nullable=False),
    Column("scope_version", Integer, nullable=False),
    Column("audience", String(300), nullable=False),
    Column("kind", String(20), nullable=False),  # "user" | "org_admin"
    Column("wave", Integer, nullable=False),
    Column("template", String(500), nullable=False),
    Column("sender", String(500), nullable=False),
    Column("status", String(20), nullable=False),  # planned | sending | finished
    Column("created_at", Float, nullable=False),
    Column("started_at", Float, nullable=True),
    Column("finished_at", Float, nullable=True),
    Column("runner", String(200), nullable=True),  # host:pid of the live `notify send`
    Column("heartbeat", Float, nullable=True),
    UniqueConstraint("incident", "kind", "wave", name="uq_notify_campaign_wave"),
)

notify_notices = Table(
    "notify_notices",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("campaign", Integer, nullable=False),
    Column("recipient", String(400), nullable=False),  # "user:<id>" | "org:<org>:<id>"
    Column("kind", String(20), nullable=False),
    Column("user_id", String(300), nullable=False),
    Column("org_id", String(300), nullable=True),
    Column("locale", String(20), nullable=False),
    Column("risk_tier", String(10), nullable=False),
    Column("categories", Text, nullable=False),  # sorted, space-separated
    Column("members", Integer, nullable=True),  # org notices: affected members
    Column("state", String(12), nullable=False),  # pending|sending|sent|failed|suppressed
    Column("reason", Text, nullable=True),  # why suppressed, or the server's reply
    Column("attempts", Integer, nullable=False),
    Column("due_at", Float, nullable=False),
    Column("message_id", String(300), nullable=True),
    Column("uncertain", Boolean, nullable=False),  # was "sending" when a run died
    Column("updated_at", Float, nullable=False),
    UniqueConstraint("campaign", "recipient", name="uq_notify_notice_recipient"),
)
_n = notify_notices.c
Index("ix_notify_notices_state", _n.campaign, _n.state, _n.id)
Index("ix_notify_notices_recipient", notify_notices.c.recipient)

notify_suppressions = Table(
    "notify_suppressions",
    metadata,
    Column("user_id", String(300), primary_key=True),
    Column("reason", Text, nullable=False),
    Column("at", Float, nullable=False),
)
