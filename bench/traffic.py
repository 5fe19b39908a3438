"""mixpanel-browser-shaped traffic for benchmarks: ~40 properties an event, as the SDK
sends them (base64 JSON in a ``data=`` form), from a steady population of users."""

from __future__ import annotations

import base64
import random
import time
import urllib.parse
import uuid
from typing import Any

import orjson

PAGES = [
    "/",
    "/pricing",
    "/docs/quickstart",
    "/settings/billing",
    "/org/members",
    "/invite/accept",
    "/dashboard",
    "/usage",
    "/api-keys",
    "/playground",
]
FIRST = ["Ada", "Grace", "Alan", "Hedy", "Chen", "Amara", "Yuki", "Olu", "Priya", "Mateo"]
LAST = [
    "Lovelace",
    "Hopper",
    "Turing",
    "Lamarr",
    "Wei",
    "Okafor",
    "Tanaka",
    "Adeyemi",
    "Sharma",
    "García",
]
CITIES = [
    ("London", "England", "GB"),
    ("Paris", "Île-de-France", "FR"),
    ("Lagos", "Lagos", "NG"),
    ("Osaka", "Osaka", "JP"),
    ("Austin", "Texas", "US"),
]


def user(i: int) -> dict[str, str]:
    first, last = FIRST[i % len(FIRST)], LAST[(i // len(FIRST)) % len(LAST)]
    city, region, country = CITIES[i % len(CITIES)]
    return {
        "user_id": f"user-{i:06d}",
        "device": f"dev-{uuid.UUID(int=i + 1)}",
        "email": f"{first.lower()}.{last.lower()}{i}@example.com",
        "name": f"{first} {last}",
        "city": city,
        "region": region,
        "country": country,
        "org": f"org-{i % 150:04d}",
    }


def event(rng: random.Random, token: str, n_users: int = 2000) -> dict[str, Any]:
    u = user(rng.randrange(n_users))
    page = rng.choice(PAGES)
    query = ""
    if page == "/invite/accept":
        query = "?" + urllib.parse.urlencode({"email": u["email"], "utm_source": "invite"})
    elif rng.random() < 0.3:
        query = "?utm_source=newsletter&utm_medium=email&utm_campaign=nov"
    props: dict[str, Any] = {
        "$os": "Mac OS X",
        "$browser": "Chrome",
        "$current_url": f"https://platform.example.com{page}{query}",
        "$browser_version": 131,
        "$screen_height": 1117,
        "$screen_width": 1728,
        "mp_lib": "web",
        "$lib_version": "2.60.0",
        "$insert_id": uuid.uuid4().hex[:16],
        "time": time.time() * 1000,
        "distinct_id": u["user_id"],
        "$device_id": u["device"],
        "$user_id": u["user_id"],
        "$initial_referrer": "https://www.google.com/",
        "$initial_referring_domain": "www.google.com",
        "$referrer": f"https://platform.example.com{rng.choice(PAGES)}",
        "$referring_domain": "platform.example.com",
        "token": token,
        "mp_sent_by_lib_version": "2.60.0",
        "mp_country_code": u["country"],
        "$city": u["city"],
        "$region": u["region"],
        "$email": u["email"],
        "$name": u["name"],
        "org_id": u["org"],
        "plan": rng.choice(["free", "pro", "team"]),
        "$el_text": rng.choice(["Invite teammate", "Create key", "Upgrade", "Save"]),
        "page_title": "Example Platform",
        "experiment": "pricing-v2",
        "variant": "b",
        "latency_ms": rng.randrange(20, 900),
        "model": "m-large",
        "tokens": rng.randrange(9999),
        "success": True,
        "region_pref": "eu",
        "theme": "dark",
        "locale": "en-GB",
        "timezone": "Europe/London",
        "tab": "overview",
        "count": rng.randrange(100),
    }
    return {
        "event": rng.choice(["$mp_web_page_view", "Clicked", "Created Key", "Viewed"]),
        "properties": props,
    }


def batch_body(rng: random.Random, token: str, size: int = 50) -> bytes:
    """One mixpanel-browser request body: ``data=<base64 JSON>``."""
    data = base64.b64encode(orjson.dumps([event(rng, token) for _ in range(size)]))
    return b"data=" + urllib.parse.quote_from_bytes(data).encode()
