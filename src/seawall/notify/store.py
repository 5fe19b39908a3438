"""Campaigns and notices in the database.

A notice moves ``pending -> sending -> sent | failed | suppressed`` (and back from
``sending`` to ``pending`` on a temporary SMTP failure, due again later). Its key is
(campaign, recipient): a campaign cannot hold two notices for one recipient.

The crash rule: ``sending`` is committed *before* the SMTP transaction starts, and the
outcome after it ends. A notice still ``sending`` when no run is alive is therefore
exactly one whose delivery is uncertain; a resumed run sends it again (at least once)
and marks it ``uncertain`` so ``notify status`` can name it. At most ``concurrency``
notices are ``sending`` at a time, which bounds the duplicates a crash can cause.

Writes go through the database's single group-committing writer; the claim of the
next notice and the outcome of the previous one share one commit.
"""

from __future__ import annotations

import builtins
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any, cast

from sqlalchemy import Connection, Row, func, insert, select, update

from seawall.notify.campaign import Kind, PlannedNotice, Told
from seawall.notify.errors import NotifyError
from seawall.notify.model import STATES, Campaign, Claim, Notice, Outcome
from seawall.notify.tables import notify_campaigns, notify_notices
from seawall.storage.database import Database

_TOLD_STATES = ("pending", "sending", "sent")
_CHUNK = 20_000
c_t = notify_campaigns
n_t = notify_notices


def _campaign(row: Row[Any]) -> Campaign:
    m = row._mapping
    return Campaign(
        id=int(m["id"]),
        incident=int(m["incident"]),
        scope_version=int(m["scope_version"]),
        audience=m["audience"],
        kind=cast(Kind, m["kind"]),
        wave=int(m["wave"]),
        template=m["template"],
        sender=m["sender"],
        status=m["status"],
        created_at=m["created_at"],
        started_at=m["started_at"],
        finished_at=m["finished_at"],
    )


def _notice(row: Row[Any]) -> Notice:
    m = row._mapping
    return Notice(
        id=int(m["id"]),
        campaign=int(m["campaign"]),
        recipient=m["recipient"],
        kind=cast(Kind, m["kind"]),
        user_id=m["user_id"],
        org_id=m["org_id"],
        locale=m["locale"],
        risk_tier=m["risk_tier"],
        categories=tuple(m["categories"].split()),
        members=m["members"],
        state=m["state"],
        reason=m["reason"],
        attempts=int(m["attempts"]),
        message_id=m["message_id"],
        uncertain=bool(m["uncertain"]),
    )


