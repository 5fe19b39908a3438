"""Values a policy removed from an event, and finding them again in what it keeps.

A value the policy drops (or pseudonymises, in an identifying category) must not reach
the vendor inside another field: an email in an invite URL, a name in a button text.
``Leaks`` answers, for the outputs of one event, whether any removed value may be in
them, plainly, in a form the PII engine decodes, or JSON-escaped (``Jos\\u00e9``: the
engine does not decode that, so such a field is dropped); the engine then recomputes
those fields with the values known, or drops them.
"""

from __future__ import annotations

import base64
import html
import re
import unicodedata
from collections.abc import Sequence
from typing import TypeVar
from urllib.parse import unquote_plus

from seawall.core.types import JSONValue
from seawall.pii.known import fold
from seawall.policy.actions import iter_texts, walk_strings

K = TypeVar("K")
V = TypeVar("V")
MIN_KNOWN_LEN = 4  # shorter removed values ("Bo", "12") would redact half of every text
MIN_KNOWN_DIGITS = 6  # a numeric id shorter than this matches timestamps and counts
_MAX_TEXTS = 64  # strings of one list or object joined for the quick check
_MAX_KNOWN = 1024  # strings remembered of one removed list or object
_DECODE_ROUNDS = 3  # percent-decoding rounds, at least as many as the PII engine's
# A run the PII engine might decode as base64 (it does so inside URL parameters).
_BASE64_RUN = re.compile(r"[A-Za-z0-9+/_-]{16,}")


def known_texts(paths: tuple[str, ...], values: dict[str, JSONValue]) -> tuple[str, ...]:
    """The removed values of an event worth looking for elsewhere in it: long enough
    not to match half of every text, each once."""
    raw = tuple(map(values.__getitem__, paths))
    # A user's removed values (email, name, ids) repeat in every event they send; the
    # memo is keyed by strings only (1 == 1.0 == True would mix numbers up): joining
    # them checks that they are all strings, and measures them, in one call.
    try:
        size = len("".join(raw))
    except TypeError:
        return _known_texts(raw)
    if size <= _MAX_KEY_CHARS:
        found = _KNOWN.get(raw)
        return found if found is not None else _remember(_KNOWN, raw, _known_texts(raw))
    return _known_texts(raw)


def _known_texts(raw: tuple[JSONValue, ...]) -> tuple[str, ...]:
    texts: list[str] = []
    for value in raw:
        for item in (value,) if isinstance(value, str) else iter_texts(value, _MAX_KNOWN):
            text = item.strip()
            if len(text) >= (MIN_KNOWN_DIGITS if text.isdigit() else MIN_KNOWN_LEN):
                texts.append(text)
    return tuple(dict.fromkeys(texts)) if len(texts) > 1 else tuple(texts)


_KNOWN: dict[tuple[JSONValue, ...], tuple[str, ...]] = {}
_MAX_CACHED = 50_000  # entries per memo below; cleared when full (bounded memory)
_MAX_KEY_CHARS = 1024  # a user's removed values; longer sets are not memoised


def _remember(memo: dict[K, V], key: K, value: V) -> V:
    if len(memo) >= _MAX_CACHED:
        memo.clear()
    memo[key] = value
    return value


