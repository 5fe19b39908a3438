"""Disclosure -> the vendor's own wire format.

``encode`` is pure: it turns what a policy allowed one vendor to see into the
message(s) that vendor's API expects. It never adds data the disclosure does not
hold, except three things that are not personal: the vendor's own credentials
(the Mixpanel project token), the dedupe key (``$insert_id`` / ``messageId``)
and the event time (so a backlog delivered late keeps its real time).

Mixpanel is told not to geolocate: profile updates carry ``"$ip": "0"`` unless
the disclosure holds an ``ip`` field, and the client adds ``ip=0`` to every
``/track``, ``/engage`` and ``/groups`` request (an ``ip`` property, present only
when a rule keeps it, is what Mixpanel then uses).
"""

from __future__ import annotations

import math
import time as _time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from seawall.core.config import Vendor
from seawall.core.types import Disclosure, Event
from seawall.outbox.base import WireMessage

__all__ = ["encode"]

Fields = Mapping[str, Any]

# Keys of a Mixpanel engage message that live beside the operation, not inside it.
ENGAGE_TOP_LEVEL = frozenset(
    {
        "$device_id",
        "$user_id",
        "$time",
        "$ignore_time",
        "$ignore_alias",
        "$had_persisted_distinct_id",
    }
)
SEGMENT_TYPES = {
    "track": "track",
    "profile": "identify",
    "identify": "identify",
    "group": "group",
    "page": "page",
    "screen": "screen",
    "alias": "alias",
}
# Segment context paths with a Mixpanel counterpart of the same meaning.
SEGMENT_TO_MIXPANEL = {
    "context.ip": "ip",
    "context.page.url": "$current_url",
    "context.page.referrer": "$referrer",
    "context.os.name": "$os",
    "context.device.model": "$model",
    "context.screen.width": "$screen_width",
    "context.screen.height": "$screen_height",
    "context.library.name": "mp_lib",
    "context.library.version": "$lib_version",
}
UNNAMED_EVENT = "(event name withheld by policy)"


def encode(vendor_name: str, vendor: Vendor, disclosure: Disclosure) -> list[WireMessage]:
    """The vendor-format message(s) for one disclosure; ``[]`` if there is nothing to send."""
    del vendor_name  # the wire format depends on the vendor's kind, not its name
    if vendor.kind == "mixpanel":
        return [_mixpanel(vendor, disclosure)]
    if vendor.kind == "segment":
        return [_segment(disclosure)]
    return [_webhook(disclosure)]


# -- shared -----------------------------------------------------------------


def _event_time(d: Disclosure) -> float:
    """Seconds since the epoch: the SDK's time, else ingest time, else now."""
    event = d.event
    if event.time is not None:
        return float(event.time)
    return _time.time()


def _iso(seconds: float) -> str:
    """ISO 8601 UTC with milliseconds; the whole-second part is reused (one event per
    vendor per event is stamped, and a batch's events share their seconds)."""
    frac, t = math.modf(seconds)  # as datetime.fromtimestamp rounds
    micros = round(frac * 1e6)
    if micros >= 1_000_000:
        t, micros = t + 1, micros - 1_000_000
    elif micros < 0:
        t, micros = t - 1, micros + 1_000_000
    whole = int(t)
    millis = micros // 1000
    prefix = _ISO_SECONDS.get(whole)
    if prefix is None:
        if len(_ISO_SECONDS) >= 4096:
            _ISO_SECONDS.clear()
        prefix = _ISO_SECONDS[whole] = datetime.fromtimestamp(whole, UTC).strftime(
            "%Y-%m-%dT%H:%M:%S"
        )
    return f"{prefix}.{millis:03d}Z"


_ISO_SECONDS: dict[int, str] = {}


def _message(endpoint: str, body: dict[str, Any], d: Disclosure) -> WireMessage:
    return _wire(WireMessage, (endpoint, body, d.insert_id()))


# A named tuple's own constructor is a Python-level lambda; this is the same object,
# built without that frame (one is made per vendor per event).
_NewWire = Callable[[type[WireMessage], tuple[str, dict[str, Any], str]], WireMessage]
_wire: _NewWire = tuple.__new__


def _split_segment_path(path: str) -> tuple[str, ...]:
    """``properties.a.b`` -> (properties, a.b): one level; ``context.a.b`` -> fully."""
    head, dot, rest = path.partition(".")
    if not dot:
        return (path,)
    if head == "context":
        return (head, *rest.split("."))
    return (head, rest)


def _unflatten(fields: Fields) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for path, value in fields.items():
        parts = _split_segment_path(path)
        node = out
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = {}
                node[part] = child
            node = child
        node[parts[-1]] = value
    return out


# -- Mixpanel -----------------------------------------------------------------


def _mixpanel(vendor: Vendor, d: Disclosure) -> WireMessage:
    event = d.event
    fields = d.fields if event.sdk == "mixpanel" else _segment_fields_as_mixpanel(d)
    if event.kind == "profile" or (event.sdk == "segment" and event.kind == "identify"):
        return _message("engage", _mixpanel_engage(vendor, event, fields), d)
    if event.kind == "group":
        return _message("groups", _mixpanel_groups(vendor, event, fields), d)
    endpoint = "import" if vendor.use_import else "track"
    return _message(endpoint, _mixpanel_track(vendor, d, fields), d)


