"""Tables for the pure parts: minting, channels, mail evidence, alert formats, folding."""

from __future__ import annotations

from typing import Any

import pytest

from seawall.canary.alerts import (
    MAX_PEERS,
    Alert,
    Folding,
    email_text,
    is_slack,
    slack_json,
    webhook_json,
)
from seawall.canary.beacon import parse_token
from seawall.canary.channels import decide_channels
from seawall.canary.events import persona_events
from seawall.canary.message import clean, mail_evidence
from seawall.canary.mint import NAMES, ascii_fold, derive_token, hash_token, mint
from seawall.canary.plant import persona_of
from seawall.core.config import Policy
from seawall.policy.engine import compile_policy

KEY = b"k" * 32


def test_mint_makes_unique_plausible_identities() -> None:
    made = [mint("crm", "Canary.Example.com", KEY) for _ in range(200)]
    assert len({m.email for m in made}) >= 198  # the store re-mints the rare clash
    assert len({m.token for m in made}) == 200
    for m in made:
        assert m.email.endswith("@canary.example.com")
        assert m.email.isascii()
        assert len(m.token) == 32  # 160 bits of base32
        assert m.token == derive_token(KEY, m.id)
        assert m.token_hash == hash_token(m.token) != m.token
    cultures = {c for c, (firsts, _) in NAMES.items() for m in made if m.first_name in firsts}
    assert len(cultures) >= 10


@pytest.mark.parametrize(
    ("name", "folded"),
    [("Wiśniewski", "wisniewski"), ("O'Brien", "obrien"), ("Yılmaz", "yilmaz"), ("Sofía", "sofia")],
)
def test_ascii_fold(name: str, folded: str) -> None:
    assert ascii_fold(name) == folded


KEEP_ALL = ["$email", "$name", "$website", "traits.email", "traits.name", "traits.website"]


@pytest.mark.parametrize(
    ("policy", "sdk", "channels"),
    [
        (
            {"free_text": "keep", "rules": [{"field": KEEP_ALL, "action": "keep"}]},
            "mixpanel",
            ("email", "beacon"),
        ),
        (
            {"free_text": "keep", "rules": [{"field": KEEP_ALL, "action": "keep"}]},
            "segment",
            ("email", "beacon"),
        ),
        (
            {"free_text": "redact", "rules": [{"field": KEEP_ALL, "action": "keep"}]},
            "mixpanel",
            ("beacon",),
        ),
        (
            {"free_text": "keep", "rules": [{"field": "$avatar", "action": "keep"}]},
            "mixpanel",
            ("beacon",),
        ),
        ({"rules": [{"category": "user.contact", "action": "drop"}]}, "mixpanel", ()),
        (
            {"free_text": "keep", "rules": [{"field": "$email", "action": "pseudonymize"}]},
            "mixpanel",
            (),
        ),
    ],
)
def test_channels_follow_what_the_vendor_really_receives(
    policy: dict[str, Any], sdk: Any, channels: tuple[str, ...]
) -> None:
    compiled = compile_policy("v", Policy.model_validate(policy), KEY)
    identity = mint("v", "canary.example.com", KEY)
    found = decide_channels(
        persona_of(identity, identity.token, "https://gw.example.com", None), sdk, compiled
    )
    assert found.channels == channels
    if not channels:
        assert found.explain()


@pytest.mark.parametrize(
    ("raw", "check"),
    [
        (b"", lambda e: e["size"] == 0),
        (b"\xff\xfe\x00garbage", lambda e: "headers" in e or "raw_head" in e),
        (b"Subject: a\r\n b\r\n\r\nx", lambda e: ["Subject", "a  b"] in e["headers"]),
        (b"Subject: \x1b[31mred\x07\r\n\r\n", lambda e: "\x1b" not in e["headers"][0][1]),
        (
            b"Content-Type: text/plain\r\n\r\n" + b"a" * 200_000,
            lambda e: len(e["body_text"]) <= 65_537,
        ),
        (
            b"Content-Type: text/html\r\n\r\n<a href='https://x.example.net/a'>x</a><script>x()</script>",
            lambda e: e["links"] == ["https://x.example.net/a"] and "<script>" in e["html_source"],
        ),
    ],
)
def test_mail_evidence_never_raises(raw: bytes, check: Any) -> None:
    assert check(mail_evidence(raw))


def test_clean_makes_one_inert_line() -> None:
    assert clean("a\r\nBcc: x\u202eevil\x00") == "a Bcc: x\ufffdevil\ufffd"
    assert clean("x" * 5000, 10) == "x" * 10 + "…"


ALERT = Alert(
    "hit",
    "crm",
    "cn_1",
    "email",
    1_700_000_000.0,
    1_700_000_000.0,
    incident=7,
    evidence={
        "subject": "<!channel> <https://evil.example.net|click> & `code`",
        "links": ["https://evil.example.net"],
    },
)


