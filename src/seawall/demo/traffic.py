"""mixpanel-browser-shaped traffic for the drill's users.

Each user has one to three sessions over the last 30 days. A session is what the
browser SDK would send: page views under an anonymous ``$device:`` id, then (for users
who sign in) ``$identify``, a ``people.set`` of ``$email``, ``$name`` and ``$city``, and
product events carrying the org id, each batch a base64 ``data=`` form as
mixpanel-browser posts it. URLs carry UTM tags and referrers; a few carry an email in
the query or the path, and a few searches hold an email or phone number in free text.
Pure: builds request bodies, sends nothing.
"""

from __future__ import annotations

import base64
import random
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from seawall.demo.world import User, World

__all__ = ["APP", "ORIGIN", "Request", "requests_for"]

APP = "https://app.example.com"
ORIGIN = APP
LIB_VERSION = "2.60.0"
PAGES = ("/", "/dashboard", "/pricing", "/docs/quickstart", "/usage", "/api-keys", "/playground")
SIGNED_IN_PAGES = ("/dashboard", "/usage", "/api-keys", "/org/members", "/settings/billing")
REFERRERS = (
    "https://www.google.com/",
    "https://news.example.net/item?id=4711",
    "https://blog.example.org/launch-week",
    "$direct",
)
CAMPAIGNS = (
    "utm_source=newsletter&utm_medium=email&utm_campaign=nov",
    "utm_source=partner&utm_medium=referral&utm_campaign=launch",
    "utm_source=ads&utm_medium=cpc&utm_campaign=brand&gclid=Cj0KCQ",
)
ACTIONS = ("Created Key", "Ran Query", "Invited Teammate", "Viewed Usage", "Upgraded Plan")
BROWSERS = (
    ("Chrome", 131, "Mac OS X", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) Chrome/131.0"),
    ("Firefox", 133, "Linux", "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Firefox/133.0"),
    ("Safari", 18, "iOS", "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) Safari/604.1"),
    ("Edge", 131, "Windows", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Edg/131.0"),
)
DAY = 86_400.0


@dataclass(frozen=True, slots=True)
class Request:
    """One HTTP request the SDK would make: path, form body and browser headers."""

    path: str  # /track/ or /engage/
    body: bytes
    headers: dict[str, str]
    events: int


def _form(messages: list[dict[str, Any]]) -> bytes:
    data = base64.b64encode(orjson.dumps(messages))
    return b"data=" + urllib.parse.quote_from_bytes(data).encode()


class _Session:
    """One browser session of one user; keeps the SDK's super properties."""

    def __init__(self, rng: random.Random, user: User, token: str, start: float) -> None:
        self.rng, self.user, self.token, self.t = rng, user, token, start
        self.browser = rng.choice(BROWSERS)
        self.referrer = rng.choice(REFERRERS)
        self.distinct_id = f"$device:{user.device_id}"
        self.signed_in = False
        self.events: list[dict[str, Any]] = []

    def _props(self, url: str) -> dict[str, Any]:
        name, version, os_name, _ = self.browser
        self.t += self.rng.uniform(2, 90)
        props: dict[str, Any] = {
            "$os": os_name,
            "$browser": name,
            "$browser_version": version,
            "$current_url": url,
            "$screen_height": 1117,
            "$screen_width": 1728,
            "mp_lib": "web",
            "$lib_version": LIB_VERSION,
            "$insert_id": f"{self.rng.getrandbits(64):016x}",
            "time": round(self.t * 1000),
            "distinct_id": self.distinct_id,
            "$device_id": self.user.device_id,
            "$initial_referrer": self.referrer,
            "$initial_referring_domain": urllib.parse.urlsplit(self.referrer).hostname or "$direct",
            "token": self.token,
            "mp_sent_by_lib_version": LIB_VERSION,
        }
        if self.referrer != "$direct":
            props["$referrer"] = self.referrer
        if self.signed_in:
            props["$user_id"] = self.user.user_id
            props["org_id"] = self.user.org_id
        return props

    def page(self, path: str, query: str = "") -> None:
        url = f"{APP}{path}" + (f"?{query}" if query else "")
        props = self._props(url)
        props.update(
            current_page_title="Example Platform",
            current_domain="app.example.com",
            current_url_path=path,
            current_url_protocol="https:",
        )
        for key, value in urllib.parse.parse_qsl(query):
            if key.startswith("utm_"):
                props[key] = value
        self.events.append({"event": "$mp_web_page_view", "properties": props})

    def track(self, name: str, extra: dict[str, Any] | None = None) -> None:
        props = self._props(f"{APP}{self.rng.choice(SIGNED_IN_PAGES)}")
        props.update(extra or {})
        self.events.append({"event": name, "properties": props})

    def identify(self) -> None:
        anon = self.distinct_id
        self.distinct_id = self.user.user_id
        self.signed_in = True
        self.track("$identify", {"$anon_distinct_id": anon, "$identified_id": self.user.user_id})

    def people_set(self) -> dict[str, Any]:
        name, version, os_name, _ = self.browser
        values: dict[str, Any] = {
            "$os": os_name,
            "$browser": name,
            "$browser_version": version,
            "$name": self.user.name,
            "$city": self.user.city,
            "plan": self.rng.choice(("free", "pro", "team")),
        }
        if self.user.email:
            values["$email"] = self.user.email
        return {
            "$set": values,
            "$token": self.token,
            "$distinct_id": self.user.user_id,
            "$device_id": self.user.device_id,
            "$user_id": self.user.user_id,
            "$time": round(self.t * 1000),
        }


def _session(
    rng: random.Random, user: User, token: str, start: float, first: bool
) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    s = _Session(rng, user, token, start)
    s.page(rng.choice(PAGES), rng.choice(CAMPAIGNS) if rng.random() < 0.35 else "")
    if rng.random() < 0.5:
        s.page(rng.choice(PAGES))
    if user.signs_in:
        if first and user.email and rng.random() < 0.08:
            # An invite link: the address in the query (scrub_url must drop it).
            s.page("/invite/accept", urllib.parse.urlencode({"email": user.email, "ref": "mail"}))
        s.identify()
        s.track("Signed In", {"method": rng.choice(("password", "google", "sso"))})
        if first and user.sets_profile:
            yield "/engage/", [s.people_set()]
        for _ in range(rng.randint(1, 2)):
            s.track(rng.choice(ACTIONS), {"plan": rng.choice(("free", "pro", "team"))})
        if user.email and rng.random() < 0.05:
            # Free text with personal data in it: a support search.
            s.track(
                "Searched Help", {"query": f"cannot log in as {user.email}, call +1 415 555 0100"}
            )
        if rng.random() < 0.04:
            # An id-bearing path (scrub_url redacts the address in it).
            s.page(f"/users/{user.email or user.user_id}/settings")
    yield "/track/", s.events


def requests_for(
    world: World, token: str, seed: int = 7, now: float | None = None
) -> list[Request]:
    """Every request the users' browsers make, sessions in time order per user."""
    rng = random.Random(seed + 1)  # noqa: S311 - synthetic data, not a secret
    now = time.time() if now is None else now
    out: list[Request] = []
    for n, user in enumerate(world.users):
        starts = sorted(now - rng.uniform(0.1, 30) * DAY for _ in range(rng.choice((1, 1, 2))))
        ua = BROWSERS[n % len(BROWSERS)][3]
        headers = {
            "content-type": "application/x-www-form-urlencoded",
            "origin": ORIGIN,
            "user-agent": ua,
            # As the TLS proxy would add it (RFC 5737 documentation addresses).
            "x-forwarded-for": f"203.0.113.{n % 250 + 1}",
        }
        for k, start in enumerate(starts):
            for path, messages in _session(rng, user, token, start, first=k == 0):
                out.append(Request(path, _form(messages), headers, len(messages)))
    return out
