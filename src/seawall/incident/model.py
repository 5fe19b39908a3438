"""The nouns of incident response, shared by scoping, reports, notices and canaries.

These are plain values; ``seawall.incident.store`` persists them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Trigger = Literal["vendor_notice", "canary", "leaked_file", "manual"]
Provenance = Literal["ledger", "file", "both"]
RiskTier = Literal["high", "medium", "low"]
IncidentStatus = Literal["open", "closed"]


@dataclass(frozen=True, slots=True)
class Incident:
    id: int
    vendor: str
    title: str
    trigger: Trigger
    status: IncidentStatus
    opened_at: float
    aware_at: float  # when we became aware: the GDPR 72 h clock starts here
    detected_at: float | None  # when the vendor detected it
    window_start: float | None  # exposure window (None: everything retained)
    window_end: float | None
    owner: str | None = None
    closed_at: float | None = None


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    incident: int
    at: float
    kind: str  # opened, scoped, file_received, vendor_disabled, canary_fired, notices_started, ...
    text: str
    data: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Exposure:
    """One exposed person (or anonymous subject) in one scope version.

    ``user_id`` is the company's own id (the join key to the directory), None for
    subjects never stitched to a user. Contact details are never stored here: notices
    read them from the directory when they are sent.
    """

    subject: str  # hex of the ledger's subject fingerprint, or "file:<row>" for file-only rows
    user_id: str | None
    org_ids: tuple[str, ...]
    categories: tuple[str, ...]  # fideslang data categories, sorted
    fields: tuple[str, ...]  # field paths, sorted
    provenance: Provenance
    risk_tier: RiskTier
    first_seen: float | None = None
    last_seen: float | None = None
    canary: bool = False
    file_fields: tuple[str, ...] = ()  # columns the leaked file shows for this person, sorted
