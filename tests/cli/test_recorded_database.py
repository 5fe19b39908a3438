"""Commands that read or steer what the gateway recorded refuse a database that does
not exist, instead of creating an empty one (and a fresh ledger key) and answering
with confidence: run from the wrong folder, `vendors exposure` said "0 subjects" and
`vendors disable` set a kill switch no gateway reads."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "seawall.yaml"

COMMANDS = [
    ["vendors", "exposure", "mixpanel"],
    ["vendors", "list"],
    ["incident", "list"],
    ["incident", "scope", "1"],
    ["notify", "status", "1"],
    ["canary", "status"],
]


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "seawall.yaml"
    shutil.copy(EXAMPLE, path)
    return path


def _seawall(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "seawall", *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _created(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


@pytest.mark.parametrize("command", COMMANDS, ids=[" ".join(c) for c in COMMANDS])
def test_a_missing_database_is_an_error_and_nothing_is_created(
    config: Path, command: list[str]
) -> None:
    result = _seawall(*command, "-c", str(config))
    assert result.returncode != 0
    assert "no Seawall database at" in " ".join(result.stderr.split())
    assert "--config" in result.stderr  # says what to do
    assert "Traceback" not in result.stderr
    assert _created(config.parent) == ["seawall.yaml"]  # no database, no key


def test_opening_an_incident_may_create_the_database_then_the_rest_works(config: Path) -> None:
    opened = _seawall("incident", "open", "--vendor", "mixpanel", "-c", str(config))
    assert opened.returncode == 0, opened.stderr
    listed = _seawall("incident", "list", "--json", "-c", str(config))
    assert listed.returncode == 0, listed.stderr
    exposure = _seawall("vendors", "exposure", "mixpanel", "-c", str(config))
    assert exposure.returncode == 0, exposure.stderr


def test_an_empty_file_is_not_taken_for_the_recorded_database(config: Path) -> None:
    (config.parent / "seawall.db").touch()  # e.g. left by an older version
    result = _seawall("vendors", "exposure", "mixpanel", "-c", str(config))
    assert result.returncode != 0
    assert "no Seawall tables" in " ".join(result.stderr.split())  # wrapped at 80
    assert (config.parent / "seawall.db").stat().st_size == 0
    assert not (config.parent / ".seawall").exists()  # no key minted


def test_a_vendor_can_be_disabled_before_the_first_start_and_is_told_so(config: Path) -> None:
    assert _seawall("vendors", "enable", "mixpanel", "-c", str(config)).returncode != 0
    assert _created(config.parent) == ["seawall.yaml"]  # enabling creates nothing
    first = _seawall("vendors", "disable", "mixpanel", "-c", str(config))
    assert first.returncode == 0, first.stderr
    assert "created it" in " ".join(first.stderr.split())  # wrapped at 80, by path length
    again = _seawall("vendors", "enable", "mixpanel", "-c", str(config))
    assert again.returncode == 0, again.stderr
    assert "created it" not in " ".join(again.stderr.split())


def test_another_applications_database_is_never_migrated(config: Path) -> None:
    other = config.parent / "seawall.db"
    with sqlite3.connect(other) as con:
        con.execute("CREATE TABLE customers (id INTEGER)")
    for command in (["vendors", "disable", "mixpanel"], ["vendors", "exposure", "mixpanel"]):
        result = _seawall(*command, "-c", str(config))
        assert result.returncode != 0
        assert "no Seawall tables" in " ".join(result.stderr.split())
    with sqlite3.connect(other) as con:
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    assert tables == ["customers"]


def test_an_unreadable_database_url_is_a_config_error(config: Path) -> None:
    config.write_text(config.read_text().replace("sqlite:///seawall.db", "not a url"))
    result = _seawall("vendors", "list", "-c", str(config))
    assert result.returncode == 2
    assert "is not a database URL" in result.stderr
    assert "Traceback" not in result.stderr
