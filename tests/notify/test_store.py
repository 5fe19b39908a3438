"""The notice state machine and its keys, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy.exc import IntegrityError

from seawall.core.errors import StorageError
from seawall.incident.directory import Person
from seawall.incident.model import Exposure
from seawall.notify.campaign import PlannedNotice, parse_audience, plan
from seawall.notify.errors import NotifyError
from seawall.notify.model import Outcome
from seawall.notify.store import NotifyStore
from seawall.notify.suppression import SuppressionList
from seawall.storage.database import open_database


@pytest.fixture
def store(db_url: str) -> Iterator[NotifyStore]:
    db = open_database(db_url)
    yield NotifyStore(db)
    db.close()


def _notice(uid: str, reason: str | None = None) -> PlannedNotice:
    return PlannedNotice(
        recipient=f"user:{uid}",
        kind="user",
        user_id=uid,
        org_id=None,
        locale="en",
        risk_tier="high",
        categories=("user.contact.email", "user.name"),
        reason=reason,
    )


def _create(store: NotifyStore, uids: list[str], wave: int | None = None) -> int:
    notices = [_notice(u, "no_email" if u.startswith("x") else None) for u in uids]
    return _store(store, notices, wave)


def _store(store: NotifyStore, notices: list[PlannedNotice], wave: int | None = None) -> int:
    campaign = store.create(
        incident=1,
        scope_version=1,
        audience="users",
        kind="user",
        template="default",
        sender="Security <security@example.com>",
        notices=notices,
        wave=wave,
    )
    return campaign.id


def _mid() -> str:
    return f"<{uuid.uuid4().hex}@example.com>"


def test_waves_and_keys(store: NotifyStore) -> None:
    first = _create(store, ["a", "b", "x1"])
    assert store.get(first).wave == 1
    assert store.counts(first) == {
        "pending": 2, "sending": 0, "sent": 0, "failed": 0, "suppressed": 1,
    }  # fmt: skip
    assert store.get(_create(store, ["c"])).wave == 2
    with pytest.raises(NotifyError, match="already has wave 1"):
        _create(store, ["d"], wave=1)
    with pytest.raises((StorageError, IntegrityError)):
        _create(store, ["e", "e"])  # one notice per (campaign, recipient)
    told = store.told(1, "user")
    assert set(told) == {"user:a", "user:b", "user:c"}  # suppressed ones were not told


def test_a_notice_moves_pending_sending_sent(store: NotifyStore) -> None:
    cid = _create(store, ["a", "b"])
    store.start_run(cid, "here:1:x", may_take_over=lambda _r, _b: True)
    first = store.claim(cid, finished=None, message_id=_mid).notice
    assert first is not None
    assert (first.state, first.attempts) == ("sending", 1)
    assert first.message_id
    second = store.claim(cid, finished=Outcome(first.id, "sent", "250 ok"), message_id=_mid)
    assert second.notice is not None
    retry_at = time.time() + 60
    last = store.claim(
        cid, finished=Outcome(second.notice.id, "pending", "451 later", retry_at), message_id=_mid
    )
    assert last.notice is None
    assert last.next_due == pytest.approx(retry_at)
    assert store.counts(cid)["sent"] == 1
    assert store.counts(cid)["pending"] == 1
    assert store.finish_run(cid, "here:1:x") is False


def test_a_dead_run_leaves_exactly_its_in_flight_notices_uncertain(store: NotifyStore) -> None:
    cid = _create(store, ["a", "b", "c", "d"])
    store.start_run(cid, "here:1:x", may_take_over=lambda _r, _b: True)
    a = store.claim(cid, finished=None, message_id=_mid).notice
    b = store.claim(cid, finished=None, message_id=_mid).notice
    assert a is not None
    assert b is not None
    store.settle(Outcome(a.id, "sent", "250"))
    assert [n.id for n in store.uncertain(cid)] == [b.id]  # "sending" when the run died
    with pytest.raises(NotifyError, match="being sent by here:1:x"):
        store.start_run(cid, "other:2:y", may_take_over=lambda _r, _b: False)
    first, reclaimed = store.start_run(cid, "other:2:y", may_take_over=lambda _r, _b: True)
    assert (first, reclaimed) == (False, 1)
    again = store.claim(cid, finished=None, message_id=_mid).notice
    assert again is not None
    assert again.id == b.id
    assert again.message_id == b.message_id, "a re-sent copy keeps its Message-ID"
    assert [n.id for n in store.uncertain(cid)] == [b.id]
    store.settle(Outcome(b.id, "sent", "250"))
    assert [(n.id, n.state) for n in store.uncertain(cid)] == [(b.id, "sent")]


def test_outcomes_only_land_on_notices_in_flight(store: NotifyStore) -> None:
    cid = _create(store, ["a"])
    notice = store.notices(cid)[0]
    store.settle(Outcome(notice.id, "sent", "250"))  # never claimed: ignored
    assert store.counts(cid)["pending"] == 1


def test_suppression_list(store: NotifyStore) -> None:
    suppressed = SuppressionList(store.db)
    suppressed.add("a", "asked not to be contacted")
    suppressed.add("a", "again")
    assert suppressed.user_ids() == {"a"}


def test_our_pid_marks_a_live_runner() -> None:
    from seawall.notify.send import _may_take_over

    decide = _may_take_over(60)
    import socket

    assert decide(f"{socket.gethostname()}:{os.getpid()}:x", time.time() - 999) is False
    assert decide("elsewhere.example.com:1:x", time.time() - 999) is True
    assert decide("elsewhere.example.com:1:x", time.time()) is False


def test_one_commit_claims_for_several_workers(store: NotifyStore) -> None:
    cid = _create(store, ["a", "b", "c"])
    store.start_run(cid, "here:1:x", may_take_over=lambda _r, _b: True)
    two, later = store.claim_batch(cid, finished=(), count=2, message_id=_mid)
    assert [(n.recipient, n.state, n.attempts) for n in two] == [
        ("user:a", "sending", 1),
        ("user:b", "sending", 1),
    ]
    assert later is None
    assert len({n.message_id for n in two}) == 2, "each notice its own Message-ID"
    retry_at = time.time() + 60
    done = [Outcome(two[0].id, "sent", "250"), Outcome(two[1].id, "pending", "451", retry_at)]
    rest, later = store.claim_batch(cid, finished=done, count=3, message_id=_mid)
    assert [n.recipient for n in rest] == ["user:c"]
    assert later == pytest.approx(retry_at), "fewer than asked: the earliest retry"
    counts = store.counts(cid)
    assert (counts["sent"], counts["sending"], counts["pending"]) == (1, 1, 1)
    assert [n.id for n in store.uncertain(cid)] == [rest[0].id]


def test_the_claimer_gives_each_worker_its_own_notice(store: NotifyStore) -> None:
    import threading

    from seawall.notify.claims import Claimer

    uids = [f"u{i:03d}" for i in range(60)]
    cid = _create(store, uids)
    store.start_run(cid, "here:1:x", may_take_over=lambda _r, _b: True)
    claimer = Claimer(store, cid, _mid)
    claimer.start()
    got: list[str] = []
    lock = threading.Lock()

    def worker() -> None:
        finished = None
        while (claim := claimer.claim(finished)).notice is not None:
            assert store.counts(cid)["sending"] <= 4, "at most one in flight per worker"
            with lock:
                got.append(claim.notice.recipient)
            finished = Outcome(claim.notice.id, "sent", "250")
        assert claim.next_due is None

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    claimer.close()
    assert sorted(got) == [f"user:{u}" for u in uids]
    assert store.counts(cid)["sent"] == 60


def test_bulk_insert_stores_every_field(store: NotifyStore) -> None:
    """The bulk path (COPY on PostgreSQL, chunked executemany on SQLite) stores each
    planned notice exactly, across chunk boundaries, with fresh counters."""
    planned = [
        PlannedNotice(
            recipient=f"org:o{i % 7}:a{i:05d}" if i % 2 else f"user:u{i:05d}",
            kind="org_admin" if i % 2 else "user",
            user_id=f"a{i:05d}" if i % 2 else f"u{i:05d}",
            org_id=f"o{i % 7}" if i % 2 else None,
            locale="fr-fr" if i % 3 else "en",
            risk_tier=("low", "medium", "high")[i % 3],
            categories=("user.contact.email", "user.name")[: 1 + i % 2],
            members=i if i % 2 else None,
            reason="suppressed" if i % 5 == 0 else None,
        )
        for i in range(25_000)  # more than one SQLite chunk
    ]
    before = time.time()
    campaign = store.create(
        incident=9,
        scope_version=1,
        audience="users",
        kind="user",
        template="default",
        sender="Security <security@example.com>",
        notices=planned,
    )
    stored = store.notices(campaign.id)
    assert len(stored) == len(planned)
    for p, n in zip(planned, stored, strict=True):
        assert (n.campaign, n.recipient, n.kind, n.user_id, n.org_id) == (
            campaign.id, p.recipient, p.kind, p.user_id, p.org_id,
        )  # fmt: skip
        assert (n.locale, n.risk_tier, n.categories, n.members, n.reason) == (
            p.locale, p.risk_tier, p.categories, p.members, p.reason,
        )  # fmt: skip
        assert n.state == ("pending" if p.reason is None else "suppressed")
        assert (n.attempts, n.message_id, n.uncertain) == (0, None, False)
    assert store.counts(campaign.id)["pending"] == 20_000
    with store.db.engine.connect() as conn:
        due, updated = conn.exec_driver_sql(
            "SELECT MIN(due_at), MAX(updated_at) FROM notify_notices"
        ).one()
    assert before <= due <= updated <= time.time()


def test_a_directory_written_by_people_still_plans_and_stores(store: NotifyStore) -> None:
    # Free-text locales and overlong ids come from directories nobody at Seawall controls;
    # on PostgreSQL one such row used to refuse the whole campaign.
    people = [
        Person("u1", "a@example.com", None, None, None, "English (United Kingdom)", "GB"),
        Person("u2", "b@example.com", None, None, None, "pt_BR", "BR"),
        Person("u" * 301, "c@example.com", None, None, None, None, "FR"),
    ]
    exposures = [
        Exposure(p.user_id, p.user_id, (), ("user.contact.email",), ("$email",), "ledger", "low")
        for p in people
    ]
    planned = plan(exposures, people, parse_audience("users"))
    assert planned.summary()["ids_too_long"] == 1
    campaign = _store(store, planned.notices)
    assert sorted((n.user_id, n.locale) for n in planned.notices) == [("u1", "en"), ("u2", "pt-br")]
    assert sum(store.counts(campaign).values()) == 2
