"""Planning a wave: read the scope, the directory and what earlier waves told; store it.

This is the I/O edge of :func:`seawall.notify.campaign.plan`. ``plan_wave`` creates the
campaign (status ``planned``) with one notice per recipient, pending or suppressed
with its reason, so what a wave will do is fixed and reviewable before ``send``;
``dry_run=True`` computes the same plan and stores nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from seawall.incident.store import IncidentStore
from seawall.notify.address import parse_sender
from seawall.notify.campaign import Person, Plan, parse_audience, plan
from seawall.notify.errors import NotifyError
from seawall.notify.model import Campaign
from seawall.notify.render import Renderer
from seawall.notify.store import NotifyStore
from seawall.notify.suppression import SuppressionList
from seawall.storage.database import Database

DEFAULT_TEMPLATE = "default"


@dataclass(frozen=True, slots=True)
class Wave:
    plan: Plan
    scope_version: int
    campaign: Campaign | None  # None for a dry run


def plan_wave(
    db: Database,
    incident_id: int,
    audience: str,
    people: Iterable[Person],
    *,
    sender: str,
    wave: int | None = None,
    templates: Path | None = None,
    dry_run: bool = False,
) -> Wave:
    """Plan the next wave of ``audience`` over the incident's newest scope."""
    target = parse_audience(audience)
    try:
        parse_sender(sender)
    except ValueError as exc:
        raise NotifyError(f"smtp.sender: {exc}") from None
    version, exposures = IncidentStore(db).latest_scope(incident_id)
    if version == 0:
        raise NotifyError(
            f"incident {incident_id} has no scope yet; run `seawall incident scope "
            f"{incident_id}` first"
        )
    store = NotifyStore(db)
    result = plan(
        exposures,
        people,
        target,
        suppressed=SuppressionList(db).user_ids(),
        earlier=store.told(incident_id, target.kind),
    )
    renderer = Renderer(templates)
    renderer.check({(n.kind, n.locale) for n in result.notices if n.reason is None})
    if dry_run:
        return Wave(result, version, None)
    campaign = store.create(
        incident=incident_id,
        scope_version=version,
        audience=target.text,
        kind=target.kind,
        template=str(templates) if templates else DEFAULT_TEMPLATE,
        sender=sender,
        notices=result.notices,
        wave=wave,
    )
    return Wave(result, version, campaign)
