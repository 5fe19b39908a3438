"""The SMTP tripwire: who it accepts, floods, and hostile mail."""

from __future__ import annotations

import smtplib
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from seawall.canary.smtp import MAX_PER_PEER
from tests.canary.conftest import CanaryStack
from tests.support import wait_for

SUMMARY_INTERVAL = 10.0


class Clock:
    """The alert dispatcher's time, moved only by the test: a flood falls in one folding
    window however long a loaded machine takes to send it."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def canary_options(clock: Clock) -> dict[str, Any]:
    return {"summary_interval": SUMMARY_INTERVAL, "clock": clock}


def send(port: int, to: str, body: bytes, sender: str = "x@attacker.example.net") -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.sendmail(sender, [to], body)


def test_unknown_address_is_refused_at_rcpt_and_fires_nothing(canary_stack: CanaryStack) -> None:
    # A dictionary attack: guessed addresses, checked and abandoned the way a list of
    # canaries would be. None of it is recorded or alerted.
    s = canary_stack
    ((canary, _),) = s.mint("crm")
    with smtplib.SMTP("127.0.0.1", s.smtp_port, timeout=5) as client:
        client.ehlo("mx.attacker.example.net")
        for n in range(50):
            client.mail("x@attacker.example.net")
            code, _ = client.rcpt(f"amara.okafor{1000 + n}@canary.example.com")
            assert code == 550
            assert client.verify(f"amara.okafor{1000 + n}@canary.example.com")[0] == 252
            client.rset()
        client.mail("x@attacker.example.net")
        assert client.rcpt("nobody@canary.example.com")[0] == 550
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        send(s.smtp_port, "nobody@canary.example.com", b"Subject: hi\r\n\r\nhello\r\n")
    # Every reply has come back, and a hit is committed before its reply: none is.
    assert s.store.hits() == []
    # A mail to the real canary, after all that: once its alerts are in, any alert the
    # guesses had started would have come before them.
    send(s.smtp_port, canary.email, b"Subject: marker\r\n\r\nhello\r\n")
    wait_for(lambda: len(s.receiver.bodies) == 2, timeout=30)
    assert sorted(path for path, _ in s.receiver.bodies) == ["/hook", "/slack"]
    (alert,) = s.receiver.json("/hook")
    assert (alert["canary"], alert["kind"], alert["channel"]) == (canary.id, "hit", "email")
    assert [h.canary_id for h in s.store.hits()] == [canary.id]


def test_a_flood_is_one_alert_and_a_summary(canary_stack: CanaryStack, clock: Clock) -> None:
    s = canary_stack
    ((canary, _),) = s.mint("crm")
    body = b"From: a@attacker.example.net\r\nSubject: win\r\n\r\nclick https://x.example.net\r\n"

    def burst(n: int) -> None:
        with smtplib.SMTP("127.0.0.1", s.smtp_port, timeout=10) as client:
            for _ in range(n):
                client.sendmail("a@attacker.example.net", [canary.email], body)

    with ThreadPoolExecutor(10) as pool:
        list(pool.map(burst, [100] * 10))
    # Still accepting after the flood.
    send(s.smtp_port, canary.email, body)
    assert len(s.store.hits(canary.id, limit=5000)) == 1001
    (first,) = wait_for(lambda: s.receiver.json("/hook"), timeout=30)
    assert (first["kind"], first["hits"]) == ("hit", 1)

    clock.now += SUMMARY_INTERVAL  # the window ends: the other 1,000 are one summary
    hooks = wait_for(lambda: (h := s.receiver.json("/hook")) and len(h) == 2 and h, timeout=30)
    assert [(b["kind"], b["hits"]) for b in hooks] == [("hit", 1), ("summary", 1000)]
    assert {b["canary"] for b in hooks} == {canary.id}


def test_connections_are_bounded_and_the_bound_frees_up(canary_stack: CanaryStack) -> None:
    # Each open connection may hold a message in memory: one peer gets at most
    # MAX_PER_PEER at once, the next is told to come back (421), and a closed one
    # frees its place.
    s = canary_stack
    held = [smtplib.SMTP("127.0.0.1", s.smtp_port, timeout=10) for _ in range(MAX_PER_PEER)]
    try:
        with pytest.raises(smtplib.SMTPConnectError) as refused:
            smtplib.SMTP("127.0.0.1", s.smtp_port, timeout=10)
        assert refused.value.smtp_code == 421
        held.pop().quit()

        def admitted() -> bool:
            try:
                smtplib.SMTP("127.0.0.1", s.smtp_port, timeout=10).quit()
            except smtplib.SMTPConnectError:
                return False
            return True

        assert wait_for(admitted, timeout=10)
    finally:
        for client in held:
            client.close()
