"""compile_policy's load-time errors and apply()'s decisions, on realistic events."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from seawall.core.config import Policy, parse_config
from seawall.core.crypto import pseudonym
from seawall.core.errors import ConfigError
from seawall.core.types import Context, Event
from seawall.pii.known import fold
from seawall.policy.catalogue import entries
from seawall.policy.engine import MAX_CACHED_PATHS, CompiledPolicy, apply, compile_policy
from seawall.policy.removed import Leaks

KEY = b"v" * 32
ISSUE_CONFIG = """
vendors:
  mixpanel:
    kind: mixpanel
    endpoint: http://127.0.0.1:9100
    token: vendor-token
    policy:
      default: drop
      ip: drop
      free_text: redact
      rules:
        - {field: event, action: keep}
        - {field: distinct_id, action: pseudonymize}
        - {field: $device_id, action: pseudonymize}
        - {field: $user_id, action: pseudonymize}
        - {field: org_id, action: pseudonymize}
        - {field: [$browser, $browser_version, $os, $device, $screen_height, $screen_width,
                   mp_lib, $lib_version, $insert_id, time], action: keep}
        - {field: [$current_url, $initial_referrer], action: scrub_url}
        - {field: [$referrer], action: domain_only}
        - {field: mp_country_code, action: keep}
        - {category: [user.contact, user.name, user.location.precise], action: drop}
