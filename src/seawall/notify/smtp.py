"""Delivery over SMTP: one message, one connection per worker, replies classified.

Built on the standard library (``smtplib`` in worker threads): each worker keeps one
connection open and reuses it. ``smtplib`` sets up the connection (TLS, STARTTLS,
login); the transaction itself is written directly (``_transaction``), pipelined when
the server advertises PIPELINING. An asyncio client was measured too (docs/benchmarks.md):
with the same database work it saved little, and the time a notice waits is the
commit and the server, not the client.

Replies: 2xx is ``sent``; 4xx, a dropped connection or a timeout is ``temporary`` (the
notice is retried later with backoff); 5xx is ``permanent`` and the server's reply is
kept. Authentication and TLS failures raise DeliveryError: they concern every notice,
so the campaign stops before spending its recipients.

``build_message`` is the reference message, built with ``email.message.EmailMessage``
and ``email.policy.SMTP``: the header machinery folds and encodes values, display
names are stripped of CR/LF (``address.clean_name``) and addresses were validated when
the campaign was planned (and again here). Sending uses ``seawall.notify.message``,
which writes the same bytes for a fraction of the CPU. No List-Unsubscribe: a security
notice is transactional.
"""

from __future__ import annotations

import re
import smtplib
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from email import policy
from email.headerregistry import Address, BaseHeader, HeaderRegistry
from email.message import EmailMessage
from email.utils import formatdate
from typing import Literal

from seawall.core.config import Smtp
from seawall.notify.address import check_address, clean_name
from seawall.notify.errors import DeliveryError
from seawall.notify.render import Rendered

# base64: binascii does it in C; the email package's quoted-printable is pure Python
# and was most of the cost of building a message.
CTE = "base64"


class _Headers(HeaderRegistry):
    """The stdlib registry builds a new class on every lookup; build each once."""

    def __init__(self) -> None:
        super().__init__()
        self._classes: dict[str, type[BaseHeader]] = {}

    def __getitem__(self, name: str) -> type[BaseHeader]:
        key = name.lower()
        found = self._classes.get(key)
        if found is None:
            found = self._classes[key] = super().__getitem__(name)
        return found


POLICY = policy.SMTP.clone(header_factory=_Headers())
# unavailable: no connection to the server at all, so nothing was attempted for the
# notice (a relay outage must not use up every notice's attempts)
Result = Literal["sent", "temporary", "permanent", "unavailable"]


@dataclass(frozen=True, slots=True)
class Delivery:
    result: Result
    reply: str  # "250 ..." or the refusal, as the server worded it


def build_message(
    *,
    sender: Address,
    to_name: str | None,
    to_address: str,
    rendered: Rendered,
    message_id: str,
    locale: str,
    reference: str,
) -> EmailMessage:
    """A multipart/alternative notice (text, then HTML); ValueError on a bad address."""
    checked = check_address(to_address)
    if checked is None:
        raise ValueError("the recipient address is not a valid local@domain address")
    local, _, domain = checked.rpartition("@")
    msg = EmailMessage(policy=POLICY)
    msg["From"] = sender
    msg["To"] = Address(display_name=clean_name(to_name), username=local, domain=domain)
    msg["Subject"] = clean_name(rendered.subject) or "Security notice"
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    msg["Message-ID"] = message_id
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Seawall-Reference"] = reference
    msg.set_content(rendered.text, subtype="plain", charset="utf-8", cte=CTE)
    msg.add_alternative(rendered.html, subtype="html", charset="utf-8", cte=CTE)
    msg["Content-Language"] = locale  # after set_content, which clears Content-* headers
    return msg


