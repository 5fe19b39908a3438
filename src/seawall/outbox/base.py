"""What a forwarder needs from the outbox, whatever the database behind it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol


class WireMessage(NamedTuple):
    """One message in the vendor's own wire format, ready to send.

    ``endpoint`` names the vendor API it goes to: ``track``, ``engage``, ``groups``,
    ``import`` (Mixpanel), ``batch`` (Segment) or ``events`` (webhook). ``dedupe_key``
    is the vendor's idempotency key (``$insert_id`` / ``messageId``), kept on retries.
    (A named tuple: one is made per vendor per event, and a frozen dataclass costs
    about four times as much to build.)
    """

    endpoint: str
    message: dict[str, object]
    dedupe_key: str


@dataclass(slots=True, frozen=True)
class OutboxItem:
    """One committed outbox row: the messages of one request for one vendor."""

    id: int
    vendor: str
    messages: tuple[WireMessage, ...]
    attempts: int
    created_at: float


class Outbox(Protocol):
    """Blocking calls (SQLAlchemy underneath); async callers run them in a thread."""

    def claim(self, vendor: str, limit: int, lease_seconds: float) -> list[OutboxItem]:
        """Rows due for ``vendor`` (oldest first), leased so no other worker takes them
        until the lease ends. Returns nothing while the vendor is disabled."""
        ...

    def delete(self, ids: Sequence[int]) -> None:
        """Delivered: the minimised payloads do not linger."""
        ...

    def retry(self, ids: Sequence[int], delay_seconds: float, error: str) -> None:
        """Failed for now: attempts += 1, due again after ``delay_seconds``."""
        ...

    def dead_letter(self, ids: Sequence[int], reason: str) -> None:
        """Give up on these rows: moved aside, counted and logged, never sent."""
        ...

    def is_enabled(self, vendor: str) -> bool:
        """The kill switch, read from the database so every process sees it."""
        ...
