"""The scope's ledger read on SQLite and PostgreSQL: the summary row when a subject lies
inside the window, field by field when it straddles an edge (same answer either way)."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from seawall.core.types import Disclosure, Event, SentField
from seawall.incident.ledger_query import stage_ledger, start_ledger
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


def _led(con: duckdb.DuckDBPyConnection, rec: LedgerRecorder) -> dict[str, tuple[str, ...]]:
    names = {rec.fp(s): s for s in "ab"}
    rows = con.execute("SELECT subject, fields FROM led").fetchall()
    assert len(rows) == len({bytes(s) for s, _ in rows})  # one row per subject
    return {names[bytes(s)]: tuple(f.split("\x1f")) for s, f in rows}


def test_a_read_started_early_gives_the_same_rows(db: Database) -> None:
    rec = _ledger(db)
    early = start_ledger(db, "mp", None, T + 150)
    if db.dialect != "sqlite":
        assert early is None  # PostgreSQL is read in this process, when staged
        return
    assert early is not None
    con = duckdb.connect()
    assert stage_ledger(con, db, "mp", None, T + 150, early=early)[1] == "arrow"
    assert _led(con, rec) == {"a": ("$browser", "$email"), "b": ("$browser", "$city")}


def test_an_early_read_of_another_window_is_not_used(tmp_path: Path) -> None:
    db = open_database(f"sqlite:///{tmp_path / 'seawall.db'}")
    try:
        rec = _ledger(db)
        early = start_ledger(db, "mp", None, None)
        assert early is not None
        folder = early.folder
        con = duckdb.connect()
        stage_ledger(con, db, "mp", T + 10, T + 60, early=early)
        assert _led(con, rec) == {"b": ("$browser", "$city")}
        assert not folder.exists()
    finally:
        db.close()


def test_a_subject_that_moves_onto_an_edge_after_an_early_read_counts_once(db: Database) -> None:
    """The child reads the summary rows first; a field sent meanwhile puts subject b on
    the window's edge: it is then read field by field, and only once."""
    rec = _ledger(db)
    early = start_ledger(db, "mp", None, T + 150)
    if early is not None:
        early.wait()  # the child has read the rows before the write
    batch = rec.prepare([Disclosure("mp", _event("b", T + 500), {}, [EMAIL])], now=T + 1000)
    db.writer.call(functools.partial(write_batch, batch=batch))
    rec.committed(batch)
    con = duckdb.connect()
    stage_ledger(con, db, "mp", None, T + 150, early=early)
    assert _led(con, rec) == {"a": ("$browser", "$email"), "b": ("$browser", "$city")}
