"""Mixpanel decoding: real SDK-shaped bodies in, canonical events out."""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import mixpanel
import pytest
import requests

from seawall.core.errors import AuthError, PayloadError, PayloadTooLarge
from seawall.core.types import Context, Event
from seawall.ingest import mixpanel as mp

TOKEN = "demo-project-token"
SECRET = "import-api-secret"
SOURCES = {TOKEN: "web"}
CLIENT = Context(ip="203.0.113.7", user_agent="Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0")
FORM = "application/x-www-form-urlencoded"


def browser_event(name: str = "Viewed page", **extra: Any) -> dict[str, Any]:
    """A track message as mixpanel-browser builds it (src/utils.js info.properties)."""
    return {
        "event": name,
        "properties": {
            "$os": "Linux",
            "$browser": "Firefox",
            "$referrer": "https://www.example.org/from",
            "$referring_domain": "www.example.org",
            "$current_url": "https://app.example.com/pricing?plan=pro",
            "$browser_version": 128,
            "$screen_height": 1080,
            "$screen_width": 1920,
            "mp_lib": "web",
            "$lib_version": "2.60.0",
            "$insert_id": "lq2x0x5z8mbm7y4v",
            "time": 1718000000.123,
            "distinct_id": "$device:18f0c6a1-d1",
            "$device_id": "18f0c6a1-d1",
            "token": TOKEN,
            **extra,
        },
    }


def b64_form(payload: Any) -> bytes:
    """mixpanel-browser's default to a non-mixpanel.com host: base64, encodeURIComponent."""
    encoded = base64.b64encode(json.dumps(payload).encode()).decode()
    return ("data=" + quote(encoded, safe="")).encode()


def json_form(payload: Any) -> bytes:
    """mixpanel-browser with api_payload_format 'json' (its default for *.mixpanel.com)."""
    return ("data=" + quote(json.dumps(payload), safe="")).encode()


def decode(
    endpoint: str,
    body: bytes,
    *,
    content_type: str | None = FORM,
    query: Mapping[str, str] | None = None,
    authorization: str | None = None,
) -> list[Event]:
    return mp.decode(
        endpoint,
        body,
        content_type=content_type,
        query=query or {},
        authorization=authorization,
        client=CLIENT,
        sources=SOURCES,
        import_secrets={SECRET: "web", "secret-of-another": "server"},
    )


def basic(user: str, password: str = "") -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


# ---- body forms -----------------------------------------------------------------

BATCH = [browser_event("Viewed page"), browser_event("Clicked", **{"$insert_id": "second-id"})]
# Characters whose base64 holds '+' and '/' ('-' and '_' in the URL-safe alphabet).
ODD_BATCH = [browser_event("Viewed page", note="???>>>~~~"), BATCH[1]]


@pytest.mark.parametrize(
    ("body", "content_type", "query"),
    [
        pytest.param(b64_form(BATCH), FORM, {"ip": "1", "_": "1718000000123"}, id="xhr-base64"),
        pytest.param(json_form(BATCH), FORM, {"ip": "1", "verbose": "1"}, id="xhr-json"),
        pytest.param(b64_form(BATCH), "text/plain;charset=UTF-8", {"ip": "1"}, id="beacon"),
        pytest.param(json.dumps(BATCH).encode(), "application/json", {}, id="raw-json"),
        pytest.param(json.dumps(BATCH).encode(), FORM, {}, id="raw-json-form-type"),
        pytest.param(
            b"",
            None,
            {"data": base64.b64encode(json.dumps(BATCH).encode()).decode(), "ip": "1"},
            id="get-query",
        ),
        pytest.param(gzip.compress(json_form(BATCH)), FORM, {}, id="gzip"),
        pytest.param(
            b64_form(BATCH).replace(b"%2B", b"+").replace(b"%3D", b"="), FORM, {}, id="raw-plus"
        ),
        pytest.param(
            b"data=" + quote(base64.encodebytes(json.dumps(BATCH).encode())).encode(),
            FORM,
            {},
            id="line-wrapped-base64",
        ),
        pytest.param(
            b"data=" + base64.urlsafe_b64encode(json.dumps(ODD_BATCH).encode()).rstrip(b"="),
            FORM,
            {},
            id="urlsafe-unpadded",
        ),
    ],
)
def test_track_body_forms_decode_alike(
    body: bytes, content_type: str | None, query: dict[str, str]
) -> None:
    events = decode("track", body, content_type=content_type, query=query)
    assert [e.name for e in events] == ["Viewed page", "Clicked"]
    assert [e.insert_id for e in events] == ["lq2x0x5z8mbm7y4v", "second-id"]
    assert all(e.source == "web" and e.sdk == "mixpanel" and e.kind == "track" for e in events)