"""


def issue_policy() -> CompiledPolicy:
    config = parse_config(yaml.safe_load(ISSUE_CONFIG))
    return compile_policy(
        "mixpanel", config.vendors["mixpanel"].policy, KEY, where="vendors.mixpanel.policy"
    )


def policy(**spec: Any) -> CompiledPolicy:
    return compile_policy("v", Policy.model_validate(spec), KEY)


def event(fields: dict[str, Any], sdk: str = "mixpanel", ip: str | None = None) -> Event:
    return Event(
        sdk=sdk,
        kind="track",
        source="web",
        name=fields.get("event"),  # type: ignore[arg-type]
        distinct_id=fields.get("distinct_id"),
        insert_id="i1",
        fields=fields,
        context=Context(ip=ip),
    )


BROWSER_EVENT: dict[str, Any] = {
    "event": "Viewed Pricing",
    "distinct_id": "$device:18f2a7c1-e5b0-4d1a",
    "$device_id": "18f2a7c1-e5b0-4d1a",
    "$user_id": "user-8841",
    "$os": "Mac OS X",
    "$browser": "Chrome",
    "$browser_version": 120,
    "$device": "Mac",
    "$current_url": "https://app.example.com/pricing?email=alice.martin@example.com"
    "&uid=user-8841&utm_source=newsletter#plans",
    "$referrer": "https://www.google.com/search?q=alice+martin",
    "$referring_domain": "www.google.com",
    "$initial_referrer": "$direct",
    "$initial_referring_domain": "$direct",
    "$screen_height": 1080,
    "$screen_width": 1920,
    "mp_lib": "web",
    "$lib_version": "2.55.1",
    "$insert_id": "k3j4h5g6f7d8s9a0",
    "time": 1712345678.123,
    "mp_country_code": "FR",
    "$email": "alice.martin@example.com",
    "$name": "Alice Martin",
    "$first_name": "Alice",
    "$city": "Lyon",
    "$region": "Auvergne-Rhone-Alpes",
    "$latitude": 45.76,
    "org_id": "org-5521",
    "plan": "enterprise",
    "utm_source": "newsletter",
    "utm_medium": "email",
    "utm_campaign": "spring",
    "$had_persisted_distinct_id": False,
    "comment": "Please call Alice Martin back at alice.martin@example.com",
    "$search_engine": "google",
    "mp_keyword": "alice martin",
    "$duration": 12.5,
    "button": "Upgrade",
    "tier": 3,
    "trial": True,
    "seats": 25,
    "path": "/pricing",
    "experiment": "b",
}


def test_issue_config_on_a_browser_event() -> None:
    d = apply(event(dict(BROWSER_EVENT), ip="203.0.113.77"), issue_policy())
    sent = json.dumps(d.fields)
    for secret in (
        "alice",
        "Alice",
        "Martin",
        "Lyon",
        "203.0.113",
        "user-8841",
        "18f2a7c1",
        "org-5521",
        "45.76",
    ):
        assert secret not in sent
    for kept in (
        "event",
        "$browser",
        "$browser_version",
        "$os",
        "$device",
        "$screen_height",
        "$screen_width",
        "mp_lib",
        "$lib_version",
        "$insert_id",
        "time",
        "mp_country_code",
    ):
        assert d.fields[kept] == BROWSER_EVENT[kept]
    assert d.fields["distinct_id"] == pseudonym(KEY, BROWSER_EVENT["distinct_id"])
    assert d.fields["org_id"] == pseudonym(KEY, "org-5521")
    assert d.fields["$referrer"] == "google.com"
    assert d.fields["$current_url"] == "https://app.example.com/pricing?utm_source=newsletter"
    assert d.fields["$initial_referrer"] == "$direct"
    assert "ip" not in d.fields
    dropped = dict(d.dropped)
    assert dropped["$email"] == "user.contact.email"
    assert dropped["$city"] == "user.contact.address.city"
    assert dropped["$latitude"] == "user.location.precise"
    assert dropped["ip"] == "user.device.ip_address"
    assert dropped["comment"] == "user"  # unknown fields follow the default
    assert {s.field: s.value for s in d.sent} == d.fields
    assert all(s.category for s in d.sent)


def test_kept_text_that_holds_a_dropped_value_is_redacted() -> None:
    p = policy(default="keep", rules=[{"field": "$email", "action": "drop"}])
    d = apply(event({"$email": "bob.stone@example.com", "note": "from BOB.STONE@example.com"}), p)
    assert "$email" not in d.fields
    assert "bob.stone" not in json.dumps(d.fields).lower()


def test_free_text_keep_still_never_leaks_a_dropped_value() -> None:
    p = policy(default="keep", free_text="keep", rules=[{"field": "$name", "action": "drop"}])
    d = apply(event({"$name": "Gwendolyn Zed", "note": "hi Gwendolyn Zed!", "other": "ok"}), p)
    assert d.fields == {"other": "ok"}
    assert ("note", "user") in d.dropped


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("redact", {"a": "mail [EMAIL]", "b": "clean"}),
        ("drop_field", {"b": "clean"}),
        ("keep", {"a": "mail x@example.com", "b": "clean"}),
    ],
)
def test_free_text_modes(mode: str, expected: dict[str, Any]) -> None:
    p = policy(default="keep", free_text=mode)
    assert apply(event({"a": "mail x@example.com", "b": "clean"}), p).fields == expected


def test_safe_outputs_skip_free_text() -> None:
    p = policy(default="drop", rules=[{"field": "ua", "action": "ua_family"}])
    d = apply(
        event({"ua": "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"}), p
    )
    assert d.fields == {"ua": "Firefox 121 / Linux"}


@pytest.mark.parametrize(
    ("ip_rule", "sdk", "expected"),
    [
        ("drop", "mixpanel", {}),
        ("truncate", "mixpanel", {"ip": "203.0.113.0"}),
        ("keep", "mixpanel", {"ip": "203.0.113.77"}),
        ("truncate", "segment", {"context.ip": "203.0.113.0"}),
    ],
)
def test_ip_rule_on_the_client_ip(ip_rule: str, sdk: str, expected: dict[str, Any]) -> None:
    p = policy(default="keep", ip=ip_rule)
    assert apply(event({}, sdk=sdk, ip="203.0.113.77"), p).fields == expected


@pytest.mark.parametrize("path", ["ip", "$ip", "context.ip"])
def test_ip_fields_follow_the_ip_rule_not_field_rules(path: str) -> None:
    p = policy(default="keep", ip="truncate", rules=[{"field": path, "action": "keep"}])
    d = apply(event({path: "2001:db8:aa:bb::1"}), p)
    assert d.fields[path] == "2001:db8:aa::"


def test_first_matching_rule_wins_and_categories_are_hierarchical() -> None:
    p = policy(
        default="keep",
        rules=[
            {"field": "$email", "action": "redact"},
            {"category": "user.contact", "action": "drop"},
            {"category": "user.location.imprecise", "action": "drop"},  # read as .coarse
        ],
    )
    d = apply(
        event(
            {
                "$email": "a.b@example.com",
                "$phone": "+33 6 12 34 56 78",
                "mp_country_code": "FR",
                "x": 1,
            }
        ),
        p,
    )
    assert d.fields == {"$email": "[EMAIL]", "x": 1}


def test_globs_and_mixpanel_properties_prefix() -> None:
    p = policy(
        default="drop",
        rules=[
            {"field": "traits.*", "action": "keep"},
            {"field": "properties.plan", "action": "keep"},
        ],
    )
    assert apply(event({"plan": "pro", "other": "x"}), p).fields == {"plan": "pro"}
    seg = apply(event({"traits.plan": "pro", "properties.x": "y"}, sdk="segment"), p)
    assert seg.fields == {"traits.plan": "pro"}


def test_custom_fields_are_categorised_by_name() -> None:
    p = policy(default="keep", rules=[{"category": "user.contact.email", "action": "drop"}])
    d = apply(
        event(
            {"properties.userEmail": "c@example.com", "traits.e-mail": "d@example.com"},
            sdk="segment",
        ),
        p,
    )
    assert d.fields == {}


def test_failing_action_drops_only_that_value() -> None:
    p = policy(default="keep", rules=[{"field": "ip_like", "action": "truncate_ip"}])
    d = apply(event({"ip_like": "nope", "ok": "fine"}), p)
    assert d.fields == {"ok": "fine"}
    assert ("ip_like", "user") in d.dropped


def test_decisions_are_cached_and_bounded() -> None:
    p = policy(default="drop")
    assert p.decide("mixpanel", "a") is p.decide("mixpanel", "a")
    for i in range(MAX_CACHED_PATHS + 10):
        p.decide("segment", f"properties.k{i}")
    assert len(p._cache["segment"]) == MAX_CACHED_PATHS


@pytest.mark.parametrize(
    ("rule", "key", "fix"),
    [
        ({"field": "x", "action": "hide"}, "vendors.mixpanel.policy.rules[0].action", "use one of"),
        (
            {"field": "x", "action": "truncate_ip", "params": {"v4_prefix": 99}},
            "vendors.mixpanel.policy.rules[0].params",
            "v4_prefix: 24",
        ),
        (
            {"category": "user.contacts", "action": "drop"},
            "vendors.mixpanel.policy.rules[0].category",
            "did you mean 'user.contact'",
        ),
        (
            {"field": " ", "action": "drop"},
            "vendors.mixpanel.policy.rules[0].field",
            "name a field",
        ),
    ],
)
def test_compile_errors_name_the_key_and_fix(rule: dict[str, Any], key: str, fix: str) -> None:
    with pytest.raises(ConfigError) as info:
        compile_policy(
            "mixpanel",
            Policy.model_validate({"rules": [rule]}),
            KEY,
            where="vendors.mixpanel.policy",
        )
    assert info.value.key == key
    assert fix in (info.value.fix or "")
    assert key in str(info.value)


def test_default_where_names_the_vendor() -> None:
    with pytest.raises(ConfigError) as info:
        compile_policy(
            "seg", Policy.model_validate({"rules": [{"field": "x", "action": "?"}]}), KEY
        )
    assert info.value.key == "vendors.seg.policy.rules[0].action"


def test_example_config_shipped_with_seawall_compiles(tmp_path: Path) -> None:
    p = issue_policy()
    assert p.vendor == "mixpanel"
    assert len(p.rules) == 10


@pytest.mark.parametrize(
    "name",
    [
        "invited:ada.lovelace@example.com",  # found by the PII engine
        "phone:+44 20 7946 0958",
        "x" * 201,  # longer than the ledger keeps a name
    ],
)
def test_a_field_named_after_a_person_is_dropped_whatever_the_rules(name: str) -> None:
    # keep-everything policies included: the vendor and the ledger receive the names too
    for p in (policy(default="keep"), policy(default="redact", free_text="keep")):
        d = apply(event({"event": "Invited", name: True, "plan": "pro"}), p)
        assert d.fields == {"event": "Invited", "plan": "pro"}
        assert name in dict(d.dropped)
        assert all(name not in f.field for f in d.sent)


def test_a_field_named_after_a_removed_value_is_dropped() -> None:
    p = policy(default="keep", rules=[{"field": "$name", "action": "drop"}])
    fields = {"$name": "Gwendolyn Zed", "invited_gwendolyn zed": True, "plan": "pro"}
    d = apply(event(fields), p)
    assert d.fields == {"plan": "pro"}
    assert "gwendolyn" not in json.dumps(d.fields).lower()


def test_every_catalogued_field_name_reaches_the_vendor_when_kept() -> None:
    p = policy(default="keep", free_text="keep")
    for entry in entries():
        assert p.decide(entry.sdk, entry.path).rule != "name", entry.path


def test_the_last_check_reads_every_string_of_a_long_list() -> None:
    p = policy(default="keep", free_text="keep", rules=[{"field": "$email", "action": "drop"}])
    searches = [f"search {i}" for i in range(200)] + ["invoices for ada.lovelace@example.com"]
    d = apply(event({"$email": "ada.lovelace@example.com", "recent": searches, "b": 1}), p)
    assert d.fields == {"b": 1}


def test_protocol_fields_are_scanned_like_any_kept_text() -> None:
    p = policy(default="keep")
    fields = {"mp_lib": "4111 1111 1111 1111", "$lib_version": "ada@example.com", "time": 1.5}
    d = apply(event({**fields, "$insert_id": "abc123def456"}), p)
    assert d.fields == {
        "mp_lib": "[CARD]",
        "$lib_version": "[EMAIL]",
        "time": 1.5,
        "$insert_id": "abc123def456",  # replaced by the keyed dedupe key on the wire
    }


def test_long_distinct_values_are_not_memoised() -> None:
    # A client sending distinct 32 KB strings must not pin memory in the memos.
    p = policy(default="drop", rules=[{"field": ["event", "page"], "action": "keep"}])
    for i in range(50):
        d = apply(event({"event": f"{i} " + "x" * 10_000, "page": "/pricing"}), p)
        assert d.fields["page"] == "/pricing"
    memos = [d.memo for d in p._cache["mixpanel"].values() if d.memo is not None]
    assert memos
    assert all(len(k) <= 512 for memo in memos for k in memo)


@given(
    value=st.text(min_size=6, max_size=40),
    before=st.binary(max_size=10),
    after=st.binary(max_size=10),
    urlsafe=st.booleans(),
)
def test_a_removed_value_is_found_inside_any_base64_of_it(
    value: str, before: bytes, after: bytes, urlsafe: bool
) -> None:
    data = before + value.encode("utf-8", "surrogatepass") + after
    encode = base64.urlsafe_b64encode if urlsafe else base64.b64encode
    blob = encode(data).decode("ascii").rstrip("=")
    if len(value.encode("utf-8", "surrogatepass")) >= 8:  # long enough to be searched for
        assert Leaks([value]).found_in(f"state={blob}")


def test_a_dropped_email_base64_encoded_in_a_kept_field_is_not_sent() -> None:
    p = policy(default="keep", rules=[{"field": "$email", "action": "drop"}])
    token = base64.b64encode(b'{"invitee": "ada.lovelace@example.com", "org": 7}').decode()
    d = apply(event({"$email": "ada.lovelace@example.com", "state": token, "b": 1}), p)
    assert d.fields == {"b": 1}


@pytest.mark.parametrize(
    ("removed", "url"),
    [
        ({"$name": "Ada Lovelace"}, "https://app.example.com/people/ada-lovelace"),
        ({"$name": "Ada Lovelace"}, "https://app.example.com/people/ada_lovelace/settings"),
        ({"$name": "José Müller"}, "https://app.example.com/people/jose-muller"),
        ({"$email": "ada.lovelace@example.com"}, "https://app.example.com/u/ada.lovelace"),
    ],
)
def test_a_removed_value_in_its_everyday_spellings_is_not_sent(
    removed: dict[str, str], url: str
) -> None:
    p = policy(
        default="keep",
        rules=[
            {"field": "$current_url", "action": "keep"},
            {"category": ["user.name", "user.contact"], "action": "drop"},
        ],
    )
    d = apply(event({**removed, "$current_url": url, "b": 1}), p)
    sent = json.dumps(d.fields).lower()
    assert "lovelace" not in sent
    assert "muller" not in sent
    assert d.fields["b"] == 1


@pytest.mark.parametrize(
    "carrier",
    [
        '{"n":"Jos\\u00e9 M\\u00fcller"}',  # what json.dumps writes by default
        '{"n":"JOS\\u00C9 M\\u00DCLLER"}',  # upper-case hex digits
        '{"n":"\\u004a\\u006f\\u0073\\u00e9 M\\u00fcller"}',  # every letter escaped
        '{"p":"{\\\\"n\\\\":\\\\"Jos\\\\u00e9 M\\\\u00fcller\\\\"}"}',  # JSON inside JSON
        "https://app.example.com/people/jos\\u00e9-m\\u00fcller",  # a slug
        "Jos\\u00e9%20M\\u00fcller",  # escaped, then percent-encoded
    ],
)
def test_a_removed_value_written_with_json_escapes_is_not_sent(carrier: str) -> None:
    p = policy(default="keep", rules=[{"category": ["user.name"], "action": "drop"}])
    d = apply(event({"$name": "José Müller", "payload": carrier, "b": 1}), p)
    assert d.fields == {"b": 1}
    assert "payload" in dict(d.dropped)


@pytest.mark.parametrize(
    "carrier",
    [
        "Contact: Jose\u0301 Mu\u0308ller",  # every accent a combining mark (NFD)
        "https://app.example.com/people/jose\u0301-mu\u0308ller",
        "JOSE\u0301 MU\u0308LLER",
    ],
)
def test_a_removed_name_written_with_combining_accents_is_not_sent(carrier: str) -> None:
    p = policy(default="keep", rules=[{"category": ["user.name"], "action": "drop"}])
    d = apply(event({"$name": "José Müller", "note": carrier, "b": 1}), p)
    assert "note" not in d.fields or "ller" not in d.fields["note"].lower()
    assert d.fields["b"] == 1


@pytest.mark.parametrize(
    ("name", "carrier"),
    [
        ("Zoe\u0308", "hi Zoe\u0308!"),  # decomposed both sides; folded, only 3 letters
        ("Rene\u0301e Mu\u0308ller", "hi Ren\u00e9e M\u00fcller!"),  # sent NFD, kept NFC
        ("Ren\u00e9e M\u00fcller", "hi Rene\u0301e Mu\u0308ller!"),  # sent NFC, kept NFD
    ],
)
def test_a_removed_name_is_found_composed_or_decomposed(name: str, carrier: str) -> None:
    p = policy(default="keep", rules=[{"category": ["user.name"], "action": "drop"}])
    d = apply(event({"$first_name": name, "note": carrier, "b": 1}), p)
    assert fold(name) not in fold(str(d.fields.get("note", "")))  # dropped or redacted
    assert d.fields["b"] == 1


def test_json_escapes_nested_deeper_than_decoded_fail_closed() -> None:
    p = policy(default="keep", rules=[{"category": ["user.name"], "action": "drop"}])
    carrier = json.dumps({"n": "José Müller"})
    for _ in range(3):
        carrier = json.dumps({"p": carrier})
    d = apply(event({"$name": "José Müller", "payload": carrier, "b": 1}), p)
    assert d.fields == {"b": 1}


def test_json_escapes_decode_surrogate_pairs_and_slashes() -> None:
    assert Leaks(["\U0001f600 Smiley Person"]).found_in('"\\ud83d\\ude00 smiley person"')
    token = base64.b64encode(b'{"ada?lovelace@example.com"}').decode()
    assert "E/bG92" in token  # PHP's json_encode writes it "E\/bG92"
    assert Leaks(["ada?lovelace@example.com"]).found_in(token.replace("/", "\\/"))


def test_json_escapes_of_other_values_are_kept() -> None:
    p = policy(default="keep", rules=[{"category": ["user.name"], "action": "drop"}])
    carrier = '{"city":"M\\u00fcnchen","note":"caf\\u00e9\\n\\"ok\\""}'
    d = apply(event({"$name": "José Müller", "payload": carrier}), p)
    assert d.fields == {"payload": carrier}
