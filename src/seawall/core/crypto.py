"""Keyed one-way functions: vendor pseudonyms and ledger fingerprints.

Both normalise before hashing so that a leaked ``Alice@Example.com `` matches what was
sent as ``alice@example.com``: NFKC, trimmed, case-folded.
"""

from __future__ import annotations

import hashlib
import hmac
import unicodedata

import orjson

from seawall.core.types import JSONValue

FINGERPRINT_BYTES = 16


def normalise(value: JSONValue) -> bytes:
    """The canonical bytes of a value for matching: strings NFKC, trimmed, case-folded;
    other JSON values in sorted-key JSON."""
    if isinstance(value, str):
        return (
            unicodedata.normalize("NFKC", value).strip().casefold().encode("utf-8", "surrogatepass")
        )
    if isinstance(value, bool) or value is None:
        return orjson.dumps(value)
    if isinstance(value, (int, float)):
        return str(value).encode()
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)


def fingerprint(key: bytes, value: JSONValue) -> bytes:
    """HMAC-SHA256 of the normalised value, truncated to 128 bits (collision-safe at any
    ledger size Seawall targets, half the storage)."""
    return hmac.new(key, normalise(value), hashlib.sha256).digest()[:FINGERPRINT_BYTES]


def pseudonym(key: bytes, value: str) -> str:
    """A stable, vendor-specific stand-in for an identifier. Not normalised: ids are
    case-sensitive, and the vendor must see the same pseudonym Seawall can recompute."""
    digest = hmac.new(key, value.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()
    return "sw_" + digest[:32]
