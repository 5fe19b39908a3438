"""Validators: the second half of every detector.

A detector's pattern only proposes candidates; its validator decides.  Each validator
takes the scanned text and a candidate span and returns the span to report (possibly
trimmed to the part that validates) or ``None``.  Checksums and parsers live here
because a pattern alone cannot tell a card number from an order number that fails
Luhn, or an IP address from a browser version.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import math
import re
from collections import Counter
from collections.abc import Callable
from functools import lru_cache

Span = tuple[int, int]
Validator = Callable[[str, int, int], Span | None]

#: Digits, lower case, upper case: the value of ``key=`` is ASCII (the pattern says so).
_CHARACTER_CLASSES = (re.compile("[0-9]"), re.compile("[a-z]"), re.compile("[A-Z]"))
_TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
_FILE_EXTENSIONS = frozenset(
    ("png", "jpg", "jpeg", "gif", "svg", "webp", "avif", "ico", "bmp", "tif", "tiff", "js",
     "mjs", "css", "map", "json", "html", "htm", "xml", "txt", "pdf", "woff", "woff2", "ttf",
     "otf", "eot", "mp4", "webm", "mp3", "wav", "zip", "gz")
)  # fmt: skip


def char_at(text: str, index: int) -> str:
    """The character at ``index``, or NUL outside the text.

    NUL is neither a word character nor in any punctuation set the validators test,
    so the edges of the text count as boundaries (``"" in "-."`` would be true).
    """
    return text[index] if 0 <= index < len(text) else "\x00"


def word_char(ch: str) -> bool:
    """Whether ``ch`` would continue a word or number (so a span next to it is a fragment)."""
    return ch.isalnum() or ch == "_"


def luhn_ok(digits: str) -> bool:
    """The Luhn checksum every payment card number carries."""
    total = sum(map(int, digits[-1::-2])) + sum(map(_LUHN_DOUBLED.__getitem__, digits[-2::-2]))
    return total % 10 == 0


#: Every second digit from the right counts doubled, minus 9 above 9.
_LUHN_DOUBLED = {str(d): 2 * d - 9 if d > 4 else 2 * d for d in range(10)}


def shannon_entropy(value: str) -> float:
    """Bits per character; random keys score high, words and repeated ids low."""
    counts = Counter(value)
    n = len(value)
    return -sum(c / n * math.log2(c / n) for c in counts.values())


def email(text: str, start: int, end: int) -> Span | None:
    """Trim punctuation the pattern admits at the edges; refuse file names like ``logo@2x.png``.

    An internationalised address (RFC 6531) is held to the same rules, its local part
    counted in UTF-8 octets and its domain in the ASCII form IDNA gives it (a domain
    IDNA refuses is no domain).
    """
    at = text.index("@", start, end)
    start = _local_start(text, start, at)
    if start < 0:
        return None
    domain = text[at + 1 : end]
    if char_at(text, end) == "@" or char_at(text, start - 1) == "@":
        return None
    if not domain.isascii():
        tld = domain[domain.rfind(".") + 1 :]
        if not tld.isascii() and any(ch.isascii() for ch in tld):
            # No TLD mixes scripts: the address ends where its TLD turns non-ASCII. A
            # mark or selector there (``.com\u0301``) is no part of it; a letter runs a
            # word on, a fragment refused below.
            cut = next(i for i, ch in enumerate(tld) if not ch.isascii())
            if cut < 2:
                return None
            end -= len(tld) - cut
            domain = text[at + 1 : end]
    if not domain.isascii():
        ascii_domain = idna_domain(domain)
        if ascii_domain is None:
            return None
        domain = ascii_domain
    if not domain_labels_ok(domain):
        return None
    tld = domain[domain.rfind(".") + 1 :].lower()
    if tld in _FILE_EXTENSIONS:
        return None
    if word_char(char_at(text, end)):
        return None
    return start, end


def _local_start(text: str, start: int, at: int) -> int:
    """Where the local part before ``at`` starts, or -1 when it has none.

    Scripts written without spaces (Japanese, Chinese, Thai) run their words into an
    address, and the pattern takes them into a Unicode local part. When that part is
    not a valid one (over 64 octets, ``..``), the address is its ASCII tail, as it was
    before internationalised addresses were admitted: never nothing at all."""
    start = _trimmed(text, start, at)
    local = text[start:at]
    if _local_ok(local):
        return start
    if local.isascii():
        return -1
    tail = start + max(i for i, ch in enumerate(local) if not ch.isascii()) + 1
    tail = _trimmed(text, tail, at)
    return tail if _local_ok(text[tail:at]) else -1


def _trimmed(text: str, start: int, at: int) -> int:
    while start < at and text[start] in "._+-":
        start += 1
    return start


def _local_ok(local: str) -> bool:
    if not local or len(local) > 64 or ".." in local or local.endswith("."):
        return False
    return local.isascii() or len(local.encode("utf-8", "surrogatepass")) <= 64


@lru_cache(maxsize=1024)
def idna_domain(domain: str) -> str | None:
    """The ASCII form IDNA gives a Unicode domain, or ``None`` when it has none.

    The stdlib codec is pure Python (nameprep, punycode): about 50 us a domain, more
    than the rest of a scan of the line, and a handful of domains recur."""
    try:
        return domain.encode("idna").decode("ascii")
    except UnicodeError:
        return None


def domain_labels_ok(domain: str) -> bool:
    """No label empty, longer than 63 or starting or ending with "-"; said of the
    whole domain at C speed (a generator over the labels cost more than the rest of
    the email check)."""
    if domain[:1] in ("", ".", "-") or domain[-1] in ".-":
        return False
    if ".." in domain or ".-" in domain or "-." in domain:
        return False
    return len(domain) <= 63 or max(map(len, domain.split("."))) <= 63


def ipv4(text: str, start: int, end: int) -> Span | None:
    """A parsed IPv4 address that is not part of a version string (``Chrome/120.0.0.0``)."""
    before, after = char_at(text, start - 1), char_at(text, end)
    if word_char(before) or before in ".-" or word_char(after) or after == "-":
        return None
    if after == "." and char_at(text, end + 1).isdigit():
        return None
    if before == "/" and word_char(char_at(text, start - 2)):
        return None  # product/version token in a user agent
    return (start, end) if ipv4_ok(text[start:end]) else None


def ipv4_ok(dotted: str) -> bool:
    """``ipaddress.IPv4Address``'s rule for four dot-separated groups of 1-3 ASCII
    digits (all the pattern admits): each at most 255, no leading zero."""
    for octet in dotted.split("."):
        if int(octet) > 255 or (octet[0] == "0" and len(octet) > 1):
            return False
    return True


def ipv6(text: str, start: int, end: int) -> Span | None:
    """A parsed IPv6 address; clock times and MAC addresses do not parse."""
    while end > start and text[end - 1] in ".:" and text[end - 2 : end] != "::":
        end -= 1
    candidate = text[start:end]
    before, after = char_at(text, start - 1), char_at(text, end)
    if word_char(before) or before in ":." or word_char(after):
        return None
    colons = candidate.count(":")
    if colons < 2 or len(candidate) - colons - candidate.count(".") < 3:
        return None
    try:
        ipaddress.IPv6Address(candidate)
    except ValueError:
        return None
    return start, end


def _card_prefix_ok(digits: str) -> bool:
    """Issuer ranges (Visa, Mastercard, Amex, Discover, Diners, JCB, UnionPay, Maestro)."""
    two, four = int(digits[:2]), int(digits[:4])
    n = len(digits)
    if digits[0] == "4":
        return n in (13, 16, 19)
    if 51 <= two <= 55 or 2221 <= four <= 2720:
        return n == 16
    if two in (34, 37):
        return n == 15
    if digits.startswith("6011") or two == 65 or 644 <= int(digits[:3]) <= 649:
        return 16 <= n <= 19
    if two in (36, 38) or 300 <= int(digits[:3]) <= 305:
        return 14 <= n <= 19
    if 3528 <= four <= 3589 or two == 62:
        return 16 <= n <= 19
    return two in (50, 56, 57, 58, 67) and 12 <= n <= 19


def credit_card(text: str, start: int, end: int) -> Span | None:
    """Luhn, issuer prefix and one consistent separator; trailing groups may be trimmed."""
    if word_char(char_at(text, start - 1)) or char_at(text, start - 1) in "-.":
        return None
    candidate = text[start:end]
    spaced, dashed = " " in candidate, "-" in candidate
    if spaced and dashed:
        return None
    if not spaced and not dashed:
        ok = _card_ok(candidate) and not word_char(char_at(text, end))
        return (start, end) if ok else None
    sep = " " if spaced else "-"
    groups = candidate.split(sep)
    for count in range(len(groups), 1, -1):
        digits = "".join(groups[:count])
        span_end = start + len(sep.join(groups[:count]))
        nxt = char_at(text, span_end)
        if word_char(nxt) or nxt in "-.":
            continue
        if _card_ok(digits):
            return start, span_end
    return None


def _card_ok(digits: str) -> bool:
    return 13 <= len(digits) <= 19 and _card_prefix_ok(digits) and luhn_ok(digits)


#: IBAN length per country (SWIFT IBAN registry).
IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22,
    "BH": 22, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22,
    "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FO": 18, "FR": 27,
    "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28,
    "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20,
    "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MD": 24,
    "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18, "NO": 15, "PK": 24,
    "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24, "SC": 31,
    "SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28, "TL": 23, "TN": 24,
    "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}  # fmt: skip


#: Each IBAN character as the digits mod-97 reads it: "A" -> "10" ... "Z" -> "35".
_IBAN_DIGITS = str.maketrans({chr(ord("A") + i): str(10 + i) for i in range(26)})


def iban_ok(compact: str) -> bool:
    """ISO 13616 mod-97 check on an IBAN without spaces (digits and capital letters)."""
    rearranged = compact[4:] + compact[:4]
    return int(rearranged.translate(_IBAN_DIGITS)) % 97 == 1


def iban(text: str, start: int, end: int) -> Span | None:
    """Country length and mod-97; takes exactly the country's length, grouped or not."""
    if word_char(char_at(text, start - 1)):
        return None
    length = IBAN_LENGTHS.get(text[start : start + 2])
    if length is None:
        return None
    chars: list[str] = []
    pos = start
    while pos < end and len(chars) < length:
        ch = text[pos]
        if ch != " ":
            chars.append(ch)
        pos += 1
    if len(chars) < length or word_char(char_at(text, pos)):
        return None
    compact = "".join(chars)
    return (start, pos) if iban_ok(compact) else None


