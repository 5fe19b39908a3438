"""One summary row per (vendor, subject): the ledger's answer to "who, with what" for a
scope, without grouping the subject's field rows. Backfilled from ``ledger_fields``.

Revision ID: 0005
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ledger_people",
        sa.Column("vendor", sa.String(100), nullable=False),
        sa.Column("subject", sa.LargeBinary(16), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("fields", sa.Text, nullable=False),
        sa.Column("first_seen", sa.Float, nullable=False),
        sa.Column("last_seen", sa.Float, nullable=False),
        sa.Column("fields_at", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("vendor", "subject"),
    )
    from seawall.ledger.store import backfill_people

    backfill_people(op.get_bind())


def downgrade() -> None:
    op.drop_table("ledger_people")