def test_track_event_is_canonical() -> None:
    (event,) = decode("track", b64_form(browser_event()), query={"ip": "1"})
    assert "token" not in event.fields
    assert event.fields["event"] == "Viewed page"
    assert event.fields["$current_url"] == "https://app.example.com/pricing?plan=pro"
    assert event.distinct_id == "$device:18f0c6a1-d1"
    assert event.device_id == "18f0c6a1-d1"
    assert event.user_id is None
    assert event.aliases == ()
    assert event.time == pytest.approx(1718000000.123)
    assert event.context == Context(
        ip="203.0.113.7",
        user_agent=CLIENT.user_agent,
        url="https://app.example.com/pricing?plan=pro",
        referrer="https://www.example.org/from",
    )


@pytest.mark.parametrize(
    ("extra", "user_id", "aliases", "org_ids"),
    [
        pytest.param({}, None, (), (), id="anonymous"),
        pytest.param({"$user_id": "user-42"}, "user-42", ("18f0c6a1-d1",), (), id="identified"),
        pytest.param({"org_id": "org-9"}, None, (), ("org-9",), id="org_id"),
        pytest.param({"company_id": 77}, None, (), ("77",), id="company_id-int"),
        pytest.param({"company_id": ["a", "b", "a"]}, None, (), ("a", "b"), id="set_group-list"),
        pytest.param({"$groups": {"company": "acme"}}, None, (), ("acme",), id="$groups"),
        pytest.param({"org_id": {"nested": 1}}, None, (), (), id="org_id-not-an-id"),
    ],
)
def test_track_identity_and_orgs(
    extra: dict[str, Any], user_id: str | None, aliases: tuple[str, ...], org_ids: tuple[str, ...]
) -> None:
    (event,) = decode("track", b64_form(browser_event(**extra)))
    assert (event.user_id, event.aliases, event.org_ids) == (user_id, aliases, org_ids)


def test_identify_declares_the_anonymous_id() -> None:
    """mixpanel-browser's identify(): distinct_id becomes the user, $anon_distinct_id the
    previous device id."""
    msg = browser_event(
        "$identify",
        distinct_id="user-42",
        **{"$anon_distinct_id": "$device:18f0c6a1-d1", "$user_id": "user-42"},
    )
    (event,) = decode("track", b64_form(msg))
    assert event.user_id == "user-42"
    assert event.subject() == "user-42"
    assert event.aliases == ("$device:18f0c6a1-d1", "18f0c6a1-d1")


def test_create_alias_declares_the_alias() -> None:
    msg = {
        "event": "$create_alias",
        "properties": {"distinct_id": "d-1", "alias": "user-42", "token": TOKEN},
    }
    (event,) = decode("track", b64_form(msg))
    assert event.distinct_id == "d-1"
    assert event.aliases == ("user-42",)


@pytest.mark.parametrize(
    ("sent", "seconds"),
    [(1718000000, 1718000000.0), (1718000000.5, 1718000000.5), (1718000000500, 1718000000.5)],
)
def test_time_in_seconds_or_milliseconds(sent: float, seconds: float) -> None:
    (event,) = decode("track", json_form(browser_event(time=sent)))
    assert event.time == pytest.approx(seconds)
    assert event.fields["time"] == sent


def test_missing_insert_id_gets_a_deterministic_one() -> None:
    msg = browser_event()
    del msg["properties"]["$insert_id"]
    first = decode("track", b64_form(msg))[0].insert_id
    again = decode("track", json_form(msg))[0].insert_id
    other = decode("track", b64_form(browser_event("Other")))[0].insert_id
    assert first == again != other
    assert len(first) == 32


