"""The drill's ``seawall.yaml``: two product-analytics vendors fed by one web source.

``analytics`` has the strict policy of ``examples/seawall.yaml``. ``growth`` has the
same rules plus one line keeping ``$email``, ``$name`` and ``$city``, and no free-text
scanning: the misconfiguration that turns a vendor's breach into a phishing list.
The file is written next to the database, so ``--keep`` leaves a folder the CLI can be
pointed at (``seawall incident show 1 --config <dir>/seawall.yaml``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["CARELESS", "STRICT", "TOKEN", "Ports", "write_config"]

TOKEN = "demo-project-token"  # noqa: S105 - the SDK's public project token
STRICT = "analytics"
CARELESS = "growth"
CANARY_DOMAIN = "canary.example.com"

_RULES = """\
        - {field: event, action: keep}
        - {field: [distinct_id, $distinct_id, $device_id, $user_id, org_id], action: pseudonymize}
        - field: [$browser, $browser_version, $os, $device, $screen_height, $screen_width,
                  mp_lib, $lib_version, $insert_id, time]
          action: keep
        - {field: [$current_url, $initial_referrer], action: scrub_url}
        - {field: [$referrer], action: domain_only}
        - {field: mp_country_code, action: keep}
"""


@dataclass(frozen=True, slots=True)
class Ports:
    gateway: int
    strict_sink: str  # base URL
    careless_sink: str
    relay: int
    tripwire: int
    webhook: str  # URL


def write_config(folder: Path, ports: Ports) -> Path:
    """Write ``seawall.yaml`` for the drill into ``folder``; returns its path."""
    text = f"""\
# Written by `seawall demo`: every service is local, on 127.0.0.1.
database: sqlite:///seawall.db
keys_dir: keys
listen: 127.0.0.1:{ports.gateway}
sources:
  web:
    kind: mixpanel
    token: {TOKEN}
    allowed_origins: ["https://app.example.com"]
    destinations: [{STRICT}, {CARELESS}]
vendors:
  {STRICT}:        # strict: the policy of examples/seawall.yaml
    kind: mixpanel
    endpoint: {ports.strict_sink}
    token: analytics-vendor-token
    contract:
      {{breach_notice_hours: 24, retention_days: 365, security_contact: security@analytics.example}}
    policy:
      default: drop
      ip: drop
      free_text: redact
      rules:
{_RULES}        - {{category: [user.contact, user.name, user.location.precise], action: drop}}
  {CARELESS}:           # careless: keeps name, email and city, scans no free text
    kind: mixpanel
    endpoint: {ports.careless_sink}
    token: growth-vendor-token
    contract:
      {{breach_notice_hours: 72, retention_days: 730, security_contact: security@growth.example}}
    policy:
      default: drop
      ip: drop
      free_text: keep
      rules:
{_RULES}        - {{field: [$email, $name, $city], action: keep}}
        - {{category: [user.contact, user.name, user.location.precise], action: drop}}
directory: {{kind: csv, path: users.csv}}
smtp: {{host: 127.0.0.1, port: {ports.relay}, sender: "Example Security <security@example.com>"}}
canary:
  domain: {CANARY_DOMAIN}
  smtp_listen: "127.0.0.1:{ports.tripwire}"
  beacon_base: "http://127.0.0.1:{ports.gateway}"
alerts:
  webhooks: ["{ports.webhook}"]
  email: security@example.com
"""
    path = folder / "seawall.yaml"
    path.write_text(text, encoding="utf-8")
    return path
