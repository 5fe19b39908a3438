"""Notification campaigns, notices (one per campaign and recipient) and suppressions.

Revision ID: 0004
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notify_campaigns",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("incident", sa.Integer, nullable=False),
        sa.Column("scope_version", sa.Integer, nullable=False),
        sa.Column("audience", sa.String(300), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("wave", sa.Integer, nullable=False),
        sa.Column("template", sa.String(500), nullable=False),
        sa.Column("sender", sa.String(500), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("started_at", sa.Float, nullable=True),
        sa.Column("finished_at", sa.Float, nullable=True),
        sa.Column("runner", sa.String(200), nullable=True),
        sa.Column("heartbeat", sa.Float, nullable=True),
        sa.UniqueConstraint("incident", "kind", "wave", name="uq_notify_campaign_wave"),
    )
    op.create_table(
        "notify_notices",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("campaign", sa.Integer, nullable=False),
        sa.Column("recipient", sa.String(400), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("user_id", sa.String(300), nullable=False),
        sa.Column("org_id", sa.String(300), nullable=True),
        sa.Column("locale", sa.String(20), nullable=False),
        sa.Column("risk_tier", sa.String(10), nullable=False),
        sa.Column("categories", sa.Text, nullable=False),
        sa.Column("members", sa.Integer, nullable=True),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("due_at", sa.Float, nullable=False),
        sa.Column("message_id", sa.String(300), nullable=True),
        sa.Column("uncertain", sa.Boolean, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.UniqueConstraint("campaign", "recipient", name="uq_notify_notice_recipient"),
    )
    op.create_index("ix_notify_notices_state", "notify_notices", ["campaign", "state", "id"])
    op.create_index("ix_notify_notices_recipient", "notify_notices", ["recipient"])
    op.create_table(
        "notify_suppressions",
        sa.Column("user_id", sa.String(300), primary_key=True),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("notify_suppressions")
    op.drop_index("ix_notify_notices_recipient", "notify_notices")
    op.drop_index("ix_notify_notices_state", "notify_notices")
    op.drop_table("notify_notices")
    op.drop_table("notify_campaigns")
