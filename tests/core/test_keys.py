"""Keys are created 0600 in a 0700 folder, reused, and refused when others can read them."""

from __future__ import annotations

import stat
from pathlib import Path

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