def test_ip_zero_means_the_address_is_not_the_users() -> None:
    (event,) = decode("track", b"ip=0&" + json_form(browser_event()))
    assert event.context.ip is None
    (event,) = decode("track", json_form(browser_event(ip="198.51.100.4")), query={"ip": "0"})
    assert event.context.ip == "198.51.100.4"


# ---- engage and groups --------------------------------------------------------------


def test_engage_one_event_per_operation() -> None:
    body = {
        "$token": TOKEN,
        "$distinct_id": "user-42",
        "$device_id": "18f0c6a1-d1",
        "$user_id": "user-42",
        "$ip": "198.51.100.9",
        "$set": {"$email": "ada@example.com", "$name": "Ada", "$browser": "Firefox"},
        "$set_once": {"First seen": "2024-06-10T00:00:00"},
        "$unset": ["Old prop"],
        "$add": {"Logins": 1},
        "$append": {"Items": "sword"},
        "$union": {"Tags": ["a"]},
        "$remove": {"Tags": "b"},
    }
    events = decode("engage", b64_form([body]))
    assert [e.operation for e in events] == [
        "$set",
        "$set_once",
        "$add",
        "$append",
        "$union",
        "$remove",
        "$unset",
    ]
    first = events[0]
    assert first.kind == "profile"
    assert first.fields == {
        "distinct_id": "user-42",
        "$device_id": "18f0c6a1-d1",
        "$user_id": "user-42",
        "$email": "ada@example.com",
        "$name": "Ada",
        "$browser": "Firefox",
    }
    assert first.context.ip == "198.51.100.9"
    assert first.aliases == ("18f0c6a1-d1",)
    assert events[6].fields == {
        "distinct_id": "user-42",
        "$device_id": "18f0c6a1-d1",
        "$user_id": "user-42",
        "Old prop": None,
    }
    assert len({e.insert_id for e in events}) == 7
    assert events[0].context is not events[1].context


def test_engage_delete() -> None:
    (event,) = decode("engage", json_form({"$token": TOKEN, "$distinct_id": "u", "$delete": ""}))
    assert (event.operation, event.fields) == ("$delete", {"distinct_id": "u"})


@pytest.mark.parametrize(
    ("group_key", "org_ids"),
    [("company", ("acme-1",)), ("org_id", ("acme-1",)), ("team", ())],
)
def test_groups(group_key: str, org_ids: tuple[str, ...]) -> None:
    body = {
        "$token": TOKEN,
        "$group_key": group_key,
        "$group_id": "acme-1",
        "$set": {"name": "Acme", "plan": "pro"},
    }
    (event,) = decode("groups", b64_form(body))
    assert event.kind == "group"
    assert event.operation == "$set"
    assert event.org_ids == org_ids
    assert event.fields == {
        "$group_key": group_key,
        "$group_id": "acme-1",
        "name": "Acme",
        "plan": "pro",
    }


# ---- the mixpanel-python library's own requests -------------------------------------


class Captured:
    """Stands in for requests.Session: prepares the library's real request, answers 1."""

    def __init__(self) -> None:
        self.requests: list[requests.PreparedRequest] = []

    def post(self, url: str, **kwargs: Any) -> requests.Response:
        self.requests.append(
            requests.Request(
                "POST", url, params=kwargs["params"], data=kwargs["data"], auth=kwargs["auth"]
            ).prepare()
        )
        response = requests.Response()
        response.status_code = 200
        response._content = b'{"status": 1, "error": null}'
        return response


def python_sdk_requests(calls: Any, buffered: bool = False) -> list[requests.PreparedRequest]:
    host = "gateway.example.com"
    inner = mixpanel.Consumer(api_host=host)
    consumer: Any = mixpanel.BufferedConsumer(api_host=host) if buffered else inner
    if buffered:
        consumer._consumer = inner
    captured = Captured()
    inner._session = captured
    calls(mixpanel.Mixpanel(TOKEN, consumer=consumer))
    if buffered:
        consumer.flush()
    return captured.requests


def body_of(request: requests.PreparedRequest) -> bytes:
    return request.body if isinstance(request.body, bytes) else str(request.body).encode()


def decode_prepared(request: requests.PreparedRequest) -> list[Event]:
    assert request.url is not None
    endpoint = request.url.split("?")[0].rstrip("/").rsplit("/", 1)[1]
    return decode(
        endpoint,
        body_of(request),
        content_type=request.headers.get("Content-Type"),
        authorization=request.headers.get("Authorization"),
    )


