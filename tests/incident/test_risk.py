"""Risk tiers: one row per rule documented in docs/incident.md and incident/risk.py."""

from __future__ import annotations

import pytest

from seawall.incident.risk import risk_tier


@pytest.mark.parametrize(
    ("categories", "has_org", "role", "tier", "why"),
    [
        # high: severe categories on their own
        (["user.government_id.passport_number"], False, None, "high", "government id"),
        (["user.financial.bank_account"], False, None, "high", "financial"),
        (["system.authentication"], False, None, "high", "credential"),
        (["user.authorization.credentials"], False, None, "high", "credential"),
        (["user.location.precise"], False, None, "high", "precise location"),
        (["user.payment"], False, None, "high", "payment"),
        # high: contact + name + organisation (targeted phishing)
        (["user.contact.email", "user.name"], True, None, "high", "org id field sent"),
        (["user.contact.email", "user.name", "user.professional_information.workplace"],
         False, None, "high", "workplace field"),
        (["user.contact.phone_number", "user.name"], True, "member", "high", "any contact"),
        # high: contact details of an org owner/admin
        (["user.contact.email"], False, "owner", "high", "owner"),
        (["user.contact.email"], False, " Admin ", "high", "admin, any case and spaces"),
        (["user.contact.email"], False, "billing", "high", "billing"),
        # medium: reachable or recognisable
        (["user.contact.email", "user.name"], False, None, "medium", "no org"),
        (["user.contact.email"], False, "member", "medium", "a plain member"),
        (["user.name"], False, "owner", "medium", "role raises contact only"),
        (["user.name"], True, None, "medium", "name + org, no contact"),
        (["user.account.username"], False, None, "medium", "account"),
        (["user.device.ip_address"], False, None, "medium", "IP address"),
        (["user.demographic.date_of_birth"], False, None, "medium", "date of birth"),
        # low: profiles but neither reaches nor names
        (["user.device.cookie_id", "user.device.browser"], True, "owner", "low", "device"),
        (["user.behavior.browsing_history"], False, None, "low", "behaviour"),
        (["user.location.imprecise"], False, None, "low", "coarse location"),
        (["user.unique_id.pseudonymous"], True, None, "low", "pseudonymous id"),
        ([], False, None, "low", "nothing at all"),
        (["unknown"], False, None, "low", "unmapped column"),
    ],
)  # fmt: skip
def test_risk_tier(
    categories: list[str], has_org: bool, role: str | None, tier: str, why: str
) -> None:
    got, reason = risk_tier(categories, has_org=has_org, role=role)
    assert got == tier, why
    assert reason
