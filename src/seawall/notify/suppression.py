"""The suppression list: user ids never to notify (a planned wave excludes them).

For mailboxes that must not receive mail: a role account, a person who asked, an
address known to bounce. Planning marks them ``suppressed``; a run re-checks the list.
"""

from __future__ import annotations

import time

from sqlalchemy import Connection, insert, select

from seawall.notify.tables import notify_suppressions as s_t
from seawall.storage.database import Database


class SuppressionList:
    def __init__(self, db: Database) -> None:
        self.db = db

    def add(self, user_id: str, reason: str) -> None:
        """Never notify this user again (idempotent: the first reason is kept)."""

        def job(conn: Connection) -> None:
            exists = conn.execute(select(s_t.c.user_id).where(s_t.c.user_id == user_id)).scalar()
            if exists is None:
                conn.execute(insert(s_t).values(user_id=user_id, reason=reason, at=time.time()))

        self.db.writer.call(job)

    def user_ids(self) -> set[str]:
        with self.db.engine.connect() as conn:
            return set(conn.execute(select(s_t.c.user_id)).scalars())
