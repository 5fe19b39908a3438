# ruff: noqa: S608  (DuckDB SQL here quotes paths and literals with _lit)
"""Keyed values derived from the directory, kept between runs: no contact details.

``scope`` and ``match`` fingerprint every directory user id with the ledger key (to
name the ledger's subjects), and ``match`` computes every id's pseudonym with the
vendor's key (to recognise ``sw_`` ids in a leaked file). For a million people that
is ~1.7 s of CPU per scope and ~3.5 s per match, the same every run while the
directory and the keys stay as they are. This cache keeps those values, and only
those: one Parquet file per kind (``fingerprints``: the ledger-key fingerprint;
``pseudonyms-<vendor>``: the vendor's pseudonym), in the directory's row order, each
beside a keyed 64-bit tag of the row's user id. Never a user id, email, name, org,
role, country or locale: those are read from the directory every run.

Why that is not raw personal data: a fingerprint or a pseudonym is an HMAC under a
key that stays in ``keys_dir``, the same values the ledger and the vendors hold, and
a tag is a hash under a secret derived from that key, so without the keys the file
names nobody (user ids are often emails).

Where: ``cache/directory`` beside ``keys_dir`` (Seawall's own data folder), folders
0700 and files 0600. A file is used only when all of these hold, and is rebuilt
otherwise:

* it was built from the same directory source: for a CSV file its resolved path,
  size, modification time (ns), inode and device; for an SQL directory the URL
  (without password) and the query;
* it was built with the same key (a key id, an HMAC of a constant under the key, is
  stored; a rotated key gives another id);
* its tags equal the tags of the directory's user ids, row for row (checked every
  run in one cheap pass; this is what keeps an SQL directory, which has no
  modification time, exact: a changed query result is recomputed and the file
  rewritten). Each value depends only on its user id and the key, so a row whose tag
  matches holds the right value (a changed id keeping its 64-bit tag: 2^-64);
* it was written by the same layout and Unicode version (the values of ids that
  normalisation changes would differ under another one).

Files left by a process killed while reading or writing (``.*.read``, ``.*.tmp``)
are removed by the next write once they are an hour old (by change time, which
making a link renews).

An unwritable folder only means computing the values every run, as without a cache.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import os
import secrets
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seawall.core.config import Config, CsvDirectory, SqlDirectory
from seawall.incident.leaked import _lit, _x

log = logging.getLogger(__name__)

# Bumped when the files' layout or meaning changes: older files are then rebuilt.
LAYOUT = "2"
_KEY_ID_LABEL = b"seawall directory cache key id"
_TAG_LABEL = b"seawall directory cache row tag"
_STALE_SECONDS = 3600.0


def key_id(key: bytes) -> str:
    """Names a key without revealing it: a rotated key gives another id."""
    return hmac.new(key, _KEY_ID_LABEL, hashlib.sha256).hexdigest()[:24]


def _tag_salt(key: bytes) -> str:
    """The secret prefix of the row tags: derived from the key, never stored."""
    return hmac.new(key, _TAG_LABEL, hashlib.sha256).hexdigest()


def _tag(column: str) -> str:
    """SQL for the keyed tag of ``column`` (the salt is the statement's one parameter)."""
    # SHA-1 under a secret prefix: a keyed tag for an equality check (no length
    # extension matters here), and DuckDB's SHA-1 costs ~0.3 s per million rows where
    # its MD5 costs ~0.7 s; 64 bits of it (16 hex digits) are kept.
    return f"left(sha1(? || {column}), 16)"


def _meta(source: str, kid: str) -> dict[str, str]:
    return {"layout": LAYOUT, "source": source, "key": kid, "unicode": unicodedata.unidata_version}


def _sweep(folder: Path) -> None:
    """Remove read links and temporary files a killed process left behind.

    Aged by the inode's change time: a read link shares the cache file's inode, whose
    modification time is when the file was written (often long ago), while making the
    link sets the change time to now, so a link another process reads through is young."""
    cutoff = time.time() - _STALE_SECONDS
    for leftover in [*folder.glob(".*.read"), *folder.glob(".*.tmp")]:
        with contextlib.suppress(OSError):
            if leftover.lstat().st_ctime < cutoff:
                leftover.unlink()


def _source_id(config: Config) -> str | None:
    d = config.directory
    if isinstance(d, CsvDirectory):
        path = config.path(d.path)
        try:
            st = path.stat()
            where = str(path.resolve())
        except OSError:
            return None
        text = f"csv\0{where}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ino}\0{st.st_dev}"
    elif isinstance(d, SqlDirectory):
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            url = make_url(d.url).render_as_string(hide_password=True)
        except ArgumentError:
            return None
        text = f"sql\0{url}\0{d.query}"
    else:
        return None
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def _private_folder(folder: Path) -> bool:
    """Create ``folder`` (and its missing parents) 0700; False when it cannot be had."""
    missing = []
    at = folder
    while not at.exists():
        missing.append(at)
        at = at.parent
    try:
        for path in reversed(missing):
            path.mkdir(mode=0o700, exist_ok=True)
            os.chmod(path, 0o700)  # mkdir's mode is reduced by the umask
        os.chmod(folder, 0o700)
    except OSError as exc:
        log.info("directory cache unused: cannot create %s (%s)", folder, exc.strerror)
        return False
    return os.access(folder, os.W_OK)


# Computes a kind's value in DuckDB SQL from column ``user_id`` of ``people``, with
# statement parameters.
Compute = tuple[str, list[object]]


@dataclass(frozen=True, slots=True)
class DirectoryCache:
    """The cache of one directory source (``for_config``)."""

    folder: Path
    source: str

    @classmethod
    def for_config(cls, config: Config) -> DirectoryCache | None:
        """The cache for the configured directory; None without a directory or where
        its source cannot be named (an unreadable CSV path: the reader says why)."""
        source = _source_id(config)
        if source is None:
            return None
        return cls(config.path(config.keys_dir).parent / "cache" / "directory", source)

    def stage(self, con: Any, table: str, kind: str, key: bytes, value: Compute) -> str:
        """Table ``table(user_id, v)``: ``value`` for each row of ``people``, in its
        order, from the cache when it is valid, else computed (and the cache rewritten);
        returns "hit" or "built" (or "unused" when the folder is not writable)."""
        path = self.folder / f"{kind}.parquet"
        kid = key_id(key)
        if self._read(con, table, path, key, kid):
            return "hit"
        _compute(con, table, value)
        return "built" if self._write(con, table, path, key, kid) else "unused"

    def _read(self, con: Any, table: str, path: Path, key: bytes, kid: str) -> bool:
        """``table`` from the file at ``path`` when it is valid. Checked and read
        through a link of its own: another process replacing the file meanwhile (for
        another directory or key) cannot swap it between the check and the read."""
        pinned = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.read")
        try:
            os.link(path, pinned)
        except OSError:
            return False  # absent (or a file system without links): rebuilt
        import duckdb

        try:
            if not self._valid(con, pinned, key, kid):
                return False
            _x(
                con,
                f"""CREATE OR REPLACE TEMP TABLE {table} AS SELECT p.user_id, c.v
                FROM people p POSITIONAL JOIN read_parquet({_lit(str(pinned))}) c""",
            )
            return True
        except (duckdb.Error, OSError):
            return False  # unreadable after all (e.g. removed under us): rebuilt
        finally:
            pinned.unlink(missing_ok=True)

    def _valid(self, con: Any, path: Path, key: bytes, kid: str) -> bool:
        import duckdb

        try:
            meta = dict(
                con.execute(
                    "SELECT decode(key), decode(value) FROM parquet_kv_metadata(?)", [str(path)]
                ).fetchall()
            )
            if meta != _meta(self.source, kid):
                return False
            # Row for row the same user ids (by their tags): a directory whose content
            # changed under the same name (an SQL query's result) is recomputed, never
            # misread.
            (differ,) = con.execute(
                f"""SELECT count(*) FROM people p POSITIONAL JOIN
                  (SELECT t FROM read_parquet({_lit(str(path))})) c
                WHERE {_tag("p.user_id")} IS DISTINCT FROM c.t""",
                [_tag_salt(key)],
            ).fetchall()[0]
        except (duckdb.Error, OSError):
            return False  # absent or unreadable: rebuilt
        return int(differ) == 0

    def _write(self, con: Any, table: str, path: Path, key: bytes, kid: str) -> bool:
        import duckdb

        if not _private_folder(self.folder):
            return False
        _sweep(self.folder)
        tmp = self.folder / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
        # The folder is 0700, so nobody else can open the file before its mode is set.
        meta = "{" + ", ".join(f"{k}: {_lit(v)}" for k, v in _meta(self.source, kid).items()) + "}"
        try:
            _x(
                con,
                f"""COPY (SELECT {_tag("user_id")} AS t, v FROM {table}) TO {_lit(str(tmp))}
                (FORMAT parquet, COMPRESSION zstd, KV_METADATA {meta})""",
                [_tag_salt(key)],
            )
            os.chmod(tmp, 0o600)
            os.replace(tmp, path)  # whole or not at all, for a process reading it now
        except (duckdb.Error, OSError) as exc:
            log.info("directory cache not written: %s", exc)
            tmp.unlink(missing_ok=True)
            return False
        return True


def stage_keyed(
    con: Any, cache: DirectoryCache | None, table: str, kind: str, key: bytes, value: Compute
) -> str:
    """``DirectoryCache.stage``, or the values computed when there is no cache."""
    if cache is not None:
        return cache.stage(con, table, kind, key, value)
    _compute(con, table, value)
    return "none"


def _compute(con: Any, table: str, value: Compute) -> None:
    """Table ``table(user_id, v)``: ``value`` computed for each row of ``people``."""
    sql, params = value
    _x(
        con,
        f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT user_id, {sql} AS v FROM people",
        params,
    )
