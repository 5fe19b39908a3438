"""The careless vendor's breach, built from what that vendor really received: its
people export as the attacker would dump it, the phishing mail that follows, and the
ground truth the drill's summary must equal.

The export has Mixpanel's people-export shape, one JSON object a line:
``{"$distinct_id": ..., "$properties": {"$email": ..., "$name": ..., "$city": ...}}``.
"""

from __future__ import annotations

import smtplib
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import orjson

from seawall.core.crypto import pseudonym
from seawall.demo.world import World
from seawall.sink.records import complete_lines

__all__ = ["Received", "phish", "received_by", "write_leaked_export"]

# Rows in the dump that are nobody we know: test accounts, people deleted since.
UNKNOWN_ROWS = (
    ("4f1c9a0e-test", "qa.bot@example.org", "QA Bot"),
    ("7d2e44b1-old", "former.user@example.net", "Former User"),
    ("c0ffee00-ghost", "nobody@example.org", "No Body"),
)
# The dump was cut off mid-line: one record is not JSON.
TRUNCATED = '{"$distinct_id": "sw_trunc", "$properties": {"$email": "cut.off@exam'


@dataclass
class Received:
    """What one vendor received, read back from its sink: per person, not per event."""

    vendor: str
    messages: int = 0
    profiles: dict[str, dict[str, Any]] = field(default_factory=dict)  # distinct id -> $set
    emails: set[str] = field(default_factory=set)  # user ids whose address arrived
    names: set[str] = field(default_factory=set)  # user ids whose name arrived
    cities: set[str] = field(default_factory=set)
    raw_email_hits: int = 0  # users whose address appears anywhere in what arrived
    raw_name_hits: int = 0  # users whose full name appears anywhere in what arrived


def received_by(vendor: str, sink_file: Path, world: World, vendor_key: bytes) -> Received:
    """Read a vendor sink's NDJSON and say, per user, whether their email, name and
    city arrived (distinct ids are mapped back through the vendor's pseudonyms)."""
    out = Received(vendor)
    text = complete_lines(sink_file).decode("utf-8")  # the sink may still be writing
    by_alias = {pseudonym(vendor_key, u.user_id): u.user_id for u in world.users}
    by_alias.update({u.user_id: u.user_id for u in world.users})
    for line in text.splitlines():
        if not line:
            continue
        out.messages += 1
        record = orjson.loads(line)
        msg = record.get("message") or {}
        values = msg.get("$set") if record.get("endpoint") == "engage" else None
        if not isinstance(values, dict):
            continue
        did = str(msg.get("$distinct_id"))
        out.profiles.setdefault(did, {}).update(values)
        uid = by_alias.get(did)
        if uid is None:
            continue  # a canary, or nobody we know
        user = world.by_id[uid]
        if user.email and values.get("$email") == user.email:
            out.emails.add(uid)
        if values.get("$name") == user.name:
            out.names.add(uid)
        if values.get("$city") == user.city:
            out.cities.add(uid)
    out.raw_email_hits = sum(1 for u in world.users if u.email and u.email in text)
    out.raw_name_hits = sum(1 for u in world.users if _json_str(u.name) in text)
    return out


def _json_str(value: str) -> str:
    return orjson.dumps(value).decode()


def write_leaked_export(received: Received, path: Path) -> dict[str, int]:
    """The attacker's people export: every profile the vendor held, a few strangers,
    and one record cut off. Returns the row counts by kind."""
    lines: list[bytes] = []
    for did, values in sorted(received.profiles.items()):
        props = {k: v for k, v in values.items() if k in ("$email", "$name", "$city", "plan")}
        lines.append(orjson.dumps({"$distinct_id": did, "$properties": props}))
    for did, email, name in UNKNOWN_ROWS:
        lines.append(
            orjson.dumps({"$distinct_id": did, "$properties": {"$email": email, "$name": name}})
        )
    lines.append(TRUNCATED.encode())
    path.write_bytes(b"\n".join(lines) + b"\n")
    return {"profiles": len(received.profiles), "unknown": len(UNKNOWN_ROWS), "invalid": 1}


def phish(smtp_port: int, to: str) -> None:
    """What an attacker does first with a stolen list: mail it."""
    msg = EmailMessage()
    msg["From"] = "Example Platform <billing@examp1e-platform.example.net>"
    msg["To"] = to
    msg["Subject"] = "Action required: your API billing details"
    msg.set_content(
        "Your last payment failed. Update your card within 24 hours:\n"
        "https://billing.examp1e-platform.example.net/update\n"
    )
    with smtplib.SMTP("127.0.0.1", smtp_port, timeout=10) as client:
        client.send_message(msg)
