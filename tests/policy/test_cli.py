"""``seawall policy test``: what the vendor would receive, from a file of SDK events."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from seawall.cli.policy import register

CONFIG = """
keys_dir: keys
sources:
  web: {kind: mixpanel, token: demo-project-token, destinations: [mixpanel]}
  srv: {kind: segment, write_key: seg-write-key, destinations: [segv]}
vendors:
  mixpanel:
    kind: mixpanel
    endpoint: http://127.0.0.1:9100
    token: vendor-token
    policy:
      default: drop
      ip: truncate
      rules:
        - {field: event, action: keep}
        - {field: distinct_id, action: pseudonymize}
        - {field: $current_url, action: scrub_url}
        - {category: user.contact, action: drop}
  segv:
    kind: segment
    endpoint: http://127.0.0.1:9101
    write_key: vendor-write-key
    policy:
      default: drop
      rules:
        - {field: [event, traits.plan], action: keep}
"""
EVENTS = [
    {
        "event": "Signed up",
        "properties": {
            "distinct_id": "u-1",
            "$email": "ann@example.com",
            "$current_url": "https://example.com/?e=ann@example.com",
        },
    },
    {"$distinct_id": "u-1", "$set": {"$email": "ann@example.com", "plan": "pro"}},
]


@pytest.fixture
def app() -> typer.Typer:
    app = typer.Typer()
    register(app)

    @app.callback()
    def main() -> None:
        """seawall"""

    return app


def run(app: typer.Typer, tmp_path: Path, *args: str) -> tuple[int, str]:
    (tmp_path / "seawall.yaml").write_text(CONFIG)
    result = CliRunner().invoke(
        app, ["policy", "test", "--config", str(tmp_path / "seawall.yaml"), *args]
    )
    return result.exit_code, result.output


def test_json_output_for_mixpanel_events(app: typer.Typer, tmp_path: Path) -> None:
    (tmp_path / "events.json").write_text(json.dumps(EVENTS))
    code, out = run(app, tmp_path, "--vendor", "mixpanel", "--json", str(tmp_path / "events.json"))
    assert code == 0, out
    track, profile = json.loads(out)
    assert track["fields"]["event"] == "Signed up"
    assert track["fields"]["$current_url"] == "https://example.com/"
    assert track["fields"]["ip"] == "198.51.100.0"
    assert {"field": "$email", "category": "user.contact.email", "rule": "rules[3]"} in track[
        "dropped"
    ]
    assert "ann@example.com" not in out
    assert profile["kind"] == "profile"


def test_ndjson_and_table_output(app: typer.Typer, tmp_path: Path) -> None:
    (tmp_path / "events.ndjson").write_text("\n".join(json.dumps(e) for e in EVENTS))
    code, out = run(app, tmp_path, "--vendor", "mixpanel", str(tmp_path / "events.ndjson"))
    assert code == 0, out
    assert "Signed up" in out
    assert "dropped" in out
    assert "ann@example.com" not in out


def test_segment_messages(app: typer.Typer, tmp_path: Path) -> None:
    msgs = [
        {"type": "identify", "userId": "u-1", "traits": {"email": "ann@example.com", "plan": "pro"}}
    ]
    (tmp_path / "seg.json").write_text(json.dumps(msgs))
    code, out = run(app, tmp_path, "--vendor", "segv", "--json", str(tmp_path / "seg.json"))
    assert code == 0, out
    assert json.loads(out)[0]["fields"] == {"traits.plan": "pro"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--vendor", "nobody", "EVENTS"], "no vendor named 'nobody'"),
        (["--vendor", "mixpanel", "MISSING"], "cannot read"),
        (["--vendor", "mixpanel", "BAD"], "neither JSON nor NDJSON"),
    ],
)
def test_usage_errors_exit_2(
    app: typer.Typer, tmp_path: Path, args: list[str], message: str
) -> None:
    (tmp_path / "events.json").write_text(json.dumps(EVENTS))
    (tmp_path / "bad.json").write_text("{not json")
    paths = {"EVENTS": "events.json", "MISSING": "missing.json", "BAD": "bad.json"}
    args = [str(tmp_path / paths[a]) if a in paths else a for a in args]
    code, out = run(app, tmp_path, *args)
    assert code == 2
    assert message in out
