"""The gateway's tables: ledger, identity stitching, outbox, dead letters, vendor state.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

FP = sa.LargeBinary(16)


def upgrade() -> None:
    op.create_table(
        "ledger_fields",
        sa.Column("vendor", sa.String(100), nullable=False),
        sa.Column("subject", FP, nullable=False),
        sa.Column("field", sa.String(300), nullable=False),
        sa.Column("category", sa.String(120), nullable=False),
        sa.Column("first_seen", sa.Float, nullable=False),
        sa.Column("last_seen", sa.Float, nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("last_fp", FP, nullable=False),
        sa.PrimaryKeyConstraint("vendor", "subject", "field"),
    )
    op.create_table(
        "ledger_values",
        sa.Column("vendor", sa.String(100), nullable=False),
        sa.Column("subject", FP, nullable=False),
        sa.Column("field", sa.String(300), nullable=False),
        sa.Column("fp", FP, nullable=False),
        sa.Column("first_seen", sa.Float, nullable=False),
        sa.Column("last_seen", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("vendor", "subject", "field", "fp"),
    )
    op.create_index("ix_ledger_values_fp", "ledger_values", ["fp"])
    op.create_table(
        "ledger_subjects",
        sa.Column("subject", FP, primary_key=True),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("first_seen", sa.Float, nullable=False),
    )
    op.create_table(
        "identity_links",
        sa.Column("alias", FP, primary_key=True),
        sa.Column("subject", FP, nullable=False),
        sa.Column("first_seen", sa.Float, nullable=False),
    )
    op.create_index("ix_identity_links_subject", "identity_links", ["subject"])
    op.create_table(
        "subject_orgs",
        sa.Column("subject", FP, nullable=False),
        sa.Column("org", FP, nullable=False),
        sa.Column("first_seen", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("subject", "org"),
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("vendor", sa.String(100), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("due_at", sa.Float, nullable=False),
        sa.Column("lease_until", sa.Float, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("messages", sa.Integer, nullable=False),
        sa.Column("payload", sa.LargeBinary, nullable=False),
    )
    op.create_index("ix_outbox_vendor_due", "outbox", ["vendor", "due_at"])
    op.create_table(
        "dead_letters",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("vendor", sa.String(100), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("failed_at", sa.Float, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("messages", sa.Integer, nullable=False),
        sa.Column("payload", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "vendor_state",
        sa.Column("vendor", sa.String(100), primary_key=True),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("changed_at", sa.Float, nullable=False),
        sa.Column("reason", sa.Text, nullable=True),
    )


def downgrade() -> None:
    for name in (
        "vendor_state",
        "dead_letters",
        "outbox",
        "subject_orgs",
        "identity_links",
        "ledger_subjects",
        "ledger_values",
        "ledger_fields",
    ):
        op.drop_table(name)
