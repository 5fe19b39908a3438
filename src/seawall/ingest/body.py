"""Turning an SDK request's bytes into JSON, shared by the Mixpanel and Segment decoders.

Everything here is a pure function of its input and raises only ``PayloadError`` (or
its ``PayloadTooLarge``): a request body is attacker-controlled, and the gateway maps
exactly those two to a 400 / 413 that tells the SDK to drop (or halve) the batch.

The limits are deliberately generous for real SDKs and tight for abuse:

* ``MAX_BODY_BYTES`` (4 MiB, also after gunzip): mixpanel-browser batches 50 events,
  analytics.js and analytics-python stay under Segment's 500 KB batch limit.
* ``MAX_EVENTS`` (2,000 per request): Mixpanel's own /import limit.
* ``MAX_DEPTH`` (32 nested arrays/objects): SDK payloads nest three to five levels.
* ``MAX_STRING_CHARS`` (32,768, keys and values): Segment's whole-message limit.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import zlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote_to_bytes

import orjson

from seawall.core.errors import PayloadError, PayloadTooLarge
from seawall.core.types import JSONValue


def _simd() -> Callable[..., bytes] | None:
    """SIMD base64 (pybase64): ~30x binascii's per-character loop on a 170 KB batch
    body; None on a platform without its wheel."""
    try:
        from pybase64 import b64decode
    except ImportError:  # pragma: no cover
        return None
    return b64decode


_simd_b64decode = _simd()

MAX_BODY_BYTES = 4 * 1024 * 1024
MAX_EVENTS = 2000
MAX_DEPTH = 32
MAX_STRING_CHARS = 32_768
MAX_FORM_FIELDS = 64

_GZIP_MAGIC = b"\x1f\x8b"
_MS_THRESHOLD = 1e11  # 1e11 s is the year 5138; 1e11 ms is 1973: larger means ms
_B64_URLSAFE = bytes.maketrans(b"-_ ", b"+/+")  # a raw '+' in a form body reads as ' '

_BARE_PERCENT = re.compile(rb"%(?![0-9A-Fa-f]{2})")


def check_size(body: bytes | str) -> None:
    """Refuse a body over ``MAX_BODY_BYTES`` before any work is spent on it."""
    if len(body) > MAX_BODY_BYTES:
        raise PayloadTooLarge(
            f"request body is {len(body)} bytes, over the {MAX_BODY_BYTES}-byte limit; "
            "send smaller batches"
        )


def gunzip(body: bytes) -> bytes:
    """Inflate a gzip body (analytics-python's ``gzip=True``, Mixpanel /import), bounded.

    Sniffed by magic number rather than ``Content-Encoding`` because JSON and form
    bodies never start with 0x1f, and the bound stops a small bomb from inflating
    past ``MAX_BODY_BYTES``.
    """
    if not body.startswith(_GZIP_MAGIC):
        return body
    inflater = zlib.decompressobj(wbits=31)
    try:
        out = inflater.decompress(body, MAX_BODY_BYTES + 1)
    except zlib.error as exc:
        raise PayloadError(f"request body is not valid gzip: {exc}") from None
    if len(out) > MAX_BODY_BYTES or inflater.unconsumed_tail:
        raise PayloadTooLarge(f"gzip body inflates past the {MAX_BODY_BYTES}-byte limit")
    if not inflater.eof:
        raise PayloadError("gzip body is truncated")
    return out


def parse_json(data: bytes | str, what: str) -> JSONValue:
    """Parse JSON with orjson (strict UTF-8, no NaN/Infinity, no lone surrogates) and
    enforce ``MAX_DEPTH`` and ``MAX_STRING_CHARS`` on it.

    Checking every string by walking the parsed tree cost as much as the rest of
    decoding, so the string limit is first ruled out on the JSON text with C-speed
    byte searches, and only the containers are walked for depth; the exact walk runs
    when the text cannot rule a long string out.
    """
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise PayloadError(f"{what} is not valid JSON (UTF-8): {exc}") from None
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    _check_text(raw, value, what)
    return value


def _check_text(raw: bytes, value: JSONValue, what: str) -> None:
    # A string longer than the limit spans a whole aligned chunk of half its size,
    # so that chunk holds no '"'. Escaped quotes break the argument: then walk.
    if type(value) is not dict and type(value) is not list:
        if type(value) is str and len(value) > MAX_STRING_CHARS:
            raise PayloadError(f"{what} has a string longer than {MAX_STRING_CHARS} characters")
        return
    half = MAX_STRING_CHARS // 2
    if b'\\"' in raw or any(b'"' not in raw[i : i + half] for i in range(0, len(raw), half)):
        _walk(value, 1, what)
    else:
        _check_depth(value, 1, what)


def _check_depth(value: Any, depth: int, what: str) -> None:
    if depth > MAX_DEPTH:
        raise PayloadError(f"{what} nests deeper than {MAX_DEPTH} levels")
    items = value.values() if type(value) is dict else value
    kinds = set(map(type, items))  # one C loop; most objects hold only scalars
    if dict in kinds or list in kinds:
        for item in items:
            if type(item) is dict or type(item) is list:
                _check_depth(item, depth + 1, what)


def parse_form(body: bytes) -> dict[str, bytes]:
    """Decode an ``application/x-www-form-urlencoded`` body into raw byte values.

    mixpanel-browser posts ``data=`` this way, and also as a ``text/plain`` beacon.
    Only the first value of a repeated key counts. Values stay bytes: the JSON parser
    checks their UTF-8, and percent-decoding a JSON-sized value with ``urllib`` was
    the slowest step of a request.
    """
    form: dict[str, bytes] = {}
    # mixpanel-browser's body is one field: a memchr finds no '&' faster than split's
    # byte-by-byte scan of ~70 KB of base64 finds it.
    pairs = body.split(b"&") if b"&" in body else [body]
    if len(pairs) > MAX_FORM_FIELDS:
        raise PayloadError(f"form body has more than {MAX_FORM_FIELDS} fields")
    for pair in pairs:
        if not pair:
            continue
        key, _, value = pair.partition(b"=")
        try:
            name = unquote_form(key).decode("utf-8")
        except UnicodeDecodeError:
            raise PayloadError("form body has a field name that is not valid UTF-8") from None
        form.setdefault(name, value)
    return form


def unquote_form(value: bytes) -> bytes:
    """Percent-decode a form value, ``+`` as space, exactly like ``unquote_to_bytes``.

    ``binascii.a2b_qp`` decodes ``=XX`` in C; with ``%`` mapped to ``=`` it agrees with
    ``unquote_to_bytes`` except on raw ``=``, line breaks and a trailing ``%`` (soft
    line breaks in quoted-printable) and a ``%`` not followed by two hex digits, so
    those inputs take the slow path.
    """
    value = value.replace(b"+", b" ")
    if b"%" not in value:
        return value
    if b"=" in value or b"\n" in value or b"\r" in value or _BARE_PERCENT.search(value):
        return unquote_to_bytes(value)
    return binascii.a2b_qp(value.replace(b"%", b"="))


def looks_like_json(data: bytes | str) -> bool:
    """True when the payload opens like a JSON array or object (after whitespace)."""
    head = data[:64].lstrip()
    if isinstance(head, bytes):
        return head[:1] in (b"[", b"{")
    return head[:1] in ("[", "{")


def parse_json_or_base64(data: bytes, what: str) -> JSONValue:
    """Mixpanel's ``data`` value: JSON as is, or base64 of UTF-8 JSON.

    mixpanel-browser sends base64 to any ``api_host`` that is not ``*.mixpanel.com``
    (so to Seawall by default) and plain JSON otherwise; both are accepted, as is the
    URL-safe alphabet and missing padding.
    """
    if looks_like_json(data):
        return parse_json(data, what)
    # Each whole-body pass counts (a batch is ~170 KB of base64): the translation runs
    # only when a character to translate is there (three memchr scans are cheaper),
    # and whitespace is looked for only when the strict decode refuses the text.
    if b"-" in data or b"_" in data or b" " in data:
        data = data.translate(_B64_URLSAFE)
    try:
        raw = strict_b64decode(data + b"=" * (-len(data) % 4))
    except (binascii.Error, ValueError):
        raw = _base64_with_whitespace(data, what)
    return parse_json(raw, what)


def strict_b64decode(data: bytes) -> bytes:
    """Strict base64 (standard alphabet, padded), SIMD where pybase64 is installed.

    pybase64 refuses a little more than binascii's strict mode (padding beyond what
    is needed); what it refuses goes on to the binascii path, so the result is
    binascii's for every input (a property test holds them to it)."""
    if _simd_b64decode is not None:
        return _simd_b64decode(data, validate=True)
    return binascii.a2b_base64(data, strict_mode=True)


