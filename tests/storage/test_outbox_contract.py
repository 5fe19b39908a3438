"""The outbox contract, run on SQLite and PostgreSQL alike."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from seawall.outbox.base import WireMessage
from seawall.outbox.store import SqlOutbox, enqueue
from seawall.storage.database import Database, open_database


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = open_database(db_url)
    yield database
    database.close()


def _put(db: Database, vendor: str, n: int, key: str = "k") -> None:
    msgs = [WireMessage("track", {"event": "e", "i": i}, f"{key}{i}") for i in range(n)]
    db.writer.call(lambda c: enqueue(c, [(vendor, msgs)], time.time()))


def test_claim_lease_delete(db: Database) -> None:
    ob = SqlOutbox(db)
    _put(db, "a", 3)
    _put(db, "b", 1)
    items = ob.claim("a", 10, lease_seconds=30)
    assert [len(i.messages) for i in items] == [3]
    assert items[0].messages[1] == WireMessage("track", {"event": "e", "i": 1}, "k1")
    assert ob.claim("a", 10, 30) == []  # leased
    ob.delete([i.id for i in items])
    assert ob.depth() == {"b": (1, 1)}


def test_expired_lease_is_claimable_again(db: Database) -> None:
    ob = SqlOutbox(db)
    _put(db, "a", 1)
    first = ob.claim("a", 10, lease_seconds=0.05)
    time.sleep(0.1)
    again = ob.claim("a", 10, lease_seconds=30)
    assert [i.id for i in again] == [i.id for i in first]


def test_retry_delays_and_counts(db: Database) -> None:
    ob = SqlOutbox(db)
    _put(db, "a", 1)
    (item,) = ob.claim("a", 10, 30)
    ob.retry([item.id], 0.2, "HTTP 500")
    assert ob.claim("a", 10, 30) == []
    time.sleep(0.25)
    (again,) = ob.claim("a", 10, 30)
    assert again.attempts == 1
    assert again.messages == item.messages  # the same dedupe keys on every attempt


def test_dead_letter_moves_rows_aside(db: Database) -> None:
    ob = SqlOutbox(db)
    _put(db, "a", 2)
    (item,) = ob.claim("a", 10, 30)
    ob.dead_letter([item.id], "too old")
    assert ob.depth() == {}
    assert ob.dead_letter_count() == {"a": 2}


def test_kill_switch_and_purge(db: Database) -> None:
    ob = SqlOutbox(db)
    _put(db, "a", 2)
    ob.set_enabled("a", False, "breach")
    assert not ob.is_enabled("a")
    assert ob.claim("a", 10, 30) == []
    assert ob.depth() == {"a": (1, 2)}  # held, not lost
    ob.set_enabled("a", True)
    assert ob.is_enabled("a")
    ob.set_enabled("a", False)
    assert ob.purge("a") == 1
    assert ob.depth() == {}


def test_concurrent_claimers_never_share_rows(db_url: str) -> None:
    """Two processes' worth of stores (separate engines) racing for the same vendor."""
    dbs = [open_database(db_url), open_database(db_url)]
    try:
        for _ in range(40):
            _put(dbs[0], "a", 1)
        seen: list[list[int]] = [[], []]

        def drain(i: int) -> None:
            ob = SqlOutbox(dbs[i])
            while True:
                items = ob.claim("a", 3, 60)
                if not items:
                    return
                seen[i].extend(it.id for it in items)

        threads = [threading.Thread(target=drain, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(seen[0]) + len(seen[1]) == 40
        assert not set(seen[0]) & set(seen[1])
    finally:
        for d in dbs:
            d.close()
