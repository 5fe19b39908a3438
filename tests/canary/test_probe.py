"""Probes: a canary's address checked over SMTP (RCPT with no message, VRFY, EXPN) by a
real client against the real tripwire, as a list verifier does before mailing."""

from __future__ import annotations

import inspect
import logging
import smtplib
import socket
import time
from collections.abc import Callable
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP

from seawall.canary.model import Canary
from seawall.canary.smtp import TripwireSMTP
from seawall.canary.store import CanaryStore
from seawall.incident.store import IncidentStore
from seawall.sink.server import free_port
from seawall.storage.database import open_database
from tests.canary.conftest import CanaryStack
from tests.support import wait_for

ATTACKER = "verify@attacker.example.net"
HELO = "mx.attacker.example.net"
IDLE_TIMEOUT = 3.0  # the server's idle timeout in this module (300 s in production)
PROBE_HOLD = 5.0  # how long a named canary waits for its message here (60 s in production)


@pytest.fixture
def canary_options(summary_interval: float) -> dict[str, Any]:
    return {
        "summary_interval": summary_interval,
        "smtp_timeout": IDLE_TIMEOUT,
        "probe_hold": PROBE_HOLD,
    }


def probed(s: CanaryStack, canary: Canary) -> smtplib.SMTP:
    """A connection that named ``canary`` at RCPT and was told 250."""
    client = smtplib.SMTP("127.0.0.1", s.smtp_port, timeout=10)
    client.ehlo(HELO)
    client.mail(ATTACKER)
    assert client.rcpt(canary.email.upper())[0] == 250
    return client


def alerts(s: CanaryStack, kind: str) -> list[dict[str, Any]]:
    return [b for b in s.receiver.json("/hook") if b["kind"] == kind]


def one_alert(s: CanaryStack, kind: str) -> dict[str, Any]:
    (alert,) = wait_for(lambda: alerts(s, kind), timeout=10)
    return alert


ENDINGS: dict[str, Callable[[smtplib.SMTP], object]] = {
    "QUIT": lambda c: c.quit(),
    "RSET": lambda c: c.rset(),
    "EHLO": lambda c: c.ehlo(HELO),
}


@pytest.mark.parametrize("ending", list(ENDINGS))
def test_a_checked_address_fires_a_probe_recorded_before_the_reply(
    canary_stack: CanaryStack, ending: str
) -> None:
    s = canary_stack
    ((canary, _),) = s.mint("crm")
    client = probed(s, canary)
    started = time.time()
    try:
        ENDINGS[ending](client)
        # The reply has come back: the probe is already committed.
        (hit,) = s.store.hits(canary.id)
    finally:
        client.close()
    assert (hit.channel, hit.vendor, hit.remote) == ("probe", "crm", "127.0.0.1")
    assert hit.at <= started
    assert hit.evidence == {
        "command": "RCPT",
        "address": canary.email.upper(),
        "envelope_from": ATTACKER,
        "peer": "127.0.0.1",
        "helo": HELO,
        "rcpts": 1,
        "ended": ending,
    }

    alert = one_alert(s, "probe")
    assert (alert["canary"], alert["vendor"], alert["channel"]) == (canary.id, "crm", "probe")
    assert alert["evidence"]["ended"] == ending
    assert alert["evidence"]["helo"] == HELO
    assert alert["first_seen"].endswith("Z")
    # The same incident a mail would open, and its timeline says what happened.
    incidents = IncidentStore(s.runtime.db)
    incident = incidents.get(alert["incident"])
    assert (incident.vendor, incident.trigger) == ("crm", "canary")
    entry = incidents.timeline(incident.id)[-1]
    assert entry.kind == "canary_probed"
    assert entry.data["hit_id"] == hit.id
    slack = wait_for(lambda: s.receiver.json("/slack"))
    assert "Canary probed: vendor crm" in slack[0]["text"]
    assert alerts(s, "hit") == []

    # Committed, not held in this process: a fresh connection to the database sees it.
    db = open_database(s.config.database_url())
    try:
        (count,) = CanaryStore(db).hit_counts()[canary.id]
        assert (count.channel, count.count) == ("probe", 1)
    finally:
        db.close()


def test_a_dropped_connection_is_a_probe(canary_stack: CanaryStack) -> None:
    s = canary_stack
    ((canary, _),) = s.mint("crm")
    client = probed(s, canary)
    assert client.sock is not None
    client.sock.shutdown(socket.SHUT_RDWR)  # no QUIT: the verifier just hangs up
    client.close()
    alert = one_alert(s, "probe")
    assert alert["evidence"]["ended"] == "dropped"
    assert [h.channel for h in s.store.hits(canary.id)] == ["probe"]


