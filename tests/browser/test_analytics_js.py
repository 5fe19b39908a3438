"""analytics.js (@segment/analytics-next), unmodified, in headless Chromium, its
Segment.io destination at the gateway.

The standalone UMD build is served from ``node_modules``; the page passes the CDN
settings inline and names its own origin as the CDN, so nothing is fetched from
cdn.segment.com. It identifies Ada and tracks an upgrade through a Segment source to a
Segment vendor (the sink). One page visit serves every test here.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.conftest import (
    SEGMENT_WRITE_KEY,
    BrowserStack,
    assert_browser_was_content,
    assert_headers_not_passed_on,
    leaked_fragments,
    require_browser,
    running_stack,
)

pytestmark = pytest.mark.browser

PAGE = "analytics.html?email=ada.lovelace%40example.com&utm_source=newsletter"
RAW = ("ada.lovelace", "Ada Lovelace", "user-4711", "127.0.0.1", "HeadlessChrome")

Lines = list[dict[str, Any]]


def _messages(lines: Lines) -> dict[str, dict[str, Any]]:
    return {line["message"]["type"]: line["message"] for line in lines if line["api"] == "segment"}


def _arrived(lines: Lines) -> bool:
    return {"identify", "track"} <= set(_messages(lines))


@pytest.fixture(scope="module")
def visit(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[BrowserStack, dict[str, Any], Lines]]:
    require_browser()
    with running_stack(tmp_path_factory.mktemp("analytics-js")) as stack:
        report, lines = stack.drive(PAGE, {"writeKey": SEGMENT_WRITE_KEY}, _arrived)
        yield stack, report, lines


def _anonymous_id(report: dict[str, Any]) -> str:
    (cookie,) = [c for c in report["cookies"] if c["name"] == "ajs_anonymous_id"]
    return str(cookie["value"]).strip('"')


def test_identify_and_track_arrive_minimised(
    visit: tuple[BrowserStack, dict[str, Any], Lines],
) -> None:
    stack, report, lines = visit
    assert_browser_was_content(stack, report)
    # Both deliveries reported success to the page (a CORS refusal would fail them).
    assert report["results"] == [
        {"call": "identify", "failed": None},
        {"call": "track", "failed": None},
    ]
    # The SDK authenticates with Basic auth, so the browser sent a preflight first.
    assert {r["method"] for r in stack.log.requests} == {"OPTIONS", "POST"}

    messages = _messages(lines)
    identify, track = messages["identify"], messages["track"]
    url = f"{stack.page_origin}/pages/analytics.html?utm_source=newsletter"
    for message in (identify, track):
        assert message["userId"].startswith("sw_")
        assert message["anonymousId"].startswith("sw_")
        assert message["context"]["page"] == {"url": url}
        assert message["context"]["library"]["name"] == "analytics.js"
    assert identify["userId"] == track["userId"]
    assert identify["anonymousId"] == track["anonymousId"]
    assert "traits" not in identify  # email and name are contact data, plan is not kept
    assert track["event"] == "Upgraded"
    assert track["properties"] == {"plan": "pro", "revenue": 20}

    text = json.dumps(lines)
    for raw in (*RAW, _anonymous_id(report)):
        assert raw not in text, raw
    assert_headers_not_passed_on(lines)


def test_message_ids_do_not_reveal_the_anonymous_id(
    visit: tuple[BrowserStack, dict[str, Any], Lines],
) -> None:
    _, report, lines = visit
    assert leaked_fragments(_anonymous_id(report), lines) == set()
