"""Build the labelled PII corpus: analytics-shaped strings with exact expected spans.

Deterministic (seeded): ``python tests/data/pii/make_corpus.py`` rewrites
``corpus.jsonl`` byte for byte.  Each line is ``{"text": ..., "spans": [[entity,
start, end], ...]}``.  Values are generated valid by construction (Luhn, mod-97,
libphonenumber); the hard negatives are the strings a naive detector flags: browser
versions, build numbers, timestamps, prices, UUIDs, order numbers that fail Luhn.
All domains are RFC 2606 ones.
"""

from __future__ import annotations

import base64
import json
import random
import string
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

import phonenumbers

SEED = 20240611
LINES = 4000
OUT = Path(__file__).with_name("corpus.jsonl")

FIRST = ["jane", "john", "maria", "li", "omar", "zoe", "lukas", "aiko", "pierre", "ana", "sam"]
LAST = ["doe", "smith", "garcia", "chen", "haddad", "novak", "tanaka", "martin", "silva"]
DOMAINS = ["example.com", "example.org", "example.net", "mail.example.com", "corp.example.co.uk"]
HOSTS = ["app.example.com", "www.example.com", "shop.example.org", "example.net"]
WORDS = [
    "pricing",
    "docs",
    "dashboard",
    "settings",
    "billing",
    "export",
    "report",
    "team",
    "signup",
    "checkout",
    "cart",
    "help",
    "search",
    "blog",
    "how-to-export-data",
]
PHONE_REGIONS = ["US", "US", "US", "GB", "DE", "FR", "NL", "ES", "IT", "IN", "BR", "AU", "JP"]

Piece = str | tuple[str, str]  # literal text, or (entity, text) for a labelled value


class Gen:
    """Random valid values; every method returns the text to insert."""

    def __init__(self, rng: random.Random) -> None:
        self.r = rng

    def token(self, n: int, alphabet: str = string.ascii_letters + string.digits) -> str:
        mixed = any(c.isdigit() for c in alphabet) and any(c.isalpha() for c in alphabet)
        while True:
            value = "".join(self.r.choice(alphabet) for _ in range(n))
            if not mixed or (any(c.isdigit() for c in value) and any(c.isalpha() for c in value)):
                return value

    def email(self) -> str:
        f, la = self.r.choice(FIRST), self.r.choice(LAST)
        local = self.r.choice(
            [f, f"{f}.{la}", f"{f}_{la}", f"{f}{self.r.randint(1, 99)}", f"{f}+news", f"{f[0]}{la}"]
        )
        return f"{local}@{self.r.choice(DOMAINS)}"

    def idn_email(self) -> str:
        while True:
            local, domain = self.r.choice(IDN_LOCAL), self.r.choice(IDN_DOMAINS)
            if not (local + domain).isascii():
                return f"{local}@{domain}"

    def phone(self) -> str:
        region = self.r.choice(PHONE_REGIONS)
        kind = self.r.choice(
            [phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE]
        )
        example = phonenumbers.example_number_for_type(region, kind)
        assert example is not None
        national = str(example.national_number)
        for _ in range(50):
            tail = "".join(self.r.choice(string.digits) for _ in range(3))
            candidate = phonenumbers.parse(f"+{example.country_code}{national[:-3]}{tail}")
            if phonenumbers.is_valid_number(candidate):
                break
        else:
            candidate = example
        fmt = phonenumbers.PhoneNumberFormat
        if region == "US" or region == "GB":
            style = self.r.choice([fmt.INTERNATIONAL, fmt.NATIONAL, fmt.E164])
        else:
            style = self.r.choice([fmt.INTERNATIONAL, fmt.E164])
        return phonenumbers.format_number(candidate, style)

    def ipv4(self) -> str:
        first = self.r.choice([10, 172, 192, 81, 93, 145, 203, 8])
        return ".".join(str(x) for x in [first, *(self.r.randint(0, 255) for _ in range(3))])

    def ipv6(self) -> str:
        groups = [f"{self.r.randint(0, 0xFFFF):x}" for _ in range(8)]
        if self.r.random() < 0.5:
            return "2001:db8::" + ":".join(groups[:2])
        return ":".join(groups)

    def card(self) -> str:
        prefix = self.r.choice(["4", "51", "52", "55", "2221", "37", "6011"])
        length = 15 if prefix == "37" else 16
        body = prefix + "".join(
            self.r.choice(string.digits) for _ in range(length - len(prefix) - 1)
        )
        digits = body + str(_luhn_digit(body))
        sep = self.r.choice(["", " ", "-"])
        if not sep:
            return digits
        groups = (
            [digits[:4], digits[4:10], digits[10:]]
            if length == 15
            else [digits[i : i + 4] for i in range(0, 16, 4)]
        )
        return sep.join(groups)

    def bad_card(self) -> str:
        """Order numbers shaped like a card that fail Luhn."""
        body = "4" + "".join(self.r.choice(string.digits) for _ in range(14))
        return body + str((_luhn_digit(body) + 1) % 10)

    def iban(self) -> str:
        country, length = self.r.choice(
            [("DE", 22), ("GB", 22), ("FR", 27), ("NL", 18), ("ES", 24), ("IT", 27), ("BE", 16)]
        )
        if country == "GB":
            bban = "NWBK" + "".join(self.r.choice(string.digits) for _ in range(length - 8))
        elif country == "NL":
            bban = "ABNA" + "".join(self.r.choice(string.digits) for _ in range(length - 8))
        elif country == "IT":
            bban = "X" + "".join(self.r.choice(string.digits) for _ in range(length - 5))
        else:
            bban = "".join(self.r.choice(string.digits) for _ in range(length - 4))
        numeric = "".join(str(int(c, 36)) for c in bban + country + "00")
        check = 98 - int(numeric) % 97
        compact = f"{country}{check:02d}{bban}"
        if self.r.random() < 0.5:
            return compact
        return " ".join(compact[i : i + 4] for i in range(0, len(compact), 4))

    def ssn(self) -> str:
        area = self.r.choice([a for a in range(1, 900) if a != 666])
        return f"{area:03d}-{self.r.randint(1, 99):02d}-{self.r.randint(1, 9999):04d}"

    def jwt(self) -> str:
        def b64(obj: dict[str, object]) -> str:
            raw = json.dumps(obj, separators=(",", ":")).encode()
            return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

        header = b64({"alg": self.r.choice(["HS256", "RS256"]), "typ": "JWT"})
        payload = b64({"sub": self.token(12), "iat": self.r.randint(1_600_000_000, 1_800_000_000)})
        return f"{header}.{payload}.{self.token(43, string.ascii_letters + string.digits + '-_')}"

    def secret(self) -> str:
        t = self.token
        return self.r.choice(
            [
                lambda: "sk-proj-" + t(48, string.ascii_letters + string.digits + "_-"),
                lambda: "sk-" + t(48),
                lambda: "AKIA" + t(16, string.ascii_uppercase + string.digits),
                lambda: "ghp_" + t(36),
                lambda: "github_pat_" + t(22) + "_" + t(59),
                lambda: "xoxb-" + t(11, string.digits) + "-" + t(12, string.digits) + "-" + t(24),
                lambda: "sk_live_" + t(24),
                lambda: "rk_test_" + t(24),
                lambda: "AIza" + t(35, string.ascii_letters + string.digits + "_-"),
                lambda: "ya29." + t(60, string.ascii_letters + string.digits + "_-"),
            ]
        )()

    def uuid(self) -> str:
        h = "".join(self.r.choice("0123456789abcdef") for _ in range(32))
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"