def us_ssn(text: str, start: int, end: int) -> Span | None:
    """SSA rules: no area 000, 666 or 9xx, no group 00, no serial 0000, one separator."""
    candidate = text[start:end]
    if candidate[3] != candidate[6]:
        return None
    before, after = char_at(text, start - 1), char_at(text, end)
    if word_char(before) or before in "-./" or word_char(after) or after == "-":
        return None
    if after == "." and char_at(text, end + 1).isdigit():
        return None
    area, group, serial = candidate[:3], candidate[4:6], candidate[7:]
    if area in ("000", "666") or area[0] == "9" or group == "00" or serial == "0000":
        return None
    if candidate.replace(candidate[3], "") in ("123456789", "078051120", "219099999"):
        return None
    return start, end


def _b64url_json(segment: str) -> object:
    # Imported on first use: orjson brings datetime, uuid and platform with it, a
    # quarter of ``seawall scan``'s start-up, and most texts hold no JWT candidate.
    import orjson

    padded = segment + "=" * (-len(segment) % 4)
    try:
        return orjson.loads(base64.urlsafe_b64decode(padded))
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        return None


def jwt(text: str, start: int, end: int) -> Span | None:
    """Three base64url parts whose header is a JSON object naming an algorithm."""
    if char_at(text, start - 1) in _TOKEN_CHARS or char_at(text, end) in _TOKEN_CHARS:
        return None
    header = _b64url_json(text[start : text.index(".", start)])
    if not isinstance(header, dict) or "alg" not in header:
        return None
    return start, end


