"""The official server SDKs, unmodified but for the host, through a real gateway.

What the vendor receives is read back from the sink's log: the proof a user would
look for."""

from __future__ import annotations

import json

import httpx
import mixpanel
from segment.analytics import Client as SegmentClient

from seawall.core.keys import KeyRing
from seawall.policy.engine import dedupe_key
from tests.gateway.conftest import Stack
from tests.support import wait_for

ADA = {
    "$email": "ada.lovelace@example.com",
    "$name": "Ada Lovelace",
    "$city": "London",
}


def _mixpanel(stack: Stack) -> mixpanel.Mixpanel:
    consumer = mixpanel.Consumer(
        events_url=f"{stack.url}/track",
        people_url=f"{stack.url}/engage",
        groups_url=f"{stack.url}/groups",
        retry_limit=0,
    )
    return mixpanel.Mixpanel("demo-project-token", consumer=consumer)


def test_mixpanel_python_through_the_gateway(stack: Stack) -> None:
    mp = _mixpanel(stack)
    # The Consumer raises unless the gateway answers {"status": 1}.
    mp.track(
        "user-4711",
        "Signed In",
        {
            "$browser": "Firefox",
            "$os": "Linux",
            "$insert_id": "ins-0001",
            "$current_url": "https://app.example.com/invite?email=ada.lovelace%40example.com&utm_source=mail",
            "$referrer": "https://mail.example.com/inbox/123?token=abc",
            "$email": ADA["$email"],
            "$city": "London",
            "ip": "203.0.113.7",
            "plan_note": "call Ada Lovelace on +44 20 7946 0958",
        },
    )
    mp.people_set("user-4711", ADA)

    lines = wait_for(lambda: len(stack.received()) >= 2 and stack.received())
    text = json.dumps(lines)
    for raw in (
        "ada.lovelace",
        "Ada Lovelace",
        "London",
        "203.0.113",
        "user-4711",
        "7946 0958",
        "token=abc",
    ):
        assert raw not in text, raw
    track = next(line["message"] for line in lines if line["endpoint"].startswith("track"))
    props = track["properties"]
    assert track["event"] == "Signed In"
    assert props["$browser"] == "Firefox"
    assert props["$os"] == "Linux"
    vendor_key = KeyRing(stack.config.path(stack.config.keys_dir)).vendor_key("mixpanel")
    assert props["$insert_id"] == dedupe_key(vendor_key, "ins-0001")  # keyed, stable
    assert props["distinct_id"].startswith("sw_")
    assert props["$referrer"] == "example.com"  # registrable domain only
    assert "utm_source=mail" in props["$current_url"]
    assert props["token"] == "vendor-token"


def test_segment_python_through_the_gateway(stack: Stack) -> None:
    errors: list[Exception] = []
    client = SegmentClient(
        "wk-server",
        host=stack.url,
        sync_mode=True,
        max_retries=0,
        on_error=lambda e, _b: errors.append(e),
    )
    client.identify("user-4711", {"email": ADA["$email"], "name": ADA["$name"], "plan": "pro"})
    client.track("user-4711", "Upgraded", {"plan": "pro", "revenue": 20, "email": ADA["$email"]})
    client.flush()
    assert errors == []
    lines = wait_for(lambda: len(stack.received()) >= 2 and stack.received())
    text = json.dumps(lines)
    for raw in ("ada.lovelace", "Ada Lovelace", "user-4711"):
        assert raw not in text, raw
    track = next(line["message"] for line in lines if line["message"].get("type") == "track")
    assert track["event"] == "Upgraded"
    assert track["properties"] == {"plan": "pro", "revenue": 20}
    assert track["userId"].startswith("sw_")


def test_unknown_token_is_401_and_nothing_is_stored(stack: Stack) -> None:
    data = json.dumps([{"event": "x", "properties": {"token": "nope", "distinct_id": "a"}}])
    r = httpx.post(f"{stack.url}/track", data={"data": data}, params={"verbose": "1"})
    assert r.status_code == 401
    assert r.json()["status"] == 0
    r = httpx.post(
        f"{stack.url}/v1/batch",
        json={"batch": [{"type": "track", "event": "x", "userId": "a"}]},
        auth=("wrong-key", ""),
    )
    assert r.status_code == 401
    metrics = httpx.get(f"{stack.url}/metrics").text
    assert 'seawall_outbox_rows{vendor="mixpanel"} 0.0' in metrics
    assert stack.received() == []