def _luhn_digit(body: str) -> int:
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return (10 - total % 10) % 10


def negatives(g: Gen) -> list[Callable[[], str]]:
    """Strings a naive detector flags; none of them is personal data."""
    r = g.r
    return [
        lambda: (
            f"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            f"Chrome/{r.randint(100, 130)}.0.{r.randint(1000, 6999)}.{r.randint(10, 250)} Safari/537.36"  # noqa: E501
        ),
        lambda: (
            f"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
            f"(KHTML, like Gecko) Version/17.{r.randint(0, 5)} Safari/605.1.15"
        ),
        lambda: (
            f"build {r.randint(1, 30)}.{r.randint(0, 9)}.{r.randint(0, 99)}.{r.randint(1000, 99999)}"  # noqa: E501
        ),
        lambda: f"v{r.randint(1, 9)}.{r.randint(0, 20)}.{r.randint(0, 50)}",
        lambda: (
            f"2024-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}T{r.randint(0, 23):02d}:"
            f"{r.randint(0, 59):02d}:{r.randint(0, 59):02d}.{r.randint(0, 999):03d}Z"
        ),
        lambda: (
            f"{r.randint(1, 28):02d}/{r.randint(1, 12):02d}/2024 {r.randint(0, 23):02d}:{r.randint(0, 59):02d}"  # noqa: E501
        ),
        lambda: f"time={r.randint(1_600_000_000, 1_800_000_000)}",
        lambda: f"ts {r.randint(1_600_000_000_000, 1_800_000_000_000)}",
        lambda: f"${r.randint(1, 9)},{r.randint(100, 999)}.{r.randint(0, 99):02d}",
        lambda: f"total: {r.randint(10, 9999)}.{r.randint(0, 99):02d} EUR",
        lambda: f"order_id={g.uuid()}",
        lambda: f"/orders/{g.bad_card()}",
        lambda: f"order #{g.bad_card()}",
        lambda: f"SKU-{r.randint(100000, 999999)}-{r.randint(10, 99)}",
        lambda: f"logo@{r.randint(2, 3)}x.png",
        lambda: f"react@{r.randint(16, 19)}.{r.randint(0, 9)}.{r.randint(0, 9)}",
        lambda: f"Step {r.randint(1, 9)} of {r.randint(10, 20)}",
        lambda: f"session {g.uuid()}",
        lambda: f"id={r.randint(10_000_000, 99_999_999_999)}",
        lambda: f"{r.randint(10, 23)}:{r.randint(10, 59)}:{r.randint(10, 59)}",
        lambda: f"screen {r.choice([1920, 2560, 1366])}x{r.choice([1080, 1440, 768])}",
        lambda: f"lat {r.uniform(-80, 80):.6f} lon {r.uniform(-170, 170):.6f}",
        lambda: f"sha {''.join(r.choice('0123456789abcdef') for _ in range(40))}",
        lambda: f"tracking 1Z{g.token(16, string.ascii_uppercase + string.digits)}",
        lambda: f"v=spf1 include:_spf.example.com ~all {r.randint(100, 999)}",
        lambda: f"Copyright 2010-{r.randint(2020, 2025)} Example Inc.",
        lambda: f"qty {r.randint(1, 9)} x {r.randint(100, 999)}.{r.randint(10, 99)}",
        lambda: "password=hunter2",
        lambda: f"api_key=test{'x' * 16}",
        lambda: "sk-learn-classifier-pipeline-tutorial",
    ]


