"""Planning is pure: audiences, exclusions and waves as tables."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from seawall.incident.directory import Person
from seawall.incident.model import Exposure
from seawall.notify.campaign import Audience, Told, parse_audience, plan
from seawall.notify.errors import NotifyError


def _exp(uid: str | None, cats: tuple[str, ...], tier: str = "medium", **kw: object) -> Exposure:
    return Exposure(
        subject=f"s-{uid}",
        user_id=uid,
        org_ids=kw.pop("orgs", ("org-a",)),  # type: ignore[arg-type]
        categories=cats,
        fields=(),
        provenance="ledger",
        risk_tier=tier,  # type: ignore[arg-type]
        canary=bool(kw.pop("canary", False)),
    )


def _person(uid: str, email: str | None = "", role: str = "member", org: str = "org-a") -> Person:
    address = f"{uid}@example.com" if email == "" else email
    return Person(uid, address, uid.title(), org, role, "fr-CA", "CA")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("users", Audience("user")),
        ("org_admins", Audience("org_admin")),
        ("risk_tier=high", Audience("user", frozenset({"high"}))),
        ("users:category=user.contact", Audience("user", categories=("user.contact",))),
        (
            "org_admins:risk_tier=high,risk_tier=medium",
            Audience("org_admin", frozenset({"high", "medium"})),
        ),
    ],
)
def test_audiences(text: str, expected: Audience) -> None:
    assert parse_audience(text) == expected


@pytest.mark.parametrize(
    "text", ["everyone", "risk_tier=urgent", "users:colour=red", "category=system.x", "org:"]
)
def test_bad_audiences_say_what_to_write(text: str) -> None:
    with pytest.raises(NotifyError, match="audience"):
        parse_audience(text)


SCOPE = [
    _exp("ann", ("user.contact.email", "user.name"), "high"),
    _exp("bob", ("user.device",), "low"),
    _exp("cat", ("user.contact.email",), "medium"),
    _exp("dan", ("user.contact.email",)),
    _exp("eve", ("user.contact.email",)),
    _exp("fay", ("user.contact.email",)),
    _exp("canary-1", ("user.contact.email",), canary=True),
    _exp(None, ("user.device",)),
]
PEOPLE = [
    _person("ann"),
    _person("bob"),
    _person("cat", email=None),
    _person("dan", email="dan@@example.com"),
    _person("eve"),
    _person("fay"),
    _person("canary-1"),
    _person("boss", role="Owner"),
    _person("boss", role="admin"),  # the same admin twice: one notice
]


def test_users_plan_with_every_exclusion() -> None:
    earlier = {"user:fay": [Told(frozenset({"user.contact.email", "user.name"}))]}
    result = plan(SCOPE, PEOPLE, parse_audience("users"), suppressed={"eve"}, earlier=earlier)
    reasons = {n.user_id: n.reason for n in result.notices}
    assert reasons == {
        "ann": None,
        "bob": None,
        "cat": "no_email",
        "dan": "invalid_email",
        "eve": "suppressed",
        "fay": "already_notified",
        "canary-1": "canary",
    }
    assert result.anonymous == 1
    summary = result.summary()
    assert summary["to_send"] == 2
    assert summary["by_locale"] == {"fr-ca": 2}
    assert summary["by_risk_tier"] == {"high": 1, "low": 1}


def test_a_filter_narrows_the_scope() -> None:
    high = plan(SCOPE, PEOPLE, parse_audience("risk_tier=high"))
    assert [n.user_id for n in high.notices] == ["ann"]
    contact = plan(SCOPE, PEOPLE, parse_audience("category=user.contact"))
    assert "bob" not in {n.user_id for n in contact.notices}


def test_org_admins_learn_counts_and_categories_not_identities() -> None:
    scope = [*SCOPE, _exp("gus", ("user.location.coarse",), "high", orgs=("org-b",))]
    result = plan(scope, PEOPLE, parse_audience("org_admins"))
    [notice] = result.notices
    assert notice.recipient == "org:org-a:boss"
    assert notice.members == 7  # six people and one anonymous subject; not the canary
    assert notice.categories == ("user.contact.email", "user.device", "user.name")
    assert result.orgs_without_admin == 1  # org-b


def test_an_admin_is_told_again_only_when_more_members_or_data_are_involved() -> None:
    told = {
        "org:org-a:boss": [Told(frozenset({"user.contact.email", "user.device", "user.name"}), 7)]
    }
    again = plan(SCOPE, PEOPLE, parse_audience("org_admins"), earlier=told)
    assert again.notices[0].reason == "already_notified"
    wider = [*SCOPE, _exp("hal", ("user.contact.email",))]
    more = plan(wider, [*PEOPLE, _person("hal")], parse_audience("org_admins"), earlier=told)
    assert more.notices[0].reason is None


def test_a_person_with_newly_exposed_data_is_told_again() -> None:
    told = {"user:ann": [Told(frozenset({"user.contact.email"}))]}
    result = plan(SCOPE[:1], PEOPLE, parse_audience("users"), earlier=told)
    assert result.notices[0].reason is None


ids = st.sampled_from([f"u{i}" for i in range(30)])


@given(st.lists(st.tuples(ids, st.sampled_from(["low", "medium", "high"])), max_size=60))
def test_every_user_is_planned_once_with_the_union_of_their_data(
    rows: list[tuple[str, str]],
) -> None:
    scope = [_exp(uid, (f"user.contact.{i % 3}",), tier) for i, (uid, tier) in enumerate(rows)]
    result = plan(scope, [_person(f"u{i}") for i in range(30)], parse_audience("users"))
    recipients = [n.recipient for n in result.notices]
    assert len(recipients) == len(set(recipients)) == len({u for u, _ in rows})
    for n in result.notices:
        mine = [e for e in scope if e.user_id == n.user_id]
        assert set(n.categories) == {c for e in mine for c in e.categories}
        assert n.reason is None
