"""No input makes a decoder raise anything but PayloadError (incl. PayloadTooLarge) or
AuthError: the gateway turns exactly those into 4xx answers."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any
from urllib.parse import quote, unquote_to_bytes

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seawall.core.errors import AuthError, PayloadError
from seawall.core.types import Context, Event
from seawall.ingest import body as wire
from seawall.ingest import mixpanel as mp
from seawall.ingest import segment as sg
from seawall.ingest.body import strict_b64decode

TOKEN = "demo-project-token"
CLIENT = Context(ip="203.0.113.7", user_agent="UA")
FUZZ = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=30,
)


def keyed(keys: list[str], *, required: dict[str, Any] | None = None) -> st.SearchStrategy[Any]:
    """Objects over the keys an SDK uses (plus noise), values of any JSON type."""
    optional = dict.fromkeys(keys, json_values)
    return st.fixed_dictionaries(required or {}, optional=optional)


MIXPANEL_KEYS = [
    "distinct_id", "$device_id", "$user_id", "$insert_id", "time", "org_id", "company_id",
    "$groups", "$anon_distinct_id", "$identified_id", "alias", "$distinct_ids", "ip",
    "$current_url", "$referrer", "$locale",
]  # fmt: skip
PROFILE_KEYS = [
    "$distinct_id", "$device_id", "$user_id", "$time", "$ip", "$group_key", "$group_id",
    *mp.OPERATIONS,
]  # fmt: skip
SEGMENT_KEYS = [
    "type", "userId", "anonymousId", "previousId", "groupId", "event", "name", "messageId",
    "timestamp", "originalTimestamp", "properties", "traits", "context", "writeKey",
]  # fmt: skip

track_messages = keyed(["event", "properties"]) | st.fixed_dictionaries(
    {
        "event": st.text(max_size=8) | json_values,
        "properties": keyed(MIXPANEL_KEYS, required={"token": st.sampled_from([TOKEN, "x"])}),
    }
)
profile_messages = keyed(PROFILE_KEYS, required={"$token": st.sampled_from([TOKEN, "x"])})
segment_messages = keyed(SEGMENT_KEYS) | st.fixed_dictionaries(
    {
        "type": st.sampled_from(["track", "identify", "page", "screen", "group", "alias"]),
        "userId": st.text(max_size=5) | st.integers() | st.none(),
        "anonymousId": st.text(max_size=5) | st.none(),
    },
    optional=dict.fromkeys(
        [k for k in SEGMENT_KEYS if k not in {"type", "userId", "anonymousId"}], json_values
    ),
)


def encodings(payload: Any) -> list[bytes]:
    text = json.dumps(payload)
    return [
        text.encode(),
        ("data=" + quote(text)).encode(),
        ("data=" + quote(base64.b64encode(text.encode()).decode())).encode(),
    ]


def run_mixpanel(endpoint: str, body: bytes, query: dict[str, str] | None = None) -> None:
    try:
        events = mp.decode(
            endpoint,
            body,
            content_type=None,
            query=query or {},
            authorization="Basic c2VjcmV0Og==",  # "secret:"
            client=CLIENT,
            sources={TOKEN: "web"},
            import_secrets={"secret": "web"},
        )
    except (PayloadError, AuthError):
        return
    check(events)
    assert all("token" not in e.fields for e in events if e.kind == "track")


def run_segment(endpoint: str, body: bytes, authorization: str | None = None) -> None:
    try:
        events = sg.decode(
            endpoint,
            body,
            content_type="text/plain",
            authorization=authorization,
            client=CLIENT,
            sources={"wk": "web"},
        )
    except (PayloadError, AuthError):
        return
    check(events)
    assert all("writeKey" not in e.fields and "type" not in e.fields for e in events)


def check(events: list[Event]) -> None:
    for event in events:
        assert isinstance(event.insert_id, str)
        assert event.insert_id
        assert isinstance(event.fields, dict)
        assert event.time is None or isinstance(event.time, float)
        assert all(isinstance(a, str) for a in event.aliases + event.org_ids)


mixpanel_endpoints = st.sampled_from(["track", "engage", "groups", "import"])
segment_endpoints = st.sampled_from(
    ["track", "identify", "page", "screen", "group", "alias", "batch"]
)


@FUZZ
@given(
    mixpanel_endpoints,
    st.binary(max_size=512),
    st.dictionaries(st.sampled_from(["data", "ip", "verbose"]), st.text(max_size=40)),
)
def test_mixpanel_any_bytes(endpoint: str, body: bytes, query: dict[str, str]) -> None:
    run_mixpanel(endpoint, body, query)
    run_mixpanel(endpoint, b"data=" + body)
    run_mixpanel(endpoint, b"data=" + base64.b64encode(body))
    assert isinstance(mp.parse_verbose(query, body), bool)


@FUZZ
@given(mixpanel_endpoints, json_values | st.lists(track_messages | profile_messages, max_size=4))
def test_mixpanel_any_json(endpoint: str, payload: Any) -> None:
    for body in encodings(payload):
        run_mixpanel(endpoint, body)


@FUZZ
@given(segment_endpoints, st.binary(max_size=512))
def test_segment_any_bytes(endpoint: str, body: bytes) -> None:
    run_segment(endpoint, body)
    run_segment(endpoint, body, authorization="Basic " + base64.b64encode(body).decode())


@FUZZ
@given(
    segment_endpoints,
    json_values
    | segment_messages
    | st.fixed_dictionaries(
        {"batch": st.lists(segment_messages, max_size=4) | json_values},
        optional={"writeKey": st.sampled_from(["wk", "x"]) | json_values, "context": json_values},
    ),
    st.sampled_from([None, "Basic d2s6", "Basic !!", "Bearer x"]),
)
def test_segment_any_json(endpoint: str, payload: Any, authorization: str | None) -> None:
    run_segment(endpoint, json.dumps(payload).encode(), authorization)


@FUZZ
@given(st.binary(max_size=64) | st.text(alphabet="%+=2Fa\n\r ", max_size=32).map(str.encode))
def test_unquote_form_agrees_with_urllib(value: bytes) -> None:
    assert wire.unquote_form(value) == unquote_to_bytes(value.replace(b"+", b" "))


@FUZZ
@given(json_values, st.integers(min_value=1, max_value=40))
def test_fast_limit_check_agrees_with_the_walk(value: Any, wrap: int) -> None:
    for _ in range(wrap):
        value = [value]
    raw = json.dumps(value).encode()
    fast = slow = None
    try:
        wire.parse_json(raw, "x")
    except PayloadError as exc:
        fast = str(exc)
    try:
        wire._walk(value, 1, "x")
    except PayloadError as exc:
        slow = str(exc)
    assert fast == slow


_B64_PIECES = st.sampled_from(
    [
        b"QUJD",
        b"YQ==",
        b"YWI=",
        b"=",
        b"==",
        b"====",
        b"a",
        b"Zm9v",
        b" ",
        b"\n",
        b"-",
        b"_",
        b"+",
        b"/",
        b"*",
        b"\x00",
        b"\xff",
    ]
)


@settings(max_examples=2000)
@given(st.lists(_B64_PIECES | st.binary(max_size=6), max_size=12).map(b"".join))
def test_simd_base64_never_differs_from_binascii_strict(data: bytes) -> None:
    """Where pybase64 accepts a body, binascii's strict mode gives the same bytes; what
    pybase64 refuses is handed to the binascii path (``decode_body``)."""
    try:
        fast: bytes | None = strict_b64decode(data)
    except (binascii.Error, ValueError):
        fast = None
    if fast is not None:
        assert binascii.a2b_base64(data, strict_mode=True) == fast