def test_an_idle_connection_times_out_into_a_probe(canary_stack: CanaryStack) -> None:
    s = canary_stack
    ((canary, _),) = s.mint("crm")
    client = probed(s, canary)
    try:
        alert = one_alert(s, "probe")
    finally:
        client.close()
    assert alert["evidence"]["ended"] == "timeout"


def test_aiosmtpd_still_times_out_through_the_private_hook_the_tripwire_overrides() -> None:
    # TripwireSMTP overrides aiosmtpd's private ``SMTP._timeout_cb`` (1.4 has no public
    # timeout hook). Should an upgrade rename it, the override would silently never run
    # and timed-out probes would read "dropped": fail here, by name, instead.
    hook = getattr(SMTP, "_timeout_cb", None)
    assert callable(hook), "aiosmtpd.smtp.SMTP._timeout_cb is gone: see TripwireSMTP"
    assert "self._timeout_cb" in inspect.getsource(SMTP._reset_timeout), (
        "aiosmtpd's idle timer no longer calls SMTP._timeout_cb: see TripwireSMTP"
    )
    assert TripwireSMTP._timeout_cb is not SMTP._timeout_cb


def test_a_transaction_kept_open_cannot_postpone_the_probe(canary_stack: CanaryStack) -> None:
    # NOOPs keep the connection from timing out; the probe fires at PROBE_HOLD anyway,
    # and a message sent after that is still alerted as mail.
    s = canary_stack
    ((canary, _),) = s.mint("crm")
    client = probed(s, canary)
    try:
        deadline = time.monotonic() + PROBE_HOLD + 6
        while not alerts(s, "probe") and time.monotonic() < deadline:
            assert client.noop()[0] == 250
            time.sleep(0.5)
        alert = one_alert(s, "probe")
        assert alert["evidence"]["ended"] == "held open"
        code, _ = client.data(b"Subject: late\r\n\r\nx\r\n")
        assert code == 250
        client.quit()
    finally:
        client.close()
    assert one_alert(s, "hit")["evidence"]["subject"] == "late"
    assert [h.channel for h in s.store.hits(canary.id)] == ["probe", "email"]


def test_vrfy_and_expn_answer_alike_and_a_canary_is_probed(canary_stack: CanaryStack) -> None:
    s = canary_stack
    ((canary, _),) = s.mint("crm")
    unknown = "amara.okafor1234@canary.example.com"
    with smtplib.SMTP("127.0.0.1", s.smtp_port, timeout=10) as client:
        assert client.verify(canary.email) == client.verify(unknown)
        assert client.verify(canary.email)[0] == 252
        assert client.verify(f"Amara <{canary.email}>") == client.verify(f"Amara <{unknown}>")
        utf8 = client.docmd("VRFY", f"{canary.email} SMTPUTF8")  # RFC 6531's parameter
        assert utf8 == client.docmd("VRFY", f"{unknown} SMTPUTF8")
        assert client.expn(canary.email) == client.expn(unknown)
        assert client.expn(canary.email)[0] == 502
        # Each reply came after its probe was committed.
        commands = [h.evidence["command"] for h in s.store.hits(canary.id)]
        assert commands == ["VRFY", "VRFY", "VRFY", "VRFY", "EXPN", "EXPN"]
    alert = one_alert(s, "probe")
    assert alert["evidence"]["command"] == "VRFY"
    assert "ended" not in alert["evidence"]
    assert {h.canary_id for h in s.store.hits()} == {canary.id}


def test_a_delivered_message_is_a_mail_not_a_probe(canary_stack: CanaryStack) -> None:
    s = canary_stack
    ((canary, _),) = s.mint("crm")
    with smtplib.SMTP("127.0.0.1", s.smtp_port, timeout=10) as client:
        client.sendmail(ATTACKER, [canary.email], b"Subject: hello\r\n\r\nx\r\n")
        client.rset()
    # RSET and QUIT were answered: a probe would already be on record.
    assert [h.channel for h in s.store.hits(canary.id)] == ["email"]
    one_alert(s, "hit")
    assert alerts(s, "probe") == []


def test_a_probe_then_a_message_alerts_both(canary_stack: CanaryStack) -> None:
    # Checked, then mailed on the same connection: the probe is reported when the check
    # ends, and the mail is not folded into it: its alert comes at once, with the
    # probe's time as the canary's first sighting.
    s = canary_stack
    ((canary, _),) = s.mint("crm")
    client = probed(s, canary)
    try:
        client.rset()
        client.sendmail(ATTACKER, [canary.email], b"Subject: invoice\r\n\r\nx\r\n")
        client.quit()
    finally:
        client.close()
    probe, mail = one_alert(s, "probe"), one_alert(s, "hit")
    assert mail["evidence"]["subject"] == "invoice"
    assert mail["first_seen"] == probe["first_seen"]
    assert mail["incident"] == probe["incident"]
    assert [h.channel for h in s.store.hits(canary.id)] == ["probe", "email"]


