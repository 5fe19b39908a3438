"""The cache of the directory's keyed values: the same values as computing them, rebuilt
when the directory or the key changes, private on disk, and no contact details in it."""

from __future__ import annotations

import os
import sqlite3
import stat
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from seawall.core.config import Config, parse_config
from seawall.core.crypto import fingerprint, pseudonym
from seawall.core.keys import KeyRing
from seawall.incident import dircache
from seawall.incident.dircache import DirectoryCache
from seawall.incident.directory import stage_directory
from seawall.incident.frame import connect, stage_fingerprints
from seawall.incident.keyed import fingerprint_params, fingerprint_sql
from seawall.incident.match import classify

ROWS = [
    ("u1", "ann@example.com", "Ann Example", "org-1", "owner", "en", "DE"),
    ("u2", "bob@example.com", "Bob Example", "org-2", "member", "fr", "FR"),
    ("u3", "cy@example.com", "Cy Example", "org-1", "member", "en", "US-CA"),
]
HEADER = "user_id,email,name,org_id,role,locale,country\n"


def _write_csv(path: Path, rows: list[tuple[str, ...]]) -> None:
    path.write_text(HEADER + "".join(",".join(r) + "\n" for r in rows), encoding="utf-8")


def _config(tmp: Path, directory: dict[str, str] | None = None) -> Config:
    return parse_config(
        {
            "keys_dir": str(tmp / "data" / "keys"),
            "directory": directory or {"kind": "csv", "path": str(tmp / "users.csv")},
        },
        base_dir=str(tmp),
    )


@pytest.fixture
def con() -> Iterator[object]:
    with tempfile.TemporaryDirectory() as tmp:
        c = connect(Path(tmp))
        yield c
        c.close()


def _fingerprints(con: object, config: Config) -> tuple[dict[str, bytes], str]:
    """Stage the directory and its fingerprints through the cache: (user id -> fp, how)."""
    stage_directory(con, config)
    cache = DirectoryCache.for_config(config)
    assert cache is not None
    key = KeyRing(config.path(config.keys_dir)).ledger_key()
    how = cache.stage(con, "probe", "fingerprints", key, _fp_sql(key))
    stage_fingerprints(con, key, [], cache)
    rows = con.execute("SELECT user_id, fp FROM dir").fetchall()  # type: ignore[attr-defined]
    return {str(u): bytes(f) for u, f in rows}, how


def _fp_sql(key: bytes) -> tuple[str, list[object]]:
    return f"unhex({fingerprint_sql('user_id')})", fingerprint_params(key)


def _expected(config: Config, ids: list[str]) -> dict[str, bytes]:
    key = KeyRing(config.path(config.keys_dir)).ledger_key()
    return {u: fingerprint(key, u) for u in ids}


# Repeated ids keep their last row; the rows must come out in the directory's order
# every run, or the cache never lines up and is rebuilt each time.
REPEATED = [
    *ROWS,
    ("u1", "ann.new@example.com", "Ann", "org-3", "admin", "en", "DE"),
    *((f"u{i}", f"p{i}@example.com", "P", "org-9", "member", "en", "FR") for i in range(4, 3000)),
]


@pytest.mark.parametrize("rows", [ROWS, REPEATED], ids=["distinct", "repeated ids"])
def test_built_then_hit_with_the_same_values(
    tmp_path: Path, con: object, rows: list[tuple[str, ...]]
) -> None:
    _write_csv(tmp_path / "users.csv", rows)
    config = _config(tmp_path)
    first, how = _fingerprints(con, config)
    assert how == "built"
    second, how = _fingerprints(con, config)
    assert how == "hit"
    assert first == second == _expected(config, sorted({r[0] for r in rows}))


def test_directory_edited_gives_new_values(tmp_path: Path, con: object) -> None:
    path = tmp_path / "users.csv"
    _write_csv(path, ROWS)
    config = _config(tmp_path)
    _fingerprints(con, config)
    # Same size, an id changed: the stat (mtime, and here the inode) says edited.
    new = tmp_path / "users.new"
    _write_csv(new, [ROWS[0], ("u9", *ROWS[1][1:]), ROWS[2]])
    os.replace(new, path)
    values, how = _fingerprints(con, config)
    assert how == "built"
    assert values == _expected(config, ["u1", "u9", "u3"])
    # Edited in place, keeping size and modification time: the ids no longer line up.
    st = path.stat()
    path.write_text(path.read_text().replace("u9,", "u8,"), encoding="utf-8")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    values, how = _fingerprints(con, config)
    assert how == "built"
    assert values == _expected(config, ["u1", "u8", "u3"])


def test_rotated_key_gives_new_values(tmp_path: Path, con: object) -> None:
    _write_csv(tmp_path / "users.csv", ROWS)
    config = _config(tmp_path)
    before, _ = _fingerprints(con, config)
    (tmp_path / "data" / "keys" / "ledger.key").unlink()
    after, how = _fingerprints(con, config)  # a new key is made on first use
    assert how == "built"
    assert after == _expected(config, ["u1", "u2", "u3"])
    assert set(after.values()).isdisjoint(before.values())


