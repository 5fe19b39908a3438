"""Per-detector tables: text -> expected (entity, matched text) spans."""

from __future__ import annotations

import pytest

from seawall.pii import scan


def spans(text: str, entity: str) -> list[str]:
    return [text[f.start : f.end] for f in scan(text, entities={entity})]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mail jane.doe@example.com now", ["jane.doe@example.com"]),
        ("jane+news@mail.example.co.uk", ["jane+news@mail.example.co.uk"]),
        ("x=jane@example.com&y=1", ["jane@example.com"]),
        ("<jane@example.org>, omar_h@example.net.", ["jane@example.org", "omar_h@example.net"]),
        ("invite?email=jane%40example.com&x=1", ["jane%40example.com"]),
        ("logo@2x.png", []),
        ("react@18.2.0", []),
        ("user@localhost", []),
        ("@scope/package", []),
        ("jane@@example.com", []),
    ],
)
def test_email(text: str, expected: list[str]) -> None:
    assert spans(text, "EMAIL_ADDRESS") == expected


_CJK_WORDS = "お問い合わせは以下のメールアドレスまでお願いします"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("josé@exämple.de", ["josé@exämple.de"]),
        ("mail müller@example.com now", ["müller@example.com"]),
        ("Zoë Doe <zoë.doe@example.org>", ["zoë.doe@example.org"]),
        ("x@bücher.example, y@example.com", ["x@bücher.example", "y@example.com"]),
        ("пользователь@пример.рф", ["пользователь@пример.рф"]),
        ("联系 用户@例子.广告 谢谢", ["用户@例子.广告"]),
        ("दीपक@उदाहरण.भारत", ["दीपक@उदाहरण.भारत"]),  # vowel signs are marks
        ("jose\u0301@example.com", ["jose\u0301@example.com"]),  # a decomposed é
        ("a@example.xn--p1ai", ["a@example.xn--p1ai"]),  # a punycode TLD
        ("u@xn--bcher-kva.example", ["u@xn--bcher-kva.example"]),
        ("invite?email=jos%C3%A9%40ex%C3%A4mple.de&x=1", ["jos%C3%A9%40ex%C3%A4mple.de"]),
        ("café@2x.png", []),  # still a file name
        ("Größe: 42, Müller & Söhne", []),
        ("a@b.comü", []),  # no TLD mixes scripts
        ("mail jane@example.com\u0301 now", ["jane@example.com"]),  # a mark ends it
        ("mail jane@example.com\ufe0f now", ["jane@example.com"]),  # a selector too
        ("★jane@example.com", ["jane@example.com"]),  # a symbol is no part of it
        ("x@x\u05d0a.com", []),  # IDNA refuses a label mixing directions
        ("x@" + "ü" * 60 + ".com", []),  # and one too long once punycoded
        ("ü" * 60 + "@example.com", []),  # 120 octets: too long a local part
        # words of a script without spaces run into the address: its ASCII tail is it
        (_CJK_WORDS + "jane@example.com", ["jane@example.com"]),  # 72 octets of words
        ("กรุณาติดต่อฝ่ายบริการลูกค้าทางอีเมลjane@example.com", ["jane@example.com"]),
        ("ありがとう..jane@example.com", ["jane@example.com"]),
        ("ü" * 60 + ".ann@example.com", ["ann@example.com"]),
    ],
)
def test_internationalised_email(text: str, expected: list[str]) -> None:
    assert spans(text, "EMAIL_ADDRESS") == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("call +1 202-555-0143 now", ["+1 202-555-0143"]),
        ("(202) 555-0199", ["(202) 555-0199"]),
        ("202.555.0143", ["202.555.0143"]),
        ("+44 20 7946 0958", ["+44 20 7946 0958"]),
        ("020 7946 0958", ["020 7946 0958"]),
        ("+49 30 901820", ["+49 30 901820"]),
        ("+33 6 12 34 56 78", ["+33 6 12 34 56 78"]),
        ("tel:+12025550143", ["+12025550143"]),
        ("2024-01-15 10:30:00", []),
        ("15/01/2024 10:30", []),
        ("Chrome/120.0.6099.109", []),
        ("price $1,299.00", []),
        ("order 2025550143", []),
        ("ts 1700000000000", []),
        ("v10.15.7", []),
        ("SKU-123456-78", []),
    ],
)
def test_phone(text: str, expected: list[str]) -> None:
    assert spans(text, "PHONE_NUMBER") == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ip 192.168.1.10", ["192.168.1.10"]),
        ("X-Forwarded-For: 203.0.113.7, 10.0.0.1", ["203.0.113.7", "10.0.0.1"]),
        ("http://10.1.2.3/admin", ["10.1.2.3"]),
        ("addr 2001:db8::8a2e:370:7334", ["2001:db8::8a2e:370:7334"]),
        ("fe80::1.", ["fe80::1"]),
        ("Chrome/120.0.0.0 Safari/537.36", []),
        ("version 1.2.3.4.5", []),
        ("999.1.1.1", []),
        ("01.02.03.04", []),
        ("at 10:30:00", []),
        ("mac 00:1a:2b:3c:4d:5e", []),
        ("std::vector", []),
        ("build 10.0.19045.3803", []),
    ],
)
def test_ip(text: str, expected: list[str]) -> None:
    assert spans(text, "IP_ADDRESS") == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("card 4111 1111 1111 1111", ["4111 1111 1111 1111"]),
        ("4111-1111-1111-1111 exp 12/27", ["4111-1111-1111-1111"]),
        ("5500005555555559", ["5500005555555559"]),
        ("amex 3782 822463 10005", ["3782 822463 10005"]),
        ("4111 1111 1111 1111 2024", ["4111 1111 1111 1111"]),
        ("order 4111111111111112", []),
        ("ts 1700000000000", []),
        ("4111 1111-1111 1111", []),
        ("9111111111111111", []),
    ],
)
def test_credit_card(text: str, expected: list[str]) -> None:
    assert spans(text, "CREDIT_CARD") == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("IBAN DE89 3704 0044 0532 0130 00", ["DE89 3704 0044 0532 0130 00"]),
        ("DE89370400440532013000", ["DE89370400440532013000"]),
        ("GB82 WEST 1234 5698 7654 32 thanks", ["GB82 WEST 1234 5698 7654 32"]),
        ("NL91ABNA0417164300.", ["NL91ABNA0417164300"]),
        ("DE89 3704 0044 0532 0130 01", []),
        ("XX89370400440532013000", []),
        ("DE8937040044053201300", []),
    ],
)
def test_iban(text: str, expected: list[str]) -> None:
    assert spans(text, "IBAN_CODE") == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ssn 536-22-1234", ["536-22-1234"]),
        ("536 22 1234", ["536 22 1234"]),
        ("000-12-3456", []),
        ("666-12-3456", []),
        ("912-12-3456", []),
        ("536-00-1234", []),
        ("536-22-0000", []),
        ("536-22 1234", []),
        ("123-45-6789", []),
        ("2024-01-15", []),
        ("SKU-536-22-1234", []),
    ],
)
def test_ssn(text: str, expected: list[str]) -> None:
    assert spans(text, "US_SSN") == expected


_JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
    "eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkphbmUifQ."
    "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"Bearer {_JWT}", [_JWT]),
        (f"#access_token={_JWT}&state=x", [_JWT]),
        ("eyJub3QiOiJqd3QifQ.eyJhIjoxfQ.abc", []),  # header without "alg"
        ("eyJhbGciOi.eyJ", []),
    ],
)
def test_jwt(text: str, expected: list[str]) -> None:
    assert spans(text, "JWT") == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("key sk-proj-abcdEFGH1234ijklMNOP5678qrst", ["sk-proj-abcdEFGH1234ijklMNOP5678qrst"]),
        ("AKIAIOSFODNN7EXAMPLE", ["AKIAIOSFODNN7EXAMPLE"]),
        ("ghp_" + "a1B2" * 9, ["ghp_" + "a1B2" * 9]),
        ("xoxb-123456789012-abcdefGHIJ12", ["xoxb-123456789012-abcdefGHIJ12"]),
        ("sk_live_4eC39HqLyjWDarjtT1zdp7dc", ["sk_live_4eC39HqLyjWDarjtT1zdp7dc"]),
        ("AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q", ["AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q"]),
        ("api_key=Zx9Qw3Er7Ty1Ui5Op2As", ["Zx9Qw3Er7Ty1Ui5Op2As"]),
        ('"client_secret": "q8W2e4R6t8Y0u2I4o6P8"', ["q8W2e4R6t8Y0u2I4o6P8"]),
        ("password=hunter2", []),
        ("api_key=testxxxxxxxxxxxxxxxx", []),
        ("sk-learn-classifier-pipeline-tutorial", []),
        ("pk_live_4eC39HqLyjWDarjtT1zdp7dc", []),
        ("token=550e8400e29b41d4a716446655440000abcd", ["550e8400e29b41d4a716446655440000abcd"]),
    ],
)
def test_secret_key(text: str, expected: list[str]) -> None:
    assert spans(text, "SECRET_KEY") == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("https://bob:hunter2@example.com/x", ["bob:hunter2"]),
        ("postgres://admin:s3cr3t@db.example.com:5432/app", ["admin:s3cr3t"]),
        ("https://bob@example.com/", []),
        ("https://bob:@example.com/", []),
        ("see https://example.com/a:b@c", []),
    ],
)
def test_url_credentials(text: str, expected: list[str]) -> None:
    assert spans(text, "URL_CREDENTIALS") == expected


def test_credentials_win_over_the_email_inside_them() -> None:
    text = "https://jane:pw@example.com/"
    assert [(f.entity, text[f.start : f.end]) for f in scan(text)] == [
        ("URL_CREDENTIALS", "jane:pw")
    ]
