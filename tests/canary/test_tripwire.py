"""The SMTP tripwire: who it accepts, floods, and hostile mail."""

from __future__ import annotations

import smtplib
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from seawall.canary.smtp import MAX_PER_PEER
from tests.canary.conftest import CanaryStack
from tests.support import wait_for


@pytest.fixture
def summary_interval() -> float:
    return 10.0  # longer than the flood takes: the whole flood is one summary


def send(port: int, to: str, body: bytes, sender: str = "x@attacker.example.net") -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.sendmail(sender, [to], body)


def test_unknown_address_is_refused_at_rcpt_and_fires_nothing(canary_stack: CanaryStack) -> None:
    # A dictionary attack: guessed addresses, checked and abandoned the way a list of
    # canaries would be. None of it is recorded or alerted.
    s = canary_stack
    s.mint("crm")
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
    time.sleep(0.5)
    assert s.receiver.bodies == []
    assert s.store.hits() == []


def test_a_flood_is_one_alert_and_a_summary(canary_stack: CanaryStack) -> None:
    s = canary_stack
    ((canary, _),) = s.mint("crm")
    body = b"From: a@attacker.example.net\r\nSubject: win\r\n\r\nclick https://x.example.net\r\n"

    def burst(n: int) -> None:
        with smtplib.SMTP("127.0.0.1", s.smtp_port, timeout=10) as client:
            for _ in range(n):
                client.sendmail("a@attacker.example.net", [canary.email], body)

    started = time.monotonic()
    with ThreadPoolExecutor(10) as pool:
        list(pool.map(burst, [100] * 10))
    flood_seconds = time.monotonic() - started
    # Still accepting after the flood.
    send(s.smtp_port, canary.email, body)

    def summarised() -> list[dict[str, object]] | None:
        hooks = s.receiver.json("/hook")
        folded = sum(int(str(b["hits"])) for b in hooks if b["kind"] == "summary")
        return hooks if folded == 1000 else None

    hooks = wait_for(summarised, timeout=15)
    kinds = [b["kind"] for b in hooks]
    assert kinds[0] == "hit"
    assert kinds.count("hit") == 1
    # One summary per interval at most: a single one unless the flood outlasted it.
    assert 1 <= kinds.count("summary") <= 1 + int(flood_seconds // 10.0)
    assert {b["canary"] for b in hooks} == {canary.id}
    assert len(s.store.hits(canary.id, limit=5000)) == 1001


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
