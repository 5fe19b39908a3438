"""Addresses and display names made safe for message headers.

A directory is data we did not write: a name may hold CR/LF (header injection), an
address may be malformed. Names are sanitised (control characters become spaces);
addresses are validated and a bad one excludes the recipient with a reason, so no
message is ever built from it.
"""

from __future__ import annotations

import re
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.utils import parseaddr

_CONTROL = re.compile(r"[\x00-\x1f\x7f\u0085\u2028\u2029]+")
_LOCAL = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}\Z")
_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)\Z")
_PLAIN = re.compile(
    r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:(?!-)[A-Za-z0-9-]{1,63}(?<!-)\.)+(?!-)[A-Za-z0-9-]{1,63}(?<!-)\Z"
)
MAX_NAME = 120


def clean_name(name: str | None) -> str:
    """A display name without control characters, collapsed spaces, at most 120 chars,
    and without RFC 2047 encoded words: the email package decodes ``=?utf-8?b?...?=``
    found in a header value and writes the result unquoted, so a name could smuggle
    ``Eve, attacker@evil.example`` into the To list that replies go to."""
    if not name:
        return ""
    text = " ".join(_CONTROL.sub(" ", name).split())
    return text[:MAX_NAME].replace("=?", "= ?")


def check_address(address: str | None) -> str | None:
    """The address if it is a plain, valid ``local@domain``; else None.

    Deliberately narrower than RFC 5322 (no quoted local parts, no comments, no IP
    literals): a security notice goes to ordinary mailboxes, and anything exotic is
    more likely an injection attempt than a person.
    """
    if not address or len(address) > 254:
        return None
    if _PLAIN.match(address):  # the common, all-ASCII case in one step
        return address if len(address.partition("@")[0]) <= 64 else None
    local, at, domain = address.rpartition("@")
    if not at or not _LOCAL.match(local) or ".." in local or local.startswith("."):
        return None
    if local.endswith("."):
        return None
    try:
        ascii_domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        return None
    labels = ascii_domain.split(".")
    if len(labels) < 2 or not all(_LABEL.match(label) for label in labels):
        return None
    return f"{local}@{domain}"


def parse_sender(sender: str) -> Address:
    """The configured ``smtp.sender`` as an Address, or ValueError naming the problem."""
    name, addr = parseaddr(sender)
    checked = check_address(addr)
    if checked is None:
        raise ValueError(f"'{sender}' has no valid address (want: Name <local@domain>)")
    local, _, domain = checked.rpartition("@")
    try:
        return Address(display_name=clean_name(name), username=local, domain=domain)
    except (HeaderParseError, ValueError) as exc:
        raise ValueError(f"'{sender}' is not a valid sender: {exc}") from None
