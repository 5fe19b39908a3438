"""A small company for notification tests: people, an incident and its scopes."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

from seawall.incident.directory import Person
from seawall.incident.model import Exposure
from seawall.incident.store import IncidentStore
from seawall.storage.database import Database

# What each user had exposed, by user number modulo 3, and the phrase a notice shows.
PROFILES: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
    (("user.contact.email", "user.name"), ("your email address", "your name")),
    (
        ("user.contact.email", "user.location.imprecise"),
        ("your email address", "your approximate location (city)"),
    ),
    (("user.device", "user.device.ip_address"), ("your IP address", "your browser and OS")),
)
ALL_PHRASES = {p for _, phrases in PROFILES for p in phrases}


def user_id(i: int) -> str:
    return f"u{i:06d}"


def org_of(i: int, orgs: int) -> str:
    return f"org-{i % orgs:03d}"


def people(n: int, orgs: int = 20) -> list[Person]:
    """``n`` members (even: English, odd: French) and one owner per org."""
    rows = [
        Person(
            user_id=user_id(i),
            email=f"{user_id(i)}@example.com",
            name=f"User {i}",
            org_id=org_of(i, orgs),
            role="member",
            locale="en-US" if i % 2 == 0 else "fr_FR",
            country="US" if i % 2 == 0 else "FR",
        )
        for i in range(n)
    ]
    rows += [
        Person(
            user_id=f"admin-{o:03d}",
            email=f"admin-{o:03d}@example.org",
            name=f"Admin {o}",
            org_id=f"org-{o:03d}",
            role="owner",
            locale="en",
            country="GB",
        )
        for o in range(orgs)
    ]
    return rows


def exposures(users: Sequence[int], orgs: int = 20) -> list[Exposure]:
    result = []
    for i in users:
        categories, _ = PROFILES[i % 3]
        result.append(
            Exposure(
                subject=f"{i:032x}",
                user_id=user_id(i),
                org_ids=(org_of(i, orgs),),
                categories=tuple(sorted(categories)),
                fields=("properties.$email",),
                provenance="ledger",
                risk_tier="high" if i % 3 == 0 else "medium",
            )
        )
    return result


def write_csv(path: Path, rows: Sequence[Person]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["user_id", "email", "name", "org_id", "role", "locale", "country"])
        for p in rows:
            w.writerow([p.user_id, p.email, p.name, p.org_id, p.role, p.locale, p.country])
    return path


def incident_with_scope(db: Database, scope: Sequence[Exposure]) -> int:
    store = IncidentStore(db)
    case = store.open("analytics-vendor", trigger="vendor_notice", detected_at=1_700_000_000.0)
    store.save_scope(case.id, scope, inputs={"test": True}, summary={"exposures": len(scope)})
    return case.id


def widen(db: Database, incident: int, scope: Sequence[Exposure]) -> int:
    return IncidentStore(db).save_scope(
        incident, scope, inputs={"test": True}, summary={"exposures": len(scope)}
    )
