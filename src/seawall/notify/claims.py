"""Claiming notices for a run's workers: one commit serves every worker waiting.

Each worker, when it is ready for its next notice, hands over the outcome of its last
one and waits. A single claimer thread takes every request waiting at that moment and
makes one :meth:`NotifyStore.claim_batch` call (one transaction, three statements):
the outcomes are recorded and one notice per waiting worker is committed as
``sending``. Only then does a worker get its notice and start the SMTP transaction, so
the crash rule holds as before (``sending`` is durable before SMTP starts, at most one
notice in flight per worker); what changes is that eight workers cost one commit and
three statements instead of eight commits' worth of statements.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable

from seawall.notify.model import Claim, Outcome
from seawall.notify.store import NotifyStore
from seawall.storage.writer import take_group


class _Request:
    __slots__ = ("claim", "done", "error", "finished")

    def __init__(self, finished: Outcome | None) -> None:
        self.finished = finished
        self.done = threading.Event()
        self.claim: Claim | None = None
        self.error: BaseException | None = None


class Claimer:
    """Batches the claims of a run's workers; ``start`` it, ``close`` it when they are done."""

    def __init__(self, store: NotifyStore, campaign_id: int, message_id: Callable[[], str]) -> None:
        self._store, self._campaign, self._message_id = store, campaign_id, message_id
        self._queue: queue.SimpleQueue[_Request | None] = queue.SimpleQueue()
        self._thread = threading.Thread(
            target=self._loop, name="seawall-notify-claims", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def claim(self, finished: Outcome | None) -> Claim:
        """Record ``finished`` and claim the next due notice (committed as ``sending``)."""
        request = _Request(finished)
        self._queue.put(request)
        request.done.wait()
        if request.error is not None:
            raise request.error
        assert request.claim is not None
        return request.claim

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()

    def _loop(self) -> None:
        while True:
            batch, stop = take_group(self._queue, None)
            if batch:
                self._serve(batch)
            if stop:
                return

    def _serve(self, batch: list[_Request]) -> None:
        try:
            notices, later = self._store.claim_batch(
                self._campaign,
                finished=[r.finished for r in batch if r.finished is not None],
                count=len(batch),
                message_id=self._message_id,
            )
        except BaseException as exc:  # every waiting worker learns it, and stops
            for r in batch:
                r.error = exc
                r.done.set()
            return
        for i, r in enumerate(batch):
            r.claim = Claim(notices[i], None) if i < len(notices) else Claim(None, later)
            r.done.set()
