"""Mixpanel ingest: the /track, /engage, /groups and /import requests of mixpanel-browser
and mixpanel-python, decoded into canonical ``Event``s.

Pure functions: the gateway passes the request's parts in and gets events (or
``PayloadError`` / ``PayloadTooLarge`` / ``AuthError``) out. ``docs/wire.md`` lists every
body form accepted here, with examples.

Body forms, in the order they are recognised:

* GET with ``?data=`` in the query (old browsers, image beacons);
* a body that opens with ``[`` or ``{``: raw JSON (``application/json``, /import);
* NDJSON for /import (``application/x-ndjson``);
* otherwise a form body ``data=<JSON or base64 JSON>`` (mixpanel-browser's XHR with
  ``application/x-www-form-urlencoded``, its ``sendBeacon`` with ``text/plain``, and
  mixpanel-python's Consumer, which also puts ``verbose=1&ip=0`` in the body).

``ip=0`` (mixpanel-python, or mixpanel-browser with ``ip: false``) says the request's
address is not the user's: such events carry no ``context.ip`` unless the payload
names one (``ip`` / ``$ip``).
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

import orjson

from seawall.core.errors import AuthError, PayloadError
from seawall.core.types import Context, Event, JSONValue
from seawall.ingest.body import (
    as_id,
    as_list,
    as_object,
    basic_username,
    check_size,
    content_id,
    epoch_seconds,
    gunzip,
    id_of,
    looks_like_json,
    parse_form,
    parse_json,
    parse_json_or_base64,
    type_name,
    unquote_form,
)

Endpoint = Literal["track", "engage", "groups", "import"]

#: Profile and group operations, in the order one body's operations are emitted.
OPERATIONS = ("$set", "$set_once", "$add", "$append", "$union", "$remove", "$unset", "$delete")

#: Event property keys whose value names the organisation the user acts for.
ORG_PROPERTIES = (
    "org_id",
    "organization_id",
    "organisation_id",
    "company_id",
    "account_id",
    "workspace_id",
)

#: Group keys (``$group_key``, and ``$groups`` keys) that denote an organisation.
ORG_GROUP_KEYS = frozenset(
    {
        "org_id",
        "organization_id",
        "organisation_id",
        "company_id",
        "account_id",
        "workspace_id",
        "org",
        "organization",
        "organisation",
        "company",
        "account",
        "workspace",
    }
)

_PROFILE_META = frozenset({"$token", "$time", "$ip", "$distinct_id", *OPERATIONS})
_GROUP_META = frozenset({"$token", "$time", "$ip", *OPERATIONS})
_VERBOSE_IN_FORM = re.compile(rb"(?:^|&)verbose=1(?:&|$)")


def decode(
    endpoint: str,
    body: bytes,
    *,
    content_type: str | None,
    query: Mapping[str, str],
    authorization: str | None,
    client: Context,
    sources: Mapping[str, str],
    import_secrets: Mapping[str, str],
) -> list[Event]:
    """Decode one Mixpanel request into events, or refuse all of it.

    ``sources`` maps project token -> source name; every message's token must be known
    (``AuthError`` otherwise: nothing of the request is stored). ``/import`` instead
    needs HTTP Basic auth whose username is a key of ``import_secrets``; its messages
    may omit the token, and one they carry must belong to the same source.
    """
    if endpoint not in ("track", "engage", "groups", "import"):
        raise PayloadError(f"unknown Mixpanel endpoint {endpoint!r}")
    import_source = _import_source(authorization, import_secrets) if endpoint == "import" else None
    payload, geolocate = _payload(endpoint, body, content_type, query)
    messages = as_list(payload, f"/{endpoint} data")
    ip = client.ip if geolocate else None
    request = _Request(sources, import_source, client, ip)
    if endpoint in {"track", "import"}:
        return [_track(msg, f"event {i}", request) for i, msg in enumerate(messages)]
    events: list[Event] = []
    for i, msg in enumerate(messages):
        events.extend(_profile(endpoint, msg, f"{endpoint} message {i}", request))
    return events


def answer(ok: bool, verbose: bool, error: str | None) -> tuple[bytes, str]:
    """The body and content type Mixpanel SDKs expect: ``1``/``0``, or with
    ``verbose=1`` ``{"status": 1, "error": null}`` (mixpanel-python reads the JSON)."""
    if verbose:
        message = None if ok else (error or "request refused")
        return orjson.dumps({"status": 1 if ok else 0, "error": message}), "application/json"
    return (b"1" if ok else b"0"), "text/plain; charset=utf-8"


def parse_verbose(query: Mapping[str, str], body: bytes = b"") -> bool:
    """Whether the SDK asked for the verbose JSON answer.

    mixpanel-browser puts ``verbose=1`` in the query; mixpanel-python puts it in the
    form body. Never raises, so the gateway can use it to phrase an error answer too.
    """
    if query.get("verbose") == "1":
        return True
    return (
        b"verbose=1" in body  # a fast scan first: bodies are tens of kilobytes of base64
        and not looks_like_json(body)
        and _VERBOSE_IN_FORM.search(body) is not None
    )


def _import_source(authorization: str | None, secrets: Mapping[str, str]) -> str:
    """Match the Basic username (mixpanel-python sends ``api_secret:``) in constant time
    against every configured secret, so timing reveals neither which nor how much."""
    username = (basic_username(authorization) or "").encode()
    found: str | None = None
    for secret, source in secrets.items():
        if hmac.compare_digest(username, secret.encode()):
            found = source
    if not username or found is None:
        raise AuthError("/import needs HTTP Basic auth with a known API secret as username")
    return found


def _payload(
    endpoint: str, body: bytes, content_type: str | None, query: Mapping[str, str]
) -> tuple[JSONValue, bool]:
    """The request's JSON payload, and whether the SDK allows geolocation by address."""
    check_size(body)
    body = gunzip(body)
    what = f"/{endpoint} data"
    geolocate = query.get("ip", "1") != "0"
    if not body.strip():
        data = query.get("data")
        if data is None:
            raise PayloadError(f"/{endpoint} request has no body and no 'data' query parameter")
        check_size(data)
        try:
            raw = data.encode("utf-8")
        except UnicodeEncodeError:
            raise PayloadError(f"/{endpoint} 'data' query parameter is not UTF-8") from None
        return parse_json_or_base64(raw, what), geolocate
    ctype = (content_type or "").split(";", 1)[0].strip().lower()
    if ctype == "application/x-ndjson" and endpoint == "import":
        return _ndjson(body, what), geolocate
    if looks_like_json(body):
        return parse_json(body, what), geolocate
    form = parse_form(body)
    if "ip" in form:
        geolocate = form["ip"] != b"0"
    data_field = form.get("data")
    if data_field is None:
        raise PayloadError(f"/{endpoint} form body has no 'data' field")
    return parse_json_or_base64(unquote_form(data_field), what), geolocate


