"""Structural URL scrubbing for ``$current_url``, ``$referrer`` and friends.

Redacting a URL as free text leaves its structure full of identifiers the detectors
have no name for (``/orders/8f14e45f...``, ``?session=...``).  ``scrub_url`` takes the
URL apart instead: it keeps the scheme, host and port, keeps only allowed query and
fragment parameters, and rewrites path segments that hold personal data (``[EMAIL]``)
or look like identifiers (``:id``).  Every component is decoded fully before it is
judged and re-encoded once afterwards, so the output is never half-decoded.  Anything
it cannot make safe raises ``PolicyError`` and the caller drops the value.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

from seawall.core.errors import PolicyError
from seawall.pii.engine import Scanner, default_scanner
from seawall.pii.known import KnownValues
from seawall.pii.validators import shannon_entropy

#: Campaign attribution survives scrubbing by default; everything else must be named.
DEFAULT_ALLOWED_PARAMS: frozenset[str] = frozenset(
    {"utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content", "utm_id"}
)
ID_PLACEHOLDER = ":id"
_MAX_URL_LENGTH = 16_384
_MAX_DECODE_ROUNDS = 4
_HOST = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*\.?")
_UUID = re.compile(
    r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}"
)
_LONG_NUMBER = re.compile(r"[0-9]{5,}")
_HEX = re.compile(r"[0-9a-fA-F]{12,}")
_TOKEN = re.compile(r"[A-Za-z0-9_=-]{16,}")
_SLUG_WORD = re.compile(r"[A-Za-z]+|[0-9]{1,4}")
_PATH_SAFE = "-._~!$&'()*+,;=:@[]"


def _fully_unquote(value: str) -> str:
    """Decode until stable; refuse values that are still encoded after several rounds."""
    for _ in range(_MAX_DECODE_ROUNDS):
        decoded = unquote(value, errors="replace")
        if decoded == value:
            return value
        value = decoded
    raise PolicyError("URL component is encoded too many times to inspect; dropped")


def looks_like_id(segment: str) -> bool:
    """UUIDs, long numbers, hashes and random tokens: values, not route names.

    Slugs (``how-to-export-2024``) stay: words and short numbers separated by dashes.
    """
    stem = segment.rsplit(".", 1)[0] if "." in segment[-6:] else segment
    if _UUID.search(stem) or _LONG_NUMBER.search(stem):
        return True
    if _HEX.fullmatch(stem) and any(c.isdigit() for c in stem) and any(c.isalpha() for c in stem):
        return True
    if _TOKEN.fullmatch(stem):
        words = re.split(r"[-_]", stem)
        if all(_SLUG_WORD.fullmatch(w) for w in words if w):
            return False
        has_digit = any(c.isdigit() for c in stem)
        has_upper_and_lower = stem.lower() != stem and stem.upper() != stem
        return (has_digit or has_upper_and_lower) and shannon_entropy(stem) >= 3.0
    return False


def _host(parts: object, netloc: str) -> str:
    """The lower-cased DNS host and port; IP-literal hosts are personal data themselves."""
    split = parts
    assert hasattr(split, "hostname")
    host: str | None = split.hostname
    if not host:
        raise PolicyError("URL has no host; dropped")
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError as exc:
            raise PolicyError("URL host is not a valid domain name; dropped") from exc
    if not _HOST.fullmatch(host) or host.replace(".", "").isdigit() or "[" in netloc:
        raise PolicyError("URL host is an IP address or not a domain name; dropped")
    try:
        port = split.port  # type: ignore[attr-defined]
    except ValueError as exc:
        raise PolicyError("URL port is invalid; dropped") from exc
    return f"{host}:{port}" if port is not None else host


def _scrub_segment(segment: str, scanner: Scanner, known: KnownValues | None) -> str:
    decoded = _fully_unquote(segment)
    redacted = scanner.redact(decoded, known)
    if redacted != decoded:
        return quote(redacted, safe=_PATH_SAFE)
    if looks_like_id(decoded):
        return ID_PLACEHOLDER
    return quote(decoded, safe=_PATH_SAFE)


def _scrub_params(
    query: str, allowed: frozenset[str], scanner: Scanner, known: KnownValues | None
) -> str:
    kept: list[tuple[str, str]] = []
    for key, value in parse_qsl(query, keep_blank_values=True, errors="replace"):
        name = _fully_unquote(key)
        if name in allowed:
            kept.append((name, scanner.redact(_fully_unquote(value), known)))
    return urlencode(kept, quote_via=quote)


def scrub_url(
    url: str,
    allowed_params: frozenset[str] = DEFAULT_ALLOWED_PARAMS,
    known: KnownValues | None = None,
    *,
    scanner: Scanner | None = None,
) -> str:
    """A safe version of an http(s) URL, or ``PolicyError`` (the caller drops the value).

    Credentials, the query and the fragment go, except ``allowed_params`` (whose values
    are redacted); path segments with personal data become tags, identifier-like
    segments ``:id``.  The result is checked once more and refused if the engine still
    finds anything in it.
    """
    scanner = scanner if scanner is not None else default_scanner()
    if not isinstance(url, str) or len(url) > _MAX_URL_LENGTH:
        raise PolicyError("URL is not a string of reasonable length; dropped")
    url = url.strip()
    if not url.isprintable() or " " in url:  # the only printable whitespace is " "
        raise PolicyError("URL contains whitespace or control characters; dropped")
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise PolicyError("value is not a parsable URL; dropped") from exc
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise PolicyError("value is not an http(s) URL; dropped")
    netloc = _host(parts, parts.netloc)
    path = "/".join(_scrub_segment(s, scanner, known) for s in parts.path.split("/"))
    if path and not path.startswith("/"):
        path = "/" + path
    query = _scrub_params(parts.query, allowed_params, scanner, known)
    fragment = ""
    if "=" in parts.fragment:
        fragment = _scrub_params(parts.fragment, allowed_params, scanner, known)
    result = urlunsplit((scheme, netloc, path, query, fragment))
    if scanner.scan(result, known=known) or scanner.scan(unquote(result), known=known):
        raise PolicyError("URL still holds personal data after scrubbing; dropped")
    return result