class Leaks:
    """Finds removed values (case-insensitively) inside an output value, and inside
    base64 anywhere in it (an invite token, a state blob): ``encoded`` holds each
    value's base64 at the three byte alignments, searched as plain substrings."""

    __slots__ = ("anchors", "clean", "digits", "encoded", "groups")

    def __init__(self, known: Sequence[str]) -> None:
        self.groups = anchored(list(dict.fromkeys(v for k in known for v in spellings(k))))
        self.anchors = tuple(anchor for anchor, _ in self.groups)
        self.digits = any(k.isdigit() for k in known)
        self.encoded = tuple(dict.fromkeys(n for k in known for n in base64_needles(k)))
        # Outputs already found free of these values (see ``may_hide``). Unused when a
        # needle holds the separator: it could then match across two joined outputs.
        needles = (n for _, spelled in self.groups for n in spelled)
        self.clean: set[str] | None = None if any("\x00" in n for n in needles) else set()

    @classmethod
    def cached(cls, known: tuple[str, ...]) -> Leaks:
        """The finder for these values: a user's removed values repeat in every event
        they send, so it is built once per set (bounded; cleared when full)."""
        leaks = _LEAKS.get(known)
        if leaks is not None:
            return leaks
        leaks = cls(known)
        return _remember(_LEAKS, known, leaks) if sum(map(len, known)) <= _MAX_KEY_CHARS else leaks

    def found_in(self, value: JSONValue) -> bool:
        if isinstance(value, str):
            return self._text(value)
        if isinstance(value, (float, bool)) or value is None:
            return False
        if isinstance(value, int):
            return self.digits and self._text(str(value))
        return walk_strings(value, self._text)

    def _text(self, text: str) -> bool:
        # A kept string may hold JSON, whose encoders write "José" as "Jos\u00e9" (and
        # "/" as "\/"); one check per string without a backslash costs nothing.
        return self._plain(text) or ("\\" in text and self._escaped(text))

    def _plain(self, text: str) -> bool:
        # This runs for every event with removed values: the searches are C loops
        # (any over map), without a bytecode step or a generator frame per needle.
        low = text.casefold()
        if self._spelled_in(low):
            return True
        # Accents written as combining marks ("Mu\u0308ller", as macOS file names and
        # some keyboards produce): also search with them folded away, as every value
        # has a folded spelling. ASCII and NFC text cost a flag check.
        decomposed = not low.isascii() and not unicodedata.is_normalized("NFC", low)
        if decomposed and self._spelled_in(fold(low)):
            return True
        return any(map(text.__contains__, self.encoded))

    def _spelled_in(self, low: str) -> bool:
        if any(map(low.__contains__, self.anchors)):
            for anchor, spelled in self.groups:
                if anchor in low and any(map(low.__contains__, spelled)):
                    return True
        return False

    def _escaped(self, text: str) -> bool:
        """Whether a removed value is in ``text`` once its JSON string escapes are
        decoded, plainly or in a form the PII engine decodes (JSON in JSON escapes its
        backslashes: decoded as many rounds as percent escapes)."""
        for _ in range(_DECODE_ROUNDS):
            once = _JSON_ESCAPE.sub(_unescape, text)
            if once == text:
                return False
            text = once
            if self._plain(text) or self._plain(_decoded(text)):
                return True
        # Escapes nested deeper than the rounds decode: fail closed.
        return _JSON_ESCAPE.search(text) is not None

    def may_hide_any(self, outputs: list[JSONValue]) -> bool:
        """Whether a removed value may be in any of ``outputs``, plainly or in a form the
        PII engine decodes (percent, '+', HTML entities, base64 in URL parameters)."""
        texts: list[str] = []
        others: list[JSONValue] = []
        for out in outputs:
            if out.__class__ is str:
                texts.append(out)
            else:
                others.append(out)
        return self.may_hide(texts, others)

    def may_hide(self, texts: list[str], others: list[JSONValue]) -> bool:
        """``may_hide_any`` with the string outputs already apart from the rest (numbers,
        lists, objects), as the engine's field loop collects them."""
        for out in others:
            if isinstance(out, bool) or out is None or isinstance(out, float):
                continue
            if isinstance(out, int):
                if self.digits:
                    texts.append(str(out))
            elif isinstance(out, (list, dict)):
                inner = iter_texts(out, _MAX_TEXTS)
                if len(inner) >= _MAX_TEXTS:
                    return True  # too many to join: the exact check walks all of them
                texts.extend(inner)
        clean = self.clean
        if clean is not None and texts:
            # A user's events repeat most of their outputs (event names, browsers,
            # pages): those found clean before are not searched again, and only the
            # rest is joined. Exact for the outputs remembered (_INERT): ASCII text that
            # no decoding, folding or escape changes searches alone as it does joined.
            texts = [text for text in texts if text not in clean]
            if not texts:
                return False
            if self._joined(texts):
                return True
            _remember_clean(clean, texts)
            return False
        return self._joined(texts)

    def _joined(self, texts: list[str]) -> bool:
        if not texts:
            return False
        # One search over all of them: the separator is neither a hex digit nor part of
        # an entity name, so decoding the joined text decodes each text as it would alone.
        blob = "\x00".join(texts)
        if self._text(blob):
            return True
        decoded = _decoded(blob)
        if decoded is not blob and self._text(decoded):
            return True
        if "?" not in blob:
            return False
        # the engine decodes base64 only inside URL parameters
        return any(
            _BASE64_RUN.search(text, text.find("?")) is not None for text in texts if "?" in text
        )


_LEAKS: dict[tuple[str, ...], Leaks] = {}
# Outputs remembered clean per finder (a user's: ~20 repeat, and each event adds its own
# ids), cleared when full: one full search then, and memory stays bounded per finder.
_MAX_CLEAN = 64
# Only short outputs are remembered (event names, browsers, paths repeat; long text
# rarely does), and all finders together hold at most this many bytes, counted as the
# text plus a set entry's overhead: any SDK client can send a new user with long kept
# strings on every event, and up to _MAX_CACHED finders are kept.
_CLEAN_CHARS = 200
_CLEAN_ENTRY_BYTES = 120
_CLEAN_BUDGET = 16 * 1024 * 1024


class _Spent:
    """Bytes the memos of all finders hold (an estimate that never undercounts)."""

    __slots__ = ("bytes",)

    def __init__(self) -> None:
        self.bytes = 0


_spent = _Spent()


def _remember_clean(clean: set[str], texts: list[str]) -> None:
    """Add the ``texts`` that may be remembered (see ``Leaks.may_hide``) to ``clean``,
    within the finder's cap and the process-wide budget; when the budget is spent,
    every finder forgets (one full search each, then the memo fills again)."""
    fresh = [t for t in texts if len(t) <= _CLEAN_CHARS and _INERT.fullmatch(t)]
    if not fresh:
        return
    if len(clean) + len(fresh) > _MAX_CLEAN:
        clean.clear()  # its bytes stay counted until the next budget reset: conservative
        del fresh[_MAX_CLEAN:]
    cost = sum(map(len, fresh)) + _CLEAN_ENTRY_BYTES * len(fresh)
    if _spent.bytes + cost > _CLEAN_BUDGET:
        for leaks in _LEAKS.values():
            if leaks.clean:
                leaks.clean.clear()
        clean.clear()
        _spent.bytes = 0
    _spent.bytes += cost
    clean.update(fresh)


