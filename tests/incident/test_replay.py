"""Acceptance: a synthetic replay through the real gateway pipeline, then scope, match,
re-scope and report. 2,000 users in 150 orgs; one vendor's policy keeps email and name
(the misconfiguration), so the users whose profile was set are exposed with contact."""

from __future__ import annotations

import asyncio
import csv
import json
import random
from pathlib import Path

import pytest
from typer.testing import CliRunner

from seawall.core.config import Config, parse_config
from seawall.core.crypto import pseudonym
from seawall.core.keys import KeyRing
from seawall.core.types import Context, Event
from seawall.gateway.runtime import Runtime
from seawall.incident.store import IncidentStore

USERS, ORGS, DAYS = 2000, 150, 3
T0 = 1_760_000_000.0
DAY = 86_400.0
COUNTRIES = ["DE", "FR", "US-CA", "US-NY", "GB", "NL"]


def _config(tmp: Path, database: str) -> Config:
    leaky_rules = [
        {"field": "event", "action": "keep"},
        {"field": ["distinct_id", "$device_id", "$user_id", "org_id"], "action": "pseudonymize"},
        {"field": ["$browser", "$os", "mp_country_code"], "action": "keep"},
        {"field": ["$email", "$name"], "action": "keep"},  # the misconfiguration
    ]
    data = {
        "database": database,
        "keys_dir": str(tmp / "keys"),
        "sources": {
            "web": {"kind": "mixpanel", "token": "web-token", "destinations": ["mixpanel"]}
        },
        "vendors": {
            "mixpanel": {
                "kind": "mixpanel",
                "endpoint": "http://127.0.0.1:9",
                "token": "vendor-token",
                "contract": {"retention_days": 365},
                "policy": {"default": "drop", "rules": leaky_rules},
            }
        },
        "directory": {"kind": "csv", "path": "users.csv"},
        "canary": {"domain": "canary.example.com"},
    }
    return parse_config(data, base_dir=str(tmp))


