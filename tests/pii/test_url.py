"""scrub_url: tables for its rules, and a fuzz of its safety promise."""

from __future__ import annotations

import string
from urllib.parse import quote, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seawall.core.errors import PolicyError
from seawall.pii import KnownValues, scan, scrub_url


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://example.com/pricing", "https://example.com/pricing"),
        ("HTTPS://Example.COM:8443/a/b/", "https://example.com:8443/a/b/"),
        ("https://bob:pw@example.com/x", "https://example.com/x"),
        ("https://example.com/?utm_source=news&utm_medium=mail&gclid=abc123",
         "https://example.com/?utm_source=news&utm_medium=mail"),
        ("https://example.com/users/jane@example.com/edit", "https://example.com/users/[EMAIL]/edit"),
        ("https://example.com/users/jane%2540example.com", "https://example.com/users/[EMAIL]"),
        ("https://example.com/orders/123456", "https://example.com/orders/:id"),
        ("https://example.com/o/550e8400-e29b-41d4-a716-446655440000/items",
         "https://example.com/o/:id/items"),
        ("https://example.com/s/aB3xY9zQ7wE5rT1u", "https://example.com/s/:id"),
        ("https://example.com/blog/2024/how-to-export-data", "https://example.com/blog/2024/how-to-export-data"),
        ("https://example.com/cb#access_token=abc&state=1", "https://example.com/cb"),
        ("https://example.com/#/settings", "https://example.com/"),
        ("https://example.com/?utm_content=jane%40example.com", "https://example.com/?utm_content=%5BEMAIL%5D"),
        ("https://example.com/p/caf%C3%A9", "https://example.com/p/caf%C3%A9"),
    ],
)  # fmt: skip
def test_scrub_url(url: str, expected: str) -> None:
    assert scrub_url(url) == expected


def test_allowed_params_are_configurable() -> None:
    url = "https://example.com/search?q=shoes&page=2&email=jane@example.com"
    assert (
        scrub_url(url, frozenset({"q", "email"}))
        == "https://example.com/search?q=shoes&email=%5BEMAIL%5D"
    )


def test_known_values_are_scrubbed() -> None:
    known = KnownValues(["Zoë Doe"])
    assert (
        scrub_url("https://example.com/u/zoe-doe/ZOE", known=known)
        == "https://example.com/u/[REDACTED]-[REDACTED]/[REDACTED]"
    )


@pytest.mark.parametrize(
    "url",
    ["$direct", "", "ftp://example.com/", "javascript:alert(1)", "https://", "https://10.0.0.1/x",
     "https://[::1]/", "https://exa mple.com/", "https://exa\tmple.com/", "https://example.com:99999/",
     "//example.com/x"],
)  # fmt: skip
def test_unsafe_or_non_urls_fail_closed(url: str) -> None:
    with pytest.raises(PolicyError):
        scrub_url(url)


_PII = st.sampled_from([
    "jane@example.com", "+1 202-555-0143", "10.0.0.1", "4111 1111 1111 1111", "536-22-1234",
    "DE89370400440532013000", "sk_live_4eC39HqLyjWDarjtT1zdp7dc", "bob:pw@",
])  # fmt: skip
_WORD = st.text(alphabet=string.ascii_letters + string.digits + "-._~%+@:", max_size=12)
_PART = st.one_of(
    _WORD,
    _PII,
    _PII.map(lambda v: quote(v, safe="")),
    _PII.map(lambda v: quote(quote(v, safe=""), safe="")),
)
_KEY = st.sampled_from(["utm_source", "utm_term", "email", "q", "token", "next"])


@st.composite
def urls(draw: st.DrawFn) -> str:
    path = "/".join(draw(st.lists(_PART, max_size=4)))
    params = draw(st.lists(st.tuples(_KEY, _PART), max_size=4))
    query = "&".join(f"{k}={v}" for k, v in params)
    fragment = draw(st.one_of(st.just(""), _PART, st.just("access_token=") | _PART))
    host = draw(st.sampled_from(["example.com", "app.example.org", "user:pw@example.net"]))
    return f"https://{host}/{path}?{query}#{fragment}"


_ALLOWED = set(string.ascii_letters + string.digits + "-._~!$&'()*+,;=:@/?#[]%")


@settings(max_examples=400, deadline=None)
@given(urls())
def test_fuzz_output_is_a_url_without_what_the_engine_found(url: str) -> None:
    try:
        out = scrub_url(url)
    except PolicyError:
        return
    parts = urlsplit(out)
    assert parts.scheme == "https"
    assert parts.hostname
    assert set(out) <= _ALLOWED
    assert all(out[i + 1 : i + 3].isalnum() for i, ch in enumerate(out) if ch == "%")
    for f in scan(url):
        assert url[f.start : f.end] not in out
    assert scan(out) == []