def _mixpanel_track(vendor: Vendor, d: Disclosure, fields: Fields) -> dict[str, Any]:
    properties = dict(fields)
    properties.pop("event", None)
    properties["token"] = vendor.token
    properties["$insert_id"] = d.insert_id()
    properties.setdefault("time", _event_time(d))
    name = fields.get("event")
    return {"event": name if isinstance(name, str) else UNNAMED_EVENT, "properties": properties}


def _operation(event: Event, fields: Fields, skip: frozenset[str]) -> tuple[str, Any]:
    op = event.operation or "$set"
    values = {k: v for k, v in fields.items() if k not in skip}
    if op == "$unset":
        return op, sorted(values)
    if op == "$delete":
        return op, ""
    return op, values


def _mixpanel_engage(vendor: Vendor, event: Event, fields: Fields) -> dict[str, Any]:
    skip = ENGAGE_TOP_LEVEL | {"distinct_id", "ip", "$ip"}
    body: dict[str, Any] = {"$token": vendor.token}
    if "distinct_id" in fields:
        body["$distinct_id"] = fields["distinct_id"]
    for key in sorted(ENGAGE_TOP_LEVEL.intersection(fields)):
        body[key] = fields[key]
    ip = fields.get("ip", fields.get("$ip"))
    body["$ip"] = ip if ip is not None else "0"
    op, value = _operation(event, fields, skip)
    body[op] = value
    return body


def _mixpanel_groups(vendor: Vendor, event: Event, fields: Fields) -> dict[str, Any]:
    keys = frozenset({"$group_key", "$group_id"})
    body: dict[str, Any] = {"$token": vendor.token}
    for key in sorted(keys.intersection(fields)):
        body[key] = fields[key]
    op, value = _operation(event, fields, keys)
    body[op] = value
    return body


def _segment_fields_as_mixpanel(d: Disclosure) -> dict[str, Any]:
    """Segment paths renamed to Mixpanel's: bare property and trait keys, known
    context paths to their ``$`` names, anything else under its dotted path."""
    event = d.event
    out: dict[str, Any] = {}
    for path, value in d.fields.items():
        head, dot, rest = path.partition(".")
        if dot and head in {"properties", "traits"}:
            out[rest] = value
        elif path in SEGMENT_TO_MIXPANEL:
            out[SEGMENT_TO_MIXPANEL[path]] = value
        elif path not in {"userId", "anonymousId", "event", "groupId", "previousId"}:
            out[path] = value
    user = d.fields.get("userId", d.fields.get("anonymousId"))
    if user is not None:
        out["distinct_id"] = user
    if "anonymousId" in d.fields:
        out["$device_id"] = d.fields["anonymousId"]
    if event.kind == "group" and "groupId" in d.fields:
        out["$group_key"] = "groupId"
        out["$group_id"] = d.fields["groupId"]
    if event.kind == "alias" and "previousId" in d.fields and user is not None:
        out["distinct_id"] = d.fields["previousId"]
        out["alias"] = user
    if "event" in d.fields:
        out["event"] = d.fields["event"]
    elif event.kind in {"page", "screen", "alias"}:
        out["event"] = {
            "page": "Loaded a Page",
            "screen": "Loaded a Screen",
            "alias": "$create_alias",
        }[event.kind]
    return out


# -- Segment ------------------------------------------------------------------


def _segment(d: Disclosure) -> WireMessage:
    event = d.event
    kind = SEGMENT_TYPES.get(event.kind, "track")
    segment_source = event.sdk == "segment"
    body = _unflatten(d.fields) if segment_source else _mixpanel_fields_as_segment(d, kind)
    body["type"] = kind
    body["messageId"] = d.insert_id()
    body.setdefault("timestamp", _iso(_event_time(d)))
    return _message("batch", body, d)


def _mixpanel_fields_as_segment(d: Disclosure, kind: str) -> dict[str, Any]:
    """Bare Mixpanel keys go under ``properties`` (events) or ``traits`` (profiles,
    groups); ``distinct_id`` (already pseudonymised by the policy) becomes ``userId``."""
    bag = "properties" if kind == "track" else "traits"
    body: dict[str, Any] = {}
    values: dict[str, Any] = dict(d.fields)
    if "distinct_id" in values:
        body["userId"] = values.pop("distinct_id")
    if kind == "track" and "event" in values:
        body["event"] = values.pop("event")
    if kind == "group" and "$group_id" in values:
        body["groupId"] = values.pop("$group_id")
    values.pop("$insert_id", None)  # it is the messageId
    if kind == "track" and "event" not in body:
        body["event"] = UNNAMED_EVENT
    body[bag] = values
    return body


# -- webhook ------------------------------------------------------------------


def _webhook(d: Disclosure) -> WireMessage:
    event = d.event
    body: dict[str, Any] = {
        "type": event.kind,
        "event": d.fields.get("event"),
        "insert_id": d.insert_id(),
        "time": _event_time(d),
        "fields": dict(d.fields),
    }
    return _message("events", body, d)
