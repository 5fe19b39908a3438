"""Benchmark notification campaigns: delivery rate and planning time.

    python bench/notify.py [--messages 3000] [--rounds 2] [--plan 100000] [--concurrency N]
                           [--write-doc]

1. Messages/s: a campaign of ``--messages`` users sent with the default options (rate
   limit and concurrency) to a local aiosmtpd server running in its own process (so
   the server does not share the sender's interpreter; uvloop when installed, the
   Sink handler), on SQLite with the default (FULL) synchronous setting: every claim
   is one durable commit. Each round first measures the server alone (the ceiling):
   as many plain ``smtplib`` clients as the sender has connections, sending a notice
   built once, no database; then the campaign. Both figures of a round share the
   machine's load, so the ceiling says whether the server or the sender was the limit.
2. Planning: ``plan_wave`` for a 100,000-person scope and directory: scope read,
   planning, and storing the campaign with its 100,000 notices.

Prints the figures; with ``--write-doc`` it replaces the "## Notifications" section of
docs/benchmarks.md with them (the section's hand-written analysis goes too: opt-in).
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import smtplib
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.notify.world import exposures, incident_with_scope, people  # noqa: E402

from seawall.core.config import Smtp  # noqa: E402
from seawall.incident.store import IncidentStore  # noqa: E402
from seawall.notify.address import parse_sender  # noqa: E402
from seawall.notify.campaign import parse_audience, plan  # noqa: E402
from seawall.notify.message import MessageBuilder  # noqa: E402
from seawall.notify.render import Renderer, sample_context  # noqa: E402
from seawall.notify.send import DEFAULT_CONCURRENCY, DEFAULT_RATE, SendOptions, send_campaign  # noqa: E402
from seawall.notify.wave import plan_wave  # noqa: E402
from seawall.storage.database import open_database  # noqa: E402

SENDER = "Example Security <security@example.com>"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# aiosmtpd's own command line with its Sink handler (accepts and drops every message),
# on uvloop when it is installed (about 10% less server CPU a message). With
# "pipelining", a handler that also advertises PIPELINING, as production MTAs do
# (aiosmtpd reads pipelined commands in order; it just does not announce it).
_SERVER = """
import sys
try:
    import uvloop
    uvloop.install()
except ImportError:
    pass
from aiosmtpd.main import main

class Pipelining:
    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        responses.insert(-1, "250-PIPELINING")
        return responses

    @classmethod
    def from_cli(cls, parser, *args):
        return cls()

