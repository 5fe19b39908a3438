"""The ledger on SQLite and PostgreSQL: what it counts, and that it holds no raw value."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Connection, delete, select

from seawall.core.types import Disclosure, Event, SentField
from seawall.ledger.record import LedgerRecorder
from seawall.ledger.store import LedgerStore, backfill_people, write_batch
from seawall.storage.database import Database, open_database
from seawall.storage.tables import FIELD_SEP, ledger_people, metadata

KEY = b"k" * 32


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = open_database(db_url)
    yield database
    database.close()


def _event(
    distinct: str,
    user: str | None = None,
    device: str | None = None,
    orgs: tuple[str, ...] = (),
    t: float = 1_700_000_000.0,
) -> Event:
    return Event(
        sdk="mixpanel",
        kind="track",
        source="web",
        name="Viewed",
        distinct_id=distinct,
        insert_id=f"i-{distinct}-{t}",
        fields={},
        time=t,
        user_id=user,
        device_id=device,
        org_ids=orgs,
    )


def _record(db: Database, rec: LedgerRecorder, ds: list[Disclosure]) -> None:
    batch = rec.prepare(ds)
    db.writer.call(lambda c: write_batch(c, batch))
    rec.committed(batch)


def test_exposure_stitches_devices_to_users(db: Database) -> None:
    rec = LedgerRecorder(KEY)
    email = SentField("$email", "user.contact.email", "ada@example.com")
    browser = SentField("$browser", "user.device", "Firefox")
    _record(
        db,
        rec,
        [
            # anonymous browsing first, then sign-in links the device to the user
            Disclosure("mp", _event("dev-1"), {}, [browser]),
            Disclosure(
                "mp",
                _event("u-1", user="u-1", device="dev-1", orgs=("org-9",)),
                {},
                [email, browser],
            ),
            Disclosure("mp", _event("dev-2"), {}, [browser]),  # never signed in
            Disclosure("other", _event("u-1", user="u-1"), {}, [browser]),
        ],
    )
    exp = LedgerStore(db).exposure("mp")
    assert (exp.subjects, exp.users, exp.anonymous, exp.orgs) == (2, 1, 1, 1)
    assert exp.categories == {"user.device": 2, "user.contact.email": 1}
    assert LedgerStore(db).exposure("other").subjects == 1


def test_repeats_are_folded_but_new_values_recorded(db: Database) -> None:
    rec = LedgerRecorder(KEY)
    ev = _event("u-1", user="u-1")
    for value in ("a@example.com", "a@example.com", "b@example.com"):
        _record(
            db, rec, [Disclosure("mp", ev, {}, [SentField("$email", "user.contact.email", value)])]
        )
    store = LedgerStore(db)
    assert store.has_value("mp", rec.fp("a@example.com"))
    assert store.has_value("mp", rec.fp("B@Example.com "))  # normalised before hashing
    assert not store.has_value("mp", rec.fp("c@example.com"))


def test_list_and_object_values_are_folded_by_content(db: Database) -> None:
    rec = LedgerRecorder(KEY)
    ev = _event("u-1", user="u-1")

    def disclose(value: object) -> Disclosure:  # fields and sent aligned, as the engine does
        return Disclosure(
            "mp", ev, {"$email": value}, [SentField("$email", "user.contact.email", value)]
        )

    _record(db, rec, [disclose(["a@example.com", {"n": 1}])])
    assert rec.prepare([disclose(["a@example.com", {"n": 1}])]).empty()  # recorded recently
    assert not rec.prepare([disclose(["a@example.com", {"n": 2}])]).empty()
    assert not rec.prepare([disclose({"work": "b@example.com"})]).empty()


def test_system_fields_are_not_personal(db: Database) -> None:
    rec = LedgerRecorder(KEY)
    _record(
        db,
        rec,
        [
            Disclosure(
                "mp",
                _event("u-1", user="u-1"),
                {},
                [SentField("$insert_id", "system.operations", "abc")],
            )
        ],
    )
    assert LedgerStore(db).exposure("mp").fields == {}


def test_no_raw_value_anywhere_in_the_ledger(db: Database) -> None:
    rec = LedgerRecorder(KEY)
    raw = ["ada.lovelace@example.com", "Ada Lovelace", "user-4711", "device-0815", "org-acme"]
    _record(
        db,
        rec,
        [
            Disclosure(
                "mp",
                _event("user-4711", user="user-4711", device="device-0815", orgs=("org-acme",)),
                {},
                [
                    SentField("$email", "user.contact.email", raw[0]),
                    SentField("$name", "user.name", raw[1]),
                ],
            )
        ],
    )
    dump = []
    with db.engine.connect() as conn:
        for table in metadata.sorted_tables:
            for row in conn.execute(select(table)):
                dump.append(repr(tuple(row)).casefold())
    text = "\n".join(dump)
    assert dump
    for value in raw:
        assert value.casefold() not in text


def test_excluded_subjects_are_not_counted(db: Database) -> None:
    rec = LedgerRecorder(KEY)
    email = SentField("$email", "user.contact.email", "x@example.com")
    _record(
        db,
        rec,
        [
            Disclosure("mp", _event("u-1", user="u-1", orgs=("org-1",)), {}, [email]),
            Disclosure(
                "mp",
                _event("canary-1", user="canary-1", device="dev-c", orgs=("org-c",)),
                {},
                [email],
            ),
            Disclosure("mp", _event("dev-c"), {}, [email]),  # the canary's device, stitched
        ],
    )
    store = LedgerStore(db)
    assert store.exposure("mp").users == 2
    exp = store.exposure("mp", exclude={rec.fp("canary-1")})
    assert (exp.subjects, exp.users, exp.orgs) == (1, 1, 1)
    assert exp.categories == {"user.contact.email": 1}


def _people(db: Database) -> dict[tuple[str, bytes], tuple[str, tuple[str, ...], float, float]]:
    with db.engine.connect() as conn:
        rows = conn.execute(
            select(
                ledger_people.c.vendor,
                ledger_people.c.subject,
                ledger_people.c.kind,
                ledger_people.c.fields,
                ledger_people.c.first_seen,
                ledger_people.c.last_seen,
            )
        ).all()
    return {
        (v, bytes(s)): (k, tuple(sorted(f.split(FIELD_SEP))), first, last)
        for v, s, k, f, first, last in rows
    }


def test_people_summary_is_what_the_field_rows_say(db: Database) -> None:
    """The writer's per-(vendor, subject) row equals a rebuild from ``ledger_fields``,
    through new fields, repeats, a subset of fields and a late sign-in."""
    rec = LedgerRecorder(KEY)
    email = SentField("$email", "user.contact.email", "ada@example.com")
    browser = SentField("$browser", "user.device", "Firefox")
    city = SentField("$city", "user.location.imprecise", "Berlin")
    t = 1_700_000_000.0
    batches = [
        [Disclosure("mp", _event("dev-1", t=t), {}, [browser])],
        [Disclosure("mp", _event("u-1", user="u-1", t=t + 10), {}, [email, browser])],
        [Disclosure("mp", _event("u-1", user="u-1", t=t + 20), {}, [browser])],  # subset
        [Disclosure("mp", _event("u-1", user="u-1", t=t + 30), {}, [city])],  # grows
        [Disclosure("other", _event("u-1", user="u-1", t=t + 5), {}, [city, email])],
        [Disclosure("mp", _event("dev-1", t=t + 40), {}, [city])],
    ]
    for ds in batches:
        _record(db, rec, ds)
    written = _people(db)
    u1, dev1 = rec.fp("u-1"), rec.fp("dev-1")
    assert written[("mp", u1)] == ("user", ("$browser", "$city", "$email"), t + 10, t + 30)
    assert written[("other", u1)] == ("user", ("$city", "$email"), t + 5, t + 5)
    assert written[("mp", dev1)] == ("anonymous", ("$browser", "$city"), t, t + 40)

    def rebuild(conn: Connection) -> None:
        conn.execute(delete(ledger_people))
        backfill_people(conn)

    db.writer.call(rebuild)
    assert _people(db) == written