def _users(tmp: Path) -> list[dict[str, str]]:
    rng = random.Random(4)
    users = [
        {
            "user_id": f"user-{i:05d}",
            "email": f"person{i}@corp{i % ORGS}.example.com",
            "name": f"Person {i}",
            "org_id": f"org-{i % ORGS:03d}",
            "role": "admin" if i % 50 == 0 else "member",
            "locale": "en",
            "country": rng.choice(COUNTRIES),
        }
        for i in range(USERS)
    ]
    with (tmp / "users.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(users[0]))
        w.writeheader()
        w.writerows(users)
    return users


def _track(i: int, day: int, device: str, signed_in: bool) -> Event:
    uid = f"user-{i:05d}"
    return Event(
        sdk="mixpanel",
        kind="track",
        source="web",
        name="Page Viewed",
        distinct_id=uid if signed_in else device,
        insert_id=f"ins-{i}-{day}-{signed_in}",
        fields={
            "event": "Page Viewed",
            "distinct_id": uid if signed_in else device,
            "$device_id": device,
            "$browser": "Firefox",
            "$os": "Linux",
            "$current_url": f"https://app.example.com/p/{i}",
            "org_id": f"org-{i % ORGS:03d}",
            **({"$user_id": uid} if signed_in else {}),
        },
        time=T0 + day * DAY + i,
        user_id=uid if signed_in else None,
        device_id=device,
        org_ids=(f"org-{i % ORGS:03d}",) if signed_in else (),
        context=Context(ip="203.0.113.9", user_agent="Mozilla/5.0 Firefox/140.0"),
    )


def _profile(i: int, users: list[dict[str, str]]) -> Event:
    uid = users[i]["user_id"]
    return Event(
        sdk="mixpanel",
        kind="profile",
        source="web",
        name=None,
        distinct_id=uid,
        insert_id=f"prof-{i}",
        fields={"distinct_id": uid, "$email": users[i]["email"], "$name": users[i]["name"]},
        time=T0 + 1 * DAY + i,
        user_id=uid,
        operation="$set",
    )


def _replay(rt: Runtime, users: list[dict[str, str]], days: range) -> set[str]:
    leaky: set[str] = set()

    async def go() -> None:
        for day in days:
            batch: list[Event] = []
            for i in range(USERS):
                device = f"dev-{i:05d}"
                batch.append(_track(i, day, device, signed_in=False))
                batch.append(_track(i, day, device, signed_in=True))
                if day == 1 and i % 7 == 0:
                    batch.append(_profile(i, users))
                    leaky.add(users[i]["user_id"])
                if len(batch) >= 500:
                    await rt.pipeline.accept(batch)
                    batch = []
            await rt.pipeline.accept(batch)

    asyncio.run(go())
    return leaky


def _leak(path: Path, users: list[dict[str, str]], leaky: set[str], vendor_key: bytes) -> None:
    """A Mixpanel people export: the exposed users, 50 unknown rows, 3 corrupted rows."""
    lines: list[bytes] = []
    for n, u in enumerate(u for u in users if u["user_id"] in leaky):
        ident = pseudonym(vendor_key, u["user_id"]) if n % 2 else u["user_id"]
        email = u["email"].upper() if n % 3 == 0 else f"  {u['email']} "
        props = {"$email": email, "$name": u["name"], "$city": "Berlin"}
        lines.append(json.dumps({"$distinct_id": ident, "$properties": props}).encode())
    for k in range(50):
        props = {"$email": f"stranger{k}@elsewhere.example.org", "$name": f"Stranger {k}"}
        lines.append(json.dumps({"$distinct_id": f"x-{k}", "$properties": props}).encode())
    lines.insert(10, b'{"$distinct_id": "broken", "$properties": {')
    lines.insert(20, b"\xff\xfe not utf-8 \xff")
    lines.insert(30, b"this is not json")
    path.write_bytes(b"\n".join(lines) + b"\n")


@pytest.mark.timeout(120)
def test_replay_scope_match_rescope_report(tmp_path: Path, db_url: str) -> None:
    import typer

    from seawall.cli.incident import register

    cfg = _config(tmp_path, db_url)
    users = _users(tmp_path)
    (tmp_path / "seawall.yaml").write_text(
        json.dumps(
            {
                **json.loads(json.dumps(cfg.model_dump(mode="json", exclude_none=True))),
            }
        )
    )
    rt = Runtime.build(cfg)
    try:
        leaky = _replay(rt, users, range(DAYS))
    finally:
        rt.db.close()
    assert 250 < len(leaky) < 300

    app = typer.Typer()
    register(app)
    run = CliRunner()
    conf = ["--config", str(tmp_path / "seawall.yaml")]
    opened = run.invoke(
        app,
        [
            "incident",
            "open",
            "--vendor",
            "mixpanel",
            "--aware-at",
            str(T0 + 10 * DAY),
            "--json",
            *conf,
        ],
    )
    assert opened.exit_code == 0, opened.output
    iid = json.loads(opened.stdout)["id"]

    scoped = run.invoke(
        app, ["incident", "scope", str(iid), "--json", "--out", str(tmp_path / "e.csv"), *conf]
    )
    assert scoped.exit_code == 0, scoped.output
    s1 = json.loads(scoped.stdout)
    assert (s1["version"], s1["subjects"], s1["users"], s1["orgs"], s1["anonymous"]) == (
        1,
        USERS,
        USERS,
        ORGS,
        0,
    )
    assert s1["categories"]["user.contact.email"] == len(leaky)
    assert s1["risk_tiers"]["high"] == len(leaky)
    with (tmp_path / "e.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert {r["user_id"] for r in rows if "user.contact.email" in r["categories"]} == leaky

    vendor_key = KeyRing(tmp_path / "keys").vendor_key("mixpanel")
    leak = tmp_path / "people.ndjson"
    _leak(leak, users, leaky, vendor_key)
    matched = run.invoke(app, ["incident", "match", str(iid), str(leak), "--json", *conf])
    assert matched.exit_code == 1, matched.output  # unknown and invalid rows are findings
    assert matched.exception is None or isinstance(matched.exception, SystemExit), repr(
        matched.exception
    )
    m = json.loads(matched.stdout)
    assert (m["rows"], m["matched"], m["canaries"], m["unknown"], m["invalid"]) == (
        len(leaky) + 53,
        len(leaky),
        0,
        50,
        3,
    )
    assert [x["line"] for x in m["invalid_lines"]] == [11, 21, 31]
    assert m["unknown_lines"] == list(range(len(leaky) + 4, len(leaky) + 54))
    assert m["provenance"] == {"ledger": USERS - len(leaky), "file": 0, "both": len(leaky)}
    store_db = Runtime.build(cfg).db
    try:
        store = IncidentStore(store_db)
        version, exposures = store.latest_scope(iid)
        assert version == 2
        both = {e.user_id for e in exposures if e.provenance == "both"}
        assert both == leaky
    finally:
        store_db.close()

    rt = Runtime.build(cfg)
    try:
        _replay(rt, users, range(DAYS, DAYS + 1))
    finally:
        rt.db.close()
    again = json.loads(run.invoke(app, ["incident", "scope", str(iid), "--json", *conf]).stdout)
    assert again["version"] == 3
    assert again["provenance"]["both"] == len(leaky)  # the file's findings carry forward
    old = run.invoke(app, ["incident", "show", str(iid), "--json", *conf])
    assert [v["version"] for v in json.loads(old.stdout)["scopes"]] == [1, 2, 3]

    clocks = json.loads(run.invoke(app, ["incident", "clocks", str(iid), "--json", *conf]).stdout)
    duties = {d["duty"].split(":")[0]: d for d in clocks["deadlines"]}
    assert duties["Art. 33"]["applies"]
    assert duties["Art. 33"]["due_at"] == T0 + 10 * DAY + 72 * 3600
    assert not duties["Civ. Code 1798.82"]["mandatory"]  # name + email is not "PI" there

    rep = run.invoke(
        app, ["incident", "report", str(iid), "--out", str(tmp_path / "rep"), "--json", *conf]
    )
    assert rep.exit_code == 0, rep.output
    html = Path(json.loads(rep.stdout)["html"])
    text = html.read_text()
    assert text.count("<svg") >= 5
    assert "<script" not in text
