"""One writer thread per process that group-commits the jobs of many requests.

Why: SQLite allows one writer at a time, and a commit (an fsync) costs the same for
one event as for a thousand. Requests hand their writes to this thread and wait; the
thread runs everything queued in one transaction and wakes them all after the commit,
so the SDK is answered only once its events are durable (ack after commit). The same
writer serves PostgreSQL, where grouping saves round trips and commits just as well.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine

from seawall.core.errors import Saturated, StorageError, describe

T = TypeVar("T")
Job = Callable[[Connection], Any]
log = logging.getLogger(__name__)

_STOP = object()


def take_group(
    q: queue.Queue[Any] | queue.SimpleQueue[Any], stop: object, limit: int | None = None
) -> tuple[list[Any], bool]:
    """Wait for one item, then take whatever else is queued (up to ``limit``): the
    items to serve in one transaction, and whether ``stop`` was seen."""
    first = q.get()
    if first is stop:
        return [], True
    group = [first]
    while limit is None or len(group) < limit:
        try:
            item = q.get_nowait()
        except queue.Empty:
            break
        if item is stop:
            return group, True
        group.append(item)
    return group, False


class GroupWriter:
    """Runs write jobs on one thread, many per transaction."""

    def __init__(
        self,
        engine: Engine,
        *,
        max_queue: int = 20_000,
        max_group: int = 512,
        turn_lock: Path | None = None,
    ) -> None:
        self._engine = engine
        self._turn_path = turn_lock
        self._turn_fd: int | None = None
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=max_queue)
        self._max_group = max_group
        self._thread = threading.Thread(target=self._loop, name="seawall-writer", daemon=True)
        self._started = False
        # True while a transaction is open: request threads busy with CPU work read it
        # to hand the GIL over (``Pipeline.minimise``). Compiled code (hotpath.py) does
        # not honour the interpreter's switch interval, so without that the writer
        # could wait a whole request's policy work for each of its SQLite calls, and
        # keep other processes waiting for their turn meanwhile.
        self.writing = False
        self._lock = threading.Lock()
        self.groups = 0
        self.jobs = 0

    def start(self) -> None:
        with self._lock:
            if not self._started:
                self._started = True
                self._thread.start()

    def depth(self) -> int:
        return self._queue.qsize()

    def submit(self, job: Callable[[Connection], T]) -> Future[T]:
        """Queue a job; raises Saturated at once when the queue is full."""
        self.start()
        fut: Future[T] = Future()
        try:
            self._queue.put_nowait((job, fut))
        except queue.Full:
            raise Saturated("the write queue is full; retry shortly") from None
        return fut

    async def run(self, job: Callable[[Connection], T]) -> T:
        """Queue a job and wait for its commit without blocking the event loop."""
        return await asyncio.wrap_future(self.submit(job))

    def call(self, job: Callable[[Connection], T]) -> T:
        """Queue a job and wait for its commit (for blocking callers)."""
        return self.submit(job).result()

    def close(self, timeout: float = 10.0) -> None:
        """Finish the queued jobs, then stop the thread."""
        if not self._started:
            return
        self._queue.put(_STOP)
        self._thread.join(timeout)
        if self._turn_fd is not None and not self._thread.is_alive():
            os.close(self._turn_fd)
            self._turn_fd = None

    @contextlib.contextmanager
    def _turn(self) -> Iterator[None]:
        """Wait for this process's turn to write, when processes share a SQLite file,
        and say that a transaction is open (``writing``).

        Why: SQLite's own wait for a busy database polls with sleeps that grow to
        100 ms, so with two gateway processes writing without pause one could wait
        a second for the lock the other kept taking back, its cores idle meanwhile.
        A kernel file lock wakes the waiter as soon as the holder lets go. SQLite's
        lock and busy timeout still guard against every other writer (the CLI)."""
        fd = None
        if self._turn_path is not None:
            if self._turn_fd is None:
                self._turn_fd = os.open(self._turn_path, os.O_RDWR | os.O_CREAT, 0o600)
            fd = self._turn_fd
            fcntl.flock(fd, fcntl.LOCK_EX)
        self.writing = True
        try:
            yield
        finally:
            self.writing = False
            if fd is not None:
                fcntl.flock(fd, fcntl.LOCK_UN)

    def _loop(self) -> None:
        while True:
            group, stop = take_group(self._queue, _STOP, self._max_group)
            if group:
                self._commit(group)
            if stop:
                return

    def _commit(self, group: list[tuple[Job, Future[Any]]]) -> None:
        live = [(job, fut) for job, fut in group if fut.set_running_or_notify_cancel()]
        if not live:
            return
        try:
            with self._turn(), self._engine.begin() as conn:
                results = [job(conn) for job, _ in live]
        except Exception:
            log.warning("group commit of %d jobs failed; retrying them one by one", len(live))
            self._one_by_one(live)
            return
        self.groups += 1
        self.jobs += len(live)
        for (_, fut), result in zip(live, results, strict=True):
            fut.set_result(result)

    def _one_by_one(self, live: list[tuple[Job, Future[Any]]]) -> None:
        for job, fut in live:
            try:
                with self._turn(), self._engine.begin() as conn:
                    result = job(conn)
            except Exception as exc:  # each waiter learns its own failure
                log.error("write job failed: %s", describe(exc))
                fut.set_exception(
                    StorageError(f"the database refused the write: {type(exc).__name__}")
                )
            else:
                fut.set_result(result)
