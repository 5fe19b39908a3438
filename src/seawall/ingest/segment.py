"""Segment ingest: analytics.js (analytics-next) and analytics-python requests decoded
into canonical ``Event``s.

analytics.js posts one message per request to ``/v1/{t,i,p,s,g,a}`` (or, with the
batching delivery strategy, ``{"batch": [...], "writeKey", "sentAt"}`` to ``/v1/b``)
as JSON with ``Content-Type: text/plain`` and ``writeKey`` in the body and in Basic
auth. analytics-python posts ``{"batch": [...], "sentAt", "writeKey"}`` to
``/v1/batch`` with Basic auth, optionally gzipped. The content type is not trusted:
every body is parsed as (possibly gzipped) JSON.

Fields follow ``core.types``: dotted paths from the message root, ``properties.<key>``
and ``traits.<key>`` one level deep, ``context.<a>.<b>`` fully flattened; ``type`` is
``Event.kind`` and ``writeKey`` is authentication, so neither is a field.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from seawall.core.errors import AuthError, PayloadError
from seawall.core.types import Context, Event, EventKind, JSONValue
from seawall.ingest.body import (
    as_id,
    as_list,
    as_object,
    basic_username,
    check_size,
    content_id,
    gunzip,
    id_of,
    iso_seconds,
    parse_json,
    type_name,
)

KINDS: Mapping[str, EventKind] = {
    "track": "track",
    "identify": "identify",
    "page": "page",
    "screen": "screen",
    "group": "group",
    "alias": "alias",
}
_ONE_LEVEL = frozenset({"properties", "traits"})
_NOT_FIELDS = frozenset({"type", "writeKey"})


# analytics.js posts to one-letter paths; the HTTP API and analytics-python to full names.
ENDPOINTS = ("track", "identify", "page", "screen", "group", "alias", "batch")
SHORT_ENDPOINTS = {name[0]: name for name in ENDPOINTS if name != "screen"} | {"s": "screen"}


def decode(
    endpoint: str,
    body: bytes,
    *,
    content_type: str | None,
    authorization: str | None,
    client: Context,
    sources: Mapping[str, str],
) -> list[Event]:
    """Decode one Segment request into events, or refuse all of it.

    The write key is the Basic auth username, else the body's ``writeKey``; a message
    carrying its own ``writeKey`` is checked against that one. Every key must be in
    ``sources`` (write key -> source name), else ``AuthError`` and nothing is stored.
    """
    if endpoint != "batch" and endpoint not in KINDS:
        raise PayloadError(f"unknown Segment endpoint {endpoint!r}")
    check_size(body)
    what = f"/v1/{endpoint} body"
    root = as_object(parse_json(gunzip(body), what), what)
    key = basic_username(authorization) or _str(root.get("writeKey"))
    if endpoint == "batch":
        if type(root.get("batch")) is not list:
            raise PayloadError(f"{what}: 'batch' must be an array of messages")
        messages = as_list(root["batch"], f"{what}: 'batch'")
        shared = as_object(root.get("context"), f"{what}: 'context'")
        request = _Request(key, sources, client, shared)
        return [_event(msg, None, f"message {i}", request) for i, msg in enumerate(messages)]
    return [_event(root, endpoint, "message", _Request(key, sources, client, {}))]


@dataclass(slots=True, frozen=True)
class _Request:
    """What every message of one request is decoded against."""

    key: str | None  # Basic auth username, else the body's writeKey
    sources: Mapping[str, str]
    client: Context
    shared_context: dict[str, Any]  # a batch's top-level context, under each message's


def _event(msg: Any, endpoint: str | None, where: str, request: _Request) -> Event:
    if type(msg) is not dict:
        raise PayloadError(f"{where} must be a JSON object, not {type_name(msg)}")
    kind_name = endpoint or msg.get("type")
    kind = KINDS.get(kind_name) if type(kind_name) is str else None
    if kind is None:
        raise PayloadError(f"{where}: 'type' must be one of {', '.join(KINDS)}")
    key = _str(msg.get("writeKey")) or request.key
    source = request.sources.get(key) if key else None
    if source is None:
        raise AuthError("unknown or missing Segment write key")
    context = as_object(msg.get("context"), f"{where}: 'context'")
    if request.shared_context:
        context = {**request.shared_context, **context}
        msg["context"] = context
    for part in _ONE_LEVEL:
        as_object(msg.get(part), f"{where}: '{part}'")
    user_id = id_of(msg, "userId", where)
    anonymous_id = id_of(msg, "anonymousId", where)
    name = _name(msg, kind, where)
    if kind != "alias" and user_id is None and anonymous_id is None:
        raise PayloadError(f"{where}: needs 'userId' or 'anonymousId'")
    aliases = _aliases(msg, kind, where, user_id, anonymous_id)
    org_ids = _org_ids(msg, context, kind, where)
    message_id = id_of(msg, "messageId", where) or content_id(msg)
    when = iso_seconds(msg.get("timestamp") or msg.get("originalTimestamp"), f"{where}: time")
    return Event(
        sdk="segment",
        kind=kind,
        source=source,
        name=name,
        distinct_id=user_id or anonymous_id,
        insert_id=message_id,
        fields=_fields(msg),
        time=when,
        user_id=user_id,
        device_id=anonymous_id,
        org_ids=org_ids,
        aliases=aliases,
        context=_context(context, msg, kind, request.client),
    )


def _name(msg: dict[str, Any], kind: EventKind, where: str) -> str | None:
    if kind == "track":
        event = msg.get("event")
        if type(event) is not str or not event:
            raise PayloadError(f"{where}: 'event' must be a non-empty string")
        return event
    if kind in ("page", "screen"):
        name = msg.get("name")
        if name is not None and type(name) is not str:
            raise PayloadError(f"{where}: 'name' must be a string, not {type_name(name)}")
        return name or None
    return None


def _aliases(
    msg: dict[str, Any],
    kind: EventKind,
    where: str,
    user_id: str | None,
    anonymous_id: str | None,
) -> tuple[str, ...]:
    """Ids this message says are the same person as its user: an alias's
    ``previousId``; the ``anonymousId`` whenever a ``userId`` comes with it."""
    found: list[str] = []
    if kind == "alias":
        previous = id_of(msg, "previousId", where)
        if previous is None or user_id is None:
            raise PayloadError(f"{where}: alias needs 'previousId' and 'userId'")
        found.append(previous)
    if user_id is not None and anonymous_id is not None and anonymous_id not in found:
        found.append(anonymous_id)
    return tuple(a for a in found if a != user_id)


def _org_ids(
    msg: dict[str, Any], context: dict[str, Any], kind: EventKind, where: str
) -> tuple[str, ...]:
    found: list[str] = []
    if kind == "group":
        group_id = id_of(msg, "groupId", where)
        if group_id is None:
            raise PayloadError(f"{where}: group needs 'groupId'")
        found.append(group_id)
    context_group = context.get("groupId")
    if type(context_group) is str or type(context_group) is int:
        org = as_id(context_group, f"{where}: 'context.groupId'")
        if org is not None and org not in found:
            found.append(org)
    return tuple(found)


def _fields(msg: dict[str, Any]) -> dict[str, JSONValue]:
    fields: dict[str, JSONValue] = {}
    for key, value in msg.items():
        if key in _NOT_FIELDS:
            continue
        if type(value) is dict and key in _ONE_LEVEL:
            for inner, item in value.items():
                fields[f"{key}.{inner}"] = item
        elif type(value) is dict and key == "context" and value:
            _flatten("context", value, fields)
        else:
            fields[key] = value
    return fields


def _flatten(prefix: str, value: dict[str, Any], out: dict[str, JSONValue]) -> None:
    for key, item in value.items():
        path = f"{prefix}.{key}"
        if type(item) is dict and item:
            _flatten(path, item, out)
        else:
            out[path] = item


def _context(
    context: dict[str, Any], msg: dict[str, Any], kind: EventKind, client: Context
) -> Context:
    page = context.get("page")
    page = page if type(page) is dict else {}
    url = _str(page.get("url"))
    properties = msg.get("properties")
    if url is None and kind == "page" and type(properties) is dict:
        url = _str(properties.get("url"))
    return Context(
        ip=_str(context.get("ip")) or client.ip,
        user_agent=_str(context.get("userAgent")) or client.user_agent,
        url=url,
        referrer=_str(page.get("referrer")),
        locale=_str(context.get("locale")) or client.locale,
    )


def _str(value: JSONValue) -> str | None:
    return value if type(value) is str and value else None
