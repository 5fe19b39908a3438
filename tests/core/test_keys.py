"""Keys are created 0600 in a 0700 folder, reused, and refused when others can read them."""

from __future__ import annotations

import multiprocessing
import stat
from pathlib import Path
from typing import Any

import pytest

from seawall.core.errors import ConfigError
from seawall.core.keys import KeyRing


def test_created_private_and_stable(tmp_path: Path) -> None:
    ring = KeyRing(tmp_path / "keys")
    a = ring.vendor_key("mixpanel")
    assert len(a) == 32
    path = tmp_path / "keys" / "vendor-mixpanel.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "keys").stat().st_mode) == 0o700
    assert KeyRing(tmp_path / "keys").vendor_key("mixpanel") == a
    assert ring.vendor_key("segment") != a
    assert ring.ledger_key() not in (a, ring.vendor_key("segment"))


def test_loose_permissions_refused(tmp_path: Path) -> None:
    ring = KeyRing(tmp_path / "keys")
    ring.ledger_key()
    path = tmp_path / "keys" / "ledger.key"
    path.chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        KeyRing(tmp_path / "keys").ledger_key()


def test_bad_vendor_name_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        KeyRing(tmp_path).vendor_key("../etc/passwd")


def _start_together(folder: str, barrier: Any, out: Any) -> None:
    barrier.wait()
    try:
        out.put(KeyRing(Path(folder)).vendor_key("mixpanel").hex())
    except Exception as exc:  # reported to the test, which fails on it
        out.put(f"{type(exc).__name__}: {exc}")


def test_processes_starting_together_share_one_whole_key(tmp_path: Path) -> None:
    # Several processes on first use of a keys_dir (serve and a CLI command, containers
    # starting together): each gets the same key, none reads a half-written file.
    ctx = multiprocessing.get_context("fork")
    for round_ in range(10):
        folder = tmp_path / f"keys{round_}"
        barrier, out = ctx.Barrier(6), ctx.Queue()
        procs = [
            ctx.Process(target=_start_together, args=(str(folder), barrier, out)) for _ in range(6)
        ]
        for p in procs:
            p.start()
        got = {out.get(timeout=30) for _ in procs}
        for p in procs:
            p.join(30)
        assert len(got) == 1, got
        assert len(next(iter(got))) == 64, got
        assert sorted(f.name for f in folder.iterdir()) == ["vendor-mixpanel.key"]
