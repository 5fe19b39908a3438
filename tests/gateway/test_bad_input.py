"""Bad input through a real gateway: a clear 4xx, no crash, nothing stored or forwarded."""

from __future__ import annotations

import base64
import json

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.gateway.conftest import Stack

TOKEN = "demo-project-token"


def _deep(n: int) -> str:
    return '{"a":' * n + "1" + "}" * n


def _event(props: object) -> str:
    return json.dumps([{"event": "e", "properties": props}])


CASES = [
    ("malformed base64", {"data": "eyJldmVudCI6I!!!"}, 400),
    ("malformed json", {"data": '[{"event": "e", "properties": {'}, 400),
    ("not an array or object", {"data": "42"}, 400),
    (
        "event name not a string",
        {"data": json.dumps([{"event": 7, "properties": {"token": TOKEN, "distinct_id": "a"}}])},
        400,
    ),
    ("properties not an object", {"data": json.dumps([{"event": "e", "properties": [1]}])}, 400),
    (
        "deep nesting",
        {
            "data": json.dumps(
                [{"event": "e", "properties": {"token": TOKEN, "x": json.loads(_deep(200))}}]
            )
        },
        400,
    ),
    ("unknown token", {"data": _event({"token": "not-a-token", "distinct_id": "a"})}, 401),
    ("no token", {"data": _event({"distinct_id": "a"})}, 401),
]


def _nothing_stored(stack: Stack, client: httpx.Client) -> None:
    metrics = client.get(f"{stack.url}/metrics").text
    assert 'seawall_outbox_rows{vendor="mixpanel"} 0.0' in metrics
    assert 'seawall_events_queued_total{vendor="mixpanel"}' not in metrics
    assert stack.received() == []


@pytest.mark.parametrize(("name", "form", "status"), CASES, ids=[c[0] for c in CASES])
def test_bad_mixpanel_bodies(stack: Stack, name: str, form: dict[str, str], status: int) -> None:
    with httpx.Client() as client:
        r = client.post(f"{stack.url}/track", data=form, params={"verbose": "1"})
        assert r.status_code == status, r.text
        assert r.json()["status"] == 0
        assert r.json()["error"]  # says what is wrong
        _nothing_stored(stack, client)


def test_invalid_utf8_and_raw_bytes(stack: Stack) -> None:
    with httpx.Client() as client:
        bad = b'[{"event":"e","properties":{"token":"' + TOKEN.encode() + b'","x":"\xff\xfe"}}]'
        for body, ctype in (
            (b"data=" + base64.b64encode(bad), "application/x-www-form-urlencoded"),
            (bad, "text/plain"),
            (b"\x00\x01\x02", "application/json"),
        ):
            r = client.post(f"{stack.url}/track", content=body, headers={"content-type": ctype})
            assert r.status_code == 400, r.text
        r = client.post(
            f"{stack.url}/v1/batch",
            content=b"\xff{",
            auth=("wk-server", ""),
            headers={"content-type": "application/json"},
        )
        assert r.status_code == 400
        _nothing_stored(stack, client)


def test_ten_megabyte_body_is_413(stack: Stack) -> None:
    with httpx.Client() as client:
        body = _event({"token": TOKEN, "distinct_id": "a", "blob": "x" * (10 * 1024 * 1024)})
        r = client.post(f"{stack.url}/track", data={"data": body})
        assert r.status_code == 413
        _nothing_stored(stack, client)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    body=st.binary(max_size=2000),
    path=st.sampled_from(
        ["/track", "/engage", "/groups", "/import", "/v1/batch", "/v1/t", "/v1/identify"]
    ),
    ctype=st.sampled_from(
        [
            "application/x-www-form-urlencoded",
            "application/json",
            "text/plain",
            "application/octet-stream",
        ]
    ),
)
def test_arbitrary_bytes_never_crash(stack: Stack, body: bytes, path: str, ctype: str) -> None:
    r = httpx.post(f"{stack.url}{path}", content=body, headers={"content-type": ctype})
    assert 400 <= r.status_code < 500, (r.status_code, r.text)
