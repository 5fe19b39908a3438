"""Canary alerts a stopping process had not finished sending, for the next start.

Revision ID: 0007
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "canary_alerts_owed",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("canary_id", sa.String(40), nullable=False),
        sa.Column("vendor", sa.String(100), nullable=False),
        sa.Column("saved_at", sa.Float, nullable=False),
        sa.Column("delivery", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("canary_alerts_owed")