def _base64_with_whitespace(text: bytes, what: str) -> bytes:
    """Decode base64 that the strict decoder refused as it is: without its whitespace
    (line-wrapped base64), or raise."""
    if len(text.split(maxsplit=1)) > 1:
        text = b"".join(text.split())
    text += b"=" * (-len(text) % 4)
    try:
        return binascii.a2b_base64(text, strict_mode=True)  # C; b64decode validates by regex
    except (binascii.Error, ValueError):
        raise PayloadError(f"{what} is neither JSON nor valid base64") from None


def _walk(value: Any, depth: int, what: str) -> None:
    if depth > MAX_DEPTH:
        raise PayloadError(f"{what} nests deeper than {MAX_DEPTH} levels")
    items = value.items() if type(value) is dict else enumerate(value)
    for key, item in items:
        if type(key) is str and len(key) > MAX_STRING_CHARS:
            raise PayloadError(f"{what} has a key longer than {MAX_STRING_CHARS} characters")
        kind = type(item)
        if kind is str:
            if len(item) > MAX_STRING_CHARS:
                raise PayloadError(f"{what} has a string longer than {MAX_STRING_CHARS} characters")
        elif kind is dict or kind is list:
            _walk(item, depth + 1, what)


def as_list(value: JSONValue, what: str) -> list[Any]:
    """A request holds one message or an array of them; bound the count."""
    if type(value) is dict:
        return [value]
    if type(value) is not list:
        raise PayloadError(f"{what} must be a JSON object or array, not {type_name(value)}")
    if len(value) > MAX_EVENTS:
        raise PayloadTooLarge(
            f"{what} holds {len(value)} messages, over the {MAX_EVENTS} limit; send smaller batches"
        )
    return value