def positives(g: Gen) -> list[Callable[[], list[Piece]]]:
    r = g.r
    host = lambda: r.choice(HOSTS)  # noqa: E731
    word = lambda: r.choice(WORDS)  # noqa: E731
    return [
        lambda: [
            f"https://{host()}/invite?email=",
            ("EMAIL_ADDRESS", quote(g.email(), safe="")),
            f"&ref={word()}",
        ],
        lambda: [
            f"https://{host()}/signup?next=%2F{word()}&email=",
            ("EMAIL_ADDRESS", quote(quote(g.email(), safe=""), safe="")),
            "&step=2",
        ],
        lambda: [f"https://{host()}/u?e=", ("EMAIL_ADDRESS", g.email()), f"&utm_source={word()}"],
        lambda: ["Contact ", ("EMAIL_ADDRESS", g.email()), " for help"],
        lambda: [("EMAIL_ADDRESS", g.email())],
        lambda: ["mailto:", ("EMAIL_ADDRESS", g.email())],
        lambda: ["Signed in as ", ("EMAIL_ADDRESS", g.email().replace("@", "&#64;"))],
        lambda: ["Call us at ", ("PHONE_NUMBER", g.phone())],
        lambda: [("PHONE_NUMBER", g.phone())],
        lambda: ["my number is ", ("PHONE_NUMBER", g.phone()), ", call after 6pm"],
        lambda: [
            f"https://{host()}/search?q=call+",
            ("PHONE_NUMBER", quote(g.phone(), safe=" ").replace(" ", "+")),
            "&page=1",
        ],
        lambda: ["tel:", ("PHONE_NUMBER", g.phone().replace(" ", ""))],
        lambda: ["client ip ", ("IP_ADDRESS", g.ipv4())],
        lambda: ["X-Forwarded-For: ", ("IP_ADDRESS", g.ipv4()), ", ", ("IP_ADDRESS", g.ipv4())],
        lambda: ["remote_addr=", ("IP_ADDRESS", g.ipv6())],
        lambda: [f"http://{host()}/debug?ip=", ("IP_ADDRESS", g.ipv4())],
        lambda: ["card ", ("CREDIT_CARD", g.card()), " exp 12/27"],
        lambda: ["Payment failed for ", ("CREDIT_CARD", g.card())],
        lambda: [
            f"https://{host()}/pay?cc=",
            ("CREDIT_CARD", g.card().replace(" ", "")),
            "&amt=10",
        ],
        lambda: ["IBAN: ", ("IBAN_CODE", g.iban())],
        lambda: ["please refund to ", ("IBAN_CODE", g.iban()), " thanks"],
        lambda: ["SSN ", ("US_SSN", g.ssn())],
        lambda: ["my ssn is ", ("US_SSN", g.ssn()), " ok"],
        lambda: [f"https://{host()}/callback#access_token=", ("JWT", g.jwt()), "&state=xyz"],
        lambda: ["Authorization: Bearer ", ("JWT", g.jwt())],
        lambda: ["my api key is ", ("SECRET_KEY", g.secret()), " please help"],
        lambda: [f"https://{host()}/hook?key=", ("SECRET_KEY", g.secret())],
        lambda: ["config api_key=", ("SECRET_KEY", g.token(32)), " region=eu"],
        lambda: [
            "client_secret: ",
            ("SECRET_KEY", g.token(40, string.ascii_letters + string.digits + "_-")),
        ],
        lambda: [
            "https://",
            ("URL_CREDENTIALS", f"{r.choice(FIRST)}:{g.token(10)}"),
            f"@{host()}/{word()}",
        ],
        lambda: [
            "postgres://",
            ("URL_CREDENTIALS", f"admin:{g.token(14)}"),
            "@db.example.com:5432/app",
        ],
        lambda: [
            f"https://{host()}/sso?state=",
            (
                "EMAIL_ADDRESS",
                base64.urlsafe_b64encode(json.dumps({"email": g.email()}).encode()).decode(),
            ),
            f"&next=/{word()}",
        ],
        lambda: [
            f"https://{host()}/r?u=",
            ("EMAIL_ADDRESS", base64.b64encode(g.email().encode()).decode().rstrip("=")),
            f"&v={r.randint(1, 9)}",
        ],
    ]