def test_private_and_without_contact_details(tmp_path: Path, con: object) -> None:
    _write_csv(tmp_path / "users.csv", ROWS)
    config = _config(tmp_path)
    old = os.umask(0o022)
    try:
        _fingerprints(con, config)
    finally:
        os.umask(old)
    folder = tmp_path / "data" / "cache" / "directory"
    for path in (folder.parent, folder):
        assert stat.S_IMODE(path.stat().st_mode) == 0o700
    files = list(folder.iterdir())
    assert [f.name for f in files] == ["fingerprints.parquet"]
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600
    cols = con.execute(  # type: ignore[attr-defined]
        "SELECT column_name FROM (DESCRIBE SELECT * FROM read_parquet(?))", [str(files[0])]
    ).fetchall()
    assert [c[0] for c in cols] == ["t", "v"]  # a keyed tag of the id, not the id
    raw = files[0].read_bytes()
    for row in ROWS:
        for value in row:  # user ids included: they are often emails
            assert value.encode() not in raw


def test_sql_directory_rebuilt_when_its_rows_change(tmp_path: Path, con: object) -> None:
    db = tmp_path / "dir.db"
    with sqlite3.connect(db) as lite:
        lite.execute("CREATE TABLE users (user_id, email, name, org_id, role, locale, country)")
        lite.executemany("INSERT INTO users VALUES (?,?,?,?,?,?,?)", ROWS)
    query = "SELECT * FROM users ORDER BY user_id"
    config = _config(tmp_path, {"kind": "sql", "url": f"sqlite:///{db}", "query": query})
    assert _fingerprints(con, config)[1] == "built"
    assert _fingerprints(con, config)[1] == "hit"
    with sqlite3.connect(db) as lite:
        lite.execute("UPDATE users SET user_id = 'u7' WHERE user_id = 'u2'")
    values, how = _fingerprints(con, config)
    assert how == "built"
    assert values == _expected(config, ["u1", "u3", "u7"])


def test_no_cache_where_the_folder_cannot_be_written(tmp_path: Path, con: object) -> None:
    _write_csv(tmp_path / "users.csv", ROWS)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "cache").write_text("not a folder")  # even root cannot write there
    config = _config(tmp_path)
    values, how = _fingerprints(con, config)
    assert how == "unused"
    assert values == _expected(config, ["u1", "u2", "u3"])


def test_match_with_cached_pseudonyms(tmp_path: Path, con: object) -> None:
    """The pseudonym step classifies the same from the cache, a canary in the directory
    included; a rotated vendor key is not matched through the old pseudonyms."""
    _write_csv(tmp_path / "users.csv", ROWS)
    config = _config(tmp_path)
    keys = KeyRing(config.path(config.keys_dir))
    cache = DirectoryCache.for_config(config)

    def outcomes(vendor_key: bytes) -> list[str]:
        leak = tmp_path / "leak.csv"
        ids = [pseudonym(vendor_key, u) for u in ("u1", "u2", "c9")] + ["sw_0", "u3"]
        leak.write_text("distinct_id\n" + "\n".join(ids) + "\n", encoding="utf-8")
        stage_directory(con, config)
        out = tmp_path / "out.csv"
        classify(
            con,
            leak,
            vendor_key=vendor_key,
            ledger_key=keys.ledger_key(),
            canary_user_ids={"u2", "c9"},
            outcomes=out,
            cache=cache,
            vendor="acme",
        )
        return out.read_text().splitlines()

    expected = [
        "line,outcome,method,user_id",
        "2,matched,pseudonym,u1",
        "3,canary,canary,u2",
        "4,canary,canary,c9",
        "5,unknown,,",
        "6,matched,user_id,u3",
    ]
    assert outcomes(keys.vendor_key("acme")) == expected  # built
    assert outcomes(keys.vendor_key("acme")) == expected  # from the cache
    assert (tmp_path / "data" / "cache" / "directory" / "pseudonyms-acme.parquet").exists()
    assert outcomes(b"k" * 32) == expected  # another key: rebuilt, not misread


def test_files_a_killed_process_left_are_swept_once_old(
    tmp_path: Path, con: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write_csv(tmp_path / "users.csv", ROWS)
    config = _config(tmp_path)
    _fingerprints(con, config)
    folder = tmp_path / "data" / "cache" / "directory"
    old_link = folder / ".fingerprints.parquet.1.ab.read"
    old_tmp = folder / ".fingerprints.parquet.1.cd.tmp"
    for leftover in (old_link, old_tmp):
        leftover.write_bytes(b"x")
    monkeypatch.setattr(dircache, "_STALE_SECONDS", 1.0)
    time.sleep(1.5)  # the leftovers are now "old"; a change time cannot be set back
    # A reader's link made now shares the cache file's inode, written long ago: its
    # modification time is old, its change time (renewed by the link) is not.
    os.utime(folder / "fingerprints.parquet", (time.time() - 7200, time.time() - 7200))
    reading = folder / ".fingerprints.parquet.2.ef.read"
    os.link(folder / "fingerprints.parquet", reading)
    _write_csv(tmp_path / "users.csv", [*ROWS, ROWS[0]])  # changed: the next run writes
    _fingerprints(con, config)
    assert not old_link.exists()
    assert not old_tmp.exists()
    assert reading.exists()  # a link a reader holds now is never swept
