"""`seawall notify plan|preview|status` as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from seawall.cli.notify import register
from seawall.storage.database import open_database
from tests.notify.world import exposures, incident_with_scope, people, write_csv

app = typer.Typer()
register(app)


@pytest.fixture
def config(tmp_path: Path) -> tuple[Path, int]:
    write_csv(tmp_path / "users.csv", people(30, orgs=3))
    db = open_database(f"sqlite:///{tmp_path / 'seawall.db'}")
    incident = incident_with_scope(db, exposures(range(30), orgs=3))
    db.close()
    path = tmp_path / "seawall.yaml"
    path.write_text(
        "database: sqlite:///seawall.db\n"
        "directory: {kind: csv, path: users.csv}\n"
        'smtp: {host: 127.0.0.1, port: 2525, sender: "Example Security <security@example.com>"}\n'
        "alerts: {email: privacy@example.com}\n"
    )
    return path, incident


def _run(*args: str) -> str:
    result = CliRunner().invoke(app, ["notify", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_plan_dry_run_then_plan_then_status(config: tuple[Path, int]) -> None:
    path, incident = config
    dry = json.loads(_run("plan", str(incident), "--dry-run", "--json", "-c", str(path)))
    assert dry["campaign"] is None
    assert dry["recipients"] == dry["pending"] == 30
    assert dry["by_locale"] == {"en-us": 15, "fr-fr": 15}
    doc = json.loads(_run("plan", str(incident), "-a", "org_admins", "--json", "-c", str(path)))
    assert doc["campaign"] == 1
    assert {k: doc[k] for k in ("recipients", "sent", "failed", "suppressed", "pending")} == {
        "recipients": 3, "sent": 0, "failed": 0, "suppressed": 0, "pending": 3,
    }  # fmt: skip
    assert doc["uncertain"] == []
    text = _run("plan", str(incident), "-a", "risk_tier=high", "-c", str(path))
    assert "campaign 2 planned" in text
    assert "seawall notify send 2" in text
    status = _run("status", "1", "-c", str(path))
    assert "campaign 1" in status
    assert "planned" in status


def test_preview_renders_one_notice(config: tuple[Path, int]) -> None:
    path, incident = config
    text = _run("preview", str(incident), "--to", "u000001", "-c", str(path))
    assert "Content-Language: fr" in text
    assert "votre adresse e-mail et votre localisation approximative (ville)" in text
    assert "privacy@example.com" in text
    assert "\nExample Security\n" in text
    html = _run("preview", str(incident), "--to", "admin-001", "-a", "org_admins", "--html",
                "-c", str(path))  # fmt: skip
    assert "<h2>What Happened</h2>" in html
    assert "10 member(s)" in html