def test_browser_headers_are_never_passed_on(stack: Stack) -> None:
    data = json.dumps(
        [
            {
                "event": "Viewed",
                "properties": {
                    "token": "demo-project-token",
                    "distinct_id": "d-1",
                    "$insert_id": "i-1",
                },
            }
        ]
    )
    r = httpx.post(
        f"{stack.url}/track",
        data={"data": data},
        headers={
            "Cookie": "mp_demo-project-token_mixpanel=%7B%22distinct_id%22%3A%22d-1%22%7D",
            "X-Forwarded-For": "198.51.100.23",
            "X-Real-IP": "198.51.100.23",
            "Referer": "https://app.example.com/secret-page",
            "Origin": "http://127.0.0.1:8000",
        },
    )
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == "http://127.0.0.1:8000"
    assert r.headers["access-control-allow-credentials"] == "true"
    (line,) = wait_for(stack.received)
    headers = {k.lower() for k in line["headers"]}
    assert not headers & {"cookie", "x-forwarded-for", "x-real-ip", "referer"}
    assert "198.51.100" not in json.dumps(line)
    assert line["message"]["properties"].get("ip") in (None, "0", 0)


def test_cors_preflight_only_for_allowed_origins(stack: Stack) -> None:
    ok = httpx.options(
        f"{stack.url}/track/",
        headers={"Origin": "http://127.0.0.1:8000", "Access-Control-Request-Method": "POST"},
    )
    assert ok.status_code == 204
    assert ok.headers["access-control-allow-credentials"] == "true"
    bad = httpx.options(
        f"{stack.url}/track/",
        headers={"Origin": "https://evil.example.net", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in bad.headers
    data = json.dumps(
        [{"event": "x", "properties": {"token": "demo-project-token", "distinct_id": "a"}}]
    )
    r = httpx.post(
        f"{stack.url}/track", data={"data": data}, headers={"Origin": "https://evil.example.net"}
    )
    assert r.status_code == 401


def test_health_ready_metrics(stack: Stack) -> None:
    assert httpx.get(f"{stack.url}/healthz").status_code == 200
    ready = httpx.get(f"{stack.url}/readyz")
    assert ready.status_code == 200
    assert ready.json()["database"] is True
    assert "seawall_events_received" in httpx.get(f"{stack.url}/metrics").text
    assert httpx.get(f"{stack.url}/flags/").json() == {"flags": {}}
    assert httpx.post(f"{stack.url}/record/").status_code == 403


def _metric(text: str, name: str, **labels: str) -> float:
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith(f"{name}{{") and line.split("}")[0][len(name) + 1 :] == want:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_dropped_fields_are_counted_per_vendor_and_category(stack: Stack) -> None:
    """Events of one shape share their drops; an event whose kept field had to be
    dropped (an address the policy cannot make safe) counts it too."""
    mp = _mixpanel(stack)
    for i in range(3):
        mp.track(f"user-{i}", "Viewed", {"$email": f"u{i}@example.com", "$city": "Paris"})
    # scrub_url cannot keep a URL whose host is an IP address: that field is dropped too
    mp.track("user-9", "Viewed", {"$email": "u9@example.com", "$current_url": "http://10.0.0.1/x"})
    text = httpx.get(f"{stack.url}/metrics").text
    drops = "seawall_policy_drops_total"
    assert _metric(text, drops, vendor="mixpanel", category="user.contact.email") == 4
    assert _metric(text, drops, vendor="mixpanel", category="user.contact.address.city") == 3
    assert _metric(text, drops, vendor="mixpanel", category="user.behavior.browsing_history") == 1


def test_a_removed_name_in_escaped_json_never_reaches_the_vendor(stack: Stack) -> None:
    # $name is dropped; $browser is kept, and holds JSON as an app's encoder wrote it
    payload = json.dumps({"n": "José Müller", "plan": "pro"})
    assert "Jos\\u00e9 M\\u00fcller" in payload
    data = json.dumps(
        [
            {
                "event": "Viewed",
                "properties": {
                    "token": "demo-project-token",
                    "distinct_id": "d-2",
                    "$insert_id": "i-2",
                    "$name": "José Müller",
                    "$browser": payload,
                    "$os": "Linux",
                },
            }
        ]
    )
    r = httpx.post(f"{stack.url}/track", data={"data": data})
    assert r.status_code == 200
    (line,) = wait_for(stack.received)
    props = line["message"]["properties"]
    assert props["$os"] == "Linux"
    assert "$browser" not in props
    sent = json.dumps(line, ensure_ascii=False).lower()
    for spelling in ("müller", "muller", "u00fcller", "jos\\"):  # escaped once or twice
        assert spelling not in sent, spelling