handler = "__main__.Pipelining" if sys.argv[2] == "pipelining" else "aiosmtpd.handlers.Sink"
main(["-n", "-l", sys.argv[1], "-c", handler])
"""


def smtp_sink(port: int, *, pipelining: bool = False) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            _SERVER,
            f"127.0.0.1:{port}",
            "pipelining" if pipelining else "sink",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("aiosmtpd did not start")


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU of a process so far (Linux), else None."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def sample_notice() -> bytes:
    """One notice as the sender builds it (English, four categories)."""
    renderer = Renderer()
    context = sample_context("user", "en")
    return MessageBuilder(parse_sender(SENDER)).build(
        to_name="User 1",
        to_address="u000001@example.com",
        rendered=renderer.render("user", "en", context),
        message_id="<bench.1@example.com>",
        locale="en",
        reference="SW-1-1",
    )


def bench_ceiling(n: int, clients: int) -> dict[str, float]:
    """The server alone: ``clients`` smtplib connections sending one prebuilt notice."""
    message = sample_notice()
    port = free_port()
    sink = smtp_sink(port)
    per_client = [n // clients + (1 if i < n % clients else 0) for i in range(clients)]

    def client(count: int) -> None:
        with smtplib.SMTP("127.0.0.1", port) as conn:
            for _ in range(count):
                conn.sendmail("security@example.com", ["u000001@example.com"], message)

    try:
        threads = [threading.Thread(target=client, args=(c,)) for c in per_client]
        server_cpu = cpu_seconds(sink.pid)
        start = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - start
        after = cpu_seconds(sink.pid)
    finally:
        sink.kill()
        sink.wait()
    server_ms = (after - server_cpu) / n * 1e3 if after is not None and server_cpu else 0.0
    return {"per_second": n / elapsed, "server_cpu_ms": server_ms}


def bench_send(
    n: int, concurrency: int, tmp: Path, label: str, *, pipelining: bool = False
) -> dict[str, float]:
    db = open_database(f"sqlite:///{tmp / f'send-{label}.db'}")
    ppl = people(n)
    incident = incident_with_scope(db, exposures(range(n)))
    wave = plan_wave(db, incident, "users", ppl, sender=SENDER)
    assert wave.campaign is not None
    port = free_port()
    sink = smtp_sink(port, pipelining=pipelining)
    try:
        server_cpu = cpu_seconds(sink.pid)
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
        after = cpu_seconds(sink.pid)
    finally:
        sink.kill()
        sink.wait()
        db.close()
    assert doc["sent"] == n, doc
    server_ms = (after - server_cpu) / n * 1e3 if after is not None and server_cpu else 0.0
    return {
        "messages": n,
        "seconds": elapsed,
        "per_second": n / elapsed,
        "cpu_ms": cpu / n * 1e3,
        "server_cpu_ms": server_ms,
    }


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
    ap.add_argument("--messages", type=int, default=3000)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--plan", type=int, default=100_000)
    ap.add_argument(
        "--concurrency",
        type=int,
        nargs="+",
        default=[DEFAULT_CONCURRENCY],
        help="one delivery run per value in each round (the first is the headline)",
    )
    ap.add_argument(
        "--pipelining",
        action="store_true",
        help="also send each round's campaign to an aiosmtpd that advertises PIPELINING",
    )
    ap.add_argument(
        "--write-doc",
        action="store_true",
        help="replace docs/benchmarks.md's Notifications section with this run's figures",
    )
    args = ap.parse_args()
    load = os.getloadavg()[0]
    rounds: list[tuple[dict[str, float], list[tuple[str, dict[str, float]]]]] = []
    first = args.concurrency[0]
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            ceiling = bench_ceiling(args.messages, first)
            runs = [
                (f"concurrency {c}", bench_send(args.messages, c, Path(tmp), f"{r}-{c}"))
                for c in args.concurrency
            ]
            if args.pipelining:
                x = bench_send(args.messages, first, Path(tmp), f"{r}-p", pipelining=True)
                runs.append((f"concurrency {first}, server advertises PIPELINING", x))
            rounds.append((ceiling, runs))
            print(f"round {r + 1}: server alone {ceiling['per_second']:.0f}/s; "
                  + "; ".join(f"{label} {x['per_second']:.0f}/s" for label, x in runs),
                  flush=True)  # fmt: skip
        planned = bench_plan(args.plan, Path(tmp)) if args.plan else None
    end_load = os.getloadavg()[0]
    machine = f"{platform.machine()}, {os.cpu_count()} CPU(s), Python {platform.python_version()}"
    rows = []
    for i, (ceiling, runs) in enumerate(rounds, 1):
        rows.append(
            (
                f"round {i}: aiosmtpd alone, {first} smtplib clients, no database",
                f"{ceiling['per_second']:.0f} messages/s (server CPU "
                f"{ceiling['server_cpu_ms']:.2f} ms a message)",
            )
        )
        for label, x in runs:
            rows.append(
                (
                    f"round {i}: delivery, {x['messages']:,} notices, {label}, "
                    f"rate limit {DEFAULT_RATE:.0f}/s",
                    f"**{x['per_second']:.0f} messages/s** ({x['seconds']:.1f} s; CPU a "
                    f"message: sender {x['cpu_ms']:.2f} ms, server {x['server_cpu_ms']:.2f} ms)",
                )
            )
    headline = [runs[0][1]["per_second"] for _, runs in rounds]
    if planned is not None:
        rows += [
            (
                f"plan {planned['recipients']:,} recipients with `plan_wave` "
                "(read scope, plan, store)",
                f"**{planned['plan_wave']:.2f} s** ({planned['plan_wave_cpu']:.2f} s CPU)",
            ),
            ("of which reading the scope (incident store)", f"{planned['scope_read']:.2f} s"),
            ("of which planning alone (pure)", f"{planned['plan_only']:.2f} s"),
        ]
    table = "\n".join(f"| {k} | {v} |" for k, v in rows)
    met = sum(1 for x in headline if x >= 500)
    sent_ok = f"met in {met} of {len(headline)} round(s)" if met else "**not met**"
    if not headline:
        sent_ok = "not measured"
    plan_ok = (
        "not measured"
        if planned is None
        else ("met" if planned["plan_wave"] < 5 else "**not met**")
    )
    text = f"""
`python bench/notify.py` ({machine}, load average {load:.1f} at the start and
{end_load:.1f} at the end; SQLite, synchronous=FULL; aiosmtpd in its own process on
127.0.0.1, Sink handler).
Goals: >= 500 messages/s with the default options, plan < 5 s for 100,000.

| measure | result |
| --- | --- |
{table}

Delivery goal {sent_ok} (default concurrency {DEFAULT_CONCURRENCY}); planning goal
{plan_ok}. Each round measures the server alone, then the campaign, back to back: a
delivery rate close to the server-alone rate means the server, not the sender, set
the pace. Every notice is committed as "sending" before its SMTP transaction starts
and its outcome is committed with the worker's next claim, and at most `--concurrency`
notices are in flight, which bounds the duplicates a crash can cause. These figures
were taken on a shared machine: compare the CPU figures and the rounds' ceilings.
"""
    print(text)
    if args.write_doc:
        write_doc(text)


if __name__ == "__main__":
    main()
