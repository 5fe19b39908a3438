"""Decoded views of a text, each with a map from its offsets back to the original.

Personal data in analytics strings is often encoded: ``jane%40example.com`` in an
invite URL, ``%252B`` after a redirect encoded it twice, ``+`` for spaces in a query
string, ``&#64;`` in scraped element text, a base64 blob in a ``state=`` parameter.
The engine scans the original text and every view below, then maps each finding
back, so that callers always get spans of the text they passed in.
"""

from __future__ import annotations

import binascii
import codecs
import html
import re
import unicodedata
from dataclasses import dataclass

_ENTITY_PATTERN = r"&(?:#[0-9]{1,7}|#[xX][0-9A-Fa-f]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});"
#: A run of percent-escapes is written ``%XX(?:%XX)*``, not ``(?:%XX)+``: the same
#: matches, but ``re`` can then skip to the next "%" (or "&") instead of trying the
#: group at every position, four times faster on a URL.
_PERCENT_RUN = r"%[0-9A-Fa-f]{2}(?:%[0-9A-Fa-f]{2})*"
_ESCAPE = re.compile(_PERCENT_RUN + "|" + _ENTITY_PATTERN)
_ENTITY = re.compile(_ENTITY_PATTERN)
_PERCENT_ONLY = re.compile(_PERCENT_RUN)
_PERCENT = re.compile(r"%[0-9A-Fa-f]{2}")
_B64_VALUE = re.compile(r"=([A-Za-z0-9_+/-]{16,}(?:==?|(?:%3[Dd]){1,2})?)")
_MASK_ERRORS = "seawall-pii-mask"
#: Both alphabets decode alike: base64url's "-" and "_" are standard base64's "+" and "/".
_BASE64URL_TO_STANDARD = str.maketrans("-_", "+/")


#: The mask's byte for a non-ASCII letter, digit or combining mark: what an
#: internationalised email address (RFC 6531 local part, IDNA domain) is written
#: with.  Not ASCII, so no character of the text is ever masked to it, and only the
#: patterns that name it (the email pattern) can match it.
WORD_BYTE = 0x80


def _word_like(ch: str) -> bool:
    return ch.isalnum() or unicodedata.category(ch)[0] == "M"


def _mask_error(err: UnicodeError) -> tuple[bytes, int]:
    assert isinstance(err, UnicodeEncodeError)
    run = err.object[err.start : err.end]
    if run.isalnum():  # a word of a non-Latin script, or a single accented letter
        return bytes((WORD_BYTE,)) * len(run), err.end
    return bytes(WORD_BYTE if _word_like(ch) else 0 for ch in run), err.end


codecs.register_error(_MASK_ERRORS, _mask_error)


def mask(text: str) -> bytes:
    """One byte per character: ASCII as itself, a non-ASCII letter, digit or mark as
    ``WORD_BYTE``, any other non-ASCII character (and surrogates) as NUL.

    Every detector pattern is ASCII apart from ``WORD_BYTE`` in the email pattern, so
    elsewhere a non-ASCII character can only ever match a negated class, as NUL does;
    offsets in the bytes are offsets in ``text``.
    """
    return text.encode("ascii", _MASK_ERRORS)


@dataclass(frozen=True, slots=True)
class View:
    """A decoded form of the original text.

    ``starts[i]`` is the original offset where decoded character ``i`` begins, with
    one extra entry for the end; ``None`` means the offsets are the original's (the
    original itself, or only ``+`` decoded to spaces).
    """

    text: str
    starts: list[int] | None = None

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        """Map a span of this view to the smallest original span that encodes it."""
        if self.starts is None:
            return start, end
        return self.starts[start], self.starts[end]


def _decode_bytes(run: bytes, origin: int, out: list[str], starts: list[int]) -> None:
    """UTF-8 decode a percent-escaped run, one map entry per decoded character."""
    i = 0
    while i < len(run):
        lead = run[i]
        size = 1 if lead < 0x80 else 2 if lead < 0xE0 else 3 if lead < 0xF0 else 4
        try:
            out.append(run[i : i + size].decode("utf-8"))
        except UnicodeDecodeError:
            size = 1
            out.append("\ufffd")
        starts.append(origin + 3 * i)
        i += size


def decode_once(text: str, *, plus_is_space: bool) -> View | None:
    """Percent-escapes, HTML entities and (optionally) ``+``; ``None`` if nothing changes."""
    pattern = _ESCAPE if plus_is_space else _PERCENT_ONLY
    out: list[str] = []
    starts: list[int] = []
    pos = 0
    changed = False
    if plus_is_space and "+" in text:
        # One space per "+": the offsets stay, and no escape or entity holds a "+".
        text = text.replace("+", " ")
        changed = True
    for m in pattern.finditer(text):
        escape = m.group()
        if escape[0] == "&":
            decoded = html.unescape(escape)
            if decoded == escape:
                continue
        out.append(text[pos : m.start()])
        starts.extend(range(pos, m.start()))
        if escape[0] == "%":
            run = bytes.fromhex(escape.replace("%", ""))
            if run.isascii():  # one character per escape
                out.append(run.decode("ascii"))
                starts.extend(range(m.start(), m.end(), 3))
            else:
                _decode_bytes(run, m.start(), out, starts)
        else:
            out.append(decoded)
            starts.extend([m.start()] * len(decoded))
        pos = m.end()
        changed = True
    if not changed:
        return None
    out.append(text[pos:])
    starts.extend(range(pos, len(text) + 1))
    return View("".join(out), starts)


def views(text: str) -> list[View]:
    """The original and its decoded forms (once, and twice for double encoding)."""
    result = [View(text)]
    if "%" not in text and ("&" not in text or not _ENTITY.search(text)):
        # No percent-escape and no HTML entity: at most "+" signs, each decoded to one
        # space, so the offsets stay those of the original.
        if "+" in text:
            result.append(View(text.replace("+", " ")))
        return result
    first = decode_once(text, plus_is_space=True)
    if first is None:
        return result
    result.append(first)
    if "%" in first.text and _PERCENT.search(first.text):
        second = decode_once(first.text, plus_is_space=False)
        if second is not None:
            assert first.starts is not None
            assert second.starts is not None
            result.append(View(second.text, [first.starts[i] for i in second.starts]))
    return result


def may_hold_base64(text: str) -> bool:
    """Whether ``base64_values(text)`` can find anything: a C-level search that spares
    the call for the many query strings whose values are short."""
    return _B64_VALUE.search(text) is not None


def base64_values(text: str) -> list[tuple[int, int, str]]:
    """URL parameter values that are base64 (or base64url) of readable text.

    Returns (start, end, decoded text).  A finding inside decoded base64 cannot be
    mapped to a smaller span, so the whole value is reported.
    """
    found: list[tuple[int, int, str]] = []
    for m in _B64_VALUE.finditer(text):
        core = m.group(1).split("%")[0].rstrip("=")
        if len(core) % 4 == 1:
            continue
        padded = core.translate(_BASE64URL_TO_STANDARD) + "=" * (-len(core) % 4)
        try:
            decoded = binascii.a2b_base64(padded.encode("ascii")).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            continue
        if len(decoded) < 4:
            continue
        if decoded.isprintable() or sum(map(str.isprintable, decoded)) >= 0.9 * len(decoded):
            found.append((m.start(1), m.end(1), decoded))
    return found
