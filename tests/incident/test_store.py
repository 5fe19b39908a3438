"""The incident store on SQLite and PostgreSQL: cases, timelines, scope versions."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from seawall.incident.errors import IncidentError, UnknownIncident
from seawall.incident.model import Exposure
from seawall.incident.store import IncidentStore
from seawall.storage.database import Database, open_database


@pytest.fixture
def store(db_url: str) -> Iterator[IncidentStore]:
    db = open_database(db_url)
    yield IncidentStore(db)
    db.close()


def _exp(subject: str, tier: str = "low", **kw: object) -> Exposure:
    base: dict[str, object] = {
        "subject": subject,
        "user_id": f"u-{subject}",
        "org_ids": ("org-1",),
        "categories": ("user.contact.email",),
        "fields": ("$email",),
        "provenance": "ledger",
        "risk_tier": tier,
        "first_seen": 1.0,
        "last_seen": 2.0,
    }
    base.update(kw)
    return Exposure(**base)  # type: ignore[arg-type]


def test_open_get_list_close(store: IncidentStore) -> None:
    a = store.open("mixpanel", aware_at=100.0, detected_at=50.0, trigger="vendor_notice")
    b = store.open("segment", title="Segment notice", owner="sec@example.com")
    assert (a.vendor, a.status, a.aware_at, a.detected_at, a.trigger) == (
        "mixpanel",
        "open",
        100.0,
        50.0,
        "vendor_notice",
    )
    assert a.title == "mixpanel incident"
    assert b.owner == "sec@example.com"
    assert [i.id for i in store.list()] == [b.id, a.id]
    closed = store.close(a.id, text="vendor confirmed no data left")
    assert closed.status == "closed"
    assert closed.closed_at is not None
    assert [e.kind for e in store.timeline(a.id)] == ["opened", "closed"]
    with pytest.raises(UnknownIncident, match="no incident with id 999"):
        store.get(999)


def test_bad_inputs_name_the_fix(store: IncidentStore) -> None:
    with pytest.raises(IncidentError, match="trigger"):
        store.open("mixpanel", trigger="rumour")  # type: ignore[arg-type]
    with pytest.raises(IncidentError, match="swap"):
        store.open("mixpanel", window_start=10.0, window_end=5.0)


def test_timeline_in_time_order_with_data(store: IncidentStore) -> None:
    inc = store.open("mixpanel", aware_at=10.0)
    store.add_timeline(inc.id, "authority_notified", "told the DPA", {"ref": "DPA-1"}, at=5e9)
    store.add_timeline(inc.id, "note", "called the vendor", at=4e9)
    entries = store.timeline(inc.id)
    assert [e.kind for e in entries] == ["opened", "note", "authority_notified"]
    assert entries[-1].data == {"ref": "DPA-1"}
    assert entries[-1].incident == inc.id


def test_open_or_append_lands_on_the_open_case(store: IncidentStore) -> None:
    first, opened = store.open_or_append(
        "mixpanel", trigger="canary", at=1.0e9, kind="canary_fired", text="mail", data={"n": 1}
    )
    again, opened_again = store.open_or_append(
        "mixpanel", trigger="canary", at=1.1e9, kind="canary_fired", text="beacon", data={}
    )
    assert opened
    assert not opened_again
    assert again.id == first.id
    assert first.trigger == "canary"
    assert first.aware_at == 1.0e9
    assert [e.kind for e in store.timeline(first.id)] == ["opened", "canary_fired", "canary_fired"]
    store.close(first.id)
    third, opened_third = store.open_or_append(
        "mixpanel", trigger="canary", at=1.2e9, kind="canary_fired", text="x", data={}
    )
    assert opened_third
    assert third.id != first.id


def test_scope_versions_are_kept(store: IncidentStore) -> None:
    inc = store.open("mixpanel")
    assert store.latest_scope(inc.id) == (0, [])
    v1 = store.save_scope(
        inc.id, [_exp("aa"), _exp("bb", "high")], inputs={"w": 1}, summary={"subjects": 2}
    )
    v2 = store.save_scope(
        inc.id,
        [_exp("aa", provenance="both", canary=True, org_ids=()), _exp("cc")],
        inputs={"w": 2},
        summary={"subjects": 2},
        timeline=("scoped", "scope from the ledger"),
    )
    assert (v1, v2) == (1, 2)
    version, latest = store.latest_scope(inc.id)
    assert version == 2
    assert [e.subject for e in latest] == ["aa", "cc"]
    assert latest[0].provenance == "both"
    assert latest[0].canary
    assert latest[0].org_ids == ()
    old = store.scope(inc.id, 1)
    assert old == [_exp("aa"), _exp("bb", "high")]
    assert [v["version"] for v in store.versions(inc.id)] == [1, 2]
    assert store.versions(inc.id)[0]["inputs"] == {"w": 1}
    assert store.timeline(inc.id)[-1].text == "scope from the ledger (version 2)"


def test_migration_is_idempotent(db_url: str) -> None:
    db: Database = open_database(db_url)
    db.migrate()
    assert IncidentStore(db).list() == []
    db.close()


def test_versions_saved_row_by_row_stay_readable(store: IncidentStore) -> None:
    """Versions saved before scope files existed (incident_exposures rows) read as before."""
    from sqlalchemy import insert

    from seawall.incident.tables import incident_exposures, incident_scopes

    inc = store.open("mixpanel")
    with store.db.engine.begin() as conn:
        conn.execute(
            insert(incident_scopes),
            [
                {
                    "incident": inc.id,
                    "version": 1,
                    "created_at": 1.0,
                    "inputs": "{}",
                    "summary": "{}",
                }
            ],
        )
        conn.execute(
            insert(incident_exposures),
            [
                {
                    "incident": inc.id,
                    "version": 1,
                    "subject": "bb",
                    "user_id": "u-bb",
                    "org_ids": '["org-1"]',
                    "categories": '["user.contact.email"]',
                    "fields": '["$email"]',
                    "provenance": "both",
                    "risk_tier": "high",
                    "first_seen": 1.0,
                    "last_seen": 2.0,
                    "canary": False,
                    "file_fields": '["email"]',
                }
            ],
        )
    assert store.latest_scope(inc.id) == (
        1,
        [_exp("bb", "high", provenance="both", file_fields=("email",))],
    )
    assert store.save_scope(inc.id, [_exp("cc")], inputs={}, summary={}) == 2
    assert store.scope(inc.id, 2) == [_exp("cc")]
