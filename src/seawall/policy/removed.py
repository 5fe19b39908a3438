"""Values a policy removed from an event, and finding them again in what it keeps.

A value the policy drops (or pseudonymises, in an identifying category) must not reach
the vendor inside another field: an email in an invite URL, a name in a button text.
``Leaks`` answers, for the outputs of one event, whether any removed value may be in
them, plainly or in a form the PII engine decodes; the engine then recomputes those
fields with the values known, or drops them.
"""

from __future__ import annotations

import html
import re
from urllib.parse import unquote_plus

from seawall.core.types import JSONValue
from seawall.policy.actions import iter_texts, walk_strings

MIN_KNOWN_LEN = 4  # shorter removed values ("Bo", "12") would redact half of every text
MIN_KNOWN_DIGITS = 6  # a numeric id shorter than this matches timestamps and counts
# A run the PII engine might decode as base64 (it does so inside URL parameters).
_BASE64_RUN = re.compile(r"[A-Za-z0-9+/_-]{16,}")


def known_texts(paths: tuple[str, ...], values: dict[str, JSONValue]) -> list[str]:
    """The removed values of an event worth looking for elsewhere in it: long enough
    not to match half of every text, each once."""
    texts: list[str] = []
    for path in paths:
        value = values[path]
        if isinstance(value, str):
            text = value.strip()
            if len(text) >= (MIN_KNOWN_DIGITS if text.isdigit() else MIN_KNOWN_LEN):
                texts.append(text)
            continue
        for raw in iter_texts(value):
            text = raw.strip()
            if len(text) >= (MIN_KNOWN_DIGITS if text.isdigit() else MIN_KNOWN_LEN):
                texts.append(text)
    return list(dict.fromkeys(texts)) if len(texts) > 1 else texts


class Leaks:
    """Finds removed values (case-insensitively) inside an output value."""

    __slots__ = ("digits", "folded")

    def __init__(self, known: list[str]) -> None:
        self.folded = [k.casefold() for k in known]
        self.digits = any(k.isdigit() for k in known)

    def found_in(self, value: JSONValue) -> bool:
        if isinstance(value, str):
            low = value.casefold()
            return any(k in low for k in self.folded)
        if isinstance(value, float | bool) or value is None:
            return False
        if isinstance(value, int):
            return self.digits and self._text(str(value))
        return walk_strings(value, self._text)

    def _text(self, text: str) -> bool:
        low = text.casefold()
        return any(k in low for k in self.folded)

    def may_hide_any(self, outputs: list[JSONValue]) -> bool:
        """Whether a removed value may be in any of ``outputs``, plainly or in a form the
        PII engine decodes (percent, '+', HTML entities, base64 in URL parameters)."""
        texts: list[str] = []
        for out in outputs:
            if isinstance(out, str):
                texts.append(out)
            elif isinstance(out, int) and not isinstance(out, bool):
                if self.digits:
                    texts.append(str(out))
            elif isinstance(out, list | dict):
                texts.extend(iter_texts(out))
        if not texts:
            return False
        blob = "\x00".join(texts)
        if self._text(blob):
            return True
        for text in texts:  # decoded forms, only of the texts that have any encoding
            decoded = text
            if "%" in decoded or "+" in decoded:
                decoded = unquote_plus(decoded)
            if "&" in decoded:
                decoded = html.unescape(decoded)
            if decoded is not text and self._text(decoded):
                return True
        # the engine decodes base64 only inside URL parameters
        return any(
            _BASE64_RUN.search(text, text.find("?")) is not None for text in texts if "?" in text
        )
