"""Processes sharing a SQLite file take turns to write through a kernel file lock
beside it: the holder excludes the others, and a holder that dies frees the turn."""

from __future__ import annotations

import fcntl
import os
import signal
import stat
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
from sqlalchemy import Connection, text

from seawall.storage.database import open_database

WRITE_LOCK = "seawall.db.write.lock"


def _turn_is_free(lock: Path) -> bool:
    fd = os.open(lock, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)  # closing drops the lock taken, if any
    return True


def test_a_writer_holds_the_turn_for_its_transaction_only(tmp_path: Path) -> None:
    db = open_database(f"sqlite:///{tmp_path / 'seawall.db'}")
    inside, release = threading.Event(), threading.Event()

    def slow(conn: Connection) -> int:
        inside.set()
        release.wait(30)
        return int(conn.execute(text("SELECT count(*) FROM outbox")).scalar_one())

    try:
        done = db.writer.submit(slow)
        assert inside.wait(30)
        lock = tmp_path / WRITE_LOCK
        assert stat.S_IMODE(lock.stat().st_mode) == 0o600
        assert not _turn_is_free(lock)  # another process would wait here
        assert db.writer.writing  # request threads hand it the GIL meanwhile
        release.set()
        assert done.result(30) == 0
        assert _turn_is_free(lock)
        assert not db.writer.writing
    finally:
        release.set()
        db.close()


_HOLDER = textwrap.dedent(
    """
    import sys, threading
    from seawall.storage.database import open_database
    db = open_database(sys.argv[1])
    def hold(conn):
        print("holding", flush=True)
        threading.Event().wait()
    db.writer.submit(hold)
    threading.Event().wait()
    """
)


@pytest.mark.slow
def test_a_writer_killed_in_its_turn_does_not_stop_the_others(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'seawall.db'}"
    open_database(url).close()  # migrated before the holder starts
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, url], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "holding"
        assert not _turn_is_free(tmp_path / WRITE_LOCK)
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(30)
    finally:
        if holder.poll() is None:
            holder.kill()
    db = open_database(url)
    try:
        assert db.writer.call(lambda conn: conn.execute(text("SELECT 1")).scalar_one()) == 1
    finally:
        db.close()
