"""The drill's synthetic company: its users, their organisations, the directory CSV,
and the ground truth the drill's summary is checked against.

Everything is derived from a seed, so two runs with the same seed and size describe
the same people. Addresses and sites use RFC 2606 names (``example.com``).
"""

from __future__ import annotations

import csv
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Org", "User", "World", "build_world", "write_directory"]

FIRST = (
    "Ada", "Grace", "Alan", "Hedy", "Chen", "Amara", "Yuki", "Olu", "Priya", "Mateo",
    "Ines", "Lars", "Fatima", "Noah", "Sofia", "Kwame", "Mei", "Jonas", "Aisha", "Luca",
)  # fmt: skip
LAST = (
    "Lovelace", "Hopper", "Turing", "Lamarr", "Wei", "Okafor", "Tanaka", "Adeyemi",
    "Sharma", "García", "Dubois", "Berg", "Haddad", "Müller", "Rossi", "Mensah", "Lin",
    "Weber", "Khan", "Moreau",
)  # fmt: skip
# (city, country as the directory holds it, locale): the EEA/UK, California and others,
# so every regulatory clock has people to count.
PLACES = (
    ("London", "GB", "en-GB"),
    ("Paris", "FR", "fr-FR"),
    ("Lyon", "FR", "fr-FR"),
    ("Berlin", "DE", "de-DE"),
    ("Montréal", "CA", "fr-CA"),
    ("San Francisco", "US-CA", "en-US"),
    ("Los Angeles", "US-CA", "en-US"),
    ("Austin", "US-TX", "en-US"),
    ("New York", "US-NY", "en-US"),
    ("Lagos", "NG", "en-NG"),
    ("Osaka", "JP", "ja-JP"),
    ("Bengaluru", "IN", "en-IN"),
)
# Organisation sizes: a few large customers, many small teams, many solo accounts.
SIZES = (1, 1, 1, 2, 2, 3, 4, 5, 8, 12, 20, 40)


@dataclass(frozen=True, slots=True)
class User:
    user_id: str
    device_id: str
    email: str | None  # None: an SSO-only account with no address on file
    name: str
    city: str
    country: str
    locale: str
    org_id: str
    role: str  # owner | admin | member
    signs_in: bool  # False: only ever browses signed out (an anonymous device)
    sets_profile: bool  # the app calls people.set with $email, $name and $city


@dataclass(frozen=True, slots=True)
class Org:
    org_id: str
    members: tuple[str, ...]

    @property
    def size(self) -> int:
        return len(self.members)


@dataclass
class World:
    users: list[User]
    orgs: dict[str, Org]
    by_id: dict[str, User] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.by_id = {u.user_id: u for u in self.users}

    def by_email(self) -> dict[str, User]:
        return {u.email: u for u in self.users if u.email}

    def admins(self, org_id: str) -> list[User]:
        """The owner and admins of an organisation: who gets the org notice."""
        return [self.by_id[m] for m in self.orgs[org_id].members if self.by_id[m].role != "member"]

    def org_sizes(self) -> dict[int, int]:
        """How many organisations have each size."""
        return dict(sorted(Counter(o.size for o in self.orgs.values()).items()))


def build_world(n_users: int, seed: int = 7) -> World:
    """``n_users`` people in organisations of varied sizes."""
    if n_users < 1:
        raise ValueError("the drill needs at least one user")
    rng = random.Random(seed)  # noqa: S311 - synthetic data, not a secret
    users: list[User] = []
    orgs: dict[str, Org] = {}
    i = 0
    while i < n_users:
        size = min(rng.choice(SIZES), n_users - i)
        org_id = f"org-{len(orgs) + 1:04d}"
        members: list[str] = []
        admins = 0 if size < 5 else 1 + size // 15
        for k in range(size):
            role = "owner" if k == 0 else ("admin" if k <= admins else "member")
            users.append(_user(rng, i, org_id, role))
            members.append(users[-1].user_id)
            i += 1
        orgs[org_id] = Org(org_id, tuple(members))
    return World(users, orgs)


def _user(rng: random.Random, i: int, org_id: str, role: str) -> User:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    city, country, locale = rng.choice(PLACES)
    local = f"{first}.{last}".lower().replace("í", "i").replace("ü", "u")
    # Owners always sign in; others sometimes only browse signed out.
    signs_in = role != "member" or rng.random() < 0.88
    return User(
        user_id=f"u{i + 1:06d}",
        device_id=f"{rng.getrandbits(128):032x}",
        email=None if rng.random() < 0.02 else f"{local}.{i + 1}@example.com",
        name=f"{first} {last}",
        city=city,
        country=country,
        locale=locale,
        org_id=org_id,
        role=role,
        signs_in=signs_in,
        sets_profile=signs_in and rng.random() < 0.9,
    )


def write_directory(world: World, path: Path) -> None:
    """The company's directory as Seawall reads it (``directory: {kind: csv}``)."""
    with path.open("w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(("user_id", "email", "name", "org_id", "role", "locale", "country"))
        for u in world.users:
            out.writerow((u.user_id, u.email or "", u.name, u.org_id, u.role, u.locale, u.country))
