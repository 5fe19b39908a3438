"""Alembic environment: Seawall passes its own connection in ``config.attributes``."""

from __future__ import annotations

from alembic import context

from seawall.storage.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - Seawall always passes one
    raise RuntimeError("run migrations through seawall.storage.database.Database.migrate()")

context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
