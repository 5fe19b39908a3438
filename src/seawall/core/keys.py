"""Secret keys on disk: one HMAC key per vendor (pseudonyms) and one for the ledger
(fingerprints). Created on first use with mode 0600 inside a 0700 folder; a key file
that others can read is refused, as ssh refuses a loose private key."""

from __future__ import annotations

import os
import re
import secrets
import stat
from pathlib import Path

from seawall.core.errors import ConfigError

KEY_BYTES = 32
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")


class KeyRing:
    """Loads or creates the keys under ``keys_dir``; caches them for the process."""

    def __init__(self, keys_dir: Path) -> None:
        self.dir = keys_dir
        self._cache: dict[str, bytes] = {}

    def vendor_key(self, vendor: str) -> bytes:
        """The key behind ``pseudonymize`` for this vendor: stable for the vendor,
        unlinkable across vendors."""
        return self._key(f"vendor-{vendor}")

    def ledger_key(self) -> bytes:
        """The key behind every ledger fingerprint."""
        return self._key("ledger")

    def canary_key(self) -> bytes:
        """The key beacon tokens are derived from (only their hashes are stored)."""
        return self._key("canary")

    def _key(self, name: str) -> bytes:
        if name in self._cache:
            return self._cache[name]
        if not _NAME.match(name):
            raise ConfigError(
                f"'{name}' cannot name a key file",
                fix="use letters, digits, '-', '_' or '.' in vendor names",
            )
        path = self.dir / f"{name}.key"
        key = _read(path) if path.exists() else _create(path)
        self._cache[name] = key
        return key


def _create(path: Path) -> bytes:
    """Write a new key under a temporary name, then link it into place: the key file
    appears whole or not at all, so a process starting at the same moment reads either
    nothing (and makes its own attempt) or the complete key, never an empty file."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = secrets.token_bytes(KEY_BYTES)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(key.hex().encode())
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)  # fails if another process linked its key first
        except FileExistsError:
            return _read(path)  # use theirs
        _sync_dir(path.parent)
    finally:
        tmp.unlink(missing_ok=True)
    return key


def _sync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _read(path: Path) -> bytes:
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            "key file is readable by other users", path=str(path), fix=f"chmod 600 {path}"
        )
    text = path.read_text(encoding="ascii").strip()
    try:
        key = bytes.fromhex(text)
    except ValueError:
        raise ConfigError(
            "key file is not hex", path=str(path), fix="restore it from your key backup"
        ) from None
    if len(key) < 16:
        raise ConfigError(
            "key file holds fewer than 128 bits",
            path=str(path),
            fix="restore it from your key backup",
        ) from None
    return key