def test_mixpanel_python_track_people_groups() -> None:
    def calls(client: Any) -> None:
        client.track("user-42", "Signed up", {"plan": "pro", "org_id": "org-9"})
        client.people_set("user-42", {"$email": "ada@example.com", "$name": "Ada"})
        client.people_unset("user-42", ["Old prop"])
        client.group_set("company", "acme-1", {"name": "Acme"})

    sent = python_sdk_requests(calls)
    assert [r.headers["Content-Type"] for r in sent] == [FORM] * 4
    assert all(mp.parse_verbose({}, body_of(r)) for r in sent)
    track, people, unset, group = (decode_prepared(r) for r in sent)
    (event,) = track
    assert event.name == "Signed up"
    assert event.distinct_id == "user-42"
    assert event.fields["mp_lib"] == "python"
    assert event.org_ids == ("org-9",)
    assert event.context.ip is None  # the library sends ip=0: the address is the server's
    assert isinstance(event.time, float)
    assert people[0].fields == {
        "distinct_id": "user-42",
        "$email": "ada@example.com",
        "$name": "Ada",
    }
    assert unset[0].fields == {"distinct_id": "user-42", "Old prop": None}
    assert group[0].org_ids == ("acme-1",)


def test_mixpanel_python_buffered_batch() -> None:
    def calls(client: Any) -> None:
        for n in range(3):
            client.track(f"user-{n}", "Tick", {"n": n})

    (request,) = python_sdk_requests(calls, buffered=True)
    events = decode_prepared(request)
    assert [e.fields["n"] for e in events] == [0, 1, 2]


def test_mixpanel_python_import_with_api_secret() -> None:
    def calls(client: Any) -> None:
        client.import_data(None, "user-42", "Old event", 1500000000, api_secret=SECRET)

    (request,) = python_sdk_requests(calls)
    assert request.headers["Authorization"] == basic(SECRET)
    (event,) = decode_prepared(request)
    assert (event.source, event.time) == ("web", 1500000000.0)


# ---- auth ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("endpoint", "body", "authorization"),
    [
        pytest.param("track", b64_form(browser_event(token="other")), None, id="unknown-token"),
        pytest.param("track", b64_form({"event": "e", "properties": {}}), None, id="no-token"),
        pytest.param(
            "track",
            b64_form([browser_event(), browser_event(token="other")]),
            None,
            id="one-bad-token-refuses-all",
        ),
        pytest.param("engage", json_form({"$distinct_id": "u", "$set": {}}), None, id="no-$token"),
        pytest.param("import", json_form(browser_event()), None, id="import-no-auth"),
        pytest.param("import", json_form(browser_event()), basic("wrong"), id="import-bad-secret"),
        pytest.param("import", json_form(browser_event()), "Bearer x", id="import-not-basic"),
        pytest.param(
            "import", json_form(browser_event(token="other")), basic(SECRET), id="import-bad-token"
        ),
        pytest.param(
            "import",
            json_form(browser_event()),
            basic("secret-of-another"),
            id="import-other-source",
        ),
    ],
)
def test_auth_errors(endpoint: str, body: bytes, authorization: str | None) -> None:
    with pytest.raises(AuthError):
        decode(endpoint, body, authorization=authorization)


def test_import_without_token_takes_the_secrets_source() -> None:
    msg = {"event": "Old", "properties": {"distinct_id": "u", "time": 1500000000000}}
    body = json.dumps([msg]).encode()
    (event,) = mp.decode(
        "import",
        body,
        content_type="application/json",
        query={},
        authorization=basic(SECRET),
        client=CLIENT,
        sources=SOURCES,
        import_secrets={"another": "x", SECRET: "server"},
    )
    assert event.source == "server"
    assert event.time == 1500000000.0


def test_import_ndjson() -> None:
    lines = b"\n".join(json.dumps(browser_event(n=n)).encode() for n in range(2))
    events = decode(
        "import", lines, content_type="application/x-ndjson", authorization=basic(SECRET)
    )
    assert len(events) == 2


# ---- bad input ----------------------------------------------------------------------

DEEP: Any = "leaf"
for _ in range(40):
    DEEP = [DEEP]


