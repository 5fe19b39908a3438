"""A canary's events, exactly as an SDK would send them.

The bodies are built in the SDK's own wire shape (a Mixpanel engage ``$set`` and
``/track`` events; a Segment ``identify`` and ``track`` batch) and decoded by the same
ingest decoders the gateway uses, so a canary reaches each policy, the ledger and the
vendor as a real user would. Pure: no I/O.
"""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import orjson

from seawall.core.types import Context, Event, SdkKind
from seawall.ingest import mixpanel, segment

SOURCE = "canary"  # the source name canary events carry; the planter routes it
_KEY = "seawall-canary"  # stands in for a project token / write key inside the decoder
# Whoever holds a vendor's data must not be able to filter canaries out with one query
# (the same events, device and timing for every canary of every install). Each canary
# keeps one device, drawn from common ones by its device id; each planting draws its
# events, their order and their spacing afresh.
_WIN = "Windows NT 10.0; Win64; x64"
_MAC = "Macintosh; Intel Mac OS X 10_15_7"
_CHROME = "AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0.0.0 Safari/537.36"
_SAFARI = "AppleWebKit/605.1.15 (KHTML, like Gecko) Version/{v}.6 Safari/605.1.15"
_FIREFOX = "Gecko/20100101 Firefox/{v}.0"


def _ua(platform: str, tail: str, version: int) -> str:
    return f"Mozilla/5.0 ({platform}) {tail.format(v=version)}"


# browser, version, os, screen width, screen height, user agent
DEVICES: tuple[tuple[str, int, str, int, int, str], ...] = (
    ("Chrome", 131, "Windows", 1920, 1080, _ua(_WIN, _CHROME, 131)),
    ("Chrome", 130, "Windows", 1536, 864, _ua(_WIN, _CHROME, 130)),
    ("Chrome", 131, "Mac OS X", 1728, 1117, _ua(_MAC, _CHROME, 131)),
    ("Safari", 17, "Mac OS X", 1440, 900, _ua(_MAC, _SAFARI, 17)),
    ("Firefox", 133, "Windows", 1920, 1080, _ua(_WIN + "; rv:133.0", _FIREFOX, 133)),
    ("Microsoft Edge", 131, "Windows", 2560, 1440, _ua(_WIN, _CHROME + " Edg/131.0.0.0", 131)),
    ("Firefox", 132, "Linux", 1920, 1200, _ua("X11; Linux x86_64; rv:132.0", _FIREFOX, 132)),
)
USER_AGENT = DEVICES[0][5]
MIXPANEL_VERSIONS = ("2.55.1", "2.56.0", "2.58.0", "2.59.0", "2.60.0")
SEGMENT_VERSIONS = ("next-1.66.0", "next-1.70.0", "next-1.72.1", "next-1.74.0")
EVENTS = (
    "Signed In", "Viewed Dashboard", "Opened Report", "Invited Teammate", "Viewed Settings",
    "Searched", "Viewed Billing", "Created Project", "Exported Data", "Viewed Docs",
)  # fmt: skip

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


def _client(device: tuple[str, int, str, int, int, str] = DEVICES[0]) -> Context:
    return Context(ip=None, user_agent=device[5], locale="en-US")


def _device(p: Persona) -> tuple[str, int, str, int, int, str]:
    """The canary's own device: the same one every planting, as a person's would be."""
    return _drawn(p.device_id, DEVICES)


def _session(now: float) -> list[tuple[str, float]]:
    """Some of the product's usual events, in some order, seconds to minutes apart,
    the last one now (never in the future)."""
    rng = secrets.SystemRandom()
    names = rng.sample(EVENTS, rng.randint(2, 6))
    gaps = [rng.uniform(4.0, 180.0) for _ in names]
    at = now - sum(gaps)
    out = []
    for name, gap in zip(names, gaps, strict=True):
        at += gap
        out.append((name, round(at, 3)))
    return out


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
    device = _device(p)
    browser, version, os_name, width, height, _ = device
    common = {
        "token": _KEY,
        "distinct_id": p.user_id,
        "$device_id": p.device_id,
        "$user_id": p.user_id,
        "$browser": browser,
        "$browser_version": version,
        "$os": os_name,
        "$screen_height": height,
        "$screen_width": width,
        "mp_lib": "web",
        "$lib_version": _drawn(p.user_id, MIXPANEL_VERSIONS),
        "org_id": p.org_id,
    }
    tracks: list[dict[str, Any]] = [
        {
            "event": name,
            "properties": {**common, "time": at, "$insert_id": uuid.uuid4().hex},
        }
        for name, at in _with_identify(_session(now))
    ]
    tracks[0]["properties"]["$anon_distinct_id"] = "$device:" + p.device_id
    return _mixpanel_decode("engage", engage, device) + _mixpanel_decode("track", tracks, device)


def _with_identify(session: list[tuple[str, float]]) -> list[tuple[str, float]]:
    """mixpanel-browser sends $identify as the session starts, just before the rest."""
    return [("$identify", session[0][1] - 1.0), *session]


T = TypeVar("T")


def _drawn(key: str, choices: tuple[T, ...]) -> T:
    """One of ``choices``, always the same for ``key``."""
    digest = hashlib.blake2b(key.encode(), digest_size=4).digest()
    return choices[int.from_bytes(digest, "big") % len(choices)]


def _mixpanel_decode(
    endpoint: str, body: Sequence[dict[str, Any]], device: tuple[str, int, str, int, int, str]
) -> list[Event]:
    return mixpanel.decode(
        endpoint,
        orjson.dumps(body),
        content_type="application/json",
        query={"ip": "0"},
        authorization=None,
        client=_client(device),
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
    device = _device(p)
    context = {
        "library": {"name": "analytics.js", "version": _drawn(p.user_id, SEGMENT_VERSIONS)},
        "userAgent": device[5],
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
            "timestamp": _iso(at),
            "context": context,
        }
        for name, at in _session(now)
    ]
    body = {"batch": [identify, *tracks], "writeKey": _KEY, "sentAt": _iso(now)}
    return segment.decode(
        "batch",
        orjson.dumps(body),
        content_type="text/plain",
        authorization=None,
        client=_client(device),
        sources={_KEY: SOURCE},
    )


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="milliseconds")
