"""The canary nouns as stored: a planted decoy and one firing of its tripwire."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from seawall.core.types import SdkKind

Channel = Literal["email", "beacon"]  # what a canary carries into a vendor's data
# What fired: a channel, or "probe": the address named over SMTP (RCPT with no message
# after it, VRFY, EXPN), as an attacker checking a leaked list does before mailing it.
HitChannel = Literal["email", "beacon", "probe"]
AlertState = Literal["first", "folded"]


@dataclass(frozen=True, slots=True)
class Canary:
    """A decoy identity at one vendor. ``token_hash`` is all that is kept of its token."""

    id: str
    vendor: str
    name: str
    email: str
    user_id: str
    org_id: str
    device_id: str
    token_hash: str
    sdk: SdkKind
    channels: tuple[Channel, ...]
    memo: dict[str, Any]  # {"fields": {channel: path}, "refused": {path: why}, ...}
    created_at: float
    planted_at: float | None = None
    refreshed_at: float | None = None

    @property
    def first_name(self) -> str:
        return str(self.memo.get("first_name") or self.name.split(" ", 1)[0])

    @property
    def last_name(self) -> str:
        return str(self.memo.get("last_name") or self.name.split(" ", 1)[-1])


@dataclass(frozen=True, slots=True)
class Hit:
    """One firing: a mail to the canary's address, a visit of its beacon URL, or a probe
    of its address.

    ``evidence`` is attacker-controlled: kept as data (JSON), never rendered.
    """

    canary_id: str
    vendor: str
    channel: HitChannel
    at: float
    remote: str | None
    evidence: dict[str, Any] = field(default_factory=dict)
    alert: AlertState = "first"
    id: int | None = None
