"""The value-fingerprint look-up of ``incident match`` on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import insert

from seawall.incident.run import fingerprint_lookup
from seawall.storage.database import open_database
from seawall.storage.tables import identity_links, ledger_values


def _fp(n: int) -> bytes:
    return n.to_bytes(16, "big")


def test_lookup_names_subjects_and_follows_links(db_url: str) -> None:
    db = open_database(db_url)
    try:
        values = [
            {"vendor": "mixpanel", "subject": _fp(1), "field": "$email", "fp": _fp(101)},
            {"vendor": "mixpanel", "subject": _fp(2), "field": "$email", "fp": _fp(102)},
            {"vendor": "mixpanel", "subject": _fp(3), "field": "$email", "fp": _fp(103)},
            {"vendor": "segment", "subject": _fp(1), "field": "$email", "fp": _fp(104)},
        ]
        with db.engine.begin() as conn:
            conn.execute(
                insert(ledger_values), [{**v, "first_seen": 1.0, "last_seen": 2.0} for v in values]
            )
            # subject 2 is a device stitched to user subject 9
            conn.execute(
                insert(identity_links), [{"alias": _fp(2), "subject": _fp(9), "first_seen": 1.0}]
            )
        lookup = fingerprint_lookup(db, "mixpanel", {_fp(1): "u-1", _fp(9): "u-9"})
        asked = [_fp(101), _fp(102), _fp(103), _fp(104), _fp(105), _fp(101)]
        assert lookup(asked) == {_fp(101): "u-1", _fp(102): "u-9"}
        assert lookup([]) == {}
        assert lookup([_fp(102)]) == {_fp(102): "u-9"}
        # more fingerprints than one statement takes: found across the chunks
        many = [_fp(n) for n in range(1_000, 71_000)] + [_fp(102), _fp(101)]
        assert lookup(many) == {_fp(101): "u-1", _fp(102): "u-9"}
    finally:
        db.close()
