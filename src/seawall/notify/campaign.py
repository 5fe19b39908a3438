"""Planning a campaign: who is told what, and who is not and why. Pure: no I/O.

An *audience* picks from a scope: ``users`` (each affected person), ``org_admins``
(the owners and admins of each affected organisation, told how many members were
affected and which kinds of data, never who), optionally narrowed by filters over the
scope: ``risk_tier=high``, ``category=user.contact`` (a category matches its
sub-categories), ``org_admins:risk_tier=high``. Several values of one key are OR-ed,
different keys AND-ed: ``risk_tier=high,risk_tier=medium,category=user.contact``.

Nobody is told twice of the same data: a recipient whose earlier notice (sent, in
flight or still pending, in any earlier campaign of the incident) covered every
category now in scope (and, for an admin, at least as many members) is excluded as
``already_notified``. A later wave over a widened scope therefore reaches only the newly
affected, and those with newly exposed kinds of data.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from seawall.incident.model import Exposure
from seawall.notify.address import check_address
from seawall.notify.errors import NotifyError

Kind = Literal["user", "org_admin"]
ADMIN_ROLES = frozenset({"owner", "admin"})
_TIER_RANK = {"low": 0, "medium": 1, "high": 2}
MAX_ID_CHARS = 300  # the notice table's user and org id columns
MAX_RECIPIENT_CHARS = 400  # its recipient column
EXCLUSIONS = ("no_email", "invalid_email", "suppressed", "canary", "already_notified")


class Person(Protocol):
    """One directory row: what notices need to know about a person."""

    @property
    def user_id(self) -> str: ...
    @property
    def email(self) -> str | None: ...
    @property
    def name(self) -> str | None: ...
    @property
    def org_id(self) -> str | None: ...
    @property
    def role(self) -> str | None: ...
    @property
    def locale(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class Audience:
    """Who a campaign addresses: a kind of recipient and filters over the scope."""

    kind: Kind
    risk_tiers: frozenset[str] = frozenset()
    categories: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        head = "users" if self.kind == "user" else "org_admins"
        filters = [f"risk_tier={t}" for t in sorted(self.risk_tiers)]
        filters += [f"category={c}" for c in self.categories]
        return f"{head}:{','.join(filters)}" if filters else head

    def selects(self, exposure: Exposure) -> bool:
        if self.risk_tiers and exposure.risk_tier not in self.risk_tiers:
            return False
        if not self.categories:
            return True
        return any(
            c == want or c.startswith(want + ".")
            for c in exposure.categories
            for want in self.categories
        )


def parse_audience(text: str) -> Audience:
    """``users``, ``org_admins``, ``risk_tier=high``, ``org_admins:category=user.contact``..."""
    head, sep, rest = text.strip().partition(":")
    if not sep and "=" in head:
        head, rest = "users", head
    kinds: dict[str, Kind] = {"users": "user", "org_admins": "org_admin"}
    if head not in kinds:
        raise NotifyError(
            f"audience '{text}': '{head}' is not an audience; "
            "use users, org_admins, or a filter such as risk_tier=high or category=user.contact"
        )
    tiers: set[str] = set()
    categories: list[str] = []
    for item in filter(None, (p.strip() for p in rest.split(","))):
        key, eq, value = item.partition("=")
        if key == "risk_tier" and eq and value in _TIER_RANK:
            tiers.add(value)
        elif key == "category" and eq and value.startswith("user"):
            categories.append(value)
        else:
            raise NotifyError(
                f"audience '{text}': cannot read the filter '{item}'; "
                "write risk_tier=high|medium|low or category=user.<category>"
            )
    return Audience(kinds[head], frozenset(tiers), tuple(sorted(set(categories))))


@dataclass(frozen=True, slots=True)
class PlannedNotice:
    """One recipient of a campaign, and what their notice will say."""

    recipient: str  # the idempotency key within the campaign
    kind: Kind
    user_id: str
    org_id: str | None
    locale: str
    risk_tier: str
    categories: tuple[str, ...]
    members: int | None = None  # org notices: how many members were affected
    reason: str | None = None  # set: excluded (stored as "suppressed" with this reason)


@dataclass(frozen=True, slots=True)
class Told:
    """What an earlier notice told a recipient (for wave dedupe)."""

    categories: frozenset[str]
    members: int | None = None


@dataclass(slots=True)
class Plan:
    """The notices of one campaign, and the exposures nobody can be told about."""

    audience: Audience
    notices: list[PlannedNotice] = field(default_factory=list)
    anonymous: int = 0  # exposures without a user id: nobody to write to
    orgs_without_admin: int = 0
    ids_too_long: int = 0  # a user or org id longer than a notice can store: counted, not planned

    def summary(self) -> dict[str, object]:
        send = [n for n in self.notices if n.reason is None]
        return {
            "audience": self.audience.text,
            "recipients": len(self.notices),
            "to_send": len(send),
            "by_locale": dict(sorted(Counter(n.locale for n in send).items())),
            "by_risk_tier": dict(sorted(Counter(n.risk_tier for n in send).items())),
            "excluded": dict(Counter(n.reason for n in self.notices if n.reason is not None)),
            "anonymous": self.anonymous,
            "orgs_without_admin": self.orgs_without_admin,
            "ids_too_long": self.ids_too_long,
        }


def normalise_locale(locale: str | None) -> str:
    """``fr_FR`` -> ``fr-fr``; empty, or not a language tag (a directory's free-text
    "English (UK)") -> ``en``. At most 20 characters: the notice's column."""
    text = (locale or "").strip().replace("_", "-").lower()
    found = _LOCALE.match(text)
    return found.group(0)[:20].rstrip("-") if found else "en"


