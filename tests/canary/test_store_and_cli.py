"""The canary store on SQLite and PostgreSQL, and ``seawall canary``."""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path

import pytest
import typer
import yaml
from typer.testing import CliRunner

from seawall.canary.mint import mint
from seawall.canary.model import Hit
from seawall.canary.plant import NoChannel
from seawall.canary.store import CanaryStore, canary_emails, canary_user_ids
from seawall.cli.canary import register
from seawall.core.crypto import fingerprint
from seawall.core.errors import SeawallError
from seawall.core.keys import KeyRing
from seawall.ledger.store import LedgerStore
from seawall.storage.database import open_database
from tests.canary.conftest import CRM_POLICY

KEY = b"k" * 32


def test_store_contract(db_url: str) -> None:
    db = open_database(db_url)
    try:
        store = CanaryStore(db)
        a, b = mint("crm", "canary.example.com", KEY), mint("mailer", "canary.example.com", KEY)
        for identity in (a, b):
            store.add(identity, sdk="mixpanel", channels=["email"], memo={"fields": {}})
        assert store.by_email(a.email.upper()) == store.get(a.id)
        assert store.by_token_hash(b.token_hash) == store.get(b.id)
        assert store.by_token_hash(b.token) is None  # the raw token is never stored
        assert [c.id for c in store.list("crm")] == [a.id]
        store.mark_planted([a.id], 10.0)
        store.mark_planted([a.id], 20.0)
        assert (store.get(a.id).planted_at, store.get(a.id).refreshed_at) == (10.0, 20.0)
        for at in (1.0, 2.0, 3.0):
            asyncio.run(store.record_hit(Hit(a.id, "crm", "email", at, "192.0.2.1", {"x": "<b>"})))
        (count,) = store.hit_counts()[a.id]
        assert (count.count, count.first, count.last) == (3, 1.0, 3.0)
        asyncio.run(store.record_hit(Hit(a.id, "crm", "probe", 4.0, None, {"ended": "QUIT"})))
        assert {c.channel: c.count for c in store.hit_counts()[a.id]} == {"email": 3, "probe": 1}
        assert store.hits(a.id)[0].evidence == {"x": "<b>"}
        assert canary_user_ids(db) == {a.user_id: "crm", b.user_id: "mailer"}
        assert canary_emails(db) == {a.email: "crm", b.email: "mailer"}
        # Alerts unsent at a stop: saved, then claimed once, oldest first.
        owed = [
            (a.id, "crm", {"alert": {"canary": a.id, "evidence": {"x": "<b>"}}, "targets": []}),
            (b.id, "mailer", {"alert": {"canary": b.id}, "targets": ["0f" * 16]}),
        ]
        asyncio.run(store.save_owed(owed[:1], 5.0))
        asyncio.run(store.save_owed(owed[1:], 6.0))
        assert asyncio.run(store.take_owed()) == [doc for _, _, doc in owed]
        assert asyncio.run(store.take_owed()) == []
    finally:
        db.close()


def write_config(tmp_path: Path) -> Path:
    data = {
        "database": f"sqlite:///{tmp_path / 'seawall.db'}",
        "keys_dir": str(tmp_path / "keys"),
        "sources": {
            "web": {"kind": "mixpanel", "token": "web-token", "destinations": ["mixpanel"]}
        },
        "vendors": {
            "crm": {
                "kind": "mixpanel",
                "endpoint": "http://127.0.0.1:9",
                "token": "t",
                "policy": CRM_POLICY,
            },
            "mixpanel": {
                "kind": "mixpanel",
                "endpoint": "http://127.0.0.1:9",
                "token": "t2",
                "policy": {
                    "default": "drop",
                    "rules": [{"category": ["user.contact", "user.name"], "action": "drop"}],
                },
            },
        },
        "canary": {"domain": "canary.example.com", "beacon_base": "https://gw.example.com"},
    }
    path = tmp_path / "seawall.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_cli_mint_plant_status(tmp_path: Path) -> None:
    app = typer.Typer()
    register(app)
    runner = CliRunner()
    config = str(write_config(tmp_path))

    result = runner.invoke(
        app, ["canary", "mint", "--vendor", "crm", "--count", "2", "--json", "-c", config]
    )
    assert result.exit_code == 0, result.output
    minted = json.loads(result.stdout)
    assert len(minted) == 2
    for row in minted:
        assert {"id", "vendor", "email", "beacon_url", "channels"} <= row.keys()
        assert row["beacon_url"].startswith("https://gw.example.com/c/")
        assert row["channels"] == ["email", "beacon"]

    refused = runner.invoke(app, ["canary", "mint", "--vendor", "mixpanel", "-c", config])
    assert isinstance(refused.exception, NoChannel)
    assert "$email: dropped by rules[0]" in str(refused.exception)

    assert runner.invoke(app, ["canary", "plant", "-c", config]).exit_code == 0
    status = json.loads(runner.invoke(app, ["canary", "status", "--json", "-c", config]).stdout)
    assert {s["id"] for s in status} == {m["id"] for m in minted}
    assert all(s["planted_at"] and s["total_hits"] == 0 for s in status)

    # Planted like any user: the ledger now holds each canary at its vendor (as fingerprints).
    db = open_database(f"sqlite:///{tmp_path / 'seawall.db'}")
    try:
        probe = Hit(minted[0]["id"], "crm", "probe", 5.0, "192.0.2.1", {"command": "VRFY"})
        asyncio.run(CanaryStore(db).record_hit(probe))
        status = runner.invoke(app, ["canary", "status", "--json", "-c", config])
        probed = {s["id"]: s for s in json.loads(status.stdout)}[minted[0]["id"]]
        assert probed["hits"] == {"probe": {"count": 1, "first": 5.0, "last": 5.0}}
        assert probed["total_hits"] == 1
        table = runner.invoke(app, ["canary", "status", "-c", config], env={"COLUMNS": "300"})
        assert "1 (1 probe)" in table.stdout
        ledger = LedgerStore(db)
        assert ledger.exposure("crm").users == 2
        assert ledger.exposure("mixpanel").subjects == 0
        key = KeyRing(tmp_path / "keys").ledger_key()
        assert all(ledger.has_value("crm", fingerprint(key, m["email"])) for m in minted)
    finally:
        db.close()


@pytest.mark.parametrize("command", ["mint --vendor crm", "plant", "listen"])
def test_cli_explains_a_missing_canary_section(tmp_path: Path, command: str) -> None:
    path = write_config(tmp_path)
    data = yaml.safe_load(path.read_text())
    del data["canary"]
    path.write_text(yaml.safe_dump(data))
    app = typer.Typer()
    register(app)
    result = CliRunner().invoke(app, ["canary", *command.split(), "-c", str(path)])
    assert "canary" in str(result.exception)
    assert "Fix" in str(result.exception)


def test_listen_on_a_port_in_use_exits_with_what_to_do(tmp_path: Path) -> None:
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    try:
        path = write_config(tmp_path)
        data = yaml.safe_load(path.read_text())
        data["canary"]["smtp_listen"] = f"127.0.0.1:{holder.getsockname()[1]}"
        path.write_text(yaml.safe_dump(data))
        app = typer.Typer()
        register(app)
        result = CliRunner().invoke(app, ["canary", "listen", "-c", str(path)])
    finally:
        holder.close()
    assert result.exit_code == 1  # at once, not when a signal comes
    assert isinstance(result.exception, SeawallError)  # `seawall` prints it as one line
    assert "cannot listen on" in str(result.exception)
    assert "canary.smtp_listen" in str(result.exception)