class RateLimiter:
    """At most ``rate`` acquisitions in any one-second window, across threads (0: no limit).

    A sliding window, which is how relays count a per-second quota: it keeps the times
    of the last ``k = max(1, int(rate))`` acquisitions, and the next one waits until the
    oldest of them is ``k / rate`` seconds old. Within that bound acquisitions are not
    spaced out, so workers that got their notices in the same commit start together
    (spacing every acquisition ``1/rate`` apart made them queue behind each other, and
    capped short stretches of fast delivery even when the second as a whole was under
    the rate). A rate below 1 spaces acquisitions ``1/rate`` seconds apart.
    """

    def __init__(
        self,
        rate: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._count = max(1, int(rate)) if rate > 0 else 0
        self._window = self._count / rate if rate > 0 else 0.0
        self._recent: deque[float] = deque()
        self._clock, self._sleep = clock, sleep
        self._lock = threading.Lock()

    def acquire(self) -> None:
        if not self._count:
            return
        with self._lock:
            now = self._clock()
            start = now
            if len(self._recent) == self._count:
                start = max(now, self._recent.popleft() + self._window)
            self._recent.append(start)
        if start > now:
            self._sleep(start - now)


def _reply(code: int, message: bytes | str) -> str:
    text = message.decode("utf-8", "replace") if isinstance(message, bytes) else message
    return f"{code} {' '.join(text.split())}"


def _classify(code: int, message: bytes | str) -> Delivery:
    if 200 <= code < 300:
        return Delivery("sent", _reply(code, message))
    return Delivery("permanent" if code >= 500 else "temporary", _reply(code, message))


class SmtpConnection:
    """One reusable connection to the configured server (not shared between threads)."""

    def __init__(self, config: Smtp, *, timeout: float = 30.0) -> None:
        self._config = config
        self._timeout = timeout
        self._conn: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        c = self._config
        # Loading the system's CA certificates costs tens of milliseconds a connection:
        # only when TLS is used.
        context = ssl.create_default_context() if c.tls or c.starttls else None
        try:
            conn: smtplib.SMTP
            if c.tls:
                conn = smtplib.SMTP_SSL(c.host, c.port, timeout=self._timeout, context=context)
            else:
                conn = smtplib.SMTP(c.host, c.port, timeout=self._timeout)
            conn.ehlo_or_helo_if_needed()
            if c.starttls and not c.tls:
                conn.starttls(context=context)
                conn.ehlo()
            if c.username:
                if not conn.has_extn("auth"):
                    raise DeliveryError(
                        f"the SMTP server {c.host}:{c.port} offers no login (AUTH) on this "
                        "connection; if it wants TLS first, set smtp.starttls (usually port "
                        "587) or smtp.tls (465), else remove smtp.username"
                    )
                conn.login(c.username, c.password or "")
        except smtplib.SMTPAuthenticationError as exc:
            raise DeliveryError(
                f"the SMTP server {c.host}:{c.port} refused the login of '{c.username}': "
                f"{_reply(exc.smtp_code, exc.smtp_error)}; check smtp.username and the "
                "password variable"
            ) from None
        except (ssl.SSLError, smtplib.SMTPNotSupportedError) as exc:
            raise DeliveryError(
                f"TLS with the SMTP server {c.host}:{c.port} failed ({exc}); check smtp.tls "
                "(implicit TLS, usually port 465) and smtp.starttls (usually port 587)"
            ) from None
        return conn

    def deliver(self, message: bytes, from_address: str, to_address: str) -> Delivery:
        """One SMTP transaction of a CRLF-terminated message; never raises for a refusal,
        only for a server we cannot use."""
        if self._conn is None:
            try:
                self._conn = self._connect()
            except (smtplib.SMTPException, OSError) as exc:
                c = self._config
                return Delivery(
                    "unavailable", f"cannot reach {c.host}:{c.port}: {type(exc).__name__}: {exc}"
                )
        try:
            delivery, reset = _transaction(self._conn, message, from_address, to_address)
        except (smtplib.SMTPException, OSError) as exc:
            self.close()
            return Delivery("temporary", f"connection: {type(exc).__name__}: {exc}")
        if delivery.reply.startswith("421"):  # the server is closing the connection
            self.close()
        elif reset:
            try:
                self._conn.rset()
            except (smtplib.SMTPException, OSError):
                self.close()  # the refusal stands; the next notice reconnects
        return delivery

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            conn.quit()
        except (smtplib.SMTPException, OSError):
            conn.close()


def _envelope(address: str) -> str:
    """An address as the envelope carries it: ASCII, the domain in IDNA form."""
    if address.isascii():
        return address
    local, _, domain = address.rpartition("@")
    return f"{local}@{domain.encode('idna').decode('ascii')}"


def _transaction(
    conn: smtplib.SMTP, message: bytes, sender: str, recipient: str
) -> tuple[Delivery, bool]:
    """MAIL, RCPT, DATA and the message on an open connection.

    ``smtplib.sendmail`` parses both addresses again (``email.utils``) and runs two
    regular expressions over the whole message; our addresses are validated plain
    ``local@domain`` and our messages are CRLF-terminated, so the commands are written
    as they are. When the server advertises PIPELINING (RFC 2920) the three commands
    go in one write and their replies are read together: two round trips instead of
    four. Returns the outcome and whether the transaction must be reset (RSET) before
    the connection serves the next notice.
    """
    commands = (
        f"MAIL FROM:<{_envelope(sender)}>\r\n",
        f"RCPT TO:<{_envelope(recipient)}>\r\n",
        "DATA\r\n",
    )
    replies: list[tuple[int, bytes]] = []
    if conn.has_extn("pipelining"):
        conn.send("".join(commands))
        replies = [conn.getreply() for _ in commands]
    else:
        for command in commands:
            conn.send(command)
            replies.append(conn.getreply())
            if replies[-1][0] >= 400:
                break
    refused = next(((code, text) for code, text in replies[:2] if code >= 300), None)
    data_code, data_text = replies[2] if len(replies) == 3 else (0, b"")
    if data_code == 354 and refused is not None:
        # A server that accepted DATA after refusing the recipient: send it nothing.
        conn.send(b".\r\n")
        conn.getreply()
    if refused is not None or data_code != 354:
        return _classify(*(refused or (data_code, data_text))), True
    if message.startswith(b".") or b"\n." in message:  # never in our base64 bodies
        message = re.sub(rb"(?m)^\.", b"..", message)
    if not message.endswith(b"\r\n"):
        message += b"\r\n"  # the end-of-data dot must start a line
    conn.send(message + b".\r\n")
    code, text = conn.getreply()
    return _classify(code, text), False
