"""Scope: the exposure window, and the file's hits as the scope receives them.

The scope itself (who is exposed, with what) is computed as columns in DuckDB by
``incident.frame``; I/O lives in ``incident.run``.
"""

from __future__ import annotations

from dataclasses import dataclass

from seawall.incident.model import Incident

DAY = 86_400.0


def default_window(
    incident: Incident, retention_days: int | None
) -> tuple[float | None, float | None]:
    """The incident's window, else everything the vendor still retains up to the breach.

    The breach time is when the vendor detected it, else when we became aware; the
    start is that minus the contract's retention (None: since the beginning).
    """
    end = incident.window_end
    if end is None:
        end = incident.detected_at if incident.detected_at is not None else incident.aware_at
    start = incident.window_start
    if start is None and retention_days is not None:
        start = end - retention_days * DAY
    return start, end


@dataclass(frozen=True, slots=True)
class FileHit:
    """One person the leaked file shows (a user or a canary), with the columns it shows."""

    user_id: str
    subject: str  # hex fingerprint of the user id, as the ledger would key it
    fields: tuple[str, ...]
    categories: tuple[str, ...]
    canary: bool = False