class NotifyStore:
    """Campaigns and their notices."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # -- campaigns -------------------------------------------------------------------

    def create(
        self,
        *,
        incident: int,
        scope_version: int,
        audience: str,
        kind: Kind,
        template: str,
        sender: str,
        notices: Sequence[PlannedNotice],
        wave: int | None = None,
    ) -> Campaign:
        """Store a campaign and its notices in one transaction; ``wave`` defaults to next."""
        now = time.time()

        # Jobs return problems instead of raising: the writer would turn them into a
        # generic StorageError when it retries a failed group one job at a time.
        def job(conn: Connection) -> tuple[int, int | None]:
            last = conn.execute(
                select(func.coalesce(func.max(c_t.c.wave), 0)).where(
                    c_t.c.incident == incident, c_t.c.kind == kind
                )
            ).scalar_one()
            number = int(last) + 1 if wave is None else wave
            clash = conn.execute(
                select(c_t.c.id).where(
                    c_t.c.incident == incident, c_t.c.kind == kind, c_t.c.wave == number
                )
            ).scalar()
            if clash is not None:
                return number, int(clash)
            key = conn.execute(
                insert(c_t).values(
                    incident=incident,
                    scope_version=scope_version,
                    audience=audience,
                    kind=kind,
                    wave=number,
                    template=template,
                    sender=sender,
                    status="planned",
                    created_at=now,
                )
            ).inserted_primary_key
            assert key is not None
            campaign_id = int(key[0])
            _insert_notices(conn, campaign_id, notices, now)
            return campaign_id, None

        key, clash = self.db.writer.call(job)
        if clash is not None:
            raise NotifyError(
                f"incident {incident} already has wave {key} for {kind} notices "
                f"(campaign {clash}); send that one, or omit --wave to plan the next wave"
            )
        return self.get(key)

    def get(self, campaign_id: int) -> Campaign:
        with self.db.engine.connect() as conn:
            row = conn.execute(select(c_t).where(c_t.c.id == campaign_id)).first()
        if row is None:
            raise NotifyError(
                f"no campaign with id {campaign_id}; `seawall notify plan INCIDENT` creates one"
            )
        return _campaign(row)

    def list(self, incident: int | None = None) -> builtins.list[Campaign]:
        query = select(c_t).order_by(c_t.c.id)
        if incident is not None:
            query = query.where(c_t.c.incident == incident)
        with self.db.engine.connect() as conn:
            return [_campaign(r) for r in conn.execute(query).all()]

    def told(self, incident: int, kind: Kind) -> dict[str, builtins.list[Told]]:
        """What earlier campaigns of the incident told (or will tell) each recipient."""
        query = (
            select(n_t.c.recipient, n_t.c.categories, n_t.c.members)
            .join(c_t, c_t.c.id == n_t.c.campaign)
            .where(c_t.c.incident == incident, c_t.c.kind == kind, n_t.c.state.in_(_TOLD_STATES))
        )
        told: dict[str, builtins.list[Told]] = defaultdict(builtins.list)
        with self.db.engine.connect() as conn:
            for r in conn.execute(query):
                told[r.recipient].append(Told(frozenset(r.categories.split()), r.members))
        return dict(told)

    # -- reading notices -------------------------------------------------------------

    def counts(self, campaign_id: int) -> dict[str, int]:
        """Notices per state (every state present, zero when none)."""
        query = (
            select(n_t.c.state, func.count())
            .where(n_t.c.campaign == campaign_id)
            .group_by(n_t.c.state)
        )
        counts = dict.fromkeys(STATES, 0)
        with self.db.engine.connect() as conn:
            for state, n in conn.execute(query):
                counts[str(state)] = int(n)
        return counts

    def notices(
        self, campaign_id: int, *, state: str | None = None, uncertain: bool | None = None
    ) -> builtins.list[Notice]:
        query = select(n_t).where(n_t.c.campaign == campaign_id).order_by(n_t.c.id)
        if state is not None:
            query = query.where(n_t.c.state == state)
        if uncertain is not None:
            query = query.where(n_t.c.uncertain == uncertain)
        with self.db.engine.connect() as conn:
            return [_notice(r) for r in conn.execute(query).all()]

    def uncertain(self, campaign_id: int) -> builtins.list[Notice]:
        """Notices a crash left in doubt: still ``sending``, or re-sent after a crash."""
        with self.db.engine.connect() as conn:
            rows = conn.execute(
                select(n_t)
                .where(
                    n_t.c.campaign == campaign_id,
                    (n_t.c.state == "sending") | (n_t.c.uncertain.is_(True)),
                )
                .order_by(n_t.c.id)
            ).all()
        return [_notice(r) for r in rows]

    def pending_shapes(self, campaign_id: int) -> set[tuple[str, str]]:
        """The (kind, locale) pairs still to send: what templates must render."""
        with self.db.engine.connect() as conn:
            rows = conn.execute(
                select(n_t.c.kind, n_t.c.locale)
                .where(n_t.c.campaign == campaign_id, n_t.c.state.in_(("pending", "sending")))
                .distinct()
            ).all()
        return {(r.kind, r.locale) for r in rows}

    # -- a run -------------------------------------------------------------------------

    def start_run(
        self,
        campaign_id: int,
        runner: str,
        *,
        may_take_over: Callable[[str, float], bool],
    ) -> tuple[bool, int]:
        """Own the campaign; reclaim the notices a dead run left ``sending``.

        Returns (first start, notices reclaimed). ``may_take_over(runner, heartbeat)``
        says whether a previous runner is gone; if not, NotifyError.
        """
        now = time.time()

        def job(conn: Connection) -> tuple[bool, int, str | None, float]:
            row = conn.execute(select(c_t).where(c_t.c.id == campaign_id)).first()
            assert row is not None  # checked by get() below
            m = row._mapping
            other, beat = m["runner"], m["heartbeat"] or 0.0
            if other and other != runner and not may_take_over(other, beat):
                return False, 0, other, beat
            first = m["started_at"] is None
            conn.execute(
                update(c_t)
                .where(c_t.c.id == campaign_id)
                .values(
                    runner=runner,
                    heartbeat=now,
                    status="sending",
                    started_at=m["started_at"] or now,
                    finished_at=None,
                )
            )
            reclaimed = conn.execute(
                update(n_t)
                .where(n_t.c.campaign == campaign_id, n_t.c.state == "sending")
                .values(state="pending", uncertain=True, due_at=now, updated_at=now)
            ).rowcount
            return first, int(reclaimed or 0), None, 0.0

        self.get(campaign_id)
        first, reclaimed, other, beat = self.db.writer.call(job)
        if other is not None:
            raise NotifyError(
                f"campaign {campaign_id} is being sent by {other} (last heartbeat "
                f"{now - beat:.0f}s ago); wait for it to finish, or stop that process first"
            )
        return first, reclaimed

    def heartbeat(self, campaign_id: int, runner: str) -> None:
        now = time.time()
        self.db.writer.call(
            lambda conn: conn.execute(
                update(c_t)
                .where(c_t.c.id == campaign_id, c_t.c.runner == runner)
                .values(heartbeat=now)
            )
        )

    def claim(
        self,
        campaign_id: int,
        *,
        finished: Outcome | None,
        message_id: Callable[[], str],
    ) -> Claim:
        """Record the previous outcome and mark the next due notice ``sending``, in one commit."""
        notices, later = self.claim_batch(
            campaign_id,
            finished=() if finished is None else (finished,),
            count=1,
            message_id=message_id,
        )
        return Claim(notices[0], None) if notices else Claim(None, later)

    def claim_batch(
        self,
        campaign_id: int,
        *,
        finished: Sequence[Outcome],
        count: int,
        message_id: Callable[[], str],
    ) -> tuple[builtins.list[Notice], float | None]:
        """Record outcomes and mark up to ``count`` due notices ``sending``, in one commit.

        Returns the claimed notices (oldest first) and, when fewer than ``count`` were
        due, the earliest ``due_at`` still pending (None when nothing is pending). The
        caller claims only as many as it will start SMTP transactions for at once, so
        the notices ``sending`` stay at most the concurrency. Three statements serve
        every worker waiting at that moment, instead of two per worker.
        """

        def job(conn: Connection) -> tuple[builtins.list[Notice], float | None]:
            now = time.time()
            sql = _sql(conn)
            cur = _cursor(conn)
            try:
                if finished:
                    cur.executemany(
                        sql.settle,
                        [
                            (o.state, o.reason, o.due_at, now, int(o.refund), o.notice)
                            for o in finished
                        ],
                    )
                if count < 1:
                    return [], None
                cur.execute(sql.due, (campaign_id, now, count))
                rows = cur.fetchall()
                # A re-sent copy keeps the Message-ID of the first attempt, so mail
                # clients can fold the duplicate.
                claimed = [
                    Notice(
                        id=r[0],
                        campaign=campaign_id,
                        recipient=r[1],
                        kind=r[2],
                        user_id=r[3],
                        org_id=r[4],
                        locale=r[5],
                        risk_tier=r[6],
                        categories=_split(r[7]),
                        members=r[8],
                        state="sending",
                        reason=r[9],
                        attempts=r[10] + 1,
                        message_id=r[11] or message_id(),
                        uncertain=bool(r[12]),
                    )
                    for r in rows
                ]
                if claimed:
                    cur.executemany(
                        sql.claim, [(n.attempts, n.message_id, now, n.id) for n in claimed]
                    )
                if len(claimed) == count:
                    return claimed, None
                cur.execute(sql.later, (campaign_id,))
                later = cur.fetchone()
            finally:
                cur.close()
            return claimed, None if later is None or later[0] is None else float(later[0])

        if count < 1 and not finished:
            return [], None
        return self.db.writer.call(job)

    def settle(self, outcome: Outcome) -> None:
        """Record one outcome on its own (the last of a worker, or a release on stop)."""
        self.db.writer.call(lambda conn: _settle(conn, outcome, time.time()))

    def finish_run(self, campaign_id: int, runner: str) -> bool:
        """Release the campaign; mark it finished when no notice is pending or sending."""
        now = time.time()

        def job(conn: Connection) -> bool:
            open_ = conn.execute(
                select(func.count()).where(
                    n_t.c.campaign == campaign_id, n_t.c.state.in_(("pending", "sending"))
                )
            ).scalar_one()
            done = int(open_) == 0
            values: dict[str, object] = {"runner": None, "heartbeat": None}
            if done:
                values.update(status="finished", finished_at=now)
            conn.execute(
                update(c_t).where(c_t.c.id == campaign_id, c_t.c.runner == runner).values(**values)
            )
            return done

        return self.db.writer.call(job)


# The columns a planned notice fills; the rest start the same for every notice.
_PLANNED = (
    "recipient",
    "kind",
    "user_id",
    "org_id",
    "locale",
    "risk_tier",
    "categories",
    "members",
    "state",
    "reason",
)
_FRESH = ("campaign", "attempts", "due_at", "message_id", "uncertain", "updated_at")
_SQLITE_CACHE_KIB = 65_536  # page cache while inserting a big campaign (default: 2 MiB)


def _insert_notices(
    conn: Connection, campaign: int, notices: Sequence[PlannedNotice], now: float
) -> None:
    """Bulk insert by the fastest path each driver has (100,000 notices in about a
    second): PostgreSQL's COPY; on SQLite one executemany of tuples in big chunks,
    binding only what differs between notices, with a bigger page cache so the table
    and its three indexes stay in memory while they grow."""
    if not notices:
        return
    joined: dict[tuple[str, ...], str] = {}
    rows = []
    for n in notices:
        categories = joined.get(n.categories)
        if categories is None:
            categories = joined[n.categories] = " ".join(n.categories)
        rows.append(
            (
                n.recipient,
                n.kind,
                n.user_id,
                n.org_id,
                n.locale,
                n.risk_tier,
                categories,
                n.members,
                "pending" if n.reason is None else "suppressed",
                n.reason,
            )
        )
    # Table and column names are our own constants, never input: no injection vector.
    names = ", ".join(_PLANNED + _FRESH)
    if conn.dialect.name == "postgresql":
        raw = conn.connection.driver_connection
        assert raw is not None  # a checked-out connection always has one
        fresh = (campaign, 0, now, None, False, now)
        with raw.cursor() as cur, cur.copy(f"COPY {n_t.name} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row + fresh)
        return
    # SQLite: ?11 is the time, bound once per row for both due_at and updated_at.
    marks = ", ".join(f"?{i}" for i in range(1, len(_PLANNED) + 1))
    sql = (
        f"INSERT INTO {n_t.name} ({names}) VALUES ({marks}, {int(campaign)}, 0, ?11, NULL, 0, ?11)"  # noqa: S608
    )
    cache = conn.exec_driver_sql("PRAGMA cache_size").scalar()
    conn.exec_driver_sql(f"PRAGMA cache_size = -{_SQLITE_CACHE_KIB}")
    try:
        for i in range(0, len(rows), _CHUNK):
            conn.exec_driver_sql(sql, [(*r, now) for r in rows[i : i + _CHUNK]])
    finally:
        conn.exec_driver_sql(f"PRAGMA cache_size = {int(cache or -2000)}")


class _Sql:
    """The statements a run repeats for every notice, in the driver's own SQL: a claim
    is the hot path of delivery, and SQLAlchemy's per-statement work cost more than
    SQLite itself (about 0.3 ms a notice). Table and column names are our constants."""

    def __init__(self, mark: str, lock: str) -> None:
        t = n_t.name
        self.settle = (
            f"UPDATE {t} SET state = {mark}, reason = {mark}, "  # noqa: S608
            f"due_at = COALESCE({mark}, due_at), updated_at = {mark}, "
            f"attempts = attempts - {mark} WHERE id = {mark} AND state = 'sending'"
        )
        self.due = (
            "SELECT id, recipient, kind, user_id, org_id, locale, risk_tier, categories, "  # noqa: S608
            f"members, reason, attempts, message_id, uncertain FROM {t} "
            f"WHERE campaign = {mark} AND state = 'pending' AND due_at <= {mark} "
            f"ORDER BY id LIMIT {mark}{lock}"
        )
        self.claim = (
            f"UPDATE {t} SET state = 'sending', attempts = {mark}, message_id = {mark}, "  # noqa: S608
            f"updated_at = {mark} WHERE id = {mark} AND state = 'pending'"
        )
        self.later = f"SELECT MIN(due_at) FROM {t} WHERE campaign = {mark} AND state = 'pending'"  # noqa: S608


_SQLITE = _Sql("?", "")
_POSTGRES = _Sql("%s", " FOR UPDATE SKIP LOCKED")


def _sql(conn: Connection) -> _Sql:
    return _POSTGRES if conn.dialect.name == "postgresql" else _SQLITE


def _cursor(conn: Connection) -> Any:
    """A cursor of the driver's connection, inside the transaction the writer began."""
    raw = conn.connection.driver_connection
    assert raw is not None  # a checked-out connection always has one
    return raw.cursor()


_SPLIT: dict[str, tuple[str, ...]] = {}


def _split(categories: str) -> tuple[str, ...]:
    """Stored category lists repeat: split each distinct one once."""
    found = _SPLIT.get(categories)
    if found is None:
        if len(_SPLIT) > 4096:
            _SPLIT.clear()
        found = _SPLIT[categories] = tuple(categories.split())
    return found


def _settle(conn: Connection, outcome: Outcome, now: float) -> None:
    """Outcomes land only on notices still ``sending`` (a stale one is ignored)."""
    cur = _cursor(conn)
    try:
        o = outcome
        cur.execute(_sql(conn).settle, (o.state, o.reason, o.due_at, now, int(o.refund), o.notice))
    finally:
        cur.close()
