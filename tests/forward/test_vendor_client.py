"""VendorClient: request shapes per vendor and the classification of every answer.

httpx.MockTransport stands in for the vendor here only, to pin the error table;
tests/forward/test_forwarder.py drives the real client against the real sink.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from seawall.core.config import Vendor
from seawall.core.errors import VendorError
from seawall.forward.client import PartialFailure, SendHeld, VendorClient, parse_retry_after

SECRET = "s3cr3t-api-secret"
MIXPANEL = Vendor(kind="mixpanel", endpoint="https://vendor.example.com", token="tok")
IMPORT = Vendor(
    kind="mixpanel",
    endpoint="https://vendor.example.com",
    token="tok",
    api_secret=SECRET,
    use_import=True,
)
SEGMENT = Vendor(kind="segment", endpoint="https://vendor.example.com", write_key=SECRET)
WEBHOOK = Vendor(
    kind="webhook", endpoint="https://vendor.example.com/hook", headers={"X-Api-Key": SECRET}
)
Handler = Callable[[httpx.Request], httpx.Response]


def send(vendor: Vendor, handler: Handler, endpoint: str, messages: list[dict[str, Any]]) -> None:
    async def go() -> None:
        async with VendorClient("v", vendor, transport=httpx.MockTransport(handler)) as client:
            await client.send(endpoint, messages)

    asyncio.run(go())


def track(n: int) -> list[dict[str, Any]]:
    return [{"event": "e", "properties": {"$insert_id": f"i{k}", "time": 1}} for k in range(n)]


def test_mixpanel_track_is_a_form_with_verbose_and_no_geolocation() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"status": 1, "error": None})

    send(MIXPANEL, handler, "track", track(2))
    (request,) = seen
    assert request.url.path == "/track"
    assert request.url.params["ip"] == "0"
    assert request.url.params["verbose"] == "1"
    form = parse_qs(request.content.decode())
    assert json.loads(form["data"][0]) == track(2)
    assert "authorization" not in request.headers


def test_mixpanel_import_is_json_strict_with_basic_auth() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"code": 200, "num_records_imported": 1, "status": "OK"})

    send(IMPORT, handler, "import", track(1))
    (request,) = seen
    assert request.url.path == "/import"
    assert request.url.params["strict"] == "1"
    assert json.loads(request.content) == track(1)
    expected = "Basic " + base64.b64encode(f"{SECRET}:".encode()).decode()
    assert request.headers["authorization"] == expected


def test_segment_batch_envelope_and_size_split() -> None:
    sizes: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/v1/batch"
        assert len(request.content) <= 500 * 1024
        sizes.append(len(json.loads(request.content)["batch"]))
        return httpx.Response(200, json={"success": True})

    big = [
        {"type": "track", "messageId": str(i), "properties": {"x": "a" * 20_000}} for i in range(60)
    ]
    send(SEGMENT, handler, "batch", big)
    assert sum(sizes) == 60
    assert len(sizes) >= 3


def test_webhook_sends_configured_headers() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/hook"
        assert request.headers["x-api-key"] == SECRET
        assert json.loads(request.content) == {"events": [{"a": 1}]}
        return httpx.Response(204)

    send(WEBHOOK, handler, "events", [{"a": 1}])


@pytest.mark.parametrize(
    ("status", "headers", "body", "permanent", "retry_after"),
    [
        (500, {}, b"", False, None),
        (502, {}, b"<html>", False, None),
        (503, {"Retry-After": "7"}, b"", False, 7.0),
        (429, {"Retry-After": "2.5"}, b"{}", False, 2.5),
        (429, {}, b'{"code":429}', False, None),
        (408, {}, b"", False, None),
        (400, {}, b'{"status":0,"error":"bad"}', True, None),
        (401, {}, b"", True, None),
        (403, {}, b"", True, None),
        (404, {}, b"", True, None),
        (200, {}, b'{"status":0,"error":"token missing"}', True, None),
        (200, {}, b"0", True, None),
    ],
)
def test_status_classification(
    status: int, headers: dict[str, str], body: bytes, permanent: bool, retry_after: float | None
) -> None:
    with pytest.raises(VendorError) as info:
        send(
            MIXPANEL,
            lambda _: httpx.Response(status, headers=headers, content=body),
            "track",
            track(1),
        )
    assert info.value.permanent is permanent
    assert info.value.retry_after == retry_after
    assert info.value.status == status


def test_plain_1_is_success() -> None:
    send(MIXPANEL, lambda _: httpx.Response(200, content=b"1"), "engage", [{"$token": "t"}])


@pytest.mark.parametrize(
    "exc",
    [httpx.ReadTimeout("slow"), httpx.ConnectError("refused"), httpx.RemoteProtocolError("x")],
)
def test_network_errors_are_temporary(exc: Exception) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    with pytest.raises(VendorError) as info:
        send(MIXPANEL, handler, "track", track(1))
    assert info.value.permanent is False
    assert info.value.status is None


def test_413_halves_until_it_fits() -> None:
    sizes: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        n = len(json.loads(parse_qs(request.content.decode())["data"][0]))
        sizes.append(n)
        return httpx.Response(413) if n > 3 else httpx.Response(200, json={"status": 1})

    send(MIXPANEL, handler, "track", track(10))
    assert sizes == [10, 5, 2, 3, 5, 2, 3]


def test_413_on_a_single_message_is_permanent() -> None:
    with pytest.raises(VendorError) as info:
        send(MIXPANEL, lambda _: httpx.Response(413), "track", track(1))
    assert info.value.permanent
    assert info.value.status == 413


def test_import_partial_failure_names_the_rejected_insert_ids() -> None:
    body = {
        "code": 400,
        "num_records_imported": 2,
        "failed_records": [
            {"index": 1, "insert_id": "i1", "field": "properties.time", "message": "bad"},
            {"index": 2, "field": "event", "message": "bad"},
        ],
    }
    with pytest.raises(PartialFailure) as info:
        send(IMPORT, lambda _: httpx.Response(400, json=body), "import", track(4))
    assert info.value.failed_keys == {"i1", "i2"}
    assert info.value.permanent


def test_the_gate_stops_before_any_request() -> None:
    async def closed() -> bool:
        return False

    async def go() -> None:
        transport = httpx.MockTransport(lambda _: pytest.fail("no request expected"))
        async with VendorClient("v", MIXPANEL, transport=transport, gate=closed) as client:
            await client.send("track", track(1))

    with pytest.raises(SendHeld):
        asyncio.run(go())


@pytest.mark.parametrize("vendor", [IMPORT, SEGMENT, WEBHOOK])
def test_credentials_never_appear_in_errors(vendor: Vendor) -> None:
    for status in (401, 500, 429):
        with pytest.raises(VendorError) as info:
            send(vendor, lambda _, s=status: httpx.Response(s, text=SECRET), "import", track(1))
        assert SECRET not in str(info.value)
        assert SECRET not in repr(info.value.args)


def test_parse_retry_after() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    later = format_datetime(now + timedelta(seconds=30), usegmt=True)
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after(later, now=now.timestamp()) == pytest.approx(30.0)
    assert parse_retry_after(format_datetime(now, usegmt=True), now=now.timestamp() + 5) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after("nan") is None
    assert parse_retry_after(None) is None
