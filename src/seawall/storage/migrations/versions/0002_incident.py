"""Incidents: cases, their timelines, and versioned scopes with their exposures.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "incidents",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("vendor", sa.String(100), nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("trigger", sa.String(20), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("opened_at", sa.Float, nullable=False),
        sa.Column("aware_at", sa.Float, nullable=False),
        sa.Column("detected_at", sa.Float, nullable=True),
        sa.Column("window_start", sa.Float, nullable=True),
        sa.Column("window_end", sa.Float, nullable=True),
        sa.Column("owner", sa.String(200), nullable=True),
        sa.Column("closed_at", sa.Float, nullable=True),
    )
    op.create_index("ix_incidents_vendor_status", "incidents", ["vendor", "status"])
    op.create_table(
        "incident_timeline",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("incident", sa.Integer, sa.ForeignKey("incidents.id"), nullable=False),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("kind", sa.String(60), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("data", sa.Text, nullable=False),
    )
    op.create_index("ix_incident_timeline_incident", "incident_timeline", ["incident", "at"])
    op.create_table(
        "incident_scopes",
        sa.Column("incident", sa.Integer, sa.ForeignKey("incidents.id"), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("inputs", sa.Text, nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("incident", "version"),
    )
    op.create_table(
        "incident_exposures",
        sa.Column("incident", sa.Integer, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("subject", sa.String(80), nullable=False),
        sa.Column("user_id", sa.String(300), nullable=True),
        sa.Column("org_ids", sa.Text, nullable=False),
        sa.Column("categories", sa.Text, nullable=False),
        sa.Column("fields", sa.Text, nullable=False),
        sa.Column("provenance", sa.String(10), nullable=False),
        sa.Column("risk_tier", sa.String(10), nullable=False),
        sa.Column("first_seen", sa.Float, nullable=True),
        sa.Column("last_seen", sa.Float, nullable=True),
        sa.Column("canary", sa.Boolean, nullable=False),
        sa.Column("file_fields", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("incident", "version", "subject"),
    )


def downgrade() -> None:
    op.drop_table("incident_exposures")
    op.drop_table("incident_scopes")
    op.drop_index("ix_incident_timeline_incident", "incident_timeline")
    op.drop_table("incident_timeline")
    op.drop_index("ix_incidents_vendor_status", "incidents")
    op.drop_table("incidents")
