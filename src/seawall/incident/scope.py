"""Scope: who is exposed, with what, from the ledger and the leaked file. Pure.

Inputs are the ledger's per-person rows (``ledger_query``), the directory, the ledger
key and the canary ids; the output is one ``Exposure`` per person. I/O lives in
``incident.run``.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from seawall.incident.directory import Person
from seawall.incident.keyed import fingerprints
from seawall.incident.ledger_query import LedgerScope
from seawall.incident.model import Exposure, Incident, Provenance
from seawall.incident.risk import risk_tier

DAY = 86_400.0
# Field names that tell the vendor which organisation a person belongs to.
ORG_FIELDS = frozenset(
    {"org_id", "$group_key", "$group_id", "$groups", "company", "company_id", "groupId"}
)


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
class DirectoryIndex:
    """The directory keyed the way the ledger is: by fingerprint."""

    people: dict[str, Person]  # user id -> person
    by_fp: dict[bytes, str]  # fingerprint of user id -> user id
    org_by_fp: dict[bytes, str]  # fingerprint of org id -> org id
    canary_by_fp: dict[bytes, str]  # fingerprint of canary user id -> canary user id

    @classmethod
    def build(
        cls, people: Iterable[Person], ledger_key: bytes, canary_user_ids: Iterable[str] = ()
    ) -> DirectoryIndex:
        by_id = {p.user_id: p for p in people}
        ids = list(by_id)
        orgs = sorted({p.org_id for p in by_id.values() if p.org_id})
        canaries = sorted(set(canary_user_ids))
        return cls(
            people=by_id,
            by_fp=dict(zip(fingerprints(ledger_key, ids), ids, strict=True)),
            org_by_fp=dict(zip(fingerprints(ledger_key, orgs), orgs, strict=True)),
            canary_by_fp=dict(zip(fingerprints(ledger_key, canaries), canaries, strict=True)),
        )


@dataclass(frozen=True, slots=True)
class FileHit:
    """One person the leaked file shows (a user or a canary), with the columns it shows."""

    user_id: str
    subject: str  # hex fingerprint of the user id, as the ledger would key it
    fields: tuple[str, ...]
    categories: tuple[str, ...]
    canary: bool = False


@functools.lru_cache(maxsize=65_536)
def _cached_tier(categories: tuple[str, ...], has_org: bool, role: str | None) -> str:
    tier, _ = risk_tier(categories, has_org=has_org, role=role)
    return tier


def _tier(categories: Sequence[str], fields: Sequence[str], person: Person | None) -> str:
    # A million people share a few dozen (categories, org, role) combinations: the
    # tier is computed once per combination.
    has_org = not ORG_FIELDS.isdisjoint(fields)
    return _cached_tier(tuple(categories), has_org, person.role if person else None)


def build_exposures(ledger: LedgerScope, index: DirectoryIndex) -> list[Exposure]:
    """One exposure per person the ledger says the vendor received data about."""
    out: list[Exposure] = []
    append = out.append
    cat_of = ledger.categories
    # Field sets are shared tuples: their categories and org flag are worked out once.
    combos: dict[tuple[str, ...], tuple[tuple[str, ...], bool]] = {}
    canary_of, user_of, org_of = index.canary_by_fp, index.by_fp, index.org_by_fp
    people, orgs_of = index.people, ledger.orgs
    for subject, fields, first, last in zip(
        ledger.subjects, ledger.fields, ledger.first_seen, ledger.last_seen, strict=True
    ):
        combo = combos.get(fields)
        if combo is None:
            cats = tuple(sorted({cat_of.get(f, "unknown") for f in fields}))
            combo = combos[fields] = (cats, not ORG_FIELDS.isdisjoint(fields))
        cats, has_org = combo
        canary_id = canary_of.get(subject)
        user_id = canary_id or user_of.get(subject)
        person = people.get(user_id) if user_id else None
        fps = orgs_of.get(subject)
        org_id = person.org_id if person else None
        names = [org_of[o] for o in fps if o in org_of] if fps else []
        if org_id:
            names.append(org_id)
        orgs = tuple(sorted(set(names))) if len(names) > 1 else tuple(names)
        append(
            Exposure(
                subject=subject.hex(),
                user_id=user_id,
                org_ids=orgs,
                categories=cats,
                fields=fields,
                provenance="ledger",
                risk_tier=_cached_tier(cats, has_org, person.role if person else None),  # type: ignore[arg-type]
                first_seen=first,
                last_seen=last,
                canary=canary_id is not None,
            )
        )
    return out


def merge_file(
    exposures: Sequence[Exposure], hits: Iterable[FileHit], index: DirectoryIndex
) -> list[Exposure]:
    """Mark provenance: ledger only, file only, or both; file fields are kept apart."""
    by_subject = {e.subject: e for e in exposures}
    seen: set[str] = set()
    for hit in hits:
        seen.add(hit.subject)
        person = index.people.get(hit.user_id)
        old = by_subject.get(hit.subject)
        if old is None:
            cats = tuple(sorted(set(hit.categories)))
            by_subject[hit.subject] = Exposure(
                subject=hit.subject,
                user_id=hit.user_id,
                org_ids=(person.org_id,) if person and person.org_id else (),
                categories=cats,
                fields=(),
                provenance="file",
                risk_tier=_tier(cats, hit.fields, person),  # type: ignore[arg-type]
                canary=hit.canary,
                file_fields=tuple(sorted(set(hit.fields))),
            )
            continue
        cats = _union(old.categories, hit.categories)
        prov: Provenance = "both" if old.provenance in ("ledger", "both") else "file"
        has_org = not (ORG_FIELDS.isdisjoint(old.fields) and ORG_FIELDS.isdisjoint(hit.fields))
        # Built directly: dataclasses.replace costs twice as much per person.
        by_subject[hit.subject] = Exposure(
            subject=old.subject,
            user_id=old.user_id,
            org_ids=old.org_ids,
            categories=cats,
            fields=old.fields,
            provenance=prov,
            risk_tier=_cached_tier(cats, has_org, person.role if person else None),  # type: ignore[arg-type]
            first_seen=old.first_seen,
            last_seen=old.last_seen,
            canary=old.canary,
            file_fields=_union(old.file_fields, hit.fields),
        )
    for subject, e in by_subject.items():
        if subject not in seen and e.provenance == "both":
            by_subject[subject] = replace(e, provenance="ledger")
    return [by_subject[s] for s in sorted(by_subject)]


@functools.lru_cache(maxsize=65_536)
def _union(a: tuple[str, ...], b: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(sorted({*a, *b}))


def carried_hits(previous: Iterable[Exposure]) -> list[FileHit]:
    """The file side of an earlier version, so a ledger re-run keeps what the file showed."""
    return [
        FileHit(e.user_id, e.subject, e.file_fields, (), e.canary)
        for e in previous
        if e.provenance in ("file", "both") and e.user_id is not None
    ]


def summarise(
    incident: Incident,
    exposures: Sequence[Exposure],
    people: Mapping[str, Person],
    *,
    unnamed_users: int = 0,
) -> dict[str, object]:
    """The counts ``incident scope --json`` prints; canaries are counted apart."""
    real = [e for e in exposures if not e.canary]
    named = [e for e in real if e.user_id is not None]
    categories: Counter[str] = Counter()
    combos: Counter[str] = Counter()
    tiers: Counter[str] = Counter({"high": 0, "medium": 0, "low": 0})
    provenance: Counter[str] = Counter({"ledger": 0, "file": 0, "both": 0})
    orgs: Counter[str] = Counter()
    # A million people share a few hundred (categories, tier, provenance) keys and org
    # lists: count those, then spread them (first-seen order, so ties keep their order).
    keys = Counter((e.categories, e.risk_tier, e.provenance) for e in real)
    for (cats, tier, prov), n in keys.items():
        for c in cats:
            categories[c] += n
        combos["+".join(cats) or "(none)"] += n
        tiers[tier] += n
        provenance[prov] += n
    for ids, n in Counter(e.org_ids for e in real if e.org_ids).items():
        for o in ids:
            orgs[o] += n
    found = (people.get(e.user_id) for e in real if e.user_id)
    countries = Counter(p.country or "unknown" for p in found if p is not None)
    return {
        "incident": incident.id,
        "vendor": incident.vendor,
        "subjects": len(real),
        "users": len(named) + unnamed_users,
        "named": sum(1 for e in named if e.user_id in people),
        "unnamed": unnamed_users,
        "orgs": len(orgs),
        "anonymous": len(real) - len(named) - unnamed_users,
        "canaries": len(exposures) - len(real),
        "categories": dict(categories.most_common()),
        "field_combinations": dict(combos.most_common()),
        "risk_tiers": dict(tiers),
        "provenance": dict(provenance),
        "countries": dict(countries.most_common()),
        "top_orgs": dict(orgs.most_common(20)),
    }