def as_id(value: JSONValue, what: str) -> str | None:
    """An identifier: a string, or an integer the SDK did not stringify; empty is none."""
    if value is None or value == "":
        return None
    kind = type(value)
    if kind is str:
        return str(value)
    if kind is int:
        return str(value)
    raise PayloadError(f"{what} must be a string, not {type_name(value)}")


def id_of(obj: dict[str, Any], key: str, where: str) -> str | None:
    """``as_id(obj[key])``, with the error text built only when it is needed."""
    value = obj.get(key)
    if type(value) is str:
        return value or None
    if value is None:
        return None
    return as_id(value, f"{where}: '{key}'")


def as_object(value: JSONValue, what: str) -> dict[str, Any]:
    """A JSON object, or an empty one when absent (``null``)."""
    if value is None:
        return {}
    if type(value) is not dict:
        raise PayloadError(f"{what} must be a JSON object, not {type_name(value)}")
    result: dict[str, Any] = value
    return result


def epoch_seconds(obj: dict[str, Any], key: str, where: str) -> float | None:
    """``obj[key]``, a Unix time in seconds or milliseconds (told apart by size), as
    float seconds."""
    value = obj.get(key)
    if value is None:
        return None
    kind = type(value)
    if kind is not int and kind is not float:
        raise PayloadError(f"{where}: '{key}' must be a number of seconds, not {type_name(value)}")
    seconds = float(value)
    return seconds / 1000.0 if abs(seconds) >= _MS_THRESHOLD else seconds


def iso_seconds(value: JSONValue, what: str) -> float | None:
    """An ISO-8601 timestamp (Segment) as float Unix seconds; naive means UTC."""
    if value is None:
        return None
    if type(value) is not str:
        raise PayloadError(f"{what} must be an ISO-8601 string, not {type_name(value)}")
    try:
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.timestamp()
    except (ValueError, OverflowError, OSError):
        raise PayloadError(f"{what} is not an ISO-8601 timestamp: {value[:40]!r}") from None


def content_id(*parts: JSONValue) -> str:
    """A deterministic dedupe id for a message that carries none.

    The hash of the message's canonical JSON, so a retried identical message gets the
    same id and the vendor (and the outbox) drop the duplicate.
    """
    digest = hashlib.sha256()
    for part in parts:
        digest.update(orjson.dumps(part, option=orjson.OPT_SORT_KEYS))
        digest.update(b"\x00")
    return digest.hexdigest()[:32]


def basic_username(authorization: str | None) -> str | None:
    """The username of an HTTP Basic ``Authorization`` header (write key, API secret)."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "basic" or not token:
        return None
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    return decoded.partition(":")[0] or None


def type_name(value: JSONValue) -> str:
    """The JSON name of a value's type, for error messages."""
    if value is None:
        return "null"
    return {
        bool: "a boolean",
        int: "a number",
        float: "a number",
        str: "a string",
        list: "an array",
        dict: "an object",
    }.get(type(value), type(value).__name__)
