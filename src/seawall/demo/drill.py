"""``seawall demo``: a whole breach drill on local parts, timed step by step.

Traffic from synthetic users flows through the gateway to two local vendors, one with a
strict policy and one careless; canaries are planted; the careless vendor "leaks" its
people export and an attacker mails a canary; then the response runs with the CLI's own
commands: the alert opens the incident, scope, match, report, clocks, and notices to
users and org admins through a local mail relay. The summary is checked against the
ground truth (what the vendors' sinks really received).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console

from seawall.core.config import load_config
from seawall.core.errors import ConfigError, SeawallError
from seawall.core.keys import KeyRing
from seawall.demo import breach
from seawall.demo.cli_runner import run_cli
from seawall.demo.config import CARELESS, STRICT, TOKEN, Ports, write_config
from seawall.demo.services import Hook, mail_relay, running_gateway, webhook_receiver
from seawall.demo.summary import Truth, build_summary
from seawall.demo.traffic import Request, requests_for
from seawall.demo.world import build_world, write_directory
from seawall.sink.server import free_port, running_sink

__all__ = ["DrillError", "Options", "run_drill"]

CANARIES = 3
# The relay is in this process too: more SMTP workers only contend for the GIL.
NOTIFY_CONCURRENCY = "2"


class DrillError(SeawallError):
    """A step of the drill did not happen as it should (a timeout, a refused request)."""


@dataclass(frozen=True, slots=True)
class Options:
    folder: Path
    users: int = 500
    seed: int = 7
    concurrency: int = 8


@dataclass
class Steps:
    """Prints each step with its duration; keeps the timings for the summary."""

    console: Console
    timings: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def step(self, title: str) -> Iterator[list[str]]:
        notes: list[str] = []
        started = time.perf_counter()
        with self.console.status(title):
            yield notes
        took = time.perf_counter() - started
        self.timings[title] = round(took, 3)
        detail = f"  [dim]{'; '.join(notes)}[/]" if notes else ""
        self.console.print(
            f"[green]✓[/] {title:<32} [cyan]{took:6.2f} s[/]{detail}", soft_wrap=True
        )


def _wait(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise DrillError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


async def _send(url: str, requests: list[Request], concurrency: int) -> int:
    """POST every request as the browser would; returns how many events were accepted."""
    gate = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:

        async def one(r: Request) -> int:
            async with gate:
                resp = await client.post(r.path, content=r.body, headers=r.headers)
            if resp.status_code != 200 or resp.text.strip() != "1":
                raise DrillError(f"the gateway answered {resp.status_code} {resp.text[:200]!r}")
            return r.events

        return sum(await asyncio.gather(*(one(r) for r in requests)))


def _sink_count(url: str) -> int:
    count: int = httpx.get(f"{url}/_sink/count", timeout=5).json()["messages"]
    return count


def run_drill(options: Options, console: Console | None = None) -> dict[str, Any]:
    """Run the drill in ``options.folder``; returns the summary (see ``build_summary``).
    Everything it starts is stopped before it returns or raises."""
    console = console or Console(stderr=True)
    steps = Steps(console)
    folder = options.folder
    folder.mkdir(parents=True, exist_ok=True)
    begun = time.perf_counter()
    # The canary alert's log line would interleave with the steps; the webhook shows it.
    seawall_log = logging.getLogger("seawall")
    level = seawall_log.level
    seawall_log.setLevel(logging.ERROR)
    try:
        summary = _drill(options, steps, folder)
    finally:
        seawall_log.setLevel(level)
    summary["timings"]["total"] = round(time.perf_counter() - begun, 2)
    summary["timings"]["steps"] = steps.timings
    return summary


def _drill(options: Options, steps: Steps, folder: Path) -> dict[str, Any]:
    with ExitStack() as stack:
        with steps.step("start local services") as notes:
            relay = stack.enter_context(mail_relay())
            hook = stack.enter_context(webhook_receiver())
            strict = stack.enter_context(running_sink(folder / f"{STRICT}.ndjson"))
            careless = stack.enter_context(running_sink(folder / f"{CARELESS}.ndjson"))
            ports = Ports(
                gateway=free_port(),
                strict_sink=strict.url,
                careless_sink=careless.url,
                relay=relay.port,
                tripwire=free_port(),
                webhook=hook.url,
            )
            config_path = write_config(folder, ports)
            world = build_world(options.users, options.seed)
            write_directory(world, folder / "users.csv")
            cfg = load_config(config_path)
            gateway = stack.enter_context(running_gateway(cfg))
            notes.append(f"gateway {gateway}, 2 vendor sinks, mail relay, tripwire, webhook")
        cli = ("--config", str(config_path))

        with steps.step("send users' traffic") as notes:
            requests = requests_for(world, TOKEN, options.seed)
            events = asyncio.run(_send(gateway, requests, options.concurrency))
            notes.append(
                f"{len(world.users)} users in {len(world.orgs)} orgs, "
                f"{len(requests)} requests, {events} events"
            )

        with steps.step("mint and plant canaries") as notes:
            canaries = run_cli("canary", "mint", "--vendor", CARELESS, "--count", str(CANARIES),
                               "--json", *cli).json()  # fmt: skip
            refused = _refusal(cli)
            run_cli("canary", "plant", *cli)
            notes.append(f"{len(canaries)} at {CARELESS}; {STRICT}: refused (no contact field)")

        with steps.step("vendors receive") as notes:
            _wait(lambda: _delivered(cli, strict.url, events), 30, f"{STRICT} to receive")
            _wait(lambda: _delivered(cli, careless.url, events), 30, f"{CARELESS} to receive")
            exposure = {
                v: run_cli("vendors", "exposure", v, "--json", *cli).json()
                for v in (STRICT, CARELESS)
            }
            notes.append(
                f"{STRICT}: {_sink_count(strict.url)} messages, "
                f"{CARELESS}: {_sink_count(careless.url)} (with the canaries')"
            )

        keys = KeyRing(cfg.path(cfg.keys_dir))
        got = {
            v: breach.received_by(v, folder / f"{v}.ndjson", world, keys.vendor_key(v))
            for v in (STRICT, CARELESS)
        }
        with steps.step(f"{CARELESS} is breached") as notes:
            leak = folder / "leaked-people.ndjson"
            leak_rows = breach.write_leaked_export(got[CARELESS], leak)
            phished = str(canaries[0]["email"])
            phish_at = time.time()
            breach.phish(ports.tripwire, phished)
            notes.append(f"people export of {sum(leak_rows.values())} rows; phishing mail sent")

        with steps.step("canary alert opens the incident") as notes:
            alert_at, alert = _alert(hook)
            incident = str(alert["incident"])
            notes.append(f"incident {incident} via webhook, {alert_at - phish_at:.2f} s after mail")

        with steps.step("incident scope (ledger)") as notes:
            scope = run_cli("incident", "scope", incident, "--json", *cli).json()
            notes.append(f"{scope['users']} users, {scope['anonymous']} anonymous")

        with steps.step("incident match (leaked file)") as notes:
            matched = run_cli("incident", "match", incident, str(leak), "--json", *cli).json()
            notes.append(
                f"{matched['matched']} matched, {matched['canaries']} canaries, "
                f"{matched['unknown']} unknown, {matched['invalid']} invalid"
            )

        with steps.step("incident report") as notes:
            report = run_cli("incident", "report", incident, "--out", str(folder / "report"),
                             "--json", *cli).json()  # fmt: skip
            notes.append("HTML, JSON and CSV")

        with steps.step("incident clocks") as notes:
            clocks = run_cli("incident", "clocks", incident, "--json", *cli).json()
            applies = [d["regime"] for d in clocks["deadlines"] if d["applies"]]
            notes.append(", ".join(dict.fromkeys(applies)) or "none apply")

        with steps.step("notify users and org admins") as notes:
            campaigns = {}
            for audience in ("users", "org_admins"):
                plan = run_cli("notify", "plan", incident, "--audience", audience, "--json", *cli)
                planned = plan.json()
                sent = run_cli(
                    "notify",
                    "send",
                    str(planned["campaign"]),
                    "--concurrency",
                    NOTIFY_CONCURRENCY,
                    "--json",
                    *cli,
                ).json()
                campaigns[audience] = {**planned, **sent}
            notified_at = time.time()
            _wait(lambda: len(relay.notices()) >= _sent(campaigns), 10, "the relay")
            notes.append(f"{_sent(campaigns)} notices through the relay")

        truth = Truth.of(world, got, leak_rows, canaries, relay.notices())
        summary = build_summary(
            world=world,
            exposure=exposure,
            got=got,
            canaries=canaries,
            refused=refused,
            scope=scope,
            matched=matched,
            campaigns=campaigns,
            clocks=clocks,
            report=report,
            times={
                "phish_to_alert": alert_at - phish_at,
                "alert_to_notified": notified_at - alert_at,
            },
            truth=truth,
            folder=folder,
        )
        with steps.step("stop services"):
            stack.close()
    return summary


def _refusal(cli: tuple[str, str]) -> str:
    """Minting at the strict vendor is refused: it never receives a canary's address."""
    try:
        run_cli("canary", "mint", "--vendor", STRICT, "--json", *cli)
    except ConfigError as exc:
        return str(exc).split(";")[0]
    raise DrillError(f"{STRICT} accepted a canary; its policy should let no contact field through")


def _delivered(cli: tuple[str, str], sink_url: str, events: int) -> bool:
    """Every event reached the sink and nothing is left in any vendor's outbox."""
    if _sink_count(sink_url) < events:
        return False
    return all(v["held"] == 0 for v in run_cli("vendors", "list", "--json", *cli).json())


def _alert(hook: Hook) -> tuple[float, dict[str, Any]]:
    found = _wait(
        lambda: hook.first(lambda b: b.get("vendor") == CARELESS and b.get("kind") == "hit"),
        15,
        "the canary alert",
    )
    arrived, body = found
    return float(arrived), body


def _sent(campaigns: dict[str, dict[str, Any]]) -> int:
    return sum(int(c["sent"]) for c in campaigns.values())
