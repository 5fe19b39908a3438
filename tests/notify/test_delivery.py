"""Campaigns delivered to a real SMTP server (aiosmtpd on 127.0.0.1)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest

from seawall.core.config import Smtp
from seawall.incident.directory import Person
from seawall.incident.store import IncidentStore
from seawall.notify.errors import DeliveryError, TemplateError
from seawall.notify.send import SendOptions, send_campaign
from seawall.notify.store import NotifyStore
from seawall.notify.wave import plan_wave
from seawall.sink.server import free_port
from seawall.storage.database import Database, open_database
from tests.notify.smtpd import smtp_server, smtp_server_process, temporarily_then
from tests.notify.world import (
    ALL_PHRASES,
    PROFILES,
    exposures,
    incident_with_scope,
    people,
    user_id,
    widen,
)

SENDER = "Example Security <security@example.com>"
FAST = SendOptions(rate=0, concurrency=8, retry_base=0.2, retry_max=0.5, max_attempts=30)


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = open_database(db_url)
    yield database
    database.close()


def _text(msg: EmailMessage) -> str:
    part = msg.get_body(preferencelist=("plain",))
    assert part is not None
    content = part.get_content()
    assert isinstance(content, str)
    return content


def _send(db: Database, campaign: int, port: int, ppl: list[Person]) -> dict[str, object]:
    return send_campaign(
        db, campaign, smtp=Smtp(host="127.0.0.1", port=port), people=ppl, options=FAST
    )


def test_a_campaign_to_1000_users_and_their_org_admins(tmp_path: Path) -> None:
    # SQLite only: the big run checks delivery; the other tests run on both backends.
    db = open_database(f"sqlite:///{tmp_path / 'seawall.db'}")
    ppl = people(1000, orgs=20)
    incident = incident_with_scope(db, exposures(range(1000)))
    users = plan_wave(db, incident, "users", ppl, sender=SENDER).campaign
    admins = plan_wave(db, incident, "org_admins", ppl, sender=SENDER).campaign
    assert users is not None
    assert admins is not None
    with smtp_server_process(tmp_path / "mail") as (read, port):
        assert _send(db, users.id, port, ppl)["sent"] == 1000
        assert _send(db, admins.id, port, ppl)["sent"] == 20
        received = read()

    by_rcpt = Counter(r.rcpt_tos[0] for r in received)
    assert len(received) == 1020
    assert set(by_rcpt.values()) == {1}, "exactly one message per recipient"
    message_ids = set()
    for r in received:
        assert len(r.rcpt_tos) == 1
        msg = r.message()
        assert not msg.defects
        assert msg.get_content_type() == "multipart/alternative"
        assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
        assert msg["From"] == SENDER
        assert msg["To"].addresses[0].addr_spec == r.rcpt_tos[0]
        assert "List-Unsubscribe" not in msg
        message_ids.add(msg["Message-ID"])
        text = _text(msg)
        if r.rcpt_tos[0].startswith("admin-"):
            assert msg["Content-Language"] == "en"
            assert "50 member(s)" in msg["Subject"]
            assert "u0" not in text, "org notices name no members"
            continue
        i = int(r.rcpt_tos[0][1:7])
        assert msg["To"].addresses[0].display_name == f"User {i}"
        assert msg["Content-Language"] == ("en" if i % 2 == 0 else "fr")
        if i % 2 == 0:
            _, expected = PROFILES[i % 3]
            for heading in (
                "What Happened",
                "What Information Was Involved",
                "What We Are Doing",
                "What You Can Do",
                "For More Information",
            ):
                assert heading in text
            assert {p for p in ALL_PHRASES if p in text} == set(expected)
        else:
            assert "Ce qui s'est passé" in text
            assert "Les informations concernées" in text
    assert len(message_ids) == 1020

    timeline = [e.kind for e in IncidentStore(db).timeline(incident)]
    db.close()
    assert timeline.count("notices_started") == 2
    assert timeline.count("notices_finished") == 2


@pytest.mark.parametrize("pipelining", [False, True], ids=["one-by-one", "pipelined"])
def test_temporary_failures_are_retried_and_permanent_ones_recorded(
    db: Database, pipelining: bool
) -> None:
    ppl = people(40, orgs=4)
    incident = incident_with_scope(db, exposures(range(40)))
    campaign = plan_wave(db, incident, "users", ppl, sender=SENDER).campaign
    assert campaign is not None
    refused = {f"{user_id(i)}@example.com" for i in (3, 17, 29)}
    rule = temporarily_then(60, refused)
    with smtp_server(rule, pipelining=pipelining) as (server, port):
        doc = _send(db, campaign.id, port, ppl)
        delivered = {r.rcpt_tos[0] for r in server.received}
        assert server.refusals >= 60 + 3, "451 for a while, then 550 for some"
        assert server.ehlo <= FAST.concurrency, "a refusal keeps the connection (RSET)"
    assert doc["status"] == "finished"
    assert doc["sent"] == 37
    assert doc["failed"] == 3
    assert delivered == {f"{user_id(i)}@example.com" for i in range(40)} - refused
    failures = NotifyStore(db).notices(campaign.id, state="failed")
    assert {n.recipient for n in failures} == {f"user:{user_id(i)}" for i in (3, 17, 29)}
    assert all(n.reason == "550 5.1.1 mailbox unavailable" for n in failures)


def test_a_second_wave_reaches_only_the_newly_affected(db: Database) -> None:
    ppl = people(60, orgs=3)
    incident = incident_with_scope(db, exposures(range(40)))
    first = plan_wave(db, incident, "users", ppl, sender=SENDER).campaign
    assert first is not None
    with smtp_server() as (server, port):
        _send(db, first.id, port, ppl)
        widen(db, incident, exposures(range(60)))  # 20 more people affected
        second = plan_wave(db, incident, "users", ppl, sender=SENDER)
        assert second.campaign is not None
        assert second.campaign.wave == 2
        assert second.plan.summary()["excluded"] == {"already_notified": 40}
        _send(db, second.campaign.id, port, ppl)
        later = [r.rcpt_tos[0] for r in server.received[40:]]
    assert sorted(later) == [f"{user_id(i)}@example.com" for i in range(40, 60)]


def test_bad_templates_stop_the_campaign_before_anything_is_sent(
    db: Database, tmp_path: Path
) -> None:
    ppl = people(10, orgs=1)
    incident = incident_with_scope(db, exposures(range(10)))
    campaign = plan_wave(db, incident, "users", ppl, sender=SENDER).campaign
    assert campaign is not None
    broken = tmp_path / "broken"
    (broken / "en").mkdir(parents=True)
    (broken / "en" / "user.txt.j2").write_text("Hello\n{% if recipient.name %}\nno end\n")
    missing = tmp_path / "missing"
    (missing / "en").mkdir(parents=True)
    (missing / "en" / "user.html.j2").write_text("<p>\n{{ recipient.shoe_size }}</p>\n")
    from seawall.notify.render import Renderer

    with smtp_server() as (server, port):
        for folder, problem in ((broken, "line 3"), (missing, "line 2")):
            with pytest.raises(TemplateError, match=problem) as info:
                send_campaign(
                    db,
                    campaign.id,
                    smtp=Smtp(host="127.0.0.1", port=port),
                    people=ppl,
                    renderer=Renderer(folder),
                    options=FAST,
                )
            assert str(folder / "en") in str(info.value)
        assert server.count() == 0
    assert NotifyStore(db).counts(campaign.id)["pending"] == 10


def test_hostile_directory_rows_are_excluded_or_sanitised(db: Database) -> None:
    ppl = [  # user 0 is not in the directory at all
        Person(user_id(1), "u1@example.com", "Eve\r\nBcc: x@example.com", None, None, "en", None),
        Person(user_id(2), "not-an-address", "Bob", None, None, "en", None),
        Person(user_id(3), "u3@example.com\r\nBcc: x@example.com", "Carl", None, None, "en", None),
        Person(user_id(4), None, "Dan", None, None, "en", None),
    ]
    incident = incident_with_scope(db, exposures(range(5)))
    wave = plan_wave(db, incident, "users", ppl, sender=SENDER)
    assert wave.campaign is not None
    assert wave.plan.summary()["excluded"] == {"invalid_email": 2, "no_email": 2}
    with smtp_server() as (server, port):
        doc = _send(db, wave.campaign.id, port, ppl)
        [received] = server.received
    assert doc["sent"] == 1
    assert received.rcpt_tos == ["u1@example.com"]
    msg = received.message()
    assert "Bcc" not in msg
    assert msg["To"].addresses[0].display_name == "Eve Bcc: x@example.com"
    assert msg["To"].addresses[0].addr_spec == "u1@example.com"
    assert b"\r\nBcc:" not in received.data


def test_a_relay_outage_uses_up_no_attempts_and_the_campaign_completes(db: Database) -> None:
    """Nothing listens on the relay's port for a while: notices wait instead of failing
    after their few attempts, and all are delivered once the relay is back."""
    ppl = people(30, orgs=3)
    incident = incident_with_scope(db, exposures(range(30)))
    campaign = plan_wave(db, incident, "users", ppl, sender=SENDER).campaign
    assert campaign is not None
    port = free_port()
    options = SendOptions(
        rate=0, concurrency=4, retry_base=0.05, retry_max=0.1, max_attempts=2, relay_retry=0.1
    )
    outcome: dict[str, object] = {}

    def run() -> None:
        outcome.update(
            send_campaign(
                db, campaign.id, smtp=Smtp(host="127.0.0.1", port=port), people=ppl, options=options
            )
        )

    sender = threading.Thread(target=run)
    sender.start()
    time.sleep(1.5)  # about fifteen rounds of refused connections per worker
    assert NotifyStore(db).counts(campaign.id)["failed"] == 0
    with smtp_server(port=port) as (server, _):
        sender.join(60)
        assert not sender.is_alive()
        assert server.count() == 30
    assert outcome["sent"] == 30
    assert outcome["failed"] == 0
    assert all(n.attempts == 1 for n in NotifyStore(db).notices(campaign.id, state="sent"))


def test_a_relay_that_never_comes_back_stops_the_run_with_every_notice_pending(
    db: Database,
) -> None:
    ppl = people(10, orgs=1)
    incident = incident_with_scope(db, exposures(range(10)))
    campaign = plan_wave(db, incident, "users", ppl, sender=SENDER).campaign
    assert campaign is not None
    port = free_port()
    options = SendOptions(rate=0, concurrency=2, relay_retry=0.1, relay_patience=0.5)
    with pytest.raises(DeliveryError, match=rf"could not be reached.*notify send {campaign.id}"):
        send_campaign(
            db, campaign.id, smtp=Smtp(host="127.0.0.1", port=port), people=ppl, options=options
        )
    counts = NotifyStore(db).counts(campaign.id)
    assert counts["pending"] == 10
    assert counts["sending"] == counts["failed"] == counts["sent"] == 0
    assert all(n.attempts == 0 for n in NotifyStore(db).notices(campaign.id, state="pending"))
