"""A notice as the bytes an SMTP server receives, built without re-parsing headers.

:func:`seawall.notify.smtp.build_message` builds the same message with the email
package, which parses and folds every header value it is given: about 2.5 ms a notice,
a third of the sender's CPU. Here the parts that are the same for every notice of a
run (From, the subjects) are folded once by the email package and kept; the parts that
change per notice are either plain ASCII we checked ourselves (Message-ID, reference,
locale, and a display name of ordinary words) and written as they are, or handed to
the email package as before (any other display name). The output is byte for byte what
``build_message(...).as_bytes()`` gives for the same boundary and date (a test holds
both to it), so the MIME and header-injection guarantees are the email package's own:

- every header value is either folded by the email package or matched by a pattern
  that admits no CR, LF, quote, comma, ``=?`` or non-ASCII character;
- bodies are UTF-8, base64 (76-character lines) with CRLF line ends, so no body line
  can start with ``--`` or ``.`` and no boundary can appear in a body.
"""

from __future__ import annotations

import binascii
import random
import re
import time
from email.headerregistry import Address
from email.utils import formatdate

from seawall.notify.address import check_address, clean_name
from seawall.notify.render import Rendered
from seawall.notify.smtp import POLICY

# Display names written as they are: words of letters, digits, ' _ - separated by single
# spaces (what clean_name leaves). Anything else goes through the email package.
_PLAIN_NAME = re.compile(r"[A-Za-z0-9'_-]+(?: [A-Za-z0-9'_-]+)*\Z")
_TOKEN = re.compile(r"[\x21-\x7e]{1,200}\Z")  # one printable ASCII word: ids, references
_LOCALE = re.compile(r"[A-Za-z0-9-]{1,35}\Z")
_ASCII_ADDRESS = re.compile(r"[\x21-\x7e]{3,254}\Z")
_MAX_LINE = 78  # where the email package would fold
_B64_LINE = re.compile(rb".{1,76}", re.S)  # base64 has no newline; S is for clarity
_CRLF = b"\r\n"


def _fold(name: str, value: object) -> bytes:
    """One header as the email package writes it; ValueError on CR/LF, as it raises."""
    folded: str = POLICY.header_store_parse(name, value)[1].fold(policy=POLICY)
    return folded.encode("ascii")


def _base64(text: str) -> bytes:
    """What ``set_content(text, charset='utf-8', cte='base64')`` puts in the part: the
    whole body encoded at once, cut into 76-character lines by one regex call."""
    data = _CRLF.join(text.encode("utf-8").splitlines()) + _CRLF
    return _CRLF.join(_B64_LINE.findall(binascii.b2a_base64(data, newline=False))) + _CRLF


def _boundary() -> str:
    # The email generator's form; base64 bodies cannot contain it in any case.
    return "=" * 15 + f"{random.randrange(2**63):019d}" + "=="  # noqa: S311 - not a secret


class MessageBuilder:
    """Builds the notices of one run; keeps what every notice shares (not thread-bound)."""

    def __init__(self, sender: Address) -> None:
        self._from = _fold("From", sender)
        self._subjects: dict[str, bytes] = {}
        self._date: tuple[int, bytes] = (-1, b"")

    def build(
        self,
        *,
        to_name: str | None,
        to_address: str,
        rendered: Rendered,
        message_id: str,
        locale: str,
        reference: str,
        boundary: str | None = None,
        date: float | None = None,
    ) -> bytes:
        """The notice as CRLF-terminated bytes; ValueError on a bad address."""
        checked = check_address(to_address)
        if checked is None:
            raise ValueError("the recipient address is not a valid local@domain address")
        subject = clean_name(rendered.subject) or "Security notice"
        bound = (boundary or _boundary()).encode("ascii")
        head = b"".join(
            (
                self._from,
                self._to(clean_name(to_name), checked),
                self._subject(subject),
                self._date_header(date),
                self._token("Message-ID", message_id),
                b"Auto-Submitted: auto-generated\r\n",
                self._token("X-Seawall-Reference", reference),
                b"MIME-Version: 1.0\r\n",
                b'Content-Type: multipart/alternative;\r\n boundary="' + bound + b'"\r\n',
                self._locale(locale),
                _CRLF,
            )
        )
        return b"".join(
            (
                head,
                b"--" + bound + _CRLF,
                b'Content-Type: text/plain; charset="utf-8"\r\n',
                b"Content-Transfer-Encoding: base64\r\n\r\n",
                _base64(rendered.text),
                _CRLF + b"--" + bound + _CRLF,
                b'Content-Type: text/html; charset="utf-8"\r\n',
                # add_alternative() gives the second part its own MIME-Version; kept
                # so both builders agree byte for byte.
                b"Content-Transfer-Encoding: base64\r\nMIME-Version: 1.0\r\n\r\n",
                _base64(rendered.html),
                _CRLF + b"--" + bound + b"--" + _CRLF,
            )
        )

    def _to(self, name: str, address: str) -> bytes:
        if _ASCII_ADDRESS.match(address) and (not name or _PLAIN_NAME.match(name)):
            line = f"To: {name} <{address}>\r\n" if name else f"To: {address}\r\n"
            if len(line) <= _MAX_LINE + 2:
                return line.encode("ascii")
        local, _, domain = address.rpartition("@")
        return _fold("To", Address(display_name=name, username=local, domain=domain))

    def _subject(self, subject: str) -> bytes:
        found = self._subjects.get(subject)
        if found is None:
            if len(self._subjects) > 1024:  # subjects repeat; a bound in case they do not
                self._subjects.clear()
            found = self._subjects[subject] = _fold("Subject", subject)
        return found

    def _date_header(self, date: float | None) -> bytes:
        now = time.time() if date is None else date
        second, cached = self._date
        if int(now) != second:
            cached = f"Date: {formatdate(now, localtime=False, usegmt=True)}\r\n".encode()
            self._date = (int(now), cached)
        return cached

    @staticmethod
    def _token(name: str, value: str) -> bytes:
        if _TOKEN.match(value) and len(name) + 2 + len(value) <= _MAX_LINE:
            return f"{name}: {value}\r\n".encode("ascii")
        return _fold(name, value)

    @staticmethod
    def _locale(locale: str) -> bytes:
        if _LOCALE.match(locale):
            return f"Content-Language: {locale}\r\n".encode("ascii")
        return _fold("Content-Language", locale)