def _ndjson(body: bytes, what: str) -> list[JSONValue]:
    return [parse_json(line, what) for line in body.splitlines() if line.strip()]


@dataclass(slots=True, frozen=True)
class _Request:
    """What every message of one request is decoded against."""

    sources: Mapping[str, str]
    import_source: str | None
    client: Context
    ip: str | None  # the client's address, or None when the SDK sent ip=0

    def source(self, token: JSONValue) -> str:
        if token is None and self.import_source is not None:
            return self.import_source
        if type(token) is not str:
            raise AuthError("Mixpanel message has no project token")
        source = self.sources.get(token)
        if source is None or self.import_source not in (None, source):
            raise AuthError("unknown Mixpanel project token")
        return source


def _track(msg: Any, where: str, request: _Request) -> Event:
    if type(msg) is not dict:
        raise PayloadError(f"{where} must be a JSON object, not {type_name(msg)}")
    name = msg.get("event")
    if type(name) is not str or not name:
        raise PayloadError(f"{where}: 'event' must be a non-empty string")
    props = as_object(msg.get("properties"), f"{where}: 'properties'")
    source = request.source(props.get("token"))
    distinct_id = id_of(props, "distinct_id", where)
    device_id = id_of(props, "$device_id", where)
    user_id = id_of(props, "$user_id", where)
    insert_id = id_of(props, "$insert_id", where) or content_id(msg)
    when = epoch_seconds(props, "time", where)
    aliases: list[str] = []
    if name == "$identify":
        user_id = user_id or id_of(props, "$identified_id", where)
        user_id = user_id or distinct_id
        _add(aliases, id_of(props, "$anon_distinct_id", where))
    elif name == "$create_alias":
        _add(aliases, id_of(props, "alias", where))
    elif name == "$merge":
        for other in _id_list(props.get("$distinct_ids"), f"{where}: '$distinct_ids'"):
            _add(aliases, other)
    if user_id is not None:
        _add(aliases, device_id)
    subject = user_id or distinct_id or device_id
    props.pop("token", None)
    props["event"] = name
    return Event(
        sdk="mixpanel",
        kind="track",
        source=source,
        name=name,
        distinct_id=distinct_id,
        insert_id=insert_id,
        fields=props,
        time=when,
        user_id=user_id,
        device_id=device_id,
        org_ids=_org_ids(props, where),
        aliases=tuple(a for a in aliases if a != subject),
        context=_context(props, request, "ip"),
    )


