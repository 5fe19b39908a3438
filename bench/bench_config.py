"""The benchmark's config: the README example plus a second vendor (Segment)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from seawall.core.config import Config, parse_config

ROOT = Path(__file__).resolve().parents[1]


def bench_data(tmp: Path, sink_url: str) -> dict[str, Any]:
    text = (ROOT / "examples" / "seawall.yaml").read_text()
    data: dict[str, Any] = yaml.safe_load(
        text.replace("${MIXPANEL_TOKEN:-vendor-token}", "vendor-token")
    )
    data["database"] = f"sqlite:///{tmp / 'seawall.db'}"
    data["keys_dir"] = str(tmp / "keys")
    data["vendors"]["mixpanel"]["endpoint"] = sink_url
    data["sources"]["web"]["destinations"] = ["mixpanel", "segment"]
    data["vendors"]["segment"] = {
        "kind": "segment",
        "endpoint": sink_url,
        "write_key": "bench-write-key",
        "policy": {
            "default": "drop",
            "ip": "truncate",
            "free_text": "redact",
            "rules": [
                {"field": "event", "action": "keep"},
                {"field": ["distinct_id", "$user_id", "$device_id"], "action": "pseudonymize"},
                {
                    "field": ["$browser", "$os", "plan", "$el_text", "page_title", "latency_ms"],
                    "action": "keep",
                },
                {"field": ["$current_url", "$referrer"], "action": "scrub_url"},
                {"category": ["user.contact", "user.name"], "action": "drop"},
            ],
        },
    }
    return data


def bench_config(tmp: Path, sink_url: str) -> Config:
    return parse_config(bench_data(tmp, sink_url), base_dir=str(tmp))
