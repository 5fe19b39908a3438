"""Canary alert latency: from the end of SMTP DATA to the webhook delivery.

Mints 200 canaries (one mail each, so every mail is a first hit and is alerted at
once), runs the SMTP tripwire and the alert dispatcher as ``seawall serve`` does,
and a webhook receiver, all on 127.0.0.1 with SQLite. Each mail is timed from the
client's DATA command (a conservative start: the true "end of DATA" is later) to
the arrival of its alert at the receiver. Sequential mails, then 10 senders at once.

    .venv/bin/python bench/canary.py [--mails 200] [--write docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import platform
import smtplib
import statistics
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from seawall.canary.mint import canary_key
from seawall.canary.plant import mint_canaries
from seawall.canary.service import start_canary_services
from seawall.canary.store import CanaryStore
from seawall.core.config import parse_config
from seawall.gateway.runtime import Runtime
from seawall.sink.server import free_port

ARRIVED: dict[str, float] = {}


async def hook(request: Request) -> Response:
    body = orjson.loads(await request.body())
    ARRIVED.setdefault(body["canary"], time.perf_counter())
    return Response(b"", 204)


def serve_receiver(port: int) -> uvicorn.Server:
    app = Starlette(routes=[Route("/hook", hook, methods=["POST"])])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.01)
    return server


def run_services(rt: Runtime) -> tuple[asyncio.AbstractEventLoop, asyncio.Event]:
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    ready = threading.Event()

    def main() -> None:
        asyncio.set_event_loop(loop)

        async def go() -> None:
            tasks = start_canary_services(rt, stop, replant_every=None, summary_interval=300)
            ready.set()
            await asyncio.gather(*tasks)

        loop.run_until_complete(go())

    threading.Thread(target=main, daemon=True).start()
    ready.wait()
    time.sleep(0.3)  # the listener binds
    return loop, stop


def send_one(port: int, to: str, body: bytes) -> float:
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.ehlo("bench.example.net")
        client.mail("a@attacker.example.net")
        client.rcpt(to)
        started = time.perf_counter()
        client.data(body)
    return started


def measure(port: int, emails: list[tuple[str, str]], workers: int) -> list[float]:
    body = (
        b"From: Security <a@attacker.example.net>\r\nSubject: verify your account\r\n"
        b"Content-Type: text/plain\r\n\r\nVerify: https://login.attacker.example.net/v\r\n"
    )
    with ThreadPoolExecutor(workers) as pool:
        starts = dict(
            zip(
                [cid for cid, _ in emails],
                pool.map(lambda e: send_one(port, e[1], body), emails),
                strict=True,
            )
        )
    deadline = time.monotonic() + 30
    while any(cid not in ARRIVED for cid in starts) and time.monotonic() < deadline:
        time.sleep(0.01)
    return [ARRIVED[cid] - t for cid, t in starts.items() if cid in ARRIVED]


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mails", type=int, default=200)
    parser.add_argument("--write", type=Path, default=None)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="seawall-bench-canary-"))
    hook_port, smtp_port = free_port(), free_port()
    receiver = serve_receiver(hook_port)
    cfg = parse_config(
        {
            "database": f"sqlite:///{tmp / 'seawall.db'}",
            "keys_dir": str(tmp / "keys"),
            "vendors": {
                "crm": {
                    "kind": "mixpanel",
                    "endpoint": "http://127.0.0.1:9",
                    "token": "crm-token",
                    "policy": {
                        "free_text": "keep",
                        "rules": [{"field": ["$email", "$website"], "action": "keep"}],
                    },
                }
            },
            "canary": {
                "domain": "canary.example.com",
                "smtp_listen": f"127.0.0.1:{smtp_port}",
                "beacon_base": "https://gw.example.com",
            },
            "alerts": {"webhooks": [f"http://127.0.0.1:{hook_port}/hook"]},
        },
        base_dir=str(tmp),
    )
    rt = Runtime.build(cfg)
    store = CanaryStore(rt.db)
    key = canary_key(rt.keys)
    made = mint_canaries(cfg, rt.policies, key, store, "crm", 2 * args.mails)
    emails = [(c.id, c.email) for c, _ in made]
    loop, stop = run_services(rt)
    results: dict[str, list[float]] = {}
    try:
        results["sequential"] = measure(smtp_port, emails[: args.mails], 1)
        results["10 senders"] = measure(smtp_port, emails[args.mails :], 10)
    finally:
        loop.call_soon_threadsafe(stop.set)
        time.sleep(0.5)
        receiver.should_exit = True
        rt.close()
    lines = [
        "## Canaries",
        "",
        "`bench/canary.py`: time from the SMTP client's DATA command to the arrival of the",
        f"alert at a webhook receiver, {args.mails} mails per run, each to its own canary",
        "(every mail is a first hit, alerted at once; the hit is committed before `250`).",
        f"SQLite, one process, 127.0.0.1; {platform.python_implementation()} "
        f"{platform.python_version()}, {platform.machine()}. Goal: p99 < 1 s.",
        "",
        "| run | mails | p50 | p99 | max |",
        "|---|---|---|---|---|",
    ]
    for name, values in results.items():
        ms = [v * 1000 for v in values]
        lines.append(
            f"| {name} | {len(ms)} | {statistics.median(ms):.1f} ms | "
            f"{pct(ms, 99):.1f} ms | {max(ms):.1f} ms |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    if args.write:
        write_section(args.write, text)


def write_section(path: Path, section: str) -> None:
    """Replace (or add) the "## Canaries" section, leaving the others as they are."""
    old = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    start = old.find("\n## Canaries\n")
    if start == -1:
        new = old.rstrip("\n") + "\n\n" + section
    else:
        end = old.find("\n## ", start + 1)
        new = old[: start + 1] + section + (old[end:] if end != -1 else "")
    path.write_text(new, encoding="utf-8")


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