# a language, then up to two subtags (script, region), ended by anything else
_LOCALE = re.compile(r"[a-z]{2,3}(?:-[a-z0-9]{2,8}){0,2}(?![a-z0-9])")


def index_directory(people: Iterable[Person]) -> tuple[dict[str, Person], dict[str, list[Person]]]:
    """People by user id (first row with an email wins) and org admins by org id."""
    by_user: dict[str, Person] = {}
    admins: dict[str, list[Person]] = defaultdict(list)
    for p in people:
        current = by_user.get(p.user_id)
        if current is None or (not current.email and p.email):
            by_user[p.user_id] = p
        if p.org_id and (p.role or "").strip().lower() in ADMIN_ROLES:
            admins[p.org_id].append(p)
    return by_user, dict(admins)


def _covered(told: Sequence[Told], categories: tuple[str, ...], members: int | None) -> bool:
    if not told:
        return False
    wanted = set(categories)
    return any(
        wanted <= t.categories and (members is None or (t.members or 0) >= members) for t in told
    )


def _exclusion(
    person: Person | None,
    recipient: str,
    categories: tuple[str, ...],
    members: int | None,
    suppressed: frozenset[str] | set[str],
    earlier: Mapping[str, Sequence[Told]],
) -> str | None:
    if person is None or not person.email:
        return "no_email"
    if check_address(person.email) is None:
        return "invalid_email"
    if person.user_id in suppressed:
        return "suppressed"
    if earlier and _covered(earlier.get(recipient, ()), categories, members):
        return "already_notified"
    return None


def plan(
    exposures: Iterable[Exposure],
    people: Iterable[Person],
    audience: Audience,
    *,
    suppressed: frozenset[str] | set[str] = frozenset(),
    earlier: Mapping[str, Sequence[Told]] | None = None,
) -> Plan:
    """Every recipient of ``audience`` in the scope, each with its exclusion if any."""
    by_user, admins = index_directory(people)
    if audience.risk_tiers or audience.categories:
        selected = [e for e in exposures if audience.selects(e)]
    else:  # no filter selects everything: skip 100,000 calls that return True
        selected = list(exposures)
    told = earlier or {}
    if audience.kind == "user":
        return _plan_users(selected, by_user, audience, suppressed, told)
    return _plan_admins(selected, admins, audience, suppressed, told)


