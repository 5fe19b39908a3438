"""The scope's two ways of reading the ledger (an ADBC driver: in this process for
PostgreSQL, in a child process for SQLite; or rows through SQLAlchemy) give the same
scope, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import functools
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from seawall.core.config import Config, parse_config
from seawall.core.keys import KeyRing
from seawall.core.types import Disclosure, Event, SentField
from seawall.incident.run import run_scope
from seawall.incident.store import IncidentStore
from seawall.ledger.record import LedgerRecorder
from seawall.ledger.store import write_batch
from seawall.storage.database import Database, open_database

T = 1_700_000_000.0
EMAIL = SentField("$email", "user.contact.email", "ada@example.com")
NAME = SentField("$name", "user.name", "Ada")
BROWSER = SentField("$browser", "user.device", "Firefox")
ORG = SentField("org_id", "user.unique_id", "org-1")


def _config(tmp: Path, url: str, vendor: str) -> Config:
    with (tmp / "users.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["user_id", "email", "name", "org_id", "role", "locale", "country"])
        w.writerow(["a", "ada@example.com", "Ada", "org-1", "admin", "en", "DE"])
        w.writerow(["c", "cy@example.com", "Cy", "org-2", "member", "en", "US-CA"])
    return parse_config(
        {
            "database": url,
            "keys_dir": str(tmp / "keys"),
            "sources": {"web": {"kind": "mixpanel", "token": "t", "destinations": [vendor]}},
            "vendors": {
                vendor: {
                    "kind": "mixpanel",
                    "endpoint": "http://127.0.0.1:9",
                    "token": "vendor-token",
                    "contract": {"retention_days": 30},
                    "policy": {"default": "drop", "rules": []},
                }
            },
            "directory": {"kind": "csv", "path": "users.csv"},
        },
        base_dir=str(tmp),
    )


_VIEWED = Event("mixpanel", "track", "web", "Viewed", None, "", {})


def _event(t: float, *, user: str | None, device: str | None, orgs: tuple[str, ...] = ()) -> Event:
    ids = {"distinct_id": user or device, "user_id": user, "device_id": device}
    return replace(_VIEWED, time=t, insert_id=f"i-{user}-{device}-{t}", org_ids=orgs, **ids)


def _fill(db: Database, key: bytes, vendor: str) -> None:
    """a: contact, name and org; c: browser as a device, then signed in (a stitched
    device); b: not in the directory; d: a device only; e: first seen before the window."""
    rec = LedgerRecorder(key)
    sends = [
        (_event(T, user="a", device=None, orgs=("org-1",)), [EMAIL, NAME, ORG]),
        (_event(T + 10, user=None, device="dev-c"), [BROWSER]),
        (_event(T + 20, user="c", device="dev-c"), [BROWSER]),
        (_event(T + 30, user="b", device=None), [EMAIL]),
        (_event(T + 40, user=None, device="dev-d"), [BROWSER]),
        (_event(T - 90 * 86_400, user="e", device=None), [NAME]),
        (_event(T + 50, user="e", device=None), [BROWSER]),
    ]
    for event, sent in sends:
        batch = rec.prepare([Disclosure(vendor, event, {}, sent)], now=T + 1000)
        db.writer.call(functools.partial(write_batch, batch=batch))
        rec.committed(batch)


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = open_database(db_url)
    yield database
    database.close()


@pytest.mark.parametrize("vendor", ["mp", "mp's"], ids=["plain", "quoted-name"])
def test_both_readers_give_the_same_scope(
    tmp_path: Path, db: Database, db_url: str, vendor: str
) -> None:
    config = _config(tmp_path, db_url, vendor)
    _fill(db, KeyRing(tmp_path / "keys").ledger_key(), vendor)
    store = IncidentStore(db)
    incident = store.open(vendor, aware_at=T + 2000)
    arrow = run_scope(config, db, incident.id)
    rows = run_scope(config, db, incident.id, arrow_ledger=False)
    assert arrow.exposures == rows.exposures
    assert len(arrow.exposures) == 5  # a, b, c (with dev-c), d, e (inside the window)
    assert {k: v for k, v in arrow.summary.items() if k != "version"} == {
        k: v for k, v in rows.summary.items() if k != "version"
    }
    readers = [v["inputs"]["ledger_reader"] for v in store.versions(incident.id)]  # type: ignore[index]
    # A vendor name that cannot be inlined in the driver's SQL is read through SQLAlchemy.
    assert readers == ["arrow" if vendor == "mp" else "sqlalchemy", "sqlalchemy"]


def test_org_ids_of_a_person_in_several_orgs_are_listed_once_each(
    tmp_path: Path, db: Database, db_url: str
) -> None:
    """a: the directory's org-1, and org-1 and org-2 in the ledger; c: the directory's
    org-2 only; the others, not in the directory: none."""
    config = _config(tmp_path, db_url, "mp")
    key = KeyRing(tmp_path / "keys").ledger_key()
    _fill(db, key, "mp")
    rec = LedgerRecorder(key)
    event = _event(T + 60, user="a", device=None, orgs=("org-2", "org-1"))
    batch = rec.prepare([Disclosure("mp", event, {}, [NAME])], now=T + 1000)
    db.writer.call(functools.partial(write_batch, batch=batch))
    store = IncidentStore(db)
    run = run_scope(config, db, store.open("mp", aware_at=T + 2000).id)
    orgs = {e.user_id: e.org_ids for e in run.exposures if e.user_id}
    assert orgs == {"a": ("org-1", "org-2"), "c": ("org-2",)}
    assert {e.org_ids for e in run.exposures if not e.user_id} == {()}  # b, d, e: unnamed
    assert run.summary["orgs"] == 2
