"""Canaries with real parts: a gateway under uvicorn, two vendor sinks, the SMTP
tripwire, and a webhook receiver."""

from __future__ import annotations

import smtplib
import time
from email.message import EmailMessage

import httpx

from seawall.incident.store import IncidentStore
from tests.canary.conftest import CanaryStack
from tests.support import wait_for


def phishing_mail(to: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "Account Security <no-reply@attacker.example.net>"
    msg["To"] = to
    msg["Subject"] = "Unusual sign-in: verify your account"
    msg.set_content("Verify now: https://login.attacker.example.net/verify?u=1\n")
    msg.add_alternative(
        '<p>Verify <a href="https://login.attacker.example.net/verify?u=1">here</a></p>'
        "<script>alert(1)</script>",
        subtype="html",
    )
    msg.add_attachment(
        b"%PDF-1.4 fake", maintype="application", subtype="pdf", filename="invoice.pdf"
    )
    return msg


def test_mail_and_beacon_name_the_vendor_that_leaked(canary_stack: CanaryStack) -> None:
    s = canary_stack
    ((crm, _url_crm),) = s.mint("crm")
    ((mailer, url_mailer),) = s.mint("mailer")
    assert set(crm.channels) == {"email", "beacon"}
    assert set(mailer.channels) == {"email", "beacon"}
    assert s.plant() == 2

    # Through the policy, outbox and forwarders, each vendor holds only its own canary.
    def arrived() -> bool:
        crm_text = str(s.received("crm"))
        mailer_text = str(s.received("mailer"))
        return crm.email in crm_text and mailer.email in mailer_text

    wait_for(arrived, timeout=10)
    assert mailer.email not in str(s.received("crm"))
    assert crm.email not in str(s.received("mailer"))
    assert url_mailer in str(s.received("mailer"))

    started = time.monotonic()
    with smtplib.SMTP("127.0.0.1", s.smtp_port, timeout=5) as client:
        client.send_message(phishing_mail(crm.email))
    assert (
        httpx.get(
            url_mailer, headers={"User-Agent": "curl/8.0", "Referer": "https://paste.example.org/x"}
        ).status_code
        == 200
    )

    def both() -> dict[str, dict[str, object]] | None:
        by_vendor = {b["vendor"]: b for b in s.receiver.json("/hook")}
        return by_vendor if {"crm", "mailer"} <= by_vendor.keys() else None

    alerts = wait_for(both, timeout=5)
    assert time.monotonic() - started < 5
    mail_alert, visit_alert = alerts["crm"], alerts["mailer"]
    assert mail_alert["canary"] == crm.id
    assert mail_alert["channel"] == "email"
    assert visit_alert["canary"] == mailer.id
    assert visit_alert["channel"] == "beacon"
    assert mail_alert["first_seen"].endswith("Z")
    assert mail_alert["evidence"]["subject"] == "Unusual sign-in: verify your account"
    assert visit_alert["evidence"]["user_agent"] == "curl/8.0"

    incidents = IncidentStore(s.runtime.db)
    incident = incidents.get(mail_alert["incident"])
    assert incident.vendor == "crm"
    assert incident.trigger == "canary"
    entry = incidents.timeline(incident.id)[-1]
    assert entry.kind == "canary_fired"
    evidence = entry.data["evidence"]
    assert isinstance(evidence, dict)
    assert "https://login.attacker.example.net/verify?u=1" in evidence["links"]
    assert evidence["attachments"][0]["name"] == "invoice.pdf"
    assert incidents.get(visit_alert["incident"]).vendor == "mailer"

    slack = wait_for(
        lambda: s.receiver.json("/slack") if len(s.receiver.json("/slack")) >= 2 else None
    )
    assert all(set(b) == {"text"} for b in slack)

    # The whole message is kept as evidence in the canary's hits.
    hit = s.store.hits(crm.id)[0]
    assert "<script>alert(1)</script>" in hit.evidence["html_source"]
