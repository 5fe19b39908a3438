"""A write the database refuses: the waiter gets a StorageError, and no log line holds
the rows it carried (field names, fingerprints and payloads are personal data)."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import Connection, text

from seawall.core.errors import StorageError
from seawall.storage.database import open_database

SECRET = "ada.lovelace@example.com"


def test_a_refused_write_logs_what_failed_but_not_the_data(
    db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    db = open_database(db_url)
    try:

        def job(conn: Connection) -> None:
            # refused on both databases; the error would quote the statement and values
            conn.execute(text("INSERT INTO no_such_table (field) VALUES (:v)"), {"v": SECRET})

        with caplog.at_level(logging.DEBUG), pytest.raises(StorageError) as caught:
            db.writer.call(job)
    finally:
        db.close()
    assert SECRET not in str(caught.value)
    logged = "\n".join(
        r.getMessage() + (str(r.exc_info[1]) if r.exc_info else "") for r in caplog.records
    )
    assert "write job failed" in logged
    assert "ProgrammingError" in logged or "OperationalError" in logged
    assert SECRET not in logged
