"""What the PII engine reports: a typed span of the caller's original text.

Findings carry offsets, never the matched text, so that they can be logged, counted
and serialised (``seawall scan``) without copying personal data anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

EMAIL_ADDRESS = "EMAIL_ADDRESS"
PHONE_NUMBER = "PHONE_NUMBER"
IP_ADDRESS = "IP_ADDRESS"
CREDIT_CARD = "CREDIT_CARD"
IBAN_CODE = "IBAN_CODE"
US_SSN = "US_SSN"
JWT = "JWT"
SECRET_KEY = "SECRET_KEY"  # noqa: S105 - an entity name, not a secret
URL_CREDENTIALS = "URL_CREDENTIALS"
KNOWN_VALUE = "KNOWN_VALUE"

#: The detector entities, named as Presidio names them where it has a name.
#: ``KNOWN_VALUE`` is not listed: it is found whenever the caller passes known values.
ENTITIES: tuple[str, ...] = (
    EMAIL_ADDRESS,
    PHONE_NUMBER,
    IP_ADDRESS,
    CREDIT_CARD,
    IBAN_CODE,
    US_SSN,
    JWT,
    SECRET_KEY,
    URL_CREDENTIALS,
)

#: The replacement ``redact`` writes for each entity.  None of these tags can be
#: detected again, which is what makes ``redact`` idempotent.
TAGS: dict[str, str] = {
    EMAIL_ADDRESS: "[EMAIL]",
    PHONE_NUMBER: "[PHONE]",
    IP_ADDRESS: "[IP]",
    CREDIT_CARD: "[CARD]",
    IBAN_CODE: "[IBAN]",
    US_SSN: "[SSN]",
    JWT: "[JWT]",
    SECRET_KEY: "[SECRET]",
    URL_CREDENTIALS: "[CREDENTIALS]",
    KNOWN_VALUE: "[REDACTED]",
}

#: When two findings overlap, the entity listed first wins (then the longer span).
#: Credentials and tokens come first because a shorter detector inside them (an
#: email-shaped ``pass@host``) would otherwise leave the rest of the secret behind.
PRIORITY: dict[str, int] = {
    entity: rank
    for rank, entity in enumerate(
        (
            URL_CREDENTIALS,
            JWT,
            SECRET_KEY,
            EMAIL_ADDRESS,
            CREDIT_CARD,
            IBAN_CODE,
            US_SSN,
            PHONE_NUMBER,
            IP_ADDRESS,
            KNOWN_VALUE,
        )
    )
}


@dataclass(frozen=True, slots=True)
class Finding:
    """One piece of personal data or secret: ``text[start:end]`` of the original text."""

    entity: str
    start: int
    end: int
