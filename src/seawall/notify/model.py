"""Campaigns and notices as plain values (``store`` persists them)."""

from __future__ import annotations

from dataclasses import dataclass

from seawall.notify.campaign import Kind

STATES = ("pending", "sending", "sent", "failed", "suppressed")


@dataclass(frozen=True, slots=True)
class Campaign:
    id: int
    incident: int
    scope_version: int
    audience: str
    kind: Kind
    wave: int
    template: str
    sender: str
    status: str  # planned | sending | finished
    created_at: float
    started_at: float | None
    finished_at: float | None


@dataclass(frozen=True, slots=True)
class Notice:
    id: int
    campaign: int
    recipient: str
    kind: Kind
    user_id: str
    org_id: str | None
    locale: str
    risk_tier: str
    categories: tuple[str, ...]
    members: int | None
    state: str
    reason: str | None
    attempts: int
    message_id: str | None
    uncertain: bool


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one delivery attempt ended: sent, failed, suppressed, or pending (retry)."""

    notice: int
    state: str
    reason: str | None = None
    due_at: float | None = None
    # the attempt never reached the server (it could not be reached): not counted
    refund: bool = False


@dataclass(frozen=True, slots=True)
class Claim:
    notice: Notice | None
    next_due: float | None  # when nothing is due now: the earliest retry, else None
