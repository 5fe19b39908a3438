"""Canary identities and the hits of their tripwires.

Revision ID: 0003
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "canaries",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("vendor", sa.String(100), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("email", sa.String(320), nullable=False, unique=True),
        sa.Column("user_id", sa.String(100), nullable=False, unique=True),
        sa.Column("org_id", sa.String(100), nullable=False),
        sa.Column("device_id", sa.String(100), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("sdk", sa.String(20), nullable=False),
        sa.Column("channels", sa.Text, nullable=False),
        sa.Column("memo", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("planted_at", sa.Float, nullable=True),
        sa.Column("refreshed_at", sa.Float, nullable=True),
    )
    op.create_index("ix_canaries_vendor", "canaries", ["vendor"])
    op.create_table(
        "canary_hits",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("canary_id", sa.String(40), nullable=False),
        sa.Column("vendor", sa.String(100), nullable=False),
        sa.Column("channel", sa.String(10), nullable=False),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("remote", sa.String(100), nullable=True),
        sa.Column("alert", sa.String(10), nullable=False),
        sa.Column("evidence", sa.Text, nullable=False),
    )
    op.create_index("ix_canary_hits_canary", "canary_hits", ["canary_id", "at"])


def downgrade() -> None:
    op.drop_index("ix_canary_hits_canary", "canary_hits")
    op.drop_table("canary_hits")
    op.drop_index("ix_canaries_vendor", "canaries")
    op.drop_table("canaries")
