"""Gateway throughput with ack-after-commit, side by side with a floor server.

One run on this machine: the README's example config plus a second vendor, SQLite,
one server process per core, forwarders off (this measures what is accepted and
committed), batches of 50 mixpanel-browser-shaped events of ~40 properties sent by
wrk. Prints events/s, p50 and p99 latency, and the ratio to a floor server that only
parses the body and answers 200, under uvicorn and granian. The gateway is the build
of the Python that runs this script: `make bench` runs the compiled wheel's
(docs/deploy.md), `.venv/bin/python bench/gateway.py` the pure one.

    python bench/gateway.py [--seconds 15] [--connections 16]
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import yaml

sys.path.insert(0, str(Path(__file__).parent))

from bench_config import bench_data
from traffic import batch_body

from seawall.hotpath import build_name
from seawall.sink.server import free_port

BIN = Path(sys.executable).parent
LUA = """
local bodies = {}
local n = %(n)d
init = function(args)
  for i = 0, n - 1 do
    local f = io.open("%(dir)s/body" .. i .. ".txt", "rb")
    bodies[i + 1] = f:read("*all")
    f:close()
  end
end
local i = 0
request = function()
  i = (i %% n) + 1
  return wrk.format("POST", "/track/",
    {["Content-Type"] = "application/x-www-form-urlencoded"}, bodies[i])
end
"""


def start(cmd: list[str], port: int, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code < 500:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError(f"server did not start: {log.read_text()[-2000:]}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)


def wrk(port: int, script: Path, seconds: int, connections: int) -> tuple[float, float, float, int]:
    out = subprocess.run(
        [
            "wrk",
            "-t2",
            f"-c{connections}",
            f"-d{seconds}s",
            "--latency",
            "-s",
            str(script),
            f"http://127.0.0.1:{port}/track/",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]

    def pct(p: str) -> float:
        m = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)", out)
        assert m, out
        return float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]

    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return rps, pct("50"), pct("99"), int(bad.group(1)) if bad else 0


def cpu_seconds(pgid: int) -> float:
    """User + system CPU of every live process in the server's process group."""
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # fields after the name: state, ppid, pgrp, ...
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def measure(
    name: str,
    cmd: list[str],
    port: int,
    env: dict[str, str],
    tmp: Path,
    warmup: int,
    args: argparse.Namespace,
) -> tuple[str, float, float, float, int, float]:
    """Start a server, warm it up, then measure it with wrk: events/s, p50, p99, non-2xx,
    and the server's CPU time per event (steadier than events/s on a shared machine)."""
    proc = start(cmd, port, env, tmp / f"{name.replace(' ', '-')}.log")
    try:
        wrk(port, tmp / "bodies.lua", warmup, args.connections)
        cpu0 = cpu_seconds(proc.pid)
        rps, p50, p99, bad = wrk(port, tmp / "bodies.lua", args.seconds, args.connections)
        cpu = cpu_seconds(proc.pid) - cpu0
    finally:
        stop(proc)
    events = rps * args.batch
    return name, events, p50, p99, bad, cpu / (events * args.seconds) * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=int, default=15)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--batch", type=int, default=50)
    ap.add_argument("--servers", default="uvicorn,granian")
    args = ap.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is needed: apt-get install wrk")
    tmp = Path(tempfile.mkdtemp(prefix="seawall-bench-"))
    rng = random.Random(42)
    n_bodies = 400
    for i in range(n_bodies):
        (tmp / f"body{i}.txt").write_bytes(batch_body(rng, "demo-project-token", args.batch))
    script = tmp / "bodies.lua"
    script.write_text(LUA % {"n": n_bodies, "dir": tmp})
    env = {k: v for k, v in os.environ.items() if k != "SEAWALL_CONFIG"}
    # The caller's PYTHONPATH stays behind the bench directory, so another checkout's
    # ``src`` can be measured side by side with this one.
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")) if p
    )
    workers = str(os.cpu_count() or 2)
    rows: list[tuple[str, float, float, float, int, float]] = []
    for server in args.servers.split(","):
        port = free_port()
        if server == "uvicorn":
            floor_cmd = [
                str(BIN / "uvicorn"),
                "floor_app:app",
                "--port",
                str(port),
                "--workers",
                workers,
                "--log-level",
                "warning",
                "--no-access-log",
            ]
        else:
            floor_cmd = [
                str(BIN / "granian"),
                "--interface",
                "asgi",
                "--port",
                str(port),
                "--workers",
                workers,
                "--log-level",
                "warning",
                "floor_app:app",
            ]
        rows.append(measure(f"floor ({server})", floor_cmd, port, env, tmp, 3, args))

        data = bench_data(tmp / server, "http://127.0.0.1:9")
        (tmp / server).mkdir(exist_ok=True)
        data["gateway"] = {"forward": False, "workers": int(workers)}
        port = free_port()
        data["listen"] = f"127.0.0.1:{port}"
        cfg = tmp / server / "seawall.yaml"
        cfg.write_text(yaml.safe_dump(data, sort_keys=False))
        # What users run: `seawall serve`, one process per core, on either server.
        gw_cmd = [str(BIN / "seawall"), "serve", "--config", str(cfg), "--server", server]
        # Warm up until every simulated user has been seen: steady traffic from known
        # users is the case the ledger's recent-write memory is built for.
        rows.append(measure(f"seawall ({server})", gw_cmd, port, env, tmp, args.warmup, args))

    print(
        f"\n{args.batch}-event batches, {args.connections} connections, {args.seconds} s each, "
        f"{workers} processes, hot path {build_name()}, "
        f"load average before: {os.getloadavg()[0]:.1f}"
    )
    print(
        f"{'server':<22}{'events/s':>12}{'p50 ms':>10}{'p99 ms':>10}{'non-2xx':>9}{'/floor':>8}"
        f"{'CPU us/event':>14}"
    )
    floors = {name.split()[1]: eps for name, eps, *_ in rows if name.startswith("floor")}
    for name, eps, p50, p99, bad, cpu in rows:
        ratio = eps / floors[name.split()[1]]
        print(f"{name:<22}{eps:>12,.0f}{p50:>10.1f}{p99:>10.1f}{bad:>9}{ratio:>8.3f}{cpu:>14.1f}")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
