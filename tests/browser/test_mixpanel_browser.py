"""mixpanel-browser, unmodified, in headless Chromium with ``api_host`` at the gateway.

The page (``pages/mixpanel.html``) tracks "Viewed Pricing" on a URL carrying an email
and a UTM tag, identifies the user and sets their profile. What the vendor receives is
read back from the sink; what the browser sent, from the gateway's own request log. Run
once per way the SDK delivers: one XHR per call, batched XHR, and the sendBeacon flush
when the page is left.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote

import pytest

from tests.browser.conftest import (
    BrowserStack,
    assert_browser_was_content,
    assert_headers_not_passed_on,
    leaked_fragments,
)

pytestmark = pytest.mark.browser

PAGE = "mixpanel.html?email=ada.lovelace%40example.com&utm_source=newsletter"
COOKIE = "mp_demo-project-token_mixpanel"
# What the page or the browser put in the requests, and the vendor must not see.
RAW = ("ada.lovelace", "Ada Lovelace", "London", "user-4711", "127.0.0.1", "questions to")
# Fields the example policy lets through to Mixpanel (keep, pseudonymize, scrub_url...).
TRACK_FIELDS = {
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
    "distinct_id",
    "$device_id",
    "$user_id",
    "$current_url",
    "$initial_referrer",
    "$referrer",
    "mp_country_code",
    "token",
}
PROFILE_KEYS = {"$token", "$distinct_id", "$device_id", "$user_id", "$ip", "$set", "$set_once"}

Lines = list[dict[str, Any]]


def _tracks(lines: Lines) -> dict[str, dict[str, Any]]:
    return {
        line["message"]["event"]: line["message"]["properties"]
        for line in lines
        if line["endpoint"] == "track"
    }


def _profile_sets(lines: Lines) -> list[dict[str, Any]]:
    return [
        line["message"]
        for line in lines
        if line["endpoint"] == "engage" and "$set" in line["message"]
    ]


def _all_arrived(lines: Lines) -> bool:
    return {"Viewed Pricing", "$identify"} <= set(_tracks(lines)) and bool(_profile_sets(lines))


def _events_arrived(lines: Lines) -> bool:
    return {"Viewed Pricing", "$identify"} <= set(_tracks(lines))


def _cookie_ids(report: dict[str, Any]) -> list[str]:
    """The ids mixpanel-browser keeps in its cookie (device id, distinct id, user id)."""
    (cookie,) = [c for c in report["cookies"] if c["name"] == COOKIE]
    state = json.loads(unquote(cookie["value"]))
    return [state["$device_id"], state["distinct_id"], state["$user_id"]]


def _assert_minimised_events(stack: BrowserStack, lines: Lines) -> None:
    tracks = _tracks(lines)
    viewed, identify = tracks["Viewed Pricing"], tracks["$identify"]
    for props in (viewed, identify):
        assert set(props) <= TRACK_FIELDS, set(props) - TRACK_FIELDS
        assert props["$browser"] == "Chrome"
        assert props["$os"] == "Linux"
        assert props["distinct_id"].startswith("sw_")
        assert props["$device_id"].startswith("sw_")
        assert props["token"] == "vendor-token"
        # The email in the query string is gone, the UTM tag is kept.
        assert props["$current_url"] == (
            f"{stack.page_origin}/pages/mixpanel.html?utm_source=newsletter"
        )
    # Pseudonyms are stable for the vendor: one device, one user across events.
    assert viewed["$device_id"] == identify["$device_id"]
    assert identify["$user_id"] == identify["distinct_id"] != viewed["distinct_id"]


def _assert_nothing_raw(report: dict[str, Any], lines: Lines) -> None:
    text = json.dumps(lines)
    for raw in RAW:
        assert raw not in text, raw
    for raw_id in _cookie_ids(report):
        assert raw_id not in text, raw_id
        assert leaked_fragments(raw_id, lines) == set(), raw_id
    assert_headers_not_passed_on(lines)


def _assert_the_gateway_got_the_cookie(stack: BrowserStack) -> None:
    """The test means something only if the browser did send what must not pass."""
    cookies = [r["headers"].get("cookie", "") for r in stack.log.requests]
    assert all(f"{COOKIE}=" in c for c in cookies), cookies
    assert all("referer" in r["headers"] for r in stack.log.requests)


@pytest.mark.parametrize("mode", ["xhr", "batch"])
def test_track_identify_and_people_set_arrive_minimised(
    browser_stack: BrowserStack, mode: str
) -> None:
    report, lines = browser_stack.drive(
        PAGE, {"token": "demo-project-token", "mode": mode}, _all_arrived
    )
    assert_browser_was_content(browser_stack, report)
    _assert_the_gateway_got_the_cookie(browser_stack)
    _assert_minimised_events(browser_stack, lines)
    _assert_nothing_raw(report, lines)

    user = _tracks(lines)["$identify"]["distinct_id"]
    (profile,) = _profile_sets(lines)
    assert set(profile) <= PROFILE_KEYS, set(profile) - PROFILE_KEYS
    assert profile["$distinct_id"] == profile["$user_id"] == user
    assert profile["$ip"] == "0"  # the vendor is told not to geolocate
    # Of {$email, $name, $city, plan} and what the SDK adds, only the device facts pass.
    assert set(profile["$set"]) <= {"$browser", "$browser_version", "$os"}
    assert profile["$set"]["$browser"] == "Chrome"
    if mode == "xhr":
        # Each call's callback saw the gateway's answer: CORS let the page read it.
        assert report["results"] == [
            {"call": "track", "response": 1},
            {"call": "people.set", "response": 1},
        ]


def test_events_sent_as_beacons_when_the_page_is_left(browser_stack: BrowserStack) -> None:
    report, lines = browser_stack.drive(
        PAGE, {"token": "demo-project-token", "mode": "beacon"}, _events_arrived, leave=True
    )
    assert_browser_was_content(browser_stack, report)
    beacons = [r for r in browser_stack.log.requests if r["path"] == "/track/"]
    assert beacons
    assert all(r["headers"]["content-type"].startswith("text/plain") for r in beacons)
    _assert_the_gateway_got_the_cookie(browser_stack)
    _assert_minimised_events(browser_stack, lines)
    _assert_nothing_raw(report, lines)
