"""Each action, as a table of (params, input) -> output, and its load-time checks."""

from __future__ import annotations

from typing import Any

import pytest

from seawall.core.crypto import pseudonym
from seawall.core.errors import ConfigError, PolicyError
from seawall.policy.actions import ACTIONS, ApplyContext, make_action

KEY = b"k" * 32
NO_CTX = ApplyContext([], {})
FR_CTX = ApplyContext([], {"mp_country_code": "FR"})
UA_CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
)
UA_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1"
)


def run(
    name: str,
    value: Any,
    params: dict[str, Any] | None = None,
    ctx: ApplyContext = NO_CTX,
    category: str = "user",
) -> Any:
    return make_action(name, params or {}, KEY).for_category(category).operate(value, ctx)


@pytest.mark.parametrize(
    ("name", "params", "value", "expected"),
    [
        ("keep", {}, "anything", "anything"),
        ("keep", {}, {"a": [1, 2]}, {"a": [1, 2]}),
        ("pseudonymize", {}, "user-42", pseudonym(KEY, "user-42")),
        ("pseudonymize", {}, 42, pseudonym(KEY, "42")),
        ("pseudonymize", {}, ["a", "b"], [pseudonym(KEY, "a"), pseudonym(KEY, "b")]),
        ("truncate_ip", {}, "203.0.113.77", "203.0.113.0"),
        ("truncate_ip", {"v4_prefix": 16}, "203.0.113.77", "203.0.0.0"),
        ("truncate_ip", {}, "2001:db8:1234:5678::1", "2001:db8:1234::"),
        ("truncate_ip", {"v6_prefix": 32}, "2001:db8:1234:5678::1", "2001:db8::"),
        ("truncate_ip", {}, " 198.51.100.9 ", "198.51.100.0"),
        # IPv6 forms that carry a whole IPv4 address: the IPv4 address is truncated
        ("truncate_ip", {}, "2002:cb00:712d:1::1", "203.0.113.0"),  # 6to4
        ("truncate_ip", {}, "::ffff:203.0.113.45", "203.0.113.0"),  # mapped
        ("truncate_ip", {}, "2001:0:4136:e378:8000:63bf:3fff:fdd2", "192.0.2.0"),  # Teredo
        ("domain_only", {}, "https://www.google.com/search?q=alice", "google.com"),
        ("domain_only", {}, "https://user:pw@shop.example.co.uk:8443/a#b", "example.co.uk"),
        ("domain_only", {}, "http://example.com", "example.com"),
        ("domain_only", {}, "news.example.org/path", "example.org"),
        ("domain_only", {}, "$direct", "$direct"),
        ("domain_only", {}, "", ""),
        ("ua_family", {}, UA_CHROME, "Chrome 120 / Windows"),
        ("ua_family", {}, UA_IPHONE, "Mobile Safari 17 / iOS"),
        ("ua_family", {}, "curl/8.1.2", "curl 8 / Other"),
        ("ua_family", {}, "???", "Other / Other"),
        ("redact", {}, "mail alice@example.com now", "mail [EMAIL] now"),
        ("redact", {}, ["ok", {"k": "alice@example.com"}], ["ok", {"k": "[EMAIL]"}]),
        ("redact", {}, 1080, 1080),
        ("redact", {}, True, True),
        ("redact", {}, None, None),
        (
            "scrub_url",
            {},
            "https://app.example.com/p?email=alice@example.com&utm_source=news#x",
            "https://app.example.com/p?utm_source=news",
        ),
        (
            "scrub_url",
            {"allow_params": ["plan"]},
            "https://app.example.com/p?plan=pro&sid=9",
            "https://app.example.com/p?plan=pro",
        ),
        ("scrub_url", {}, "$direct", "$direct"),
    ],
)
def test_action_table(name: str, params: dict[str, Any], value: Any, expected: Any) -> None:
    assert run(name, value, params) == expected


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("pseudonymize", {"id": 1}),
        ("pseudonymize", 1.5),
        ("truncate_ip", "not an ip"),
        ("truncate_ip", 12345),
        ("domain_only", "https://203.0.113.5/x"),
        ("domain_only", "not a url at all"),
        ("domain_only", 3),
        ("ua_family", ["Chrome"]),
        ("scrub_url", 42),
        ("scrub_url", "javascript:alert(1)"),
        ("coarsen", 48.85),
    ],
)
def test_action_refuses(name: str, value: Any) -> None:
    with pytest.raises(PolicyError):
        run(name, value)


@pytest.mark.parametrize(
    ("category", "value", "ctx", "expected"),
    [
        ("user.location.precise", 48.8566, FR_CTX, "FR"),
        ("user.contact.address.city", "Lyon", FR_CTX, "FR"),
        ("user.location.coarse", "DE", NO_CTX, "DE"),
        ("user.location.coarse", "Europe/Paris", NO_CTX, "Europe/Paris"),
        ("user.location.coarse", "DE", FR_CTX, "DE"),
    ],
)
def test_coarsen(category: str, value: Any, ctx: ApplyContext, expected: Any) -> None:
    assert run("coarsen", value, ctx=ctx, category=category) == expected


def test_coarsen_without_country_drops() -> None:
    with pytest.raises(PolicyError):
        run("coarsen", "Lyon", category="user.contact.address.city")
    with pytest.raises(PolicyError):  # a coarse field holding more than a place name
        run("coarsen", "12 rue de la Paix", category="user.location.coarse")


def test_redact_uses_known_values() -> None:
    ctx = ApplyContext(["Alice Martin"], {})
    assert run("redact", "written by Alice Martin", ctx=ctx) == "written by [REDACTED]"


def test_redact_number_that_is_a_card() -> None:
    assert run("redact", 4111111111111111) == "[CARD]"


@pytest.mark.parametrize(
    ("name", "params", "fix"),
    [
        ("keep", {"x": 1}, "keep takes no params"),
        ("truncate_ip", {"v4_prefix": 33}, "v4_prefix: 24"),
        ("truncate_ip", {"v6_prefix": "48"}, "v6_prefix: 48"),
        ("truncate_ip", {"prefix": 24}, "v4_prefix, v6_prefix"),
        ("scrub_url", {"allow_params": "ref"}, "allow_params: [ref, page]"),
        ("scrub_url", {"allow_params": [""]}, "allow_params: [ref, page]"),
        ("nope", {}, "use one of: keep, drop"),
    ],
)
def test_params_checked_at_load(name: str, params: dict[str, Any], fix: str) -> None:
    with pytest.raises(ConfigError) as info:
        make_action(name, params, KEY)
    assert fix in (info.value.fix or "")


def test_pseudonymize_needs_a_key() -> None:
    with pytest.raises(ConfigError):
        make_action("pseudonymize", {}, b"")


def test_registry_has_every_documented_action() -> None:
    assert set(ACTIONS) == {
        "keep",
        "drop",
        "pseudonymize",
        "truncate_ip",
        "coarsen",
        "scrub_url",
        "domain_only",
        "ua_family",
        "redact",
    }
