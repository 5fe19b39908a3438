"""seawall.yaml: the issue's config loads as written; every error names file, key and fix."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from seawall.core.config import load_config
from seawall.core.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "seawall.yaml"


def test_the_example_config_loads_exactly_as_written(tmp_path: Path) -> None:
    cfg = load_config(EXAMPLE, env={})
    vendor = cfg.vendors["mixpanel"]
    assert vendor.token == "vendor-token"
    assert vendor.policy.default == "drop"
    assert vendor.policy.rules[5].fields()[0] == "$browser"
    assert vendor.policy.rules[-1].categories() == (
        "user.contact",
        "user.name",
        "user.location.precise",
    )
    assert cfg.sources["web"].destinations == ["mixpanel"]
    assert cfg.database_url() == f"sqlite:///{EXAMPLE.parent / 'seawall.db'}"


def test_env_substitution() -> None:
    cfg = load_config(EXAMPLE, env={"MIXPANEL_TOKEN": "from-env"})
    assert cfg.vendors["mixpanel"].token == "from-env"


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "seawall.yaml"
    p.write_text(text)
    return p


BASE = EXAMPLE.read_text()


@pytest.mark.parametrize(
    ("text", "key", "words"),
    [
        (BASE + "extra_key: 1\n", "extra_key", "remove the key"),
        (
            BASE.replace("kind: mixpanel\n    token: demo", "kind: mixpanl\n    token: demo"),
            "sources.web.kind",
            "mixpanel",
        ),
        (BASE.replace("destinations: [mixpanel]", "destinations: [amplitude]"), None, "amplitude"),
        (
            BASE.replace("${MIXPANEL_TOKEN:-vendor-token}", "${NOPE_UNSET_TOKEN}"),
            None,
            "NOPE_UNSET_TOKEN",
        ),
        (
            BASE.replace("${MIXPANEL_TOKEN:-vendor-token}", "changeme"),
            "vendors.mixpanel.token",
            "placeholder",
        ),
        (BASE.replace("listen: 127.0.0.1:8787", "listen: nowhere"), "listen", "host:port"),
        (
            BASE + "smtp: {host: mail.example.com, port: 25, username: u, password: p}\n",
            "smtp",
            "starttls: true",
        ),
        (
            BASE.replace("endpoint: http://127.0.0.1:9100", "endpoint: http://api.example.com"),
            "vendors.mixpanel.endpoint",
            "use https://",
        ),
        ("vendors: [1, 2]\n", "vendors", "dictionary"),
        ("a: b: c\n", None, "not valid YAML"),
    ],
)
def test_errors_name_the_key_and_the_fix(
    tmp_path: Path, text: str, key: str | None, words: str
) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    message = str(info.value)
    assert str(path) in message
    if key:
        assert f"key '{key}'" in message
    assert words.lower() in message.lower()


def test_missing_file_says_how_to_start(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="seawall init"):
        load_config(tmp_path / "nope.yaml")


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "SEAWALL_CONFIG"}
    return subprocess.run(
        [sys.executable, "-m", "seawall", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_init_then_check(tmp_path: Path) -> None:
    assert _cli("init", cwd=tmp_path).returncode == 0
    written = (tmp_path / "seawall.yaml").read_text()
    assert "# " in written  # commented
    check = _cli("config", "check", cwd=tmp_path)
    assert check.returncode == 0, check.stderr
    assert "ok" in check.stdout
    assert not (tmp_path / ".seawall").exists()  # check creates no keys
    again = _cli("init", cwd=tmp_path)
    assert again.returncode == 2
    assert "--force" in again.stderr


def test_check_reports_a_bad_policy_with_exit_2(tmp_path: Path) -> None:
    _write(tmp_path, BASE.replace("action: domain_only", "action: domain_onyl"))
    check = _cli("config", "check", cwd=tmp_path)
    assert check.returncode == 2
    assert "domain_onyl" in check.stderr


def test_schema_is_json_schema(tmp_path: Path) -> None:
    out = _cli("config", "schema", cwd=tmp_path)
    assert out.returncode == 0
    doc = json.loads(out.stdout)
    assert doc["additionalProperties"] is False
    assert {"database", "sources", "vendors", "keys_dir"} <= set(doc["properties"])


@pytest.mark.parametrize(
    "smtp",
    [
        "{host: mail.example.com, port: 587, starttls: true, username: u, password: p}",
        "{host: mail.example.com, port: 465, tls: true, username: u, password: p}",
        "{host: 127.0.0.1, port: 2525, username: u, password: p}",  # a local relay or tunnel
        "{host: '::1', port: 2525, username: u, password: p}",
        "{host: mail.example.com, port: 25}",  # no login: nothing secret to protect
    ],
)
def test_a_relay_login_travels_over_tls_or_stays_on_this_host(tmp_path: Path, smtp: str) -> None:
    config = load_config(_write(tmp_path, BASE + f"smtp: {smtp}\n"), env={})
    assert config.smtp is not None