def prefixed_secret(text: str, start: int, end: int) -> Span | None:
    """A vendor-prefixed key: the prefix is the evidence; the body must look random."""
    if char_at(text, start - 1) in _TOKEN_CHARS or char_at(text, end) in _TOKEN_CHARS:
        return None
    body = text[start:end]
    if not any(ch.isdigit() for ch in body):
        return None  # slugs such as "sk-learn-classifier-..." have no digits
    return start, end


def generic_secret(text: str, start: int, end: int) -> Span | None:
    """``api_key=...`` and friends: report only the value, and only if it looks random."""
    if word_char(char_at(text, start - 1)):
        return None
    sep = min(i for i in (text.find("=", start, end), text.find(":", start, end)) if i >= 0)
    value_start = sep + 1
    while value_start < end and text[value_start] in " \"'":
        value_start += 1
    value = text[value_start:end].rstrip(".")
    end = value_start + len(value)
    if len(value) < 16 or len(value) > 512 or char_at(text, end) in _TOKEN_CHARS:
        return None
    if value.startswith("eyJ") or value.startswith("[") or value.count("=") > 2:
        return None
    classes = sum(1 for kind in _CHARACTER_CLASSES if kind.search(value))
    if classes < 2 or shannon_entropy(value) < 3.3:
        return None
    return value_start, end


def url_credentials(text: str, start: int, end: int) -> Span | None:
    """``scheme://user:pass@host``: report ``user:pass`` (the host stays readable)."""
    userinfo_start = text.index("://", start, end) + 3
    userinfo_end = end - 1  # the pattern ends on "@"
    userinfo = text[userinfo_start:userinfo_end]
    if not userinfo.partition(":")[2]:
        return None
    host = char_at(text, end)
    if not (host.isalnum() or host == "["):
        return None
    return userinfo_start, userinfo_end
