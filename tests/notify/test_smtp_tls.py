"""TLS and login against a real relay: aiosmtpd with STARTTLS or implicit TLS, a
certificate from a throwaway CA that the sender is told to trust through
SSL_CERT_FILE (as an operator with a private relay would), and AUTH PLAIN/LOGIN."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from seawall.core.config import Smtp
from seawall.notify.errors import DeliveryError
from seawall.notify.smtp import SmtpConnection
from seawall.sink.server import free_port
from tests.notify.smtpd import Recorder

PASSWORD = "correct horse battery staple"
MESSAGE = b"Subject: hello\r\n\r\nbody\r\n"


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (its own CA): (cert, key)."""
    openssl = shutil.which("openssl")
    assert openssl, "these tests need the openssl command to make a certificate"
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


def _check_login(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
        b"seawall",
        PASSWORD.encode(),
    )
    # handled=False: aiosmtpd answers the refusal itself (535)
    return AuthResult(success=ok, handled=False)


@contextmanager
def relay(certificate: tuple[Path, Path], *, implicit: bool) -> Iterator[tuple[Recorder, int]]:
    """aiosmtpd that requires TLS (STARTTLS, or TLS from the first byte) before AUTH."""
    cert, key = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    recorder, port = Recorder(), free_port()
    tls: dict[str, Any] = (
        # aiosmtpd counts only STARTTLS as TLS for AUTH; implicit TLS is TLS throughout
        {"ssl_context": context, "auth_require_tls": False}
        if implicit
        else {"tls_context": context, "require_starttls": True, "auth_require_tls": True}
    )
    controller = Controller(
        recorder,
        hostname="127.0.0.1",
        port=port,
        authenticator=_check_login,
        **tls,
    )
    controller.start()
    try:
        yield recorder, port
    finally:
        controller.stop()


def _send(config: Smtp) -> str:
    conn = SmtpConnection(config, timeout=10)
    try:
        return conn.deliver(MESSAGE, "security@example.com", "ada@example.com").result
    finally:
        conn.close()


@pytest.mark.parametrize("implicit", [False, True], ids=["starttls", "implicit-tls"])
def test_a_trusted_relay_gets_the_message_after_tls_and_login(
    certificate: tuple[Path, Path], implicit: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
    with relay(certificate, implicit=implicit) as (server, port):
        config = Smtp(
            host="127.0.0.1",
            port=port,
            starttls=not implicit,
            tls=implicit,
            username="seawall",
            password=PASSWORD,
        )
        assert _send(config) == "sent"
        assert [r.rcpt_tos for r in server.received] == [["ada@example.com"]]


def test_a_refused_login_says_so_at_once_without_the_password(
    certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
    with relay(certificate, implicit=False) as (server, port):
        config = Smtp(
            host="127.0.0.1", port=port, starttls=True, username="seawall", password="hunter2"
        )
        with pytest.raises(DeliveryError) as caught:
            _send(config)
        assert server.received == []
    text = str(caught.value)
    assert "refused the login of 'seawall'" in text
    assert "535" in text
    assert "hunter2" not in text


def test_an_untrusted_certificate_is_a_tls_error_not_a_delivery(
    certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The system's CA list, which does not hold the throwaway CA.
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path))
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "none.pem"))
    with relay(certificate, implicit=False) as (server, port):
        config = Smtp(
            host="127.0.0.1", port=port, starttls=True, username="seawall", password=PASSWORD
        )
        with pytest.raises(DeliveryError, match=r"TLS with the SMTP server .* failed"):
            _send(config)
        assert server.received == []


def test_starttls_asked_of_a_relay_without_it_is_refused_before_any_login() -> None:
    # A plain relay: the password must not cross the wire in the clear.
    recorder, port = Recorder(), free_port()
    controller = Controller(recorder, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        config = Smtp(
            host="127.0.0.1", port=port, starttls=True, username="seawall", password=PASSWORD
        )
        with pytest.raises(DeliveryError, match=r"smtp\.starttls"):
            _send(config)
    finally:
        controller.stop()
    assert recorder.received == []


def test_a_relay_that_wants_tls_before_login_says_what_to_set(
    certificate: tuple[Path, Path],
) -> None:
    # STARTTLS relay, sender configured without it: AUTH is not offered in the clear.
    with relay(certificate, implicit=False) as (server, port):
        config = Smtp(host="127.0.0.1", port=port, username="seawall", password=PASSWORD)
        with pytest.raises(DeliveryError, match=r"offers no login .* set smtp.starttls"):
            _send(config)
        assert server.received == []