# Text searched the same alone and inside the joined outputs: ASCII (folding and
# normalising change nothing), nothing percent, '+' or an entity decodes (no ';': an
# entity begun in another output could end in it), no JSON escape, no URL parameters.
_INERT = re.compile(r"[^\x00%&+;?\\\x80-\U0010ffff]*")


def _decoded(text: str) -> str:
    """``text`` with the escapes the PII engine decodes (percent, '+', HTML entities)
    decoded; ``text`` itself when it holds none."""
    decoded = text
    for _ in range(_DECODE_ROUNDS):  # the engine decodes twice-encoded text too
        if "%" not in decoded and "+" not in decoded:
            break
        once = unquote_plus(decoded)
        if once == decoded:
            break
        decoded = once
    # The engine decodes only entities closed by ';' (html.unescape would also try
    # every '&name' of a query string against the legacy names, at ~20 us each).
    if "&" in decoded and ";" in decoded:
        decoded = html.unescape(decoded)
    return decoded


# JSON's string escapes: a UTF-16 surrogate pair, one \uXXXX, or a one-letter escape.
_JSON_ESCAPE = re.compile(
    r"\\u([dD][89abAB][0-9a-fA-F]{2})\\u([dD][c-fC-F][0-9a-fA-F]{2})"
    r"|\\u([0-9a-fA-F]{4})|\\([\"\\/bfnrt])"
)
_SIMPLE_ESCAPES = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


def _unescape(match: re.Match[str]) -> str:
    high, low, code, letter = match.groups()
    if high is not None:
        return chr(0x10000 + ((int(high, 16) - 0xD800) << 10) + int(low, 16) - 0xDC00)
    if code is not None:
        return chr(int(code, 16))  # a lone surrogate stays one: it matches nothing
    return _SIMPLE_ESCAPES.get(letter, letter)


MIN_LOCAL_PART = 6  # an address's local part searched on its own from this length


def anchored(needles: list[str]) -> list[tuple[str, tuple[str, ...]]]:
    """The needles grouped under a part each of them contains (a name's longest word),
    so a text that lacks it costs one search, not one per spelling."""
    groups: dict[str, list[str]] = {}
    for n in needles:
        words = [w for w in re.split(r"[\s_.+\-]+|%20", n) if w]
        anchor = max(words, key=len) if len(words) > 1 else n
        groups.setdefault(anchor if len(anchor) >= MIN_KNOWN_LEN else n, []).append(n)
    return [(a, tuple(ns)) for a, ns in groups.items()]


def spellings(value: str) -> list[str]:
    """How a removed value is written elsewhere, case-folded: as is, without accents
    (``josé`` -> ``jose``), a name's words joined as in URL slugs and handles
    (``ada-lovelace``, ``ada_lovelace``, ``ada.lovelace``, ``adalovelace``), and an
    address's local part (``/u/ada.lovelace``)."""
    # As written and composed: a value sent decomposed ("Rene\u0301e", as macOS
    # clients send it) is usually written composed elsewhere, and the other way round.
    folded = value.casefold()
    composed = unicodedata.normalize("NFC", folded)
    plain = fold(value)
    out = [folded, composed, plain]
    for text in dict.fromkeys(out):
        words = text.split()
        if len(words) > 1:
            out += [sep.join(words) for sep in ("-", "_", ".", "", "+", "%20")]
        local, at, _ = text.partition("@")
        if at and len(local) >= MIN_LOCAL_PART:
            out.append(local)
    return [v for v in dict.fromkeys(out) if len(v) >= MIN_KNOWN_LEN]


MIN_ENCODED_CHARS = 8  # shorter base64 runs would turn up in unrelated tokens


def base64_needles(value: str) -> list[str]:
    """The base64 text (standard and URL-safe alphabets) that any base64 encoding of a
    text holding ``value`` must contain, whatever the value's byte offset: for each of
    the three alignments, the characters that depend on the value's bytes alone. The
    value as written and in lower case (an address is often stored lower-cased)."""
    needles: list[str] = []
    for form in dict.fromkeys((value, value.lower())):
        data = form.encode("utf-8", "surrogatepass")
        for offset, skip in ((0, 0), (1, 2), (2, 3)):
            whole = (offset + len(data)) // 3 * 4  # characters of complete groups
            core = base64.b64encode(bytes(offset) + data).decode("ascii")[skip:whole]
            if len(core) >= MIN_ENCODED_CHARS:
                needles.append(core)
                urlsafe = core.translate(_URLSAFE)
                if urlsafe != core:
                    needles.append(urlsafe)
    return needles


_URLSAFE = str.maketrans("+/", "-_")