def _plan_users(
    exposures: list[Exposure],
    by_user: dict[str, Person],
    audience: Audience,
    suppressed: frozenset[str] | set[str],
    earlier: Mapping[str, Sequence[Told]],
) -> Plan:
    # The hot path of a 100,000-person wave, written for speed (same results as the
    # obvious version): most people have one exposure, so their categories stay the
    # scope's own (shared) tuple until a second exposure merges into a set; sorted
    # category tuples and normalised locales are computed once per distinct value.
    result = Plan(audience)
    cats: dict[str, tuple[str, ...] | set[str]] = {}
    tiers: dict[str, int] = {}
    canaries: set[str] = set()
    rank = _TIER_RANK
    anonymous = 0
    for e in exposures:
        uid = e.user_id
        if uid is None:
            anonymous += 1
            continue
        found = cats.get(uid)
        if found is None:
            cats[uid] = e.categories
            tiers[uid] = rank[e.risk_tier]
        else:
            merged = found if isinstance(found, set) else set(found)
            merged.update(e.categories)
            cats[uid] = merged
            tiers[uid] = max(tiers[uid], rank[e.risk_tier])
        if e.canary:
            canaries.add(uid)
    result.anonymous = anonymous
    names = {r: tier for tier, r in rank.items()}
    by_tuple: dict[tuple[str, ...], tuple[str, ...]] = {}
    by_set: dict[frozenset[str], tuple[str, ...]] = {}
    locales: dict[str | None, str] = {}
    notices = result.notices
    for user_id in sorted(cats):
        if len(user_id) > MAX_ID_CHARS:
            result.ids_too_long += 1
            continue
        found = cats[user_id]
        if isinstance(found, tuple):
            categories = by_tuple.get(found)
            if categories is None:
                categories = by_tuple[found] = tuple(sorted(set(found)))
        else:
            key = frozenset(found)
            categories = by_set.get(key)
            if categories is None:
                categories = by_set[key] = tuple(sorted(key))
        person = by_user.get(user_id)
        raw_locale = person.locale if person else None
        locale = locales.get(raw_locale)
        if locale is None:
            locale = locales[raw_locale] = normalise_locale(raw_locale)
        recipient = f"user:{user_id}"
        reason = (
            "canary"
            if user_id in canaries
            else _exclusion(person, recipient, categories, None, suppressed, earlier)
        )
        notices.append(
            PlannedNotice(
                recipient,
                "user",
                user_id,
                None,
                locale,
                names[tiers[user_id]],
                categories,
                None,
                reason,
            )
        )
    return result


def _plan_admins(
    exposures: list[Exposure],
    admins: dict[str, list[Person]],
    audience: Audience,
    suppressed: frozenset[str] | set[str],
    earlier: Mapping[str, Sequence[Told]],
) -> Plan:
    result = Plan(audience)
    members: dict[str, set[str]] = defaultdict(set)
    cats: dict[str, set[str]] = defaultdict(set)
    tiers: dict[str, str] = {}
    for e in exposures:
        if e.canary:  # decoys are nobody's colleagues
            continue
        for org in e.org_ids:
            members[org].add(e.user_id or e.subject)
            cats[org].update(e.categories)
            if _TIER_RANK[e.risk_tier] >= _TIER_RANK.get(tiers.get(org, "low"), 0):
                tiers[org] = e.risk_tier
    for org in sorted(members):
        org_admins = admins.get(org, [])
        if not org_admins:
            result.orgs_without_admin += 1
            continue
        categories = tuple(sorted(cats[org]))
        count = len(members[org])
        unique = {p.user_id: p for p in org_admins}
        for person in (unique[u] for u in sorted(unique)):
            recipient = f"org:{org}:{person.user_id}"
            if (
                max(len(org), len(person.user_id)) > MAX_ID_CHARS
                or len(recipient) > MAX_RECIPIENT_CHARS
            ):
                result.ids_too_long += 1
                continue
            reason = _exclusion(person, recipient, categories, count, suppressed, earlier)
            result.notices.append(
                PlannedNotice(
                    recipient=recipient,
                    kind="org_admin",
                    user_id=person.user_id,
                    org_id=org,
                    locale=normalise_locale(person.locale),
                    risk_tier=tiers[org],
                    categories=categories,
                    members=count,
                    reason=reason,
                )
            )
    return result
