"""The breach drill as a test: a small company, every figure of the summary against
the ground truth computed here from the generated world and the vendors' sinks, and
nothing left running afterwards."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from seawall.cli import demo
from seawall.core.crypto import pseudonym
from seawall.core.keys import KeyRing
from seawall.demo.world import World, build_world
from seawall.sink.records import read_records

USERS = 60
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def drill(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    folder = tmp_path_factory.mktemp("drill") / "run"
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        pass

    demo.register(app)
    result = CliRunner().invoke(
        app, ["demo", "--dir", str(folder), "--users", str(USERS), "--json"]
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout.strip().splitlines()[-1]), folder


def profiles(sink: Path) -> list[dict[str, Any]]:
    """The engage ``$set`` messages a vendor's sink received."""
    out = []
    for record in read_records(sink):
        if record["endpoint"] == "engage" and "$set" in record["message"]:
            out.append(record["message"])
    return out


def truth(world: World, folder: Path) -> dict[str, int]:
    """Who the careless vendor really received an address and a name for."""
    key = KeyRing(folder / "keys").vendor_key("growth")
    by_alias = {pseudonym(key, u.user_id): u for u in world.users}
    emails, names = set(), set()
    for msg in profiles(folder / "growth.ndjson"):
        user = by_alias.get(msg["$distinct_id"])
        if user is None:
            continue  # a canary
        if user.email and msg["$set"].get("$email") == user.email:
            emails.add(user.user_id)
        if msg["$set"].get("$name") == user.name:
            names.add(user.user_id)
    exposed = [u for u in world.users if u.signs_in]
    orgs = {u.org_id for u in exposed}
    return {
        "emails": len(emails),
        "names": len(names),
        "exposed": len(exposed),
        "anonymous": len(world.users) - len(exposed),
        "orgs": len(orgs),
        "user_notices": sum(1 for u in exposed if u.email),
        "admin_notices": sum(1 for o in orgs for a in world.admins(o) if a.email),
    }


def test_summary_equals_the_ground_truth(drill: tuple[dict[str, Any], Path]) -> None:
    summary, folder = drill
    world = build_world(USERS, seed=7)
    want = truth(world, folder)
    assert want["emails"] > 0
    assert want["names"] > 0
    careless, strict = summary["vendors"]["growth"], summary["vendors"]["analytics"]
    assert careless["emails"] == want["emails"]
    assert careless["names"] == want["names"]
    # Canaries are kept out of people counts.
    assert careless["people"] == summary["scope"]["users"] == want["exposed"]
    assert summary["scope"]["canaries"] == careless["canaries"] == 3
    assert summary["scope"]["anonymous"] == want["anonymous"]
    assert summary["scope"]["orgs"] == want["orgs"]
    # The strict vendor received no address and no name, anywhere in any message.
    assert strict["emails"] == strict["names"] == 0
    strict_text = (folder / "analytics.ndjson").read_text(encoding="utf-8")
    assert not [u for u in world.users if u.email and u.email in strict_text]
    assert "0 emails, 0 names sent to the strict vendor" in summary["prevented"]
    # The leaked file: every profile the careless vendor held, 3 canaries, 3 strangers,
    # and one line cut off.
    leak = summary["leak"]
    assert (
        leak["matched"] == len({m["$distinct_id"] for m in profiles(folder / "growth.ndjson")}) - 3
    )
    assert (leak["canaries"], leak["unknown"], leak["invalid"]) == (3, 3, 1)
    assert leak["rows"] == leak["matched"] + 3 + 3 + 1
    notices = summary["notices"]
    assert notices["users"] == want["user_notices"]
    assert notices["org_admins"] == want["admin_notices"]
    assert notices["sent"] == want["user_notices"] + want["admin_notices"]
    assert notices["failed"] == 0
    assert summary["truth_ok"], [c for c in summary["checks"] if not c["ok"]]
    assert 0 < summary["timings"]["phish_to_alert"] < 5
    assert Path(summary["report"]).exists()


def test_nothing_is_left_running(drill: tuple[dict[str, Any], Path]) -> None:
    _, folder = drill
    names = [t.name for t in threading.enumerate()]
    assert not [n for n in names if n.startswith(("demo-", "seawall-sink-", "seawall-notify-"))]
    listen = (folder / "seawall.yaml").read_text().split("listen: ")[1].split()[0]
    host, port = listen.rsplit(":", 1)
    with pytest.raises(ConnectionRefusedError), socket.create_connection((host, int(port)), 1):
        pass


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
def test_the_report_renders_in_headless_chromium(drill: tuple[dict[str, Any], Path]) -> None:
    summary, folder = drill
    html = Path(summary["report"])
    assert "<script" not in html.read_text(encoding="utf-8")
    png = folder / "report.png"
    assert CHROMIUM is not None
    subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", f"--screenshot={png}",
         "--window-size=1200,1600", html.as_uri()],
        check=True,
        capture_output=True,
        timeout=60,
    )  # fmt: skip
    assert png.stat().st_size > 10_000
