"""Templates, phrases and message building: what a reader sees, and what cannot go wrong."""

from __future__ import annotations

from dataclasses import replace
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seawall.notify.address import check_address, clean_name, parse_sender
from seawall.notify.errors import TemplateError
from seawall.notify.phrases import sentence
from seawall.notify.render import (
    NoticeTexts,
    Rendered,
    Renderer,
    notice_context,
    sample_context,
    sample_incident,
)
from seawall.notify.smtp import build_message

HEADINGS = {
    "en": (
        "What Happened",
        "What Information Was Involved",
        "What We Are Doing",
        "What You Can Do",
        "For More Information",
    ),
    "fr": (
        "Ce qui s'est passé",
        "Les informations concernées",
        "Ce que nous faisons",
        "Ce que vous pouvez faire",
        "Pour plus d'informations",
    ),
}


@pytest.mark.parametrize(
    ("categories", "locale", "expected"),
    [
        (
            ["user.contact.email", "user.name", "user.location.imprecise", "user.device"],
            "en",
            "your email address, your name, your approximate location (city) "
            "and your browser and OS",
        ),
        (["user.name.first", "user.name.last"], "en", "your name"),
        (["user.contact.fax_number"], "en", "your contact details"),
        (["user.something.new"], "en", "other information about you"),
        (
            ["user.contact.email", "user.device.ip_address"],
            "fr",
            "votre adresse e-mail et votre adresse IP",
        ),
        (["user.name"], "de", "your name"),
    ],
)
def test_categories_become_phrases(categories: list[str], locale: str, expected: str) -> None:
    assert sentence(categories, locale) == expected


@pytest.mark.parametrize("kind", ["user", "org_admin"])
@pytest.mark.parametrize(("locale", "shipped"), [("en", "en"), ("fr-ca", "fr"), ("de", "en")])
def test_every_notice_has_the_five_headings_and_the_advice(
    kind: str, locale: str, shipped: str
) -> None:
    r = Renderer()
    assert r.locale_for(locale) == shipped
    out = r.render(kind, locale, sample_context(kind, shipped))
    for part in (out.text, out.html):
        for heading in HEADINGS[shipped]:
            assert heading in part
        assert "MFA" in part
        assert "security@example.com" in part  # the contact point (GDPR Art. 34)
    assert out.subject


def test_html_is_autoescaped_and_text_is_not() -> None:
    context = sample_context("user", "en")
    context["recipient"] = {"name": "<script>alert(1)</script>"}
    out = Renderer().render("user", "en", context)
    assert "&lt;script&gt;" in out.html
    assert "<script>" not in out.html
    assert "Dear <script>alert(1)</script>," in out.text


def _templates(tmp_path: Path, name: str, body: str) -> Path:
    (tmp_path / "en").mkdir(exist_ok=True)
    (tmp_path / "en" / name).write_text(body, encoding="utf-8")
    return tmp_path


def test_a_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    folder = _templates(tmp_path, "user.subject.j2", "Hello\n{{ incident.vendor }\n")
    with pytest.raises(TemplateError) as info:
        Renderer(folder).check([("user", "en")])
    assert f"{folder / 'en' / 'user.subject.j2'}: line 2" in str(info.value)


def test_a_missing_variable_names_file_and_line(tmp_path: Path) -> None:
    folder = _templates(tmp_path, "user.txt.j2", "Hi\n\n{{ incident.vendor }} {{ nope }}\n")
    with pytest.raises(TemplateError) as info:
        Renderer(folder).check([("user", "en-gb")])
    text = str(info.value)
    assert "user.txt.j2: line 3" in text
    assert "'nope' is undefined" in text


@pytest.mark.parametrize(
    ("address", "ok"),
    [
        ("ann@example.com", True),
        ("a.b+tag@sub.example.org", True),
        ("ann@exämple.com", True),
        ("ann@example", False),
        ("ann@@example.com", False),
        ("ann example@example.com", False),
        ("ann@example.com\r\nBcc: x@example.com", False),
        ("<ann@example.com>", False),
        ("ann@example.com, bob@example.com", False),
        (".ann@example.com", False),
        ("ann@-example.com", False),
        ("", False),
        ("ann@example.com\n", False),
        ("ann\n@example.com", False),
        ("ann@example.com\r", False),
    ],
)
def test_addresses(address: str, ok: bool) -> None:
    assert (check_address(address) is not None) is ok