def test_alert_formats_keep_attacker_text_inert() -> None:
    body = webhook_json(ALERT)
    assert {"vendor", "canary", "channel", "first_seen", "incident"} <= body.keys()
    assert body["first_seen"] == "2023-11-14T22:13:20Z"
    text = slack_json(ALERT)["text"]
    assert "<!channel>" not in text
    assert "<https://evil" not in text
    assert "&lt;!channel&gt;" in text
    subject, mail = email_text(ALERT)
    assert subject == "[Seawall] canary fired for vendor crm"
    assert "<!channel>" in mail  # plain text: shown as data


PROBE = Alert(
    "probe",
    "crm",
    "cn_1",
    "probe",
    1_700_000_000.0,
    1_700_000_000.0,
    incident=7,
    evidence={
        "command": "RCPT",
        "address": "x@canary.example.com",
        "envelope_from": "a@attacker.example.net",
        "peer": "192.0.2.7",
        "helo": "<!here> mx\r\nBcc: victim@example.com",
        "ended": "QUIT",
        "rcpts": 3,
    },
)


def test_a_probe_alert_says_probed_and_keeps_the_helo_inert() -> None:
    assert webhook_json(PROBE)["kind"] == "probe"
    subject, mail = email_text(PROBE)
    assert subject == "[Seawall] canary probed for vendor crm"
    assert "Canary probed: vendor crm leaked canary cn_1" in mail
    assert "helo: <!here> mx Bcc: victim@example.com" in mail  # one line, as data
    assert "ended: QUIT" in mail
    assert "rcpts: 3" in mail  # three addresses tried on that connection
    text = slack_json(PROBE)["text"]
    assert "<!here>" not in text
    assert "• peer: `192.0.2.7`" in text


@pytest.mark.parametrize(
    ("url", "slack"),
    [
        ("https://hooks.slack.com/services/T/B/X", True),
        ("http://127.0.0.1:9200/hook#slack", True),
        ("http://127.0.0.1:9200/hook", False),
    ],
)
def test_slack_format_is_chosen_by_url(url: str, slack: bool) -> None:
    assert is_slack(url) is slack


def test_folding_passes_the_first_hit_and_summarises_the_rest() -> None:
    fold = Folding(interval=60)
    assert fold.admit("c1", "crm", "email", 0.0)
    assert not any(fold.admit("c1", "crm", "email", t) for t in range(1, 1000))
    assert fold.admit("c2", "crm", "beacon", 5.0)  # another canary: its own first hit
    assert fold.due(30.0) == []
    (summary,) = fold.due(61.0)
    assert (summary.canary, summary.count, summary.first, summary.last) == ("c1", 999, 1.0, 999.0)
    assert fold.due(200.0) == []
    assert fold.admit("c1", "crm", "email", 300.0)  # quiet for a whole interval: first again


def test_a_summary_names_a_bounded_set_of_peers() -> None:
    fold = Folding(interval=60)
    assert fold.admit("c1", "crm", "probe", 0.0, "192.0.2.1")
    for n in range(500):
        assert not fold.admit("c1", "crm", "probe", 1.0, f"198.51.100.{n % 250}")
    assert not fold.admit("c1", "crm", "probe", 2.0, None)
    (summary,) = fold.due(61.0)
    assert summary.count == 501
    assert summary.peers == tuple(f"198.51.100.{n}" for n in range(MAX_PEERS))


@pytest.mark.parametrize(
    ("segment", "token", "image"),
    [
        ("a" * 32, "a" * 32, False),
        ("A" * 32 + ".png", "a" * 32, True),
        ("a" * 31, None, False),
        ("../../etc/passwd", None, False),
        ("1" * 32, None, False),
    ],
)
def test_parse_token(segment: str, token: str | None, image: bool) -> None:
    assert parse_token(segment) == (token, image)


@pytest.mark.parametrize("sdk", ["mixpanel", "segment"])
def test_canaries_do_not_all_look_alike(sdk: Any) -> None:
    # Whoever holds the vendor's data must not filter canaries out with one query: each
    # keeps its own device across plantings, and each planting draws its events, order
    # and spacing afresh, all in the past.
    now = 1_800_000_000.0
    personas = [
        persona_of(mint("v", "canary.example.com", KEY), "t" * 43, "https://gw.example.com", None)
        for _ in range(40)
    ]

    def tracks(p: Any) -> list[Any]:
        return [e for e in persona_events(p, sdk, now) if e.kind == "track"]

    devices = {str(tracks(p)[0].context.user_agent) for p in personas}
    assert len(devices) >= 3
    first, again = tracks(personas[0]), tracks(personas[0])
    assert first[0].context.user_agent == again[0].context.user_agent
    sessions = {tuple((e.name, e.time) for e in tracks(p)) for p in personas}
    assert len(sessions) == len(personas)
    assert all(e.time is not None and e.time <= now for p in personas for e in tracks(p))
