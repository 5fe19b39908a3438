"""Segment decoding: analytics.js and analytics-python bodies in, canonical events out."""

from __future__ import annotations

import base64
import gzip
import json
from typing import Any

import pytest
import requests
from segment.analytics import Client, request

from seawall.core.errors import AuthError, PayloadError, PayloadTooLarge
from seawall.core.types import Context, Event
from seawall.ingest import segment as sg

WRITE_KEY = "demo-write-key"
SOURCES = {WRITE_KEY: "web"}
CLIENT = Context(ip="203.0.113.7", user_agent="Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0")


def js_message(kind: str, **extra: Any) -> dict[str, Any]:
    """A message as analytics-next's segmentio plugin posts it to /v1/<first letter>."""
    message: dict[str, Any] = {
        "type": kind,
        "anonymousId": "6f1c-anon",
        "messageId": f"ajs-next-{kind}-1",
        "timestamp": "2024-06-10T12:00:00.123Z",
        "sentAt": "2024-06-10T12:00:00.200Z",
        "writeKey": WRITE_KEY,
        "userId": None,
        "integrations": {},
        "context": {
            "page": {
                "path": "/pricing",
                "referrer": "https://www.example.org/from",
                "search": "?plan=pro",
                "title": "Pricing",
                "url": "https://app.example.com/pricing?plan=pro",
            },
            "userAgent": "Mozilla/5.0 (Macintosh) Safari/17.0",
            "locale": "en-GB",
            "library": {"name": "analytics.js", "version": "next-1.70.0"},
        },
        "_metadata": {"bundled": ["Segment.io"], "unbundled": [], "bundledIds": []},
    }
    message.update(extra)
    return message


def decode(
    endpoint: str, payload: Any, *, authorization: str | None = None, raw: bytes | None = None
) -> list[Event]:
    body = raw if raw is not None else json.dumps(payload).encode()
    return sg.decode(
        endpoint,
        body,
        content_type="text/plain",
        authorization=authorization,
        client=CLIENT,
        sources=SOURCES,
    )


