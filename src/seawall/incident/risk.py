"""Risk tiers: how much harm one person's exposure enables, and why.

The tier answers "what could someone holding this data do to this person?"

* **high**: enough for a convincing targeted attack or direct harm:
  - contact details (``user.contact``) together with a name (``user.name``) and an
    organisation (an org id, or a workplace field, or an owner/admin role in the
    directory): targeted phishing that names the victim, their company and their role;
  - any government id, financial data, credentials or precise location.
* **medium**: the person can be reached or recognised: a contact detail, a name, a
  username or account id, a street address, an IP address, date of birth; or contact +
  name without an org.
* **low**: only device/browser facts, behaviour, coarse location, pseudonymous or
  device ids: data that profiles but neither reaches nor names the person.

What raises a tier: an owner/admin role raises medium to high when a contact detail
is exposed (they are the phishing target that unlocks an organisation). What lowers
it: nothing identifying beyond pseudonymous ids; canaries are decoys and get no tier
that counts (they are excluded from every count). Anonymous subjects are tiered on the
same rules, but counted apart, since nobody can be told.
"""

from __future__ import annotations

from collections.abc import Iterable

from seawall.incident.model import RiskTier

_SEVERE = (
    "user.government_id",
    "user.financial",
    "user.authorization",
    "system.authentication",
    "user.location.precise",
    "user.payment",
)
_REACHABLE = (
    "user.contact",
    "user.name",
    "user.account",
    "user.device.ip_address",
    "user.demographic.date_of_birth",
)
_ORG = ("user.professional_information",)
PRIVILEGED_ROLES = frozenset({"owner", "admin", "administrator", "billing"})


def _any(categories: Iterable[str], prefixes: tuple[str, ...]) -> bool:
    return any(c.startswith(prefixes) for c in categories)


def risk_tier(
    categories: Iterable[str], *, has_org: bool = False, role: str | None = None
) -> tuple[RiskTier, str]:
    """The tier and a one-line reason a reader can check."""
    cats = tuple(categories)
    contact = _any(cats, ("user.contact",))
    name = _any(cats, ("user.name",))
    privileged = (role or "").strip().lower() in PRIVILEGED_ROLES
    org = has_org or _any(cats, _ORG)
    if _any(cats, _SEVERE):
        return "high", "government id, financial, credential or precise location data"
    if contact and name and org:
        return "high", "contact + name + organisation: targeted phishing"
    if contact and privileged:
        return "high", f"contact details of an org {role}: phishing target"
    if _any(cats, _REACHABLE):
        return "medium", "can be reached or recognised (contact, name, account or IP)"
    return "low", "device, behaviour or pseudonymous data only"
