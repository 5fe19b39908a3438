"""A real gateway (uvicorn on 127.0.0.1) in front of real local vendor sinks."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from seawall.core.config import Config, parse_config
from seawall.gateway.app import create_app
from seawall.sink.records import read_records
from seawall.sink.server import running_sink
from tests.support import serve_app

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = yaml.safe_load(
    (ROOT / "examples" / "seawall.yaml")
    .read_text()
    .replace("${MIXPANEL_TOKEN:-vendor-token}", "vendor-token")
)

SEGMENT_POLICY = {
    "default": "drop",
    "ip": "drop",
    "free_text": "redact",
    "rules": [
        {"field": "event", "action": "keep"},
        {"field": ["userId", "anonymousId"], "action": "pseudonymize"},
        {
            "field": [
                "context.library.name",
                "context.library.version",
                "properties.plan",
                "properties.revenue",
            ],
            "action": "keep",
        },
        {"field": "context.page.url", "action": "scrub_url"},
        {"category": ["user.contact", "user.name", "user.location.precise"], "action": "drop"},
    ],
}


@dataclass
class Stack:
    url: str
    config: Config
    sink_out: Path
    sink_url: str

    def received(self) -> list[dict[str, Any]]:
        return read_records(self.sink_out)


def stack_config(tmp_path: Path, sink_url: str, db_url: str | None = None) -> Config:
    data = orjson.loads(orjson.dumps(EXAMPLE))
    data["vendors"]["mixpanel"]["endpoint"] = sink_url
    data["database"] = db_url or f"sqlite:///{tmp_path / 'seawall.db'}"
    data["keys_dir"] = str(tmp_path / "keys")
    data["sources"]["server"] = {
        "kind": "segment",
        "write_key": "wk-server",
        "destinations": ["segment"],
    }
    data["sources"]["web"]["api_secret"] = "import-secret"
    data["vendors"]["segment"] = {
        "kind": "segment",
        "endpoint": sink_url,
        "write_key": "vendor-write-key",
        "policy": SEGMENT_POLICY,
    }
    return parse_config(data, base_dir=str(tmp_path))


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    out = tmp_path / "sink.ndjson"
    with running_sink(out) as sink:
        cfg = stack_config(tmp_path, sink.url)
        with serve_app(create_app(cfg)) as url:
            yield Stack(url=url, config=cfg, sink_out=out, sink_url=sink.url)
