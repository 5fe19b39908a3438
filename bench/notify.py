"""Benchmark notification campaigns: delivery rate and planning time.

    python bench/notify.py [--messages 5000] [--plan 100000] [--concurrency N] [--no-write]

1. Messages/s: a campaign of ``--messages`` users sent with the default options (rate
   limit and concurrency) to a local aiosmtpd server running in its own process (so
   the server does not share the sender's interpreter), on SQLite with the default
   (FULL) synchronous setting: every notice costs one durable commit.
2. Planning: ``plan_wave`` for a 100,000-person scope and directory: scope read,
   planning, and storing the campaign with its 100,000 notices.

Prints the figures and rewrites the "## Notifications" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.notify.world import exposures, incident_with_scope, people  # noqa: E402

from seawall.core.config import Smtp  # noqa: E402
from seawall.incident.store import IncidentStore  # noqa: E402
from seawall.notify.campaign import parse_audience, plan  # noqa: E402
from seawall.notify.send import DEFAULT_CONCURRENCY, DEFAULT_RATE, SendOptions, send_campaign  # noqa: E402
from seawall.notify.wave import plan_wave  # noqa: E402
from seawall.storage.database import open_database  # noqa: E402

SENDER = "Example Security <security@example.com>"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def smtp_sink(port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}",
         "-c", "aiosmtpd.handlers.Sink"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("aiosmtpd did not start")


def bench_send(n: int, concurrency: int, tmp: Path) -> dict[str, float]:
    db = open_database(f"sqlite:///{tmp / 'send.db'}")
    ppl = people(n)
    incident = incident_with_scope(db, exposures(range(n)))
    wave = plan_wave(db, incident, "users", ppl, sender=SENDER)
    assert wave.campaign is not None
    port = free_port()
    sink = smtp_sink(port)
    try:
        start, cpu = time.perf_counter(), time.process_time()
        doc = send_campaign(
            db,
            wave.campaign.id,
            smtp=Smtp(host="127.0.0.1", port=port),
            people=ppl,
            options=SendOptions(concurrency=concurrency),
        )
        elapsed = time.perf_counter() - start
        cpu = time.process_time() - cpu
    finally:
        sink.kill()
        db.close()
    assert doc["sent"] == n, doc
    return {"messages": n, "seconds": elapsed, "per_second": n / elapsed, "cpu_ms": cpu / n * 1e3}


def bench_plan(n: int, tmp: Path) -> dict[str, float]:
    db = open_database(f"sqlite:///{tmp / 'plan.db'}")
    ppl = people(n, orgs=1000)
    incident = incident_with_scope(db, exposures(range(n), orgs=1000))
    t0 = time.perf_counter()
    _, scope = IncidentStore(db).latest_scope(incident)
    t1 = time.perf_counter()
    plan(scope, ppl, parse_audience("users"))
    t2, cpu = time.perf_counter(), time.process_time()
    wave = plan_wave(db, incident, "users", ppl, sender=SENDER)
    t3, cpu = time.perf_counter(), time.process_time() - cpu
    db.close()
    assert wave.campaign is not None
    assert len(wave.plan.notices) == n
    return {
        "recipients": n,
        "scope_read": t1 - t0,
        "plan_only": t2 - t1,
        "plan_wave": t3 - t2,
        "plan_wave_cpu": cpu,
    }


def write_doc(text: str) -> None:
    path = ROOT / "docs" / "benchmarks.md"
    current = path.read_text("utf-8") if path.exists() else "# Benchmarks\n"
    section = "## Notifications\n\n" + text.strip() + "\n"
    pattern = re.compile(r"^## Notifications\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(current):
        updated = pattern.sub(lambda _m: section + "\n", current).rstrip() + "\n"
    else:
        updated = current.rstrip() + "\n\n" + section
    path.write_text(updated, "utf-8")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=5000)
    ap.add_argument("--plan", type=int, default=100_000)
    ap.add_argument("--concurrency", type=int, default=DEFAULT_CONCURRENCY)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        send = bench_send(args.messages, args.concurrency, Path(tmp))
        planned = bench_plan(args.plan, Path(tmp))
    machine = f"{platform.machine()}, {os.cpu_count()} CPU(s), Python {platform.python_version()}"
    rows = [
        (
            f"delivery: {send['messages']:,} notices, concurrency {args.concurrency}, "
            f"rate limit {DEFAULT_RATE:.0f}/s",
            f"**{send['per_second']:.0f} messages/s** ({send['seconds']:.1f} s)",
        ),
        ("sender CPU per message (render, MIME, SMTP client, commit)", f"{send['cpu_ms']:.2f} ms"),
        (
            f"plan {planned['recipients']:,} recipients with `plan_wave` (read scope, plan, store)",
            f"**{planned['plan_wave']:.2f} s** ({planned['plan_wave_cpu']:.2f} s CPU)",
        ),
        ("of which reading the scope (incident store)", f"{planned['scope_read']:.2f} s"),
        ("of which planning alone (pure)", f"{planned['plan_only']:.2f} s"),
    ]
    table = "\n".join(f"| {k} | {v} |" for k, v in rows)
    sent_ok = "met" if send["per_second"] >= 500 else "**not met**"
    plan_ok = "met" if planned["plan_wave"] < 5 else "**not met**"
    text = f"""
`python bench/notify.py` ({machine}, load average {load:.1f} when it started; SQLite,
synchronous=FULL; aiosmtpd in its own process on 127.0.0.1).
Goals: >= 500 messages/s with the default options, plan < 5 s for 100,000.

| measure | result |
| --- | --- |
{table}

Delivery goal {sent_ok}; planning goal {plan_ok}. A notice costs about
{send["cpu_ms"]:.1f} ms of sender CPU: messages are written as bytes (the email package
folds only From and the subjects, once), and one transaction settles the workers'
outcomes and claims their next notices together, so "sending" is still committed
before each SMTP transaction starts. What is left is waiting: each worker's cycle is
one commit plus four SMTP round trips to aiosmtpd (no PIPELINING), and at most
`--concurrency` notices are in flight by design (that bounds the duplicates a crash can
cause). On this machine aiosmtpd alone accepts a few hundred messages/s from 8 plain
smtplib clients, so the server, not the sender, sets the ceiling. Planning is three
similar parts: reading the scope, planning (pure), and storing 100,000 notices. These
figures were taken on a shared 2-CPU machine under load: compare the CPU figures.
"""
    print(text)
    if not args.no_write:
        write_doc(text)


if __name__ == "__main__":
    main()