SENDER = parse_sender("Example Security <security@example.com>")


def _message(name: str) -> bytes:
    rendered = Renderer().render("user", "en", sample_context("user", "en"))
    msg = build_message(
        sender=SENDER,
        to_name=name,
        to_address="ann@example.com",
        rendered=rendered,
        message_id="<1.2.3@example.com>",
        locale="en",
        reference="SW-1-3",
    )
    return msg.as_bytes()


def test_a_header_injection_in_a_name_is_neutralised() -> None:
    data = _message("Eve\r\nBcc: x@example.com")
    parsed = message_from_bytes(data, policy=policy.default)
    assert "Bcc" not in parsed
    assert [a.addr_spec for a in parsed["To"].addresses] == ["ann@example.com"]
    assert clean_name("Eve\r\nBcc: x@example.com") == "Eve Bcc: x@example.com"


@settings(deadline=None, max_examples=60)
@given(st.text(max_size=80))
def test_no_name_can_break_the_message(name: str) -> None:
    data = _message(name)
    parsed = message_from_bytes(data, policy=policy.default)
    assert not parsed.defects
    assert sorted(k.lower() for k in parsed) == sorted(
        [
            "from", "to", "subject", "date", "message-id", "auto-submitted",
            "x-seawall-reference", "mime-version", "content-type", "content-language",
        ]
    )  # fmt: skip
    assert [a.addr_spec for a in parsed["To"].addresses] == ["ann@example.com"]
    assert all(len(line) <= 998 for line in data.split(b"\r\n"))


_INCIDENT = replace(
    sample_incident(), id=7, vendor="Acme <Analytics> & Co", aware_at=86_400.0, window_end=2e5
)
_NAMES = (
    None,
    "",
    "Ann Lee",
    "Zoë O'Brien-Ünal",
    '<script>alert("x")</script> & co',
    "Eve\r\nBcc: x@example.com",
    "\ue000recipient.name\ue000 \ue000reference\ue000",  # our own stand-ins, as a name
    "x" * 300,
)


def _full(
    renderer: Renderer,
    kind: str,
    locale: str,
    name: str | None,
    categories: tuple[str, ...],
    reference: str,
    org: tuple[str | None, int | None],
) -> Rendered:
    context = notice_context(
        kind=kind,
        locale=renderer.locale_for(locale),
        name=name,
        categories=categories,
        incident=_INCIDENT,
        sender_name="Example Security",
        contact_email="security@example.com",
        reference=reference,
        org_id=org[0],
        members=org[1],
    )
    return renderer.render(kind, locale, context)


@pytest.mark.parametrize("kind", ["user", "org_admin"])
@pytest.mark.parametrize("locale", ["en", "fr", "fr-ca", "de"])
def test_notice_texts_are_what_a_full_render_gives(kind: str, locale: str) -> None:
    renderer = Renderer()
    texts = NoticeTexts(renderer, _INCIDENT, "Example Security", "security@example.com")
    org = ("org-1", 12) if kind == "org_admin" else (None, None)
    for categories in (("user.contact.email", "user.name"), ("user.device",)):
        for i, name in enumerate(_NAMES * 2):  # the second pass uses the cached variants
            reference = f"SW-3-{i}" if i % 3 else "SW-<3>-&"
            got = texts.render(
                kind=kind,
                locale=locale,
                name=name,
                categories=categories,
                reference=reference,
                org_id=org[0],
                members=org[1],
            )
            want = _full(renderer, kind, locale, name, categories, reference, org)
            assert got == want, (name, reference)


def test_custom_templates_are_rendered_per_notice(tmp_path: Path) -> None:
    # A stand-in for the name is 16 characters long: a cached variant checked on "Bob"
    # would print a long name instead of "Long".
    (tmp_path / "en").mkdir()
    (tmp_path / "en" / "user.txt.j2").write_text(
        "{% if recipient.name|length > 20 %}Long{% else %}{{ recipient.name }}{% endif %}"
    )
    renderer = Renderer(tmp_path)
    texts = NoticeTexts(renderer, _INCIDENT, "Example Security", "security@example.com")
    for name, expected in (("Bob", "Bob"), ("Annabelle Montgomery-Smith", "Long")):
        got = texts.render(
            kind="user", locale="en", name=name, categories=("user.name",), reference="SW-1-1"
        )
        assert got.text == expected
