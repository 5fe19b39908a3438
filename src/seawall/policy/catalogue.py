"""The field catalogue: which fideslang data category each SDK field belongs to.

A policy rule may name a field (``$email``, ``traits.email``) or a category
(``user.contact``); the catalogue is what lets a category rule reach fields it does not
name. The data lives in ``seawall/data/fields.yaml``: every property mixpanel-browser,
mixpanel-python, analytics.js and analytics-python send by default, the Mixpanel
engage reserved properties and the Segment reserved traits and context keys.

Lookup of a field path, for an event from a given SDK:

1. the exact path in that SDK's table (a Mixpanel ``properties.<key>`` path is looked
   up as the bare key);
2. else the last path segment in the ``names`` table, ignoring case, ``$``, ``_`` and
   ``-`` (so a custom ``properties.userEmail`` is still ``user.contact.email``);
3. else :data:`FALLBACK_CATEGORY` (``user``: unknown user data), so category rules on
   ``user`` and the policy default still apply to fields nobody catalogued.

Categories are fideslang 3.x names. Matching is hierarchical: a rule on
``user.contact`` matches ``user.contact.email``. Names fideslang deprecated are
accepted in rules and mapped to their replacement (``user.location.imprecise`` ->
``user.location.coarse``).

``python -m seawall.policy.catalogue`` prints ``docs/fields.md``.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import yaml

from seawall.core.types import SdkKind

FALLBACK_CATEGORY = "user"
"""The category of a field the catalogue does not know: unknown data about the user."""

# The fideslang 3.x data categories Seawall accepts in rules (system.* and user.*).
_CATEGORY_NAMES = """
system system.authentication system.operations
user user.account user.account.username user.authorization user.authorization.biometrics
user.authorization.credentials user.authorization.password user.behavior
user.behavior.browsing_history user.behavior.media_consumption
user.behavior.purchase_history user.behavior.search_history user.biometrics
user.biometrics.fingerprint user.biometrics.retinal user.biometrics.voice user.children
user.children.children_under_thirteen user.children.thirteen_to_sixteen user.contact
user.contact.address user.contact.address.city user.contact.address.country
user.contact.address.mailing_address user.contact.address.postal_code
user.contact.address.state user.contact.address.street user.contact.email
user.contact.fax_number user.contact.phone_number user.contact.social_url user.content
user.content.private user.content.public user.content.self_image user.criminal_history
user.demographic user.demographic.age_range user.demographic.citizenship_or_immigration_status
user.demographic.date_of_birth user.demographic.gender user.demographic.language
user.demographic.marital_status user.demographic.philosophical_belief
user.demographic.political_opinion user.demographic.profile
user.demographic.protected_classifications user.demographic.race_ethnicity
user.demographic.religious_belief user.demographic.sexual_orientation
user.demographic.union_membership user.device user.device.cookie user.device.cookie_id
user.device.device_id user.device.ip_address user.device.sensor user.device.telemetry
user.financial user.financial.bank_account user.financial.credit_card user.government_id
user.government_id.birth_certificate user.government_id.drivers_license_number
user.government_id.immigration user.government_id.national_identification_number
user.government_id.passport_number user.government_id.vehicle_registration user.health
user.health.condition user.health.genetic user.health.insurance_beneficiary_id
user.health.medical_diagnosis user.health.medications user.health.prescriptions
user.health.record_id user.health.reproductive_or_sexual user.health.treatment
user.location user.location.coarse user.location.precise user.name user.name.first
user.name.last user.payment user.privacy_preferences user.professional_information
user.professional_information.job_title user.professional_information.workplace
user.settings user.social_activity user.unique_id user.unique_id.deterministic
user.unique_id.probablistic
"""
FIDESLANG_CATEGORIES: frozenset[str] = frozenset(_CATEGORY_NAMES.split())

# fideslang 2.x names still in common use -> their 3.x replacement.
DEPRECATED_CATEGORIES: dict[str, str] = {
    "user.location.imprecise": "user.location.coarse",
    "user.unique_id.pseudonymous": "user.unique_id",
    "user.contact.url": "user.contact.social_url",
    "user.contact.organization": "user.contact",
    "user.job_title": "user.professional_information.job_title",
    "user.workplace": "user.professional_information.workplace",
    "user.account.settings": "user.settings",
    "user.social": "user.social_activity",
    "user.biometric": "user.biometrics",
    "user.childrens": "user.children",
    "user.health_and_medical": "user.health",
    "user.telemetry": "user.device.telemetry",
    "user.sensor": "user.device.sensor",
}

# Categories whose values single a person out: when a policy drops or pseudonymises
# one of these, its value must not reappear inside another field's text.
IDENTIFYING_CATEGORIES: tuple[str, ...] = (
    "user.contact",
    "user.name",
    "user.unique_id",
    "user.account",
    "user.device.device_id",
    "user.device.cookie_id",
    "user.device.ip_address",
    "user.location.precise",
    "user.government_id",
    "user.financial",
    "user.authorization",
    "user.payment",
    "user.professional_information.workplace",
    "user.content.self_image",
    "user.demographic.date_of_birth",
)


@dataclass(frozen=True, slots=True)
class FieldEntry:
    """One catalogued field: its path, category, which SDK sends it and what it is."""

    sdk: SdkKind
    path: str
    category: str
    sent_by: str
    about: str


def category_matches(rule_category: str, field_category: str) -> bool:
    """Hierarchical match: ``user.contact`` matches ``user.contact`` and its children."""
    return field_category == rule_category or field_category.startswith(rule_category + ".")


def is_identifying(category: str) -> bool:
    """Whether values of this category identify a person (contact, name, ids...)."""
    return any(category_matches(c, category) for c in IDENTIFYING_CATEGORIES)


def canonical_category(name: str) -> str | None:
    """The fideslang 3.x name for a category named in a rule, or None if unknown."""
    name = DEPRECATED_CATEGORIES.get(name, name)
    return name if name in FIDESLANG_CATEGORIES else None


def suggest_category(name: str) -> str | None:
    """The closest known category name, for error messages."""
    close = difflib.get_close_matches(name, sorted(FIDESLANG_CATEGORIES), n=1, cutoff=0.6)
    return close[0] if close else None


@cache
def _load() -> tuple[dict[tuple[str, str], FieldEntry], dict[str, str]]:
    text = resources.files("seawall").joinpath("data/fields.yaml").read_text(encoding="utf-8")
    data: dict[str, Any] = yaml.safe_load(text)
    table: dict[tuple[str, str], FieldEntry] = {}
    for sdk in ("mixpanel", "segment"):
        for path, spec in data[sdk].items():
            category = str(spec["category"])
            if category not in FIDESLANG_CATEGORIES:
                raise ValueError(f"fields.yaml: {sdk}.{path}: unknown category {category}")
            table[(sdk, str(path))] = FieldEntry(
                sdk=sdk,
                path=str(path),
                category=category,
                sent_by=str(spec["from"]),
                about=str(spec["about"]),
            )
    names = {str(k): str(v) for k, v in data["names"].items()}
    return table, names


def entries() -> list[FieldEntry]:
    """Every catalogued field, in file order."""
    return list(_load()[0].values())


def _name_key(segment: str) -> str:
    return segment.lower().translate({ord(c): None for c in "$_-"})


def category_of(sdk: SdkKind, path: str) -> str:
    """The data category of a field path sent by ``sdk`` (see the module docstring)."""
    table, names = _load()
    if sdk == "mixpanel" and path.startswith("properties."):
        path = path[len("properties.") :]
    entry = table.get((sdk, path))
    if entry is not None:
        return entry.category
    leaf = path.rsplit(".", 1)[-1] if sdk == "segment" else path
    return names.get(_name_key(leaf), FALLBACK_CATEGORY)


def render_markdown() -> str:
    """docs/fields.md: every catalogued field and its category."""
    lines = [
        "# Field catalogue",
        "",
        "Generated from `src/seawall/data/fields.yaml` by "
        "`python -m seawall.policy.catalogue > docs/fields.md`; a test keeps them in step.",
        "",
        "Every field the Mixpanel and Segment SDKs send by default, with its "
        "[fideslang](https://ethyca.github.io/fideslang/) data category. A policy rule "
        "naming a category matches every field at or below it (`user.contact` matches "
        "`user.contact.email`). A field not listed here is looked up by its last path "
        "segment in the name table below; failing that its category is "
        f"`{FALLBACK_CATEGORY}` (unknown user data), so a category rule on `{FALLBACK_CATEGORY}`"
        " and the policy default still decide it.",
        "",
    ]
    for sdk, title in (("mixpanel", "Mixpanel"), ("segment", "Segment")):
        lines += [
            f"## {title}",
            "",
            "| Field | Category | Sent by | What it is |",
            "|---|---|---|---|",
        ]
        lines += [
            f"| `{e.path}` | `{e.category}` | {e.sent_by} | {e.about} |"
            for e in entries()
            if e.sdk == sdk
        ]
        lines.append("")
    lines += [
        "## Custom field names",
        "",
        "Matched on the last path segment, ignoring case, `$`, `_` and `-`.",
        "",
        "| Name | Category |",
        "|---|---|",
    ]
    lines += [f"| `{name}` | `{cat}` |" for name, cat in _load()[1].items()]
    lines += [
        "",
        "## Deprecated category names accepted in rules",
        "",
        "| Name | Read as |",
        "|---|---|",
    ]
    lines += [f"| `{old}` | `{new}` |" for old, new in DEPRECATED_CATEGORIES.items()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render_markdown(), end="")
