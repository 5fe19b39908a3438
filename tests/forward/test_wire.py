"""wire.encode: tables of disclosures -> the vendor's own message format."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seawall.core.config import Vendor
from seawall.core.types import Disclosure, Event, EventKind, SdkKind
from seawall.forward.wire import _iso, encode

MIXPANEL = Vendor(kind="mixpanel", endpoint="http://127.0.0.1:9", token="vendor-token")
MIXPANEL_IMPORT = Vendor(
    kind="mixpanel",
    endpoint="http://127.0.0.1:9",
    token="vendor-token",
    api_secret="vendor-secret",
    use_import=True,
)
SEGMENT = Vendor(kind="segment", endpoint="http://127.0.0.1:9", write_key="wk")
WEBHOOK = Vendor(kind="webhook", endpoint="http://127.0.0.1:9/hook")


def disclosure(
    sdk: SdkKind,
    kind: EventKind,
    fields: dict[str, Any],
    *,
    operation: str | None = None,
    time: float | None = 1_700_000_000.0,
) -> Disclosure:
    event = Event(
        sdk=sdk,
        kind=kind,
        source="web",
        name="raw name",
        distinct_id="raw-distinct-id",
        insert_id="ins-1",
        fields={"secret": "never"},
        time=time,
        operation=operation,
    )
    return Disclosure(vendor="v", event=event, fields=fields, sent=[])


def test_mixpanel_track_keeps_fields_and_adds_only_token_insert_id_time() -> None:
    d = disclosure("mixpanel", "track", {"event": "Signed Up", "distinct_id": "p-1", "$os": "Mac"})
    (msg,) = encode("mixpanel", MIXPANEL, d)
    assert msg.endpoint == "track"
    assert msg.dedupe_key == "ins-1"
    assert msg.message == {
        "event": "Signed Up",
        "properties": {
            "distinct_id": "p-1",
            "$os": "Mac",
            "token": "vendor-token",
            "$insert_id": "ins-1",
            "time": 1_700_000_000.0,
        },
    }


def test_mixpanel_track_keeps_the_sdk_time_unchanged_and_uses_import_when_configured() -> None:
    d = disclosure("mixpanel", "track", {"event": "e", "time": 1_700_000_123_456})
    (msg,) = encode("mixpanel", MIXPANEL_IMPORT, d)
    assert msg.endpoint == "import"
    props = msg.message["properties"]
    assert isinstance(props, dict)
    assert props["time"] == 1_700_000_123_456


def test_mixpanel_track_without_a_kept_name_does_not_leak_the_raw_name() -> None:
    (msg,) = encode("mixpanel", MIXPANEL, disclosure("mixpanel", "track", {}))
    assert "raw name" not in str(msg.message)
    assert "raw-distinct-id" not in str(msg.message)


@pytest.mark.parametrize(
    ("fields", "expected_ip"),
    [({"$email": "[EMAIL]"}, "0"), ({"ip": "203.0.113.0"}, "203.0.113.0")],
)
def test_mixpanel_engage_tells_mixpanel_not_to_geolocate(
    fields: dict[str, Any], expected_ip: str
) -> None:
    d = disclosure("mixpanel", "profile", {"distinct_id": "p-1", **fields}, operation="$set")
    (msg,) = encode("mixpanel", MIXPANEL, d)
    assert msg.endpoint == "engage"
    assert msg.message["$ip"] == expected_ip
    assert msg.message["$distinct_id"] == "p-1"
    assert msg.message["$token"] == "vendor-token"
    assert msg.message["$set"] == {k: v for k, v in fields.items() if k != "ip"}


def test_mixpanel_engage_omits_a_dropped_distinct_id_and_lists_unset_keys() -> None:
    d = disclosure("mixpanel", "profile", {"plan": None, "$name": None}, operation="$unset")
    (msg,) = encode("mixpanel", MIXPANEL, d)
    assert "$distinct_id" not in msg.message
    assert msg.message["$unset"] == ["$name", "plan"]


def test_mixpanel_groups() -> None:
    fields = {"$group_key": "company", "$group_id": "g-1", "size": 10}
    (msg,) = encode("mixpanel", MIXPANEL, disclosure("mixpanel", "group", fields))
    assert msg.endpoint == "groups"
    assert msg.message == {
        "$token": "vendor-token",
        "$group_id": "g-1",
        "$group_key": "company",
        "$set": {"size": 10},
    }


def test_segment_source_to_segment_unflattens_paths() -> None:
    fields = {
        "event": "Order Completed",
        "userId": "p-1",
        "properties.total": 10,
        "properties.a.b": 1,
        "context.page.url": "https://example.com/x",
        "context.locale": "en",
    }
    (msg,) = encode("segment", SEGMENT, disclosure("segment", "track", fields))
    assert msg.endpoint == "batch"
    assert msg.message == {
        "type": "track",
        "event": "Order Completed",
        "userId": "p-1",
        "properties": {"total": 10, "a.b": 1},
        "context": {"page": {"url": "https://example.com/x"}, "locale": "en"},
        "messageId": "ins-1",
        "timestamp": "2023-11-14T22:13:20.000Z",
    }


@pytest.mark.parametrize(
    ("kind", "bag", "type_"), [("track", "properties", "track"), ("profile", "traits", "identify")]
)
def test_mixpanel_source_to_segment(kind: EventKind, bag: str, type_: str) -> None:
    fields = {"event": "Signed Up", "distinct_id": "p-1", "$os": "Mac", "$insert_id": "ins-1"}
    (msg,) = encode("segment", SEGMENT, disclosure("mixpanel", kind, fields))
    assert msg.message["type"] == type_
    assert msg.message["userId"] == "p-1"
    assert msg.message["messageId"] == "ins-1"
    values = msg.message[bag]
    assert isinstance(values, dict)
    assert values["$os"] == "Mac"
    assert "distinct_id" not in values


def test_segment_source_to_mixpanel_maps_context_ip_and_properties() -> None:
    fields = {"event": "Clicked", "userId": "p-1", "properties.x": 1, "context.ip": "203.0.113.0"}
    (msg,) = encode("mixpanel", MIXPANEL, disclosure("segment", "track", fields))
    props = msg.message["properties"]
    assert isinstance(props, dict)
    assert props["x"] == 1
    assert props["ip"] == "203.0.113.0"
    assert props["distinct_id"] == "p-1"
    assert msg.message["event"] == "Clicked"


def test_webhook_is_generic_json() -> None:
    d = disclosure("mixpanel", "track", {"event": "e", "k": "v"})
    (msg,) = encode("hook", WEBHOOK, d)
    assert msg.endpoint == "events"
    assert msg.message == {
        "type": "track",
        "event": "e",
        "insert_id": "ins-1",
        "time": 1_700_000_000.0,
        "fields": {"event": "e", "k": "v"},
    }


@pytest.mark.parametrize("vendor", [MIXPANEL, MIXPANEL_IMPORT, SEGMENT, WEBHOOK])
@pytest.mark.parametrize("kind", ["track", "profile", "group", "identify", "alias", "page"])
@pytest.mark.parametrize("sdk", ["mixpanel", "segment"])
def test_nothing_outside_the_disclosure_is_sent(
    vendor: Vendor, kind: EventKind, sdk: SdkKind
) -> None:
    (msg,) = encode("v", vendor, disclosure(sdk, kind, {"k": "kept"}, time=None))
    text = str(msg.message)
    assert "never" not in text
    assert "raw-distinct-id" not in text
    assert "raw name" not in text
    assert msg.dedupe_key == "ins-1"


@settings(max_examples=2000, deadline=None)
@given(st.floats(min_value=-1e9, max_value=4e9, allow_nan=False))
def test_segment_timestamps_are_what_datetime_prints(seconds: float) -> None:
    """The reused whole-second prefix must round at every edge as datetime does."""
    want = (
        datetime.fromtimestamp(seconds, UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )
    assert _iso(seconds) == want
