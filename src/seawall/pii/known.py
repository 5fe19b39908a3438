"""Known-value detection: find what Seawall already knows about the event's subject.

Without a language model no pattern finds a name; but the identify call told us the
subject's name, email and phone, so we look for exactly those strings, ignoring case
and accents, wherever they turn up in the event's text.  One Aho-Corasick automaton
finds all of them in a single pass.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from functools import lru_cache

import ahocorasick
import phonenumbers

#: Words that are redaction tags: a subject named "Email" must not make ``redact``
#: rewrite its own output.
_TAG_WORDS = frozenset(
    [
        "email",
        "phone",
        "ip",
        "card",
        "iban",
        "ssn",
        "jwt",
        "secret",
        "credentials",
        "redacted",
        "id",
    ]
)
_MIN_LENGTH = 3


@lru_cache(maxsize=8192)
def _fold_char(ch: str) -> str:
    decomposed = unicodedata.normalize("NFKD", ch)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def fold(text: str) -> str:
    """Case- and accent-insensitive form: ``"Zoë"`` and ``"ZOE"`` fold alike."""
    if text.isascii():
        return text.lower()
    return "".join(_fold_char(ch) for ch in text)


def _fold_with_map(text: str) -> tuple[str, list[int] | None]:
    """The folded text and, unless folding kept offsets, where each char came from."""
    if text.isascii():
        return text.lower(), None
    out = list(map(_fold_char, text))
    lengths = list(map(len, out))
    if lengths.count(1) == len(lengths):
        return "".join(out), None  # one character each ("é" -> "e"): offsets unchanged
    starts: list[int] = []
    for index, length in enumerate(lengths):
        starts.extend([index] * length)
    starts.append(len(text))
    return "".join(out), starts


def _national_forms(value: str) -> set[str]:
    """A phone number as dialled at home: ``2025550143`` and ``02025550143``."""
    try:
        number = phonenumbers.parse(value, None if value.startswith("+") else "US")
    except phonenumbers.NumberParseException:
        return set()
    national = str(number.national_number)
    return {national, "0" + national}


def _variants(value: str) -> set[str]:
    """The forms a value takes in free text: whole, its words, an email's local part,
    a phone number's bare digits."""
    folded = " ".join(fold(value).split())
    forms = {folded}
    words = folded.split(" ")
    if len(words) > 1:
        forms.update(words)
    local, at, _domain = folded.partition("@")
    if at and len(local) >= 4:
        forms.add(local)
    digits = "".join(ch for ch in folded if ch.isdigit())
    if len(digits) >= 7 and len(digits) >= len(folded.replace(" ", "")) - 6:
        forms.add(digits)
        forms.update(_national_forms(folded))
    return {f for f in forms if len(f) >= _MIN_LENGTH and f not in _TAG_WORDS}


class KnownValues:
    """The values known about one subject, compiled for matching.

    Cheap to build per event (microseconds for a handful of values); ``cached`` reuses
    the automaton for a recurring set.
    """

    __slots__ = ("_automaton", "_size")

    def __init__(self, values: Iterable[str]) -> None:
        forms: set[str] = set()
        for value in values:
            if isinstance(value, str):
                forms.update(_variants(value))
        self._size = len(forms)
        self._automaton = ahocorasick.Automaton()
        for form in forms:
            self._automaton.add_word(form, len(form))
        if forms:
            self._automaton.make_automaton()

    @classmethod
    @lru_cache(maxsize=16_384)
    def cached(cls, values: frozenset[str]) -> KnownValues:
        """A shared instance per distinct set of values (subjects recur across events)."""
        return cls(values)

    def __bool__(self) -> bool:
        return self._size > 0

    def find(self, text: str) -> list[tuple[int, int]]:
        """Spans of ``text`` equal to a known value, on word boundaries, may overlap."""
        if not self._size:
            return []
        folded, starts = _fold_with_map(text)
        spans: list[tuple[int, int]] = []
        for last, length in self._automaton.iter(folded):
            start, end = last + 1 - length, last + 1
            if start > 0 and folded[start - 1].isalnum():
                continue
            if end < len(folded) and folded[end].isalnum():
                continue
            if starts is None:
                spans.append((start, end))
            else:
                spans.append((starts[start], starts[end]))
        return spans
