"""The forwarder against real parts: the SQL outbox and the sink served by uvicorn.

Each test makes the vendor misbehave through the sink's control API and checks
what the vendor saw (its request log and NDJSON file) and what the outbox holds.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from seawall.core.config import Vendor
from seawall.core.types import Disclosure, Event
from seawall.forward.backoff import Backoff
from seawall.forward.wire import encode
from seawall.forward.worker import Forwarder
from seawall.outbox.base import WireMessage
from seawall.outbox.store import SqlOutbox, enqueue
from seawall.sink.records import read_records
from seawall.sink.server import RunningSink, running_sink
from seawall.storage.database import Database, open_database

FAST = Backoff(base=0.05, cap=0.2)


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[RunningSink]:
    with running_sink(tmp_path / "vendor.ndjson") as running:
        yield running


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = open_database(f"sqlite:///{tmp_path / 'seawall.db'}")
    yield database
    database.close()


@pytest.fixture
def any_db(db_url: str) -> Iterator[Database]:
    database = open_database(db_url)
    yield database
    database.close()


def mixpanel(sink: RunningSink, **overrides: Any) -> Vendor:
    settings: dict[str, Any] = {"token": "vendor-token", "timeout_seconds": 2.0, **overrides}
    return Vendor(kind="mixpanel", endpoint=sink.url, **settings)


def track_messages(vendor: Vendor, prefix: str, n: int) -> list[WireMessage]:
    out = []
    for i in range(n):
        event = Event(
            sdk="mixpanel",
            kind="track",
            source="web",
            name="e",
            distinct_id="d",
            insert_id=f"{prefix}-{i}",
            fields={},
            time=1_700_000_000.0,
        )
        fields = {"event": "Viewed", "distinct_id": "p-1", "n": i}
        out.extend(encode("vendor", vendor, Disclosure("vendor", event, fields, [])))
    return out


def put(
    db: Database, vendor_name: str, messages: list[WireMessage], at: float | None = None
) -> None:
    db.writer.call(lambda c: enqueue(c, [(vendor_name, messages)], at or time.time()))


@contextmanager
def forwarding(forwarder: Forwarder) -> Iterator[Forwarder]:
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    thread = threading.Thread(target=loop.run_until_complete, args=(forwarder.run(stop),))
    thread.start()
    try:
        yield forwarder
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=10)
        loop.close()
        assert not thread.is_alive()


def wait_for(predicate: Callable[[], Any], timeout: float = 8.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout}s")
        time.sleep(0.02)
    return value


def received(sink: RunningSink) -> list[dict[str, Any]]:
    return read_records(sink.out)


def insert_ids(sink: RunningSink) -> Counter[str]:
    return Counter(line["message"]["properties"]["$insert_id"] for line in received(sink))


def control(sink: RunningSink, path: str, body: dict[str, Any] | None = None) -> Any:
    if body is None:
        return httpx.get(f"{sink.url}/_sink/{path}").json()
    return httpx.post(f"{sink.url}/_sink/{path}", json=body).json()


def test_backlog_drains_in_batches_and_rows_are_deleted(
    sink: RunningSink, any_db: Database
) -> None:
    vendor = mixpanel(sink, batch_size=5)
    outbox = SqlOutbox(any_db)
    for r in range(4):
        put(any_db, "mp", track_messages(vendor, f"r{r}", 3))
    with forwarding(Forwarder({"mp": vendor}, outbox, backoff=FAST, idle_poll=0.05)) as fwd:
        wait_for(lambda: sum(insert_ids(sink).values()) == 12)
        wait_for(lambda: outbox.depth() == {})
    assert set(insert_ids(sink)) == {f"r{r}-{i}" for r in range(4) for i in range(3)}
    assert [r["messages"] for r in control(sink, "requests")] == [5, 5, 2]
    assert fwd.stats["mp"].forwarded == 12
    line = received(sink)[0]
    assert line["endpoint"] == "track"
    assert "cookie" not in line["headers"]
    assert "x-forwarded-for" not in line["headers"]


def test_vendor_500s_hold_the_backlog_then_it_drains(sink: RunningSink, db: Database) -> None:
    vendor = mixpanel(sink)
    outbox = SqlOutbox(db)
    control(sink, "fail", {"status": 500, "count": 4})
    with forwarding(Forwarder({"mp": vendor}, outbox, backoff=FAST, idle_poll=0.05)) as fwd:
        put(db, "mp", track_messages(vendor, "a", 2))
        wait_for(lambda: len(control(sink, "requests")) >= 2)
        assert outbox.depth() == {"mp": (1, 2)}  # held while the vendor fails
        put(db, "mp", track_messages(vendor, "b", 2))
        wait_for(lambda: outbox.depth() == {})
    statuses = [r["status"] for r in control(sink, "requests")]
    assert statuses[:4] == [500] * 4
    assert set(statuses[4:]) == {200}
    assert insert_ids(sink) == Counter({"a-0": 1, "a-1": 1, "b-0": 1, "b-1": 1})
    assert fwd.stats["mp"].failed == 4
    assert fwd.stats["mp"].forwarded == 4


def test_a_hanging_vendor_is_retried_with_the_same_dedupe_keys(
    sink: RunningSink, db: Database
) -> None:
    vendor = mixpanel(sink, timeout_seconds=0.3)
    outbox = SqlOutbox(db)
    control(sink, "fail", {"count": 1, "delay": 0.8})  # hangs, then accepts: a late success
    put(db, "mp", track_messages(vendor, "h", 3))
    with forwarding(Forwarder({"mp": vendor}, outbox, backoff=FAST, idle_poll=0.05)) as fwd:
        wait_for(lambda: outbox.depth() == {})
        wait_for(lambda: sum(insert_ids(sink).values()) == 6)  # the hung one lands late
    assert insert_ids(sink) == Counter({"h-0": 2, "h-1": 2, "h-2": 2})
    by_key: dict[str, list[Any]] = {}
    for line in received(sink):
        by_key.setdefault(line["message"]["properties"]["$insert_id"], []).append(line["message"])
    assert all(first == again for first, again in by_key.values())
    assert fwd.stats["mp"].failed == 1


def test_retry_after_is_honoured_beyond_the_backoff_cap(sink: RunningSink, db: Database) -> None:
    vendor = mixpanel(sink)
    outbox = SqlOutbox(db)
    control(sink, "fail", {"status": 429, "count": 1, "retry_after": 1})
    put(db, "mp", track_messages(vendor, "a", 1))
    with forwarding(Forwarder({"mp": vendor}, outbox, backoff=FAST, idle_poll=0.05)):
        wait_for(lambda: control(sink, "count")["requests"] == 1)
        put(db, "mp", track_messages(vendor, "b", 1))  # new work must wait too
        wait_for(lambda: outbox.depth() == {})
    first, *later = control(sink, "requests")
    assert first["status"] == 429
    assert later
    assert all(r["at"] >= first["at"] + 1.0 for r in later)


def test_413_halves_the_batch(sink: RunningSink, db: Database) -> None:
    vendor = mixpanel(sink, batch_size=8)
    outbox = SqlOutbox(db)
    control(sink, "limit", {"max_messages": 2})
    put(db, "mp", track_messages(vendor, "x", 8))
    with forwarding(Forwarder({"mp": vendor}, outbox, backoff=FAST, idle_poll=0.05)):
        wait_for(lambda: outbox.depth() == {})
    log = [(r["status"], r["messages"]) for r in control(sink, "requests")]
    assert log == [(413, 8), (413, 4), (200, 2), (200, 2), (413, 4), (200, 2), (200, 2)]
    assert insert_ids(sink) == Counter({f"x-{i}": 1 for i in range(8)})


def test_kill_switch_stops_every_send_within_a_second(sink: RunningSink, any_db: Database) -> None:
    vendor = mixpanel(sink, batch_size=4)
    outbox = SqlOutbox(any_db)
    feeding = threading.Event()
    feeding.set()

    def feed() -> None:
        n = 0
        while feeding.is_set():
            put(any_db, "mp", track_messages(vendor, f"k{n}", 3))
            n += 1
            time.sleep(0.02)

    feeder = threading.Thread(target=feed)
    with forwarding(Forwarder({"mp": vendor}, outbox, backoff=FAST, idle_poll=0.02)):
        feeder.start()
        try:
            wait_for(lambda: control(sink, "count")["requests"] >= 5)
            outbox.set_enabled("mp", False, "test: breach")
            disabled_at = time.time()
            time.sleep(1.5)
            late = [r for r in control(sink, "requests") if r["at"] > disabled_at + 1.0]
            assert late == []
            assert outbox.depth()["mp"][0] > 0  # held, not dropped
        finally:
            feeding.clear()
            feeder.join()
        outbox.set_enabled("mp", True)
        wait_for(lambda: outbox.depth() == {})


def test_rejected_and_expired_rows_are_dead_lettered(sink: RunningSink, db: Database) -> None:
    vendor = mixpanel(sink, dead_letter_after_hours=1)
    outbox = SqlOutbox(db)
    put(db, "mp", track_messages(vendor, "old", 2), at=time.time() - 2 * 3600)
    control(sink, "fail", {"status": 503, "count": 1})
    with forwarding(Forwarder({"mp": vendor}, outbox, backoff=FAST, idle_poll=0.05)) as fwd:
        wait_for(lambda: outbox.depth() == {})
        assert outbox.dead_letter_count() == {"mp": 2}
        control(sink, "fail", {"status": 401, "count": 1})
        put(db, "mp", track_messages(vendor, "new", 1))
        wait_for(lambda: outbox.dead_letter_count() == {"mp": 3})
    assert fwd.stats["mp"].dead_lettered == 3
    assert received(sink) == []


def test_import_partial_failure_dead_letters_only_the_rejected_row(
    sink: RunningSink, db: Database
) -> None:
    vendor = mixpanel(sink, use_import=True, api_secret="vendor-secret")
    outbox = SqlOutbox(db)
    good = track_messages(vendor, "ok", 2)
    assert {m.endpoint for m in good} == {"import"}
    bad = WireMessage("import", {"event": "e", "properties": {"$insert_id": "bad"}}, "bad")
    put(db, "mp", good)
    put(db, "mp", [bad])
    with forwarding(Forwarder({"mp": vendor}, outbox, backoff=FAST, idle_poll=0.05)) as fwd:
        wait_for(lambda: outbox.depth() == {})
    assert outbox.dead_letter_count() == {"mp": 1}
    assert insert_ids(sink) == Counter({"ok-0": 1, "ok-1": 1})
    assert fwd.stats["mp"].forwarded == 2


def test_segment_vendor_receives_a_batch(sink: RunningSink, db: Database) -> None:
    vendor = Vendor(kind="segment", endpoint=sink.url, write_key="wk")
    outbox = SqlOutbox(db)
    event = Event(
        sdk="segment",
        kind="track",
        source="web",
        name="e",
        distinct_id=None,
        insert_id="m-1",
        fields={},
    )
    fields = {"event": "Clicked", "userId": "p-1", "properties.button": "buy"}
    put(db, "seg", encode("seg", vendor, Disclosure("seg", event, fields, [])))
    with forwarding(Forwarder({"seg": vendor}, outbox, backoff=FAST, idle_poll=0.05)):
        wait_for(lambda: received(sink))
    (line,) = received(sink)
    assert line["api"] == "segment"
    assert line["endpoint"] == "batch"
    assert line["message"]["messageId"] == "m-1"
    assert line["message"]["properties"] == {"button": "buy"}
