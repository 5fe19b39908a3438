"""docs/tutorial.md, run: every ``sh`` block in order, in one shell, in a temp folder,
with the repo's .venv/bin first on PATH and the tutorial's fixed ports swapped for free
ones. A command the tutorial shows that stops working fails this test."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

from seawall.sink.server import free_port

ROOT = Path(__file__).resolve().parents[2]
TUTORIAL = ROOT / "docs" / "tutorial.md"
PORTS = ("8787", "9100", "9101", "2525", "2526")


def sh_blocks(text: str) -> list[str]:
    return re.findall(r"^```sh\n(.*?)^```", text, flags=re.S | re.M)


def test_the_tutorial_has_every_step() -> None:
    commands = "\n".join(sh_blocks(TUTORIAL.read_text(encoding="utf-8")))
    for step in (
        "seawall init", "seawall serve", "seawall sink", "seawall vendors exposure",
        "seawall canary mint", "seawall canary plant", "seawall incident scope",
        "seawall incident match", "seawall incident report", "seawall incident clocks",
        "seawall notify plan", "seawall notify preview", "seawall notify send",
        "seawall notify status",
    ):  # fmt: skip
        assert step in commands, step


def test_every_tutorial_command_runs(tmp_path: Path) -> None:
    script = "\n".join(sh_blocks(TUTORIAL.read_text(encoding="utf-8")))
    for port in PORTS:
        script = re.sub(rf"\b{port}\b", str(free_port()), script)
    # Whatever happens, the background services end with the shell.
    script = "trap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n" + script
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    env.pop("SEAWALL_CONFIG", None)
    proc = subprocess.Popen(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=150)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 0, out[-4000:]
    assert (tmp_path / "report" / "incident-1-v2.html").exists()
    relay = (tmp_path / "relay.log").read_text(encoding="utf-8", errors="replace")
    assert relay.count("X-Seawall-Reference") >= 4, relay[-2000:]  # 3 users + 2 owners
    assert "Vos données" in out or "Content-Language: fr" in out