def basic(user: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:".encode()).decode()


def test_track_fields_are_dotted_paths() -> None:
    msg = js_message(
        "track", event="Clicked", properties={"plan": "pro", "cart": {"items": 2}}, userId="u-42"
    )
    (event,) = decode("track", msg)
    assert event.fields == {
        "anonymousId": "6f1c-anon",
        "messageId": "ajs-next-track-1",
        "timestamp": "2024-06-10T12:00:00.123Z",
        "sentAt": "2024-06-10T12:00:00.200Z",
        "userId": "u-42",
        "integrations": {},
        "context.page.path": "/pricing",
        "context.page.referrer": "https://www.example.org/from",
        "context.page.search": "?plan=pro",
        "context.page.title": "Pricing",
        "context.page.url": "https://app.example.com/pricing?plan=pro",
        "context.userAgent": "Mozilla/5.0 (Macintosh) Safari/17.0",
        "context.locale": "en-GB",
        "context.library.name": "analytics.js",
        "context.library.version": "next-1.70.0",
        "_metadata": {"bundled": ["Segment.io"], "unbundled": [], "bundledIds": []},
        "event": "Clicked",
        "properties.plan": "pro",
        "properties.cart": {"items": 2},
    }
    assert (event.kind, event.name, event.insert_id) == ("track", "Clicked", "ajs-next-track-1")
    assert (event.user_id, event.device_id, event.distinct_id) == ("u-42", "6f1c-anon", "u-42")
    assert event.aliases == ("6f1c-anon",)
    assert event.time == pytest.approx(1718020800.123)
    assert event.context == Context(
        ip="203.0.113.7",
        user_agent="Mozilla/5.0 (Macintosh) Safari/17.0",
        url="https://app.example.com/pricing?plan=pro",
        referrer="https://www.example.org/from",
        locale="en-GB",
    )


@pytest.mark.parametrize(
    ("endpoint", "msg", "kind", "name", "aliases", "org_ids"),
    [
        pytest.param(
            "identify",
            js_message("identify", userId="u-42", traits={"email": "ada@example.com"}),
            "identify",
            None,
            ("6f1c-anon",),
            (),
            id="identify",
        ),
        pytest.param(
            "page",
            js_message("page", name="Pricing", properties={"url": "https://app.example.com/p"}),
            "page",
            "Pricing",
            (),
            (),
            id="page",
        ),
        pytest.param(
            "screen", js_message("screen", name="Home"), "screen", "Home", (), (), id="screen"
        ),
        pytest.param(
            "group",
            js_message("group", groupId="acme-1", traits={"name": "Acme"}),
            "group",
            None,
            (),
            ("acme-1",),
            id="group",
        ),
        pytest.param(
            "alias",
            js_message("alias", userId="u-42", previousId="6f1c-anon"),
            "alias",
            None,
            ("6f1c-anon",),
            (),
            id="alias",
        ),
        pytest.param(
            "track",
            js_message("track", event="E", context={"groupId": "acme-2"}),
            "track",
            "E",
            (),
            ("acme-2",),
            id="context.groupId",
        ),
    ],
)
def test_message_kinds(
    endpoint: str,
    msg: dict[str, Any],
    kind: str,
    name: str | None,
    aliases: tuple[str, ...],
    org_ids: tuple[str, ...],
) -> None:
    (event,) = decode(endpoint, msg)
    assert (event.kind, event.name, event.aliases, event.org_ids) == (kind, name, aliases, org_ids)
    assert "writeKey" not in event.fields
    assert "type" not in event.fields


def test_traits_are_one_level() -> None:
    msg = js_message("identify", userId="u", traits={"address": {"city": "Oslo"}})
    (event,) = decode("identify", msg)
    assert event.fields["traits.address"] == {"city": "Oslo"}


def test_analytics_js_batching_strategy() -> None:
    """deliveryStrategy 'batching' posts {writeKey, batch, sentAt} to /b, sentAt removed
    from each message."""
    batch = [js_message("track", event="A"), js_message("page", name="P")]
    for msg in batch:
        del msg["sentAt"]
    body = {"writeKey": WRITE_KEY, "batch": batch, "sentAt": "2024-06-10T12:00:01.000Z"}
    events = decode("batch", body, authorization=basic(WRITE_KEY))
    assert [e.kind for e in events] == ["track", "page"]


def test_batch_context_applies_under_each_message() -> None:
    body = {
        "writeKey": WRITE_KEY,
        "context": {"ip": "198.51.100.3", "locale": "fr-FR"},
        "batch": [{"type": "track", "event": "A", "userId": "u", "context": {"locale": "de-DE"}}],
    }
    (event,) = decode("batch", body)
    assert (event.context.ip, event.context.locale) == ("198.51.100.3", "de-DE")
    assert event.fields["context.ip"] == "198.51.100.3"


def test_missing_message_id_gets_a_deterministic_one() -> None:
    msg = {"type": "track", "event": "A", "userId": "u", "writeKey": WRITE_KEY}
    first = decode("track", msg)[0].insert_id
    assert first == decode("track", dict(msg))[0].insert_id
    assert first != decode("track", {**msg, "event": "B"})[0].insert_id


# ---- analytics-python's own requests -------------------------------------------------


def test_analytics_python_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[tuple[str, bytes, dict[str, str]]] = []

    def post(url: str, **kwargs: Any) -> requests.Response:
        data = kwargs["data"]
        sent.append((url, data.encode() if isinstance(data, str) else data, kwargs["headers"]))
        response = requests.Response()
        response.status_code = 200
        return response

    monkeypatch.setattr(request._session, "post", post)
    for gzipped in (False, True):
        client = Client(WRITE_KEY, host="https://gateway.example.com", sync_mode=True, gzip=gzipped)
        client.identify("u-42", {"email": "ada@example.com", "plan": "pro"})
        client.track("u-42", "Signed up", {"plan": "pro"}, context={"ip": "198.51.100.8"})
        client.group("u-42", "acme-1", {"name": "Acme"})
        client.alias("anon-1", "u-42")
        client.page("u-42", "Docs", "Install", {"url": "https://docs.example.com/install"})
        client.screen("u-42", "App", "Home")
    assert {url for url, _, _ in sent} == {"https://gateway.example.com/v1/batch"}
    events = [
        event
        for _, body, headers in sent
        for event in sg.decode(
            "batch",
            body,
            content_type=headers["Content-Type"],
            authorization=headers["Authorization"],
            client=CLIENT,
            sources=SOURCES,
        )
    ]
    assert [e.kind for e in events[:6]] == ["identify", "track", "group", "alias", "page", "screen"]
    assert [e.kind for e in events] == [e.kind for e in events[:6]] * 2
    identify, track, group, alias, page, screen = events[:6]
    assert identify.fields["traits.email"] == "ada@example.com"
    assert identify.fields["context.library.name"] == "analytics-python"
    assert track.context.ip == "198.51.100.8"
    assert identify.context.ip == "203.0.113.7"
    assert group.org_ids == ("acme-1",)
    assert (alias.user_id, alias.aliases) == ("u-42", ("anon-1",))
    assert (page.name, page.context.url) == ("Install", "https://docs.example.com/install")
    assert screen.name == "Home"
    assert all(e.source == "web" and len(e.insert_id) == 36 for e in events)
    assert all(isinstance(e.time, float) for e in events)


# ---- auth and bad input ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("endpoint", "body", "authorization"),
    [
        pytest.param("track", {"type": "track", "event": "e", "userId": "u"}, None, id="no-key"),
        pytest.param(
            "track", {"type": "track", "event": "e", "userId": "u"}, basic("wrong"), id="basic-key"
        ),
        pytest.param("track", js_message("track", event="e", writeKey="x"), None, id="body-key"),
        pytest.param(
            "batch",
            {
                "batch": [
                    js_message("track", event="e"),
                    js_message("track", event="e", writeKey="x"),
                ]
            },
            None,
            id="one-message-key-refuses-all",
        ),
    ],
)
def test_auth_errors(endpoint: str, body: Any, authorization: str | None) -> None:
    with pytest.raises(AuthError):
        decode(endpoint, body, authorization=authorization)


