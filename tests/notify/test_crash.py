"""Guarantee 6: kill -9 of `notify send` mid-campaign loses no notice (real processes)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from seawall.storage.database import open_database
from tests.notify.smtpd import smtp_server
from tests.notify.world import exposures, incident_with_scope, people, write_csv
from tests.support import wait_for

pytestmark = pytest.mark.slow
USERS = 240
CONCURRENCY = 4


def _cli(config: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "seawall.cli.notify", *args, "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if check and proc.returncode != 0:
        pytest.fail(f"notify {args[0]} exited {proc.returncode}: {proc.stderr}")
    return proc


def test_kill_9_mid_campaign_then_resume(tmp_path: Path) -> None:
    ppl = people(USERS, orgs=10)
    write_csv(tmp_path / "users.csv", ppl)
    db = open_database(f"sqlite:///{tmp_path / 'seawall.db'}")
    incident = incident_with_scope(db, exposures(range(USERS)))
    db.close()
    with smtp_server() as (server, port):
        config = tmp_path / "seawall.yaml"
        config.write_text(
            "database: sqlite:///seawall.db\n"
            "directory: {kind: csv, path: users.csv}\n"
            f"smtp: {{host: 127.0.0.1, port: {port}, "
            'sender: "Example Security <security@example.com>"}\n'
        )
        planned = json.loads(_cli(config, "plan", str(incident), "--json").stdout)
        assert planned["recipients"] == planned["pending"] == USERS
        campaign = str(planned["campaign"])

        send = [sys.executable, "-m", "seawall.cli.notify", "send", campaign, "--json"]
        send += ["--config", str(config), "--rate", "100", "--concurrency", str(CONCURRENCY)]
        proc = subprocess.Popen(send, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            wait_for(lambda: server.count() >= USERS // 4, timeout=60)
        finally:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
        at_kill = server.count()
        assert at_kill < USERS, "the kill came mid-campaign"

        stopped = json.loads(_cli(config, "status", campaign, "--json").stdout)
        assert stopped["sending"] <= CONCURRENCY
        assert len(stopped["uncertain"]) == stopped["sending"]

        resumed = json.loads(_cli(config, "send", campaign, "--json").stdout)
        received = Counter(r.rcpt_tos[0] for r in server.received)

    assert resumed["status"] == "finished"
    assert resumed["sent"] == USERS
    assert set(received) == {p.email for p in ppl if p.role == "member"}, "nobody missed"
    duplicates = {addr for addr, n in received.items() if n > 1}
    assert sum(received.values()) - USERS <= CONCURRENCY
    named = {u["recipient"] for u in resumed["uncertain"]}
    assert {f"user:{a.split('@')[0]}" for a in duplicates} <= named
    final = json.loads(_cli(config, "status", campaign, "--json").stdout)
    assert final["uncertain"] == resumed["uncertain"]
    assert final["pending"] == final["sending"] == 0