@pytest.mark.parametrize(
    ("endpoint", "body", "message"),
    [
        ("track", b"data=%%%not-base64", "neither JSON nor valid base64"),
        ("track", b"data=" + base64.b64encode(b"{not json"), "not valid JSON"),
        ("track", b"data=" + base64.b64encode(b'{"event": "\xff"}'), "not valid JSON"),
        ("track", b"data=%5B%FF%5D", "not valid JSON"),
        ("track", b"\xff\xfe=1", "not valid UTF-8"),
        ("track", b"verbose=1", "no 'data' field"),
        ("track", b"", "no body"),
        ("track", b64_form("a string"), "must be a JSON object or array, not a string"),
        ("track", json_form([1]), "event 0 must be a JSON object, not a number"),
        ("track", json_form({"event": 5, "properties": {}}), "'event' must be a non-empty string"),
        (
            "track",
            json_form({"event": "e", "properties": []}),
            "'properties' must be a JSON object",
        ),
        ("track", json_form(browser_event(distinct_id=True)), "'distinct_id' must be a string"),
        ("track", json_form(browser_event(time="yesterday")), "'time' must be a number"),
        ("track", json_form(browser_event(deep=DEEP)), "deeper than 32 levels"),
        ("track", json_form(browser_event(long="x" * 40_000)), "longer than 32768"),
        (
            "track",
            json_form({"event": "e", "properties": {"token": TOKEN, "$insert_id": 1.5}}),
            "'$insert_id'",
        ),
        ("engage", json_form({"$token": TOKEN, "$distinct_id": "u"}), "has no operation"),
        ("engage", json_form({"$token": TOKEN, "$set": {}}), "'$distinct_id' is missing"),
        (
            "engage",
            json_form({"$token": TOKEN, "$distinct_id": "u", "$set": [1]}),
            "'$set' must be",
        ),
        ("engage", json_form({"$token": TOKEN, "$distinct_id": "u", "$unset": "a"}), "'$unset'"),
        ("groups", json_form({"$token": TOKEN, "$group_id": "g", "$set": {}}), "'$group_key'"),
        ("groups", json_form({"$token": TOKEN, "$group_key": "k", "$set": {}}), "'$group_id'"),
        ("flags", json_form([]), "unknown Mixpanel endpoint"),
        ("track", gzip.compress(b"data=x")[:-6], "truncated"),
    ],
)
def test_payload_errors(endpoint: str, body: bytes, message: str) -> None:
    with pytest.raises(PayloadError, match=message.replace("$", r"\$")):
        decode(endpoint, body)


def test_too_many_events() -> None:
    with pytest.raises(PayloadTooLarge, match="2000"):
        decode("track", json.dumps([browser_event()] * 2001).encode())


@pytest.mark.parametrize(
    "body",
    [b"data=" + b"A" * (10 * 1024 * 1024), gzip.compress(b"[" + b" " * (10 * 1024 * 1024) + b"]")],
    ids=["10MB", "gzip-bomb"],
)
def test_too_large(body: bytes) -> None:
    with pytest.raises(PayloadTooLarge):
        decode("track", body)


# ---- answers ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ok", "verbose", "error", "expected"),
    [
        (True, False, None, (b"1", "text/plain; charset=utf-8")),
        (False, False, "bad", (b"0", "text/plain; charset=utf-8")),
        (True, True, None, (b'{"status":1,"error":null}', "application/json")),
        (False, True, "bad token", (b'{"status":0,"error":"bad token"}', "application/json")),
    ],
)
def test_answer(ok: bool, verbose: bool, error: str | None, expected: tuple[bytes, str]) -> None:
    assert mp.answer(ok, verbose, error) == expected


@pytest.mark.parametrize(
    ("query", "body", "verbose"),
    [
        ({"verbose": "1"}, b"", True),
        ({}, b"data=abc&verbose=1&ip=0", True),
        ({}, b"verbose=1&data=abc", True),
        ({}, b"data=abc&verbose=10", False),
        ({}, b'[{"verbose=1": 1}]', False),
        ({}, b"\xff\x00", False),
        ({"verbose": "0"}, b"", False),
    ],
)
def test_parse_verbose(query: dict[str, str], body: bytes, verbose: bool) -> None:
    assert mp.parse_verbose(query, body) is verbose
