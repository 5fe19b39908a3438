"""How ``incident match`` classifies a record by its id and email: canary first (its id,
its pseudonym or the canary domain), then directory user id, pseudonym, email. The id is
looked up in the directory ids, the pseudonyms and the canary ids at once, so these
cases pin each source and the precedence between them."""

from __future__ import annotations

from pathlib import Path

from seawall.core.crypto import pseudonym
from seawall.incident.directory import Person
from seawall.incident.match import match_file

VENDOR_KEY = b"v" * 32
LEDGER_KEY = b"l" * 32


def _person(user_id: str, email: str | None = None) -> Person:
    return Person(user_id, email, None, "o1", "member", "en", "DE")


def test_each_id_source_and_their_precedence(tmp_path: Path) -> None:
    # A directory id that happens to equal another user's pseudonym: the id itself wins.
    twin = pseudonym(VENDOR_KEY, "u4")
    people = {
        p.user_id: p
        for p in (
            _person("u1"),
            _person("u2"),
            _person("u3", "p3@example.com"),
            _person("u4"),
            _person("u5"),
            _person(twin),
        )
    }
    records = [
        ("c1", ""),  # a canary id outside the directory
        (pseudonym(VENDOR_KEY, "c1"), ""),  # that canary's pseudonym
        ("x", "z@Canary.Example.com"),  # an address at the canary domain
        ("u5", ""),  # a canary id that is a directory user too
        (pseudonym(VENDOR_KEY, "u5"), ""),  # ... and its pseudonym
        (pseudonym(VENDOR_KEY, "u2"), "p3@example.com"),  # pseudonym before email
        ("u1", "p3@example.com"),  # user id before email
        ("nobody", " P3@example.COM"),  # email alone
        (twin, ""),
        ("nobody", "nobody@example.org"),
        ("", ""),
    ]
    leak = tmp_path / "leak.csv"
    leak.write_text("user_id,email\n" + "".join(f"{i},{e}\n" for i, e in records), encoding="utf-8")
    result = match_file(
        leak,
        people,
        vendor_key=VENDOR_KEY,
        ledger_key=LEDGER_KEY,
        canary_user_ids={"c1", "u5"},
        canary_domain="canary.example.com",
        outcomes=tmp_path / "out.csv",
    )
    assert (tmp_path / "out.csv").read_text().splitlines() == [
        "line,outcome,method,user_id",
        "2,canary,canary,c1",
        "3,canary,canary,c1",
        "4,canary,canary,",
        "5,canary,canary,u5",
        "6,canary,canary,u5",
        "7,matched,pseudonym,u2",
        "8,matched,user_id,u1",
        "9,matched,email,u3",
        f"10,matched,user_id,{twin}",
        "11,unknown,,",
        "12,unknown,,",
    ]
    assert (result.matched, result.canaries, result.unknown) == (4, 5, 2)
    assert result.by_method == {"canary": 5, "email": 1, "pseudonym": 1, "user_id": 2}
    assert list(result.by_method) == sorted(result.by_method)  # the summary's key order
    shown = {("c1", True), ("u1", False), ("u2", False), ("u3", False), ("u5", True)}
    assert {(h.user_id, h.canary) for h in result.hits} == shown | {(twin, False)}
