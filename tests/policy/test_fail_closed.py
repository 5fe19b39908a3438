"""The fail-closed property: whatever the event and the policy, a field a rule drops
never reaches the vendor, not even inside another field's text, and apply() never
raises."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seawall.core.config import Policy
from seawall.core.types import Context, Event
from seawall.policy.engine import apply, compile_policy

KEY = b"p" * 32
ACTIONS = [
    "keep",
    "redact",
    "scrub_url",
    "domain_only",
    "ua_family",
    "pseudonymize",
    "truncate_ip",
    "coarsen",
    "drop",
]
# Field names a drop rule may name: catalogued identifying fields and custom ones.
SENSITIVE = {
    "mixpanel": ["$email", "$name", "$phone", "distinct_id", "secret_note", "x"],
    "segment": ["traits.email", "traits.name", "userId", "properties.secret", "x"],
}
CARRIERS = {
    "mixpanel": ["event", "$current_url", "$referrer", "comment", "$browser", "ip"],
    "segment": [
        "event",
        "context.page.url",
        "properties.comment",
        "traits.plan",
        "context.userAgent",
        "context.ip",
    ],
}

word = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=3, max_size=8)
emails = st.builds(lambda a, b: f"{a}.{b}@example.com", word, word)
names = st.builds(lambda a, b: f"{a.title()} {b.title()}", word, word)
secrets = st.one_of(emails, names)
json_leaf = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=30)
)
json_values = st.recursive(
    json_leaf,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)


def carry(secret: str) -> st.SearchStrategy[Any]:
    return st.sampled_from(
        [
            secret,
            secret.upper(),
            f"hi {secret}!",
            f"https://www.example.com/u/{secret}?e={secret}#x",
            f"https://{secret.rsplit('@', maxsplit=1)[-1]}/{secret}",
            [secret, "ok"],
            {"k": secret},
            {secret: 1},
            f"Mozilla/5.0 ({secret})",
            f"mailto:{secret}",
        ]
    )


@st.composite
def cases(draw: st.DrawFn) -> tuple[Event, Policy, dict[str, str]]:
    sdk = draw(st.sampled_from(["mixpanel", "segment"]))
    dropped = draw(st.lists(st.sampled_from(SENSITIVE[sdk]), min_size=1, max_size=3, unique=True))
    values = {f: draw(secrets) for f in dropped}
    rules: list[dict[str, Any]] = [{"field": f, "action": "drop"} for f in dropped]
    fields: dict[str, Any] = dict(values)
    for carrier in draw(st.lists(st.sampled_from(CARRIERS[sdk]), max_size=5, unique=True)):
        fields[carrier] = draw(
            st.one_of(carry(draw(st.sampled_from(list(values.values())))), json_values)
        )
        rules.append({"field": carrier, "action": draw(st.sampled_from(ACTIONS))})
    draw(st.randoms()).shuffle(rules)
    # The drop rules must decide their fields: put them before any rule for the same path.
    rules.sort(key=lambda r: r["action"] != "drop")
    policy = Policy.model_validate(
        {
            "default": draw(st.sampled_from(["drop", "keep", "redact"])),
            "ip": draw(st.sampled_from(["drop", "truncate", "keep"])),
            "free_text": draw(st.sampled_from(["redact", "drop_field", "keep"])),
            "rules": rules,
        }
    )
    ip = draw(st.one_of(st.none(), st.sampled_from(["203.0.113.9", "2001:db8::7", "bogus"])))
    event = Event(
        sdk=sdk,
        kind="track",
        source="s",
        name=None,
        distinct_id=None,
        insert_id="i",
        fields=fields,
        context=Context(ip=ip),
    )
    return event, policy, values


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_a_dropped_field_never_reaches_the_vendor(
    case: tuple[Event, Policy, dict[str, str]],
) -> None:
    event, policy, dropped = case
    disclosure = apply(event, compile_policy("v", policy, KEY))
    sent = json.dumps(disclosure.fields, ensure_ascii=False).casefold()
    for field, value in dropped.items():
        assert field not in disclosure.fields
        assert value.casefold() not in sent, (field, value, disclosure.fields)
    assert {s.field for s in disclosure.sent} == set(disclosure.fields)


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(st.text(max_size=12), json_values, max_size=8),
    st.sampled_from(["mixpanel", "segment"]),
    st.lists(st.tuples(st.text(max_size=6), st.sampled_from(ACTIONS)), max_size=4),
    st.sampled_from(["drop", "keep", "redact"]),
)
def test_apply_never_raises(
    fields: dict[str, Any], sdk: str, rules: list[tuple[str, str]], default: str
) -> None:
    policy = Policy.model_validate(
        {
            "default": default,
            "ip": "truncate",
            "rules": [{"field": f.strip() or "*", "action": a} for f, a in rules],
        }
    )
    event = Event(
        sdk=sdk,
        kind="track",
        source="s",
        name=None,  # type: ignore[arg-type]
        distinct_id=None,
        insert_id="i",
        fields=fields,
        context=Context(ip="::1"),
    )
    disclosure = apply(event, compile_policy("v", policy, KEY))
    assert set(disclosure.fields) <= set(fields) | {"ip", "context.ip"}
    ip_path = "ip" if sdk == "mixpanel" else "context.ip"
    added = 0 if ip_path in fields else 1
    assert len(disclosure.sent) + len(disclosure.dropped) == len(fields) + added
