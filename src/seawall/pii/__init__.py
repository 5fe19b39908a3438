"""The PII engine: finds personal data and secrets in free text, fast and exactly.

Detectors (pattern + validator) find emails, phone numbers, IP addresses, payment
cards, IBANs, US SSNs, JWTs, secret keys and credentials in URLs, also inside
percent-encoded, HTML-escaped and base64 text; ``KnownValues`` finds what Seawall
knows about the event's subject (their name, email, phone).  ``redact`` replaces
findings with tags and ``scrub_url`` rebuilds URLs with only what is safe to keep.
Pure functions, no I/O: the policy engine calls them on every kept string.
"""

from seawall.pii.engine import Scanner, redact, scan
from seawall.pii.finding import ENTITIES, KNOWN_VALUE, TAGS, Finding
from seawall.pii.known import KnownValues
from seawall.pii.url import DEFAULT_ALLOWED_PARAMS, scrub_url

__all__ = [
    "DEFAULT_ALLOWED_PARAMS",
    "ENTITIES",
    "KNOWN_VALUE",
    "TAGS",
    "Finding",
    "KnownValues",
    "Scanner",
    "redact",
    "scan",
    "scrub_url",
]