def test_repeated_probes_are_one_alert_and_a_summary(canary_stack: CanaryStack) -> None:
    s = canary_stack
    ((canary, _),) = s.mint("crm")
    with smtplib.SMTP("127.0.0.1", s.smtp_port, timeout=10) as client:
        client.ehlo(HELO)
        for _ in range(40):
            client.mail(ATTACKER)
            assert client.rcpt(canary.email)[0] == 250
            client.rset()

    def summarised() -> list[dict[str, Any]] | None:
        folded = alerts(s, "summary")
        return folded if sum(int(b["hits"]) for b in folded) == 39 else None

    summaries = wait_for(summarised, timeout=15)
    assert len(alerts(s, "probe")) == 1
    assert {b["channel"] for b in summaries} == {"probe"}
    assert summaries[0]["evidence"]["peers"] == ["127.0.0.1"]
    assert len(s.store.hits(canary.id)) == 40  # every probe is on record


def test_a_probe_still_open_at_shutdown_is_recorded_and_alerted(canary_stack: CanaryStack) -> None:
    s = canary_stack
    ((canary, _),) = s.mint("crm")
    client = probed(s, canary)
    try:
        s.stop()
    finally:
        client.close()
    # The tripwire closed before the alert loop drained: nothing waits for later.
    (alert,) = alerts(s, "probe")
    assert alert["evidence"]["ended"] == "shutdown"
    assert [h.evidence["ended"] for h in s.store.hits(canary.id)] == ["shutdown"]


def test_every_connection_open_at_shutdown_is_closed_and_its_probe_recorded(
    canary_stack: CanaryStack,
) -> None:
    s = canary_stack
    canaries = [canary for canary, _ in s.mint("crm", 3)]
    clients = [probed(s, canary) for canary in canaries]
    try:
        s.stop()
    finally:
        for client in clients:
            client.close()
    hits = s.store.hits()
    assert sorted(h.canary_id for h in hits) == sorted(c.id for c in canaries)
    assert {h.evidence["ended"] for h in hits} == {"shutdown"}
    assert {a["canary"] for a in alerts(s, "probe")} == {c.id for c in canaries}


def test_help_lists_what_a_stock_aiosmtpd_lists(canary_stack: CanaryStack) -> None:
    # The commands overridden here keep aiosmtpd's HELP text: the tripwire does not
    # stand out from any other aiosmtpd by what it says it supports.
    stock = Controller(object(), hostname="127.0.0.1", port=free_port(), enable_SMTPUTF8=True)
    stock.start()
    try:
        with smtplib.SMTP("127.0.0.1", stock.port, timeout=10) as client:
            expected = client.help()
    finally:
        stock.stop()
    with smtplib.SMTP("127.0.0.1", canary_stack.smtp_port, timeout=10) as client:
        assert client.help() == expected
        assert b"RSET" in expected


def test_a_list_checked_in_one_transaction_names_each_vendor(canary_stack: CanaryStack) -> None:
    s = canary_stack
    ((crm, _),) = s.mint("crm")
    ((mailer, _),) = s.mint("mailer")
    with smtplib.SMTP("127.0.0.1", s.smtp_port, timeout=10) as client:
        client.ehlo(HELO)
        client.mail(ATTACKER)
        assert client.rcpt("nobody@canary.example.com")[0] == 550
        assert client.rcpt(crm.email)[0] == 250
        assert client.rcpt(mailer.email)[0] == 250
        assert client.rcpt(crm.email)[0] == 250  # named twice: still one probe
    probes = wait_for(lambda: (found := alerts(s, "probe")) and len(found) == 2 and found)
    assert {(a["vendor"], a["canary"]) for a in probes} == {("crm", crm.id), ("mailer", mailer.id)}
    assert len({a["incident"] for a in probes}) == 2
    assert {a["evidence"]["rcpts"] for a in probes} == {4}
    assert len(s.store.hits()) == 2


def test_the_smtp_library_logs_no_envelope_addresses(
    canary_stack: CanaryStack, caplog: pytest.LogCaptureFixture
) -> None:
    s = canary_stack
    ((canary, _),) = s.mint("crm")
    caplog.set_level(logging.INFO)
    with smtplib.SMTP("127.0.0.1", s.smtp_port, timeout=10) as client:
        client.sendmail(ATTACKER, [canary.email], b"Subject: hello\r\n\r\nx\r\n")
    one_alert(s, "hit")
    assert ATTACKER not in caplog.text
    assert canary.email not in caplog.text
