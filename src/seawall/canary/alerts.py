"""What a canary alert says, and how often: the payloads and the per-canary folding.

Pure: ``deliver.py`` does the sending. Every attacker-controlled string (subjects,
senders, links, user agents) is passed through as JSON data or, in text formats,
cleaned to one inert line; the Slack text escapes ``&``, ``<`` and ``>`` so a crafted
subject cannot become a link or an ``@channel`` mention.

Folding: the first hit of a canary is always delivered at once. Later hits of that
canary within ``interval`` seconds of the last delivery are counted, not sent; when
the interval has passed, one summary reports them. A flood of a thousand mails is
one alert and one summary per interval.

Probes (a canary's address named over SMTP with no message after it) fold in a window of
their own: a mail that follows a probe is still alerted at once, with its contents, and
a thousand probes, from one peer or from many, are one alert and one summary naming up
to ``MAX_PEERS`` of the peers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import urlsplit

from seawall.canary.message import clean

AlertKind = Literal["hit", "probe", "summary"]
MAX_PEERS = 20  # addresses a summary names: enough to block, too few to become a flood


@dataclass(frozen=True, slots=True)
class Alert:
    """One message to the security team about one canary."""

    kind: AlertKind
    vendor: str
    canary: str
    channel: str  # "email", "beacon", "probe"; for a summary every one seen, joined by ","
    first_seen: float
    at: float  # the hit, or for a summary the last folded hit
    hits: int = 1
    incident: int | None = None
    hit_id: int | None = None
    evidence: dict[str, Any] = field(default_factory=dict)


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def webhook_json(alert: Alert) -> dict[str, Any]:
    """The generic webhook body."""
    return {
        "vendor": alert.vendor,
        "canary": alert.canary,
        "channel": alert.channel,
        "first_seen": iso(alert.first_seen),
        "incident": alert.incident,
        "kind": alert.kind,
        "hits": alert.hits,
        "at": iso(alert.at),
        "evidence": alert.evidence,
    }


def slack_escape(text: str) -> str:
    """Slack's own escaping: the only three characters its mrkdwn treats as markup."""
    return clean(text, 300).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def headline(alert: Alert) -> str:
    """One line, from trusted values only (vendor and canary come from the config and
    the database; nothing the attacker sent)."""
    case = f"incident #{alert.incident}" if alert.incident is not None else "no incident"
    if alert.kind == "summary":
        return (
            f"{alert.hits} more canary hits for vendor {alert.vendor} (canary {alert.canary}, "
            f"{alert.channel}) until {iso(alert.at)}; {case}"
        )
    if alert.kind == "probe":
        return (
            f"Canary probed: vendor {alert.vendor} leaked canary {alert.canary} (its address "
            f"was checked over SMTP, no mail delivered) first seen {iso(alert.first_seen)}; {case}"
        )
    return (
        f"Canary fired: vendor {alert.vendor} leaked canary {alert.canary} "
        f"({alert.channel}) first seen {iso(alert.first_seen)}; {case}"
    )


def evidence_lines(evidence: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, value) pairs of the evidence, values cleaned to inert single lines."""
    lines: list[tuple[str, str]] = []
    keys = ("subject", "from", "reply_to", "envelope_from", "peer", "helo", "command")
    for key in (*keys, "address", "ended", "rcpts", "ip", "user_agent", "referrer"):
        value = evidence.get(key)
        if value:
            lines.append((key, clean(str(value), 300)))
    if evidence.get("peers"):
        lines.append(("peers", clean(", ".join(map(str, evidence["peers"])), 600)))
    for link in evidence.get("links", [])[:5]:
        lines.append(("link", clean(str(link), 300)))
    for item in evidence.get("attachments", [])[:5]:
        name = clean(str(item.get("name") or ""), 200)
        lines.append(("attachment", f"{name} sha256:{item.get('sha256')}"))
    return lines


def slack_json(alert: Alert) -> dict[str, Any]:
    """A Slack incoming-webhook body: ``{"text": ...}``, attacker text in code spans."""
    parts = [f":rotating_light: {slack_escape(headline(alert))}"]
    for label, value in evidence_lines(alert.evidence):
        inert = slack_escape(value).replace("`", "'")
        parts.append(f"• {label}: `{inert}`")
    return {"text": "\n".join(parts)}


def email_text(alert: Alert) -> tuple[str, str]:
    """Subject (trusted values only: a header cannot be injected) and plain-text body."""
    subject = f"[Seawall] canary fired for vendor {alert.vendor}"
    if alert.kind == "probe":
        subject = f"[Seawall] canary probed for vendor {alert.vendor}"
    elif alert.kind == "summary":
        subject = f"[Seawall] {alert.hits} more canary hits for vendor {alert.vendor}"
    body = [headline(alert), ""]
    body += [f"{label}: {value}" for label, value in evidence_lines(alert.evidence)]
    body += ["", "The values above were sent by the attacker: treat them as data."]
    return subject, "\n".join(body) + "\n"


def is_slack(url: str) -> bool:
    """Slack format for Slack's own hooks, or any URL ending in ``#slack``."""
    parts = urlsplit(url)
    return parts.hostname == "hooks.slack.com" or parts.fragment == "slack"


def webhook_body(url: str, alert: Alert) -> dict[str, Any]:
    return slack_json(alert) if is_slack(url) else webhook_json(alert)


@dataclass(slots=True)
class _Window:
    vendor: str
    delivered_at: float
    folded: int = 0
    first: float = 0.0
    last: float = 0.0
    channels: list[str] = field(default_factory=list)
    peers: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Folded:
    """Hits of one canary counted but not yet reported."""

    canary: str
    vendor: str
    channels: tuple[str, ...]
    count: int
    first: float
    last: float
    peers: tuple[str, ...] = ()


class Folding:
    """Per-canary rate limit: the first hit passes, later ones wait for a summary."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._windows: dict[str, _Window] = {}

    def admit(
        self, canary: str, vendor: str, channel: str, at: float, peer: str | None = None
    ) -> bool:
        """True: deliver this hit now. False: it was counted for the next summary (which
        names the first ``MAX_PEERS`` distinct peers of the folded hits)."""
        window = self._windows.get(canary)
        if window is None or (window.folded == 0 and at - window.delivered_at >= self.interval):
            self._windows[canary] = _Window(vendor, at)
            return True
        if window.folded == 0:
            window.first = at
        window.folded += 1
        window.last = max(window.last, at)
        if channel not in window.channels:
            window.channels.append(channel)
        if peer and len(window.peers) < MAX_PEERS and peer not in window.peers:
            window.peers.append(peer)
        return False

    def due(self, now: float, *, everything: bool = False) -> list[Folded]:
        """Summaries whose interval has passed (or all of them, at shutdown)."""
        out: list[Folded] = []
        for canary, w in self._windows.items():
            if w.folded and (everything or now - w.delivered_at >= self.interval):
                channels, peers = tuple(w.channels), tuple(w.peers)
                out.append(Folded(canary, w.vendor, channels, w.folded, w.first, w.last, peers))
                w.delivered_at, w.folded, w.channels, w.peers = now, 0, [], []
        return out

    def pending(self) -> int:
        return sum(w.folded for w in self._windows.values())
