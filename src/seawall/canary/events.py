"""A canary's events, exactly as an SDK would send them.

The bodies are built in the SDK's own wire shape (a Mixpanel engage ``$set`` and
``/track`` events; a Segment ``identify`` and ``track`` batch) and decoded by the same
ingest decoders the gateway uses, so a canary reaches each policy, the ledger and the
vendor as a real user would. Pure: no I/O.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from seawall.core.types import Context, Event, SdkKind
from seawall.ingest import mixpanel, segment

SOURCE = "canary"  # the source name canary events carry; the planter routes it
_KEY = "seawall-canary"  # stands in for a project token / write key inside the decoder
USER_AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
)
TRACKED = ("Signed In", "Viewed Dashboard", "Opened Report", "Invited Teammate")

# Where each SDK's profile keeps an address and a link, in order of preference. The
# website comes first: vendors' consoles render avatars whenever staff open a profile,
# which would fire the beacon without any leak.
EMAIL_FIELDS: dict[SdkKind, str] = {"mixpanel": "$email", "segment": "traits.email"}
BEACON_FIELDS: dict[SdkKind, tuple[str, ...]] = {
    "mixpanel": ("$website", "$avatar"),
    "segment": ("traits.website", "traits.avatar"),
}


@dataclass(frozen=True, slots=True)
class Persona:
    """What the events say about a canary."""

    first_name: str
    last_name: str
    email: str
    user_id: str
    org_id: str
    device_id: str
    created_at: float
    beacon: str  # the beacon URL
    beacon_field: str | None  # the profile field that carries it (None: no link)


def persona_events(p: Persona, sdk: SdkKind, now: float | None = None) -> list[Event]:
    """The profile update and a few track events of one planting."""
    now = time.time() if now is None else now
    if sdk == "mixpanel":
        return _mixpanel(p, now)
    return _segment(p, now)


# First and last name are not sent apart: a policy that drops them would remember
# "Amara" and then drop the address amara.okafor1234@... that contains it.


def profile_event(p: Persona, sdk: SdkKind) -> Event:
    """Only the profile update (what decides the channels)."""
    events = persona_events(p, sdk, now=p.created_at)
    return next(e for e in events if e.kind in ("profile", "identify"))


def _client() -> Context:
    return Context(ip=None, user_agent=USER_AGENT, locale="en-US")


def _mixpanel(p: Persona, now: float) -> list[Event]:
    profile: dict[str, Any] = {
        "$email": p.email,
        "$name": f"{p.first_name} {p.last_name}",
        "$created": _iso(p.created_at),
        "org_id": p.org_id,
    }
    if p.beacon_field:
        profile[p.beacon_field] = p.beacon
    engage = [{"$token": _KEY, "$distinct_id": p.user_id, "$time": now, "$set": profile}]
    common = {
        "token": _KEY,
        "distinct_id": p.user_id,
        "$device_id": p.device_id,
        "$user_id": p.user_id,
        "$browser": "Chrome",
        "$browser_version": 124,
        "$os": "Windows",
        "$screen_height": 1080,
        "$screen_width": 1920,
        "mp_lib": "web",
        "$lib_version": "2.55.0",
        "org_id": p.org_id,
    }
    tracks: list[dict[str, Any]] = [
        {
            "event": name,
            "properties": {**common, "time": now + i, "$insert_id": uuid.uuid4().hex},
        }
        for i, name in enumerate(("$identify", *TRACKED))
    ]
    tracks[0]["properties"]["$anon_distinct_id"] = "$device:" + p.device_id
    decode = _mixpanel_decode
    return decode("engage", engage) + decode("track", tracks)


def _mixpanel_decode(endpoint: str, body: Sequence[dict[str, Any]]) -> list[Event]:
    return mixpanel.decode(
        endpoint,
        orjson.dumps(body),
        content_type="application/json",
        query={"ip": "0"},
        authorization=None,
        client=_client(),
        sources={_KEY: SOURCE},
        import_secrets={},
    )


def _segment(p: Persona, now: float) -> list[Event]:
    traits: dict[str, Any] = {
        "email": p.email,
        "name": f"{p.first_name} {p.last_name}",
        "createdAt": _iso(p.created_at),
        "company": {"id": p.org_id},
    }
    if p.beacon_field:
        traits[p.beacon_field.removeprefix("traits.")] = p.beacon
    context = {
        "library": {"name": "analytics.js", "version": "next-1.70.0"},
        "userAgent": USER_AGENT,
        "locale": "en-US",
        "groupId": p.org_id,
    }
    identify = {
        "type": "identify",
        "userId": p.user_id,
        "anonymousId": p.device_id,
        "traits": traits,
        "messageId": uuid.uuid4().hex,
        "timestamp": _iso(now),
        "context": context,
    }
    tracks = [
        {
            "type": "track",
            "event": name,
            "userId": p.user_id,
            "anonymousId": p.device_id,
            "properties": {"org_id": p.org_id},
            "messageId": uuid.uuid4().hex,
            "timestamp": _iso(now + i + 1),
            "context": context,
        }
        for i, name in enumerate(TRACKED)
    ]
    body = {"batch": [identify, *tracks], "writeKey": _KEY, "sentAt": _iso(now)}
    return segment.decode(
        "batch",
        orjson.dumps(body),
        content_type="text/plain",
        authorization=None,
        client=_client(),
        sources={_KEY: SOURCE},
    )


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="milliseconds")
