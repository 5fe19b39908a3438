"""The fast message builder writes exactly what the email package writes."""

from __future__ import annotations

import re
from email import message_from_bytes, policy

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seawall.notify.address import parse_sender
from seawall.notify.message import MessageBuilder
from seawall.notify.render import Rendered, Renderer, sample_context
from seawall.notify.smtp import build_message

SENDER = parse_sender("Example Sécurité <security@example.com>")
BOUNDARY = "===============1234567890123456789=="
_DATE = re.compile(rb"^Date: [^\r]*\r\n", re.M)


def _reference(rendered: Rendered, name: str | None, address: str, **kw: str) -> bytes:
    msg = build_message(sender=SENDER, to_name=name, to_address=address, rendered=rendered, **kw)
    msg.set_boundary(BOUNDARY)
    return _DATE.sub(b"", msg.as_bytes())


def _fast(rendered: Rendered, name: str | None, address: str, **kw: str) -> bytes:
    out = MessageBuilder(SENDER).build(
        to_name=name,
        to_address=address,
        rendered=rendered,
        boundary=BOUNDARY,
        message_id=kw["message_id"],
        locale=kw["locale"],
        reference=kw["reference"],
    )
    return _DATE.sub(b"", out)


def _same(
    rendered: Rendered, name: str | None, address: str = "ann@example.com", **kw: str
) -> bytes:
    args = {"message_id": "<1.2.3@example.com>", "locale": "en", "reference": "SW-1-3"} | kw
    fast = _fast(rendered, name, address, **args)
    assert fast == _reference(rendered, name, address, **args)
    return fast


@pytest.mark.parametrize("locale", ["en", "fr"])
@pytest.mark.parametrize(
    "name",
    [
        "User 1", "", None, "O'Brien", "Jean-Luc", "A. B", "José Núñez", 'a "q" b',
        "Eve\r\nBcc: x@example.com", "x" * 130, "a  b", "=?utf-8?q?x?=", "a,b <c@d.e>",
    ],
)  # fmt: skip
def test_byte_for_byte_the_email_package(locale: str, name: str | None) -> None:
    rendered = Renderer().render("user", locale, sample_context("user", locale))
    data = _same(rendered, name, locale=locale)
    parsed = message_from_bytes(data, policy=policy.default)
    assert not parsed.defects
    assert "Bcc" not in parsed
    assert [a.addr_spec for a in parsed["To"].addresses] == ["ann@example.com"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("message_id", "<" + "a" * 90 + "@example.com>"),
        ("reference", "SW 1 é"),
        ("locale", "fr_FR"),
    ],
)
def test_unusual_values_go_through_the_email_package(field: str, value: str) -> None:
    rendered = Renderer().render("user", "en", sample_context("user", "en"))
    _same(rendered, "Ann", **{field: value})


@pytest.mark.parametrize("field", ["message_id", "reference", "locale"])
def test_cr_lf_in_our_own_values_is_refused_like_the_email_package(field: str) -> None:
    rendered = Renderer().render("user", "en", sample_context("user", "en"))
    args = {"message_id": "<1@example.com>", "locale": "en", "reference": "SW-1-3"}
    args[field] = "x\r\nBcc: x@example.com"
    with pytest.raises(ValueError, match="linefeed"):
        _reference(rendered, "Ann", "ann@example.com", **args)
    with pytest.raises(ValueError, match="linefeed"):
        _fast(rendered, "Ann", "ann@example.com", **args)


def test_a_bad_address_is_refused() -> None:
    rendered = Renderer().render("user", "en", sample_context("user", "en"))
    with pytest.raises(ValueError, match="not a valid"):
        _fast(rendered, "Ann", "ann@example.com\r\nBcc: x@example.com", message_id="<1@x.y>",
              locale="en", reference="r")  # fmt: skip


@settings(deadline=None, max_examples=80)
@given(
    name=st.text(max_size=80),
    subject=st.text(min_size=1, max_size=120),
    text=st.text(max_size=300),
)
def test_any_name_subject_and_body(name: str, subject: str, text: str) -> None:
    rendered = Rendered(subject=subject, text=text, html=f"<p>{text}</p>")
    data = _same(rendered, name)
    parsed = message_from_bytes(data, policy=policy.default)
    assert not parsed.defects
    assert all(len(line) <= 998 for line in data.split(b"\r\n"))


def test_an_encoded_word_name_cannot_add_a_recipient() -> None:
    # "Eve, attacker@evil.example" as an RFC 2047 word: decoded by the email package, it
    # used to reach the To header unquoted, where readers see two addresses.
    name = "=?utf-8?b?RXZlLCBhdHRhY2tlckBldmlsLmV4YW1wbGU=?="
    rendered = Renderer().render("user", "en", sample_context("user", "en"))
    parsed = message_from_bytes(_same(rendered, name, "eve@example.com"), policy=policy.default)
    to = parsed["To"]
    assert [a.addr_spec for a in to.addresses] == ["eve@example.com"]
    assert "evil.example" not in str(to.addresses[0].addr_spec)