def _profile(endpoint: str, msg: Any, where: str, request: _Request) -> list[Event]:
    """One engage or groups body -> one event per operation it carries."""
    if type(msg) is not dict:
        raise PayloadError(f"{where} must be a JSON object, not {type_name(msg)}")
    source = request.source(msg.get("$token"))
    ops = [op for op in OPERATIONS if op in msg]
    if not ops:
        raise PayloadError(f"{where} has no operation (one of {', '.join(OPERATIONS)})")
    when = epoch_seconds(msg, "$time", where)
    context = _context(msg, request, "$ip")
    if endpoint == "groups":
        return _group_events(msg, where, ops, _Profile(source, when, context))
    distinct_id = id_of(msg, "$distinct_id", where)
    if distinct_id is None:
        raise PayloadError(f"{where}: '$distinct_id' is missing")
    device_id = id_of(msg, "$device_id", where)
    user_id = id_of(msg, "$user_id", where)
    base = {k: v for k, v in msg.items() if k not in _PROFILE_META}
    base["distinct_id"] = distinct_id
    subject = user_id or distinct_id or device_id
    aliases = (device_id,) if user_id and device_id and device_id != subject else ()
    return [
        Event(
            sdk="mixpanel",
            kind="profile",
            source=source,
            name=None,
            distinct_id=distinct_id,
            insert_id=content_id(op, msg),
            fields={**base, **_op_fields(msg[op], op, where)},
            time=when,
            user_id=user_id,
            device_id=device_id,
            operation=op,
            aliases=aliases,
            context=replace(context),  # each event owns its context
        )
        for op in ops
    ]


@dataclass(slots=True, frozen=True)
class _Profile:
    source: str
    time: float | None
    context: Context


def _group_events(msg: dict[str, Any], where: str, ops: list[str], common: _Profile) -> list[Event]:
    group_key = msg.get("$group_key")
    if type(group_key) is not str or not group_key:
        raise PayloadError(f"{where}: '$group_key' must be a non-empty string")
    group_id = id_of(msg, "$group_id", where)
    if group_id is None:
        raise PayloadError(f"{where}: '$group_id' is missing")
    base = {k: v for k, v in msg.items() if k not in _GROUP_META}
    org_ids = (group_id,) if group_key.lower() in ORG_GROUP_KEYS else ()
    return [
        Event(
            sdk="mixpanel",
            kind="group",
            source=common.source,
            name=None,
            distinct_id=None,
            insert_id=content_id(op, msg),
            fields={**base, **_op_fields(msg[op], op, where)},
            time=common.time,
            org_ids=org_ids,
            operation=op,
            context=replace(common.context),
        )
        for op in ops
    ]


def _op_fields(value: JSONValue, op: str, where: str) -> dict[str, Any]:
    """An operation's keys as fields: ``$unset`` names keys (their value is ``None``),
    ``$delete`` names none; every other operation carries an object."""
    if op == "$delete":
        return {}
    if op == "$unset":
        if type(value) is not list or any(type(k) is not str for k in value):
            raise PayloadError(f"{where}: '$unset' must be an array of property names")
        return dict.fromkeys(value)
    return as_object(value, f"{where}: '{op}'")


def _org_ids(props: dict[str, Any], where: str) -> tuple[str, ...]:
    found: list[str] = []
    for key in ORG_PROPERTIES:
        if key in props:
            for org in _id_list(props[key], f"{where}: '{key}'"):
                _add(found, org)
    groups = props.get("$groups")
    if type(groups) is dict:
        for value in groups.values():
            for org in _id_list(value, f"{where}: '$groups'"):
                _add(found, org)
    return tuple(found)


def _id_list(value: JSONValue, what: str) -> list[str]:
    """An id or an array of ids (``set_group`` registers arrays); others are not ids."""
    values = value if type(value) is list else [value]
    ids: list[str] = []
    for item in values:
        if type(item) is str or type(item) is int:
            _add(ids, as_id(item, what))
    return ids


def _add(ids: list[str], value: str | None) -> None:
    if value is not None and value not in ids:
        ids.append(value)


def _context(msg: dict[str, Any], request: _Request, ip_key: str) -> Context:
    client = request.client
    return Context(
        ip=_str(msg.get(ip_key)) or request.ip,
        user_agent=client.user_agent,
        url=_str(msg.get("$current_url")),
        referrer=_str(msg.get("$referrer")),
        locale=_str(msg.get("$locale")) or client.locale,
    )


def _str(value: JSONValue) -> str | None:
    return value if type(value) is str and value else None