DEEP: Any = "leaf"
for _ in range(40):
    DEEP = {"a": DEEP}


@pytest.mark.parametrize(
    ("endpoint", "raw", "message"),
    [
        ("track", b"{not json", "not valid JSON"),
        ("track", b'{"event": "\xff"}', "not valid JSON"),
        ("track", b"[]", "must be a JSON object, not an array"),
        ("batch", b'{"batch": {}}', "'batch' must be an array"),
        ("batch", b'{"batch": [1]}', "message 0 must be a JSON object, not a number"),
        ("batch", b'{"batch": [{"type": "x", "userId": "u"}]}', "'type' must be one of"),
        ("track", b'{"event": "e"}', "needs 'userId' or 'anonymousId'"),
        ("track", b'{"userId": "u"}', "'event' must be a non-empty string"),
        ("track", b'{"userId": "u", "event": "e", "properties": []}', "'properties' must be"),
        ("track", b'{"userId": "u", "event": "e", "context": "x"}', "'context' must be"),
        ("track", b'{"userId": 1.5, "event": "e"}', "'userId' must be a string"),
        ("track", b'{"userId": "u", "event": "e", "timestamp": 5}', "ISO-8601 string"),
        ("track", b'{"userId": "u", "event": "e", "timestamp": "soon"}', "not an ISO-8601"),
        ("page", b'{"userId": "u", "name": 5}', "'name' must be a string"),
        ("group", b'{"userId": "u"}', "needs 'groupId'"),
        ("alias", b'{"userId": "u"}', "needs 'previousId'"),
        ("track", json.dumps({"userId": "u", "event": "e", "properties": DEEP}).encode(), "deeper"),
        ("t", b"{}", "unknown Segment endpoint"),
    ],
)
def test_payload_errors(endpoint: str, raw: bytes, message: str) -> None:
    with pytest.raises(PayloadError, match=message):
        decode(endpoint, None, raw=raw, authorization=basic(WRITE_KEY))


def test_too_large() -> None:
    with pytest.raises(PayloadTooLarge):
        decode("batch", None, raw=b'{"batch": [' + b" " * (10 * 1024 * 1024) + b"]}")
    with pytest.raises(PayloadTooLarge):
        decode("batch", None, raw=gzip.compress(b" " * (10 * 1024 * 1024)))
