"""The field catalogue: real fideslang names, lookups, and docs/fields.md in step."""

from __future__ import annotations

from pathlib import Path

import pytest

from seawall.policy.catalogue import (
    DEPRECATED_CATEGORIES,
    FALLBACK_CATEGORY,
    FIDESLANG_CATEGORIES,
    canonical_category,
    category_matches,
    category_of,
    entries,
    is_identifying,
    render_markdown,
)

DOCS = Path(__file__).resolve().parents[2] / "docs" / "fields.md"


def test_docs_fields_md_matches_the_catalogue() -> None:
    assert DOCS.read_text(encoding="utf-8") == render_markdown(), (
        "regenerate: python -m seawall.policy.catalogue > docs/fields.md"
    )


def test_every_category_is_fideslang_and_every_parent_exists() -> None:
    for entry in entries():
        assert entry.category in FIDESLANG_CATEGORIES
    for name in FIDESLANG_CATEGORIES:
        if "." in name:
            assert name.rsplit(".", 1)[0] in FIDESLANG_CATEGORIES
    for new in DEPRECATED_CATEGORIES.values():
        assert new in FIDESLANG_CATEGORIES


@pytest.mark.parametrize(
    ("sdk", "path", "category"),
    [
        ("mixpanel", "$email", "user.contact.email"),
        ("mixpanel", "properties.$email", "user.contact.email"),
        ("mixpanel", "$first_name", "user.name.first"),
        ("mixpanel", "$city", "user.contact.address.city"),
        ("mixpanel", "mp_country_code", "user.location.coarse"),
        ("mixpanel", "$current_url", "user.behavior.browsing_history"),
        ("mixpanel", "$device_id", "user.device.device_id"),
        ("mixpanel", "distinct_id", "user.unique_id"),
        ("mixpanel", "gclid", "user.unique_id"),
        ("mixpanel", "$insert_id", "system.operations"),
        ("mixpanel", "ip", "user.device.ip_address"),
        ("mixpanel", "email", "user.contact.email"),  # custom, by name
        ("mixpanel", "favourite_colour", FALLBACK_CATEGORY),
        ("segment", "traits.email", "user.contact.email"),
        ("segment", "anonymousId", "user.device.cookie_id"),
        ("segment", "context.page.referrer", "user.behavior.browsing_history"),
        ("segment", "context.location.latitude", "user.location.precise"),
        ("segment", "context.ip", "user.device.ip_address"),
        ("segment", "context.userAgent", "user.device"),
        ("segment", "properties.userEmail", "user.contact.email"),
        ("segment", "traits.Phone_Number", "user.contact.phone_number"),
        ("segment", "properties.sku", FALLBACK_CATEGORY),
    ],
)
def test_category_of(sdk: str, path: str, category: str) -> None:
    assert category_of(sdk, path) == category  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("rule", "field", "match"),
    [
        ("user.contact", "user.contact.email", True),
        ("user.contact", "user.contact", True),
        ("user.contact", "user.contacts", False),
        ("user.contact.email", "user.contact", False),
        ("user", "user.device", True),
    ],
)
def test_hierarchical_matching(rule: str, field: str, match: bool) -> None:
    assert category_matches(rule, field) is match


def test_deprecated_names_are_read_as_their_replacement() -> None:
    assert canonical_category("user.location.imprecise") == "user.location.coarse"
    assert canonical_category("user.device.browser") is None


def test_identifying_categories() -> None:
    assert is_identifying("user.contact.email")
    assert is_identifying("user.device.ip_address")
    assert not is_identifying("user.device")
    assert not is_identifying(FALLBACK_CATEGORY)


def test_catalogue_covers_the_sdk_defaults() -> None:
    mixpanel = {e.path for e in entries() if e.sdk == "mixpanel"}
    # mixpanel-browser _.info.properties() and the engage reserved properties
    assert {
        "$os",
        "$browser",
        "$referrer",
        "$referring_domain",
        "$device",
        "$current_url",
        "$browser_version",
        "$screen_height",
        "$screen_width",
        "mp_lib",
        "$lib_version",
        "$insert_id",
        "time",
        "$email",
        "$name",
        "$first_name",
        "$last_name",
        "$phone",
        "$avatar",
        "$city",
        "$region",
        "$country_code",
        "$timezone",
        "$created",
    } <= mixpanel
    segment = {e.path for e in entries() if e.sdk == "segment"}
    assert {
        "context.ip",
        "context.userAgent",
        "context.locale",
        "context.timezone",
        "context.page.url",
        "context.campaign.source",
        "context.device.id",
        "context.location.city",
        "traits.email",
        "traits.firstName",
        "traits.address",
        "traits.company",
        "traits.phone",
    } <= segment
