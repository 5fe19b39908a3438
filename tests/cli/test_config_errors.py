"""A config error names the file it is in, also when it is found after parsing (a
policy rule compiled as the gateway starts), so the user knows which file to fix."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "seawall.yaml"


@pytest.mark.parametrize(
    "command", [["config", "check"], ["policy", "test", "--vendor", "mixpanel", "-"]]
)
def test_a_bad_policy_rule_is_reported_with_its_file(tmp_path: Path, command: list[str]) -> None:
    path = tmp_path / "edited.yaml"
    path.write_text(EXAMPLE.read_text().replace("action: domain_only", "action: domain_onyl"))
    result = subprocess.run(
        [sys.executable, "-m", "seawall", *command, "-c", str(path)],
        check=False,
        capture_output=True,
        text=True,
        input="{}\n",
        timeout=120,
    )
    text = " ".join(result.stderr.split())  # wrapped at 80 columns
    assert result.returncode == 2, result.stderr
    assert f"{path}: key 'vendors.mixpanel.policy.rules[7].action'" in text
    assert "unknown action 'domain_onyl'" in text
    assert "Fix: use one of" in text
