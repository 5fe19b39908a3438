"""One SMTP transaction as a real server (aiosmtpd on 127.0.0.1) receives it."""

from __future__ import annotations

import pytest

from seawall.core.config import Smtp
from seawall.notify.smtp import SmtpConnection
from tests.notify.smtpd import smtp_server, temporarily_then


@pytest.mark.parametrize("pipelining", [False, True], ids=["one-by-one", "pipelined"])
def test_the_server_gets_the_bytes_we_meant(pipelining: bool) -> None:
    refused = {"gone@example.com"}
    with smtp_server(temporarily_then(0, refused), pipelining=pipelining) as (server, port):
        conn = SmtpConnection(Smtp(host="127.0.0.1", port=port))
        try:
            sent = [
                # lines starting with a dot are stuffed on the wire and unstuffed by the server
                conn.deliver(
                    b"Subject: a\r\n\r\n.one\r\n..two\r\n", "s@example.com", "a@example.com"
                ),
                conn.deliver(b"Subject: b\r\n\r\nx", "s@example.com", "gone@example.com"),
                # no final CRLF: the end-of-data dot still starts its own line
                conn.deliver(b"Subject: c\r\n\r\nno newline", "s@example.com", "b@example.com"),
                # an international domain travels in its ASCII (IDNA) form
                conn.deliver(b"Subject: d\r\n\r\nd\r\n", "s@example.com", "c@b\u00fccher.example"),
            ]
        finally:
            conn.close()
        received = [(r.rcpt_tos, r.data) for r in server.received]
        ehlo = server.ehlo
    assert [d.result for d in sent] == ["sent", "permanent", "sent", "sent"]
    assert sent[1].reply == "550 5.1.1 mailbox unavailable"
    assert received == [
        (["a@example.com"], b"Subject: a\r\n\r\n.one\r\n..two\r\n"),
        (["b@example.com"], b"Subject: c\r\n\r\nno newline\r\n"),
        (["c@xn--bcher-kva.example"], b"Subject: d\r\n\r\nd\r\n"),
    ]
    assert ehlo == 1, "the refusal reset the transaction and kept the connection"