def line(
    g: Gen, pos: list[Callable[[], list[Piece]]], neg: list[Callable[[], str]]
) -> dict[str, object]:
    r = g.r
    pieces: list[Piece] = []
    roll = r.random()
    if roll < 0.35:
        pieces.append(r.choice(neg)())
    elif roll < 0.85:
        pieces.extend(r.choice(pos)())
        if r.random() < 0.4:
            pieces.extend([" | ", r.choice(neg)()])
    else:
        pieces.extend(r.choice(pos)())
        pieces.append(" ; ")
        pieces.extend(r.choice(pos)())
    text, spans = "", []
    for piece in pieces:
        if isinstance(piece, tuple):
            entity, value = piece
            spans.append([entity, len(text), len(text) + len(value)])
            text += value
        else:
            text += piece
    return {"text": text, "spans": spans}


def idn_positives(g: Gen) -> list[Callable[[], list[Piece]]]:
    """Internationalised addresses (RFC 6531 local parts, IDNA domains) in context."""
    r = g.r
    host = lambda: r.choice(HOSTS)  # noqa: E731
    return [
        lambda: [("EMAIL_ADDRESS", g.idn_email())],
        lambda: ["Contact ", ("EMAIL_ADDRESS", g.idn_email()), " for help"],
        lambda: ["Kontakt: ", ("EMAIL_ADDRESS", g.idn_email()), " · Antwort in 24 h"],
        lambda: ["联系 ", ("EMAIL_ADDRESS", g.idn_email()), " 谢谢"],
        lambda: ["mailto:", ("EMAIL_ADDRESS", g.idn_email())],
        lambda: [
            f"https://{host()}/invite?email=",
            ("EMAIL_ADDRESS", quote(g.idn_email(), safe="")),
            "&ref=ünïcode",
        ],
        lambda: ["Zoë Doë <", ("EMAIL_ADDRESS", g.idn_email()), ">"],
    ]


def idn_negatives(g: Gen) -> list[Callable[[], str]]:
    """Non-ASCII text around "@" and digits that holds no personal data."""
    r = g.r
    return [
        lambda: f"Größe: {r.randint(36, 46)} · Müller & Söhne",
        lambda: f"Straße {r.randint(1, 99)}, München",
        lambda: f"Ölpreis steigt um {r.randint(1, 9)},{r.randint(0, 9)} %",
        lambda: f"café@{r.randint(2, 3)}x.png",
        lambda: "Zoë's café — crème brûlée",
        lambda: f"価格 ¥{r.randint(1, 9)},{r.randint(100, 999)}",
        lambda: "über@uns · Impressum",
        lambda: f"приложение v{r.randint(1, 9)}.{r.randint(0, 20)}",
        lambda: "@ニュース をフォロー",
    ]


IDN_LOCAL = ["josé", "müller", "zoë.doë", "søren", "łukasz", "françois", "иван", "用户",
             "δοκιμή", "दीपक", "アイコ", "jose\u0301", "jane"]  # fmt: skip
IDN_DOMAINS = ["exämple.example", "bücher.example", "例子.测试", "пример.испытание",
               "उदाहरण.परीक्षा", "例え.テスト", "xn--exmple-cua.example", "example.com"]  # fmt: skip
IDN_LINES = 200


def main() -> None:
    rng = random.Random(SEED)
    g = Gen(rng)
    pos, neg = positives(g), negatives(g)
    rows = [line(g, pos, neg) for _ in range(LINES)]
    # Appended with their own generator, so the lines above stay as they were.
    idn = Gen(random.Random(SEED + 6531))
    idn_pos, idn_neg = idn_positives(idn), idn_negatives(idn)
    rows += [line(idn, idn_pos, idn_neg) for _ in range(IDN_LINES)]
    OUT.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), "utf-8")


if __name__ == "__main__":
    main()
