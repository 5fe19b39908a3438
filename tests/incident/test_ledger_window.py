"""The scope's ledger read on SQLite and PostgreSQL: the summary row when a subject lies
inside the window, field by field when it straddles an edge (same answer either way)."""

from __future__ import annotations

import functools
from collections.abc import Iterator

import duckdb
import pytest

from seawall.core.types import Disclosure, Event, SentField
from seawall.incident.ledger_query import stage_ledger
from seawall.ledger.record import LedgerRecorder
from seawall.ledger.store import write_batch
from seawall.storage.database import Database, open_database

KEY = b"k" * 32
T = 1_700_000_000.0
EMAIL = SentField("$email", "user.contact.email", "ada@example.com")
BROWSER = SentField("$browser", "user.device", "Firefox")
CITY = SentField("$city", "user.location.imprecise", "Berlin")


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = open_database(db_url)
    yield database
    database.close()


def _event(subject: str, t: float) -> Event:
    return Event(
        sdk="mixpanel",
        kind="track",
        source="web",
        name="Viewed",
        distinct_id=subject,
        insert_id=f"i-{subject}-{t}",
        fields={},
        time=t,
        user_id=subject,
    )


def _ledger(db: Database) -> LedgerRecorder:
    """a: email at T, browser at T+100, city at T+200; b: browser and city at T+50."""
    rec = LedgerRecorder(KEY)
    for subject, t, sent in [
        ("a", T, [EMAIL]),
        ("a", T + 100, [BROWSER]),
        ("a", T + 200, [CITY]),
        ("b", T + 50, [BROWSER, CITY]),
    ]:
        batch = rec.prepare([Disclosure("mp", _event(subject, t), {}, sent)], now=T + 1000)
        db.writer.call(functools.partial(write_batch, batch=batch))
        rec.committed(batch)
    return rec


@pytest.mark.parametrize("arrow", [True, False], ids=["arrow", "sqlalchemy"])
@pytest.mark.parametrize(
    ("window", "expected"),
    [
        ((None, None), {"a": ("$browser", "$city", "$email"), "b": ("$browser", "$city")}),
        ((T, T + 200), {"a": ("$browser", "$city", "$email"), "b": ("$browser", "$city")}),
        ((None, T + 150), {"a": ("$browser", "$email"), "b": ("$browser", "$city")}),
        ((T + 60, None), {"a": ("$browser", "$city")}),
        ((T + 10, T + 60), {"b": ("$browser", "$city")}),
        ((T + 300, None), {}),
    ],
)
def test_fields_inside_the_window(
    db: Database,
    window: tuple[float | None, float | None],
    expected: dict[str, tuple[str, ...]],
    arrow: bool,
) -> None:
    rec = _ledger(db)
    con = duckdb.connect()
    categories, reader = stage_ledger(con, db, "mp", *window, arrow=arrow)
    assert reader == ("arrow" if arrow else "sqlalchemy")
    rows = con.execute("SELECT subject, kind, fields, first_seen, last_seen FROM led").fetchall()
    names = {rec.fp(s): s for s in "ab"}
    got = {names[bytes(s)]: tuple(f.split("\x1f")) for s, _, f, _, _ in rows}
    assert got == expected
    assert {k for _, k, _, _, _ in rows} <= {"user"}
    if "a" in expected and window == (None, T + 150):
        (first, last) = next((f, last) for s, _, _, f, last in rows if bytes(s) == rec.fp("a"))
        assert (first, last) == (T, T + 100)  # the city, sent after the window, is not counted
    assert all(categories[f] for fields in expected.values() for f in fields)
