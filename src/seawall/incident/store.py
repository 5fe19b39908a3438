"""Incidents in the database: cases, timelines and versioned scopes.

Every write goes through the database's single group-committing writer; reads use
their own connection. A scope version, once saved, is never changed: re-running scope
or match adds the next version, so what was known when stays answerable.
"""

from __future__ import annotations

import builtins
import itertools
import time
from collections.abc import Sequence
from typing import Any, cast

import orjson
from sqlalchemy import Connection, Row, func, insert, select, update

from seawall.incident.errors import IncidentError, UnknownIncident
from seawall.incident.model import (
    Exposure,
    Incident,
    IncidentStatus,
    Provenance,
    RiskTier,
    TimelineEntry,
    Trigger,
)
from seawall.incident.tables import (
    incident_exposures,
    incident_scopes,
    incident_timeline,
    incidents,
)
from seawall.storage.database import Database

TRIGGERS: tuple[Trigger, ...] = ("vendor_notice", "canary", "leaked_file", "manual")
_CHUNK = 100_000


def _json(value: object) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def _incident(row: Row[Any]) -> Incident:
    m = row._mapping
    return Incident(
        id=int(m["id"]),
        vendor=m["vendor"],
        title=m["title"],
        trigger=cast(Trigger, m["trigger"]),
        status=cast(IncidentStatus, m["status"]),
        opened_at=m["opened_at"],
        aware_at=m["aware_at"],
        detected_at=m["detected_at"],
        window_start=m["window_start"],
        window_end=m["window_end"],
        owner=m["owner"],
        closed_at=m["closed_at"],
    )


# In the order of Exposure's fields (scope() builds them by position).
_EXPOSURE_COLUMNS = (
    "subject",
    "user_id",
    "org_ids",
    "categories",
    "fields",
    "provenance",
    "risk_tier",
    "first_seen",
    "last_seen",
    "canary",
    "file_fields",
)


def _timeline_row(
    incident_id: int, at: float, kind: str, text: str, data: dict[str, object] | None
) -> dict[str, object]:
    return {
        "incident": incident_id,
        "at": at,
        "kind": kind,
        "text": text,
        "data": _json(data or {}),
    }


class IncidentStore:
    """Cases, their timelines and their scope versions."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # -- cases ---------------------------------------------------------------------

    def open(
        self,
        vendor: str,
        *,
        title: str | None = None,
        trigger: Trigger = "manual",
        aware_at: float | None = None,
        detected_at: float | None = None,
        window_start: float | None = None,
        window_end: float | None = None,
        owner: str | None = None,
    ) -> Incident:
        """Open a case and write its first timeline entry ("opened")."""
        now = time.time()
        values = self._case_values(
            vendor, title, trigger, now, aware_at, detected_at, window_start, window_end, owner
        )

        def job(conn: Connection) -> int:
            return self._insert_case(conn, values)

        return self.get(self.db.writer.call(job))

    def open_or_append(
        self,
        vendor: str,
        *,
        trigger: Trigger,
        at: float,
        kind: str,
        text: str,
        data: dict[str, object],
    ) -> tuple[Incident, bool]:
        """Add the entry to the vendor's open incident (the newest), or open one for it.

        Returns the incident and whether it was opened now. Canary alerts and vendor
        notices call this so that repeated signals land on one case.
        """
        values = self._case_values(vendor, None, trigger, at, at, None, None, None, None)

        def job(conn: Connection) -> tuple[int, bool]:
            existing = conn.execute(
                select(incidents.c.id)
                .where(incidents.c.vendor == vendor, incidents.c.status == "open")
                .order_by(incidents.c.id.desc())
                .limit(1)
            ).scalar()
            opened = existing is None
            incident_id = self._insert_case(conn, values) if existing is None else int(existing)
            conn.execute(
                insert(incident_timeline), [_timeline_row(incident_id, at, kind, text, data)]
            )
            return incident_id, opened

        incident_id, opened = self.db.writer.call(job)
        return self.get(incident_id), opened

    @staticmethod
    def _case_values(
        vendor: str,
        title: str | None,
        trigger: Trigger,
        now: float,
        aware_at: float | None,
        detected_at: float | None,
        window_start: float | None,
        window_end: float | None,
        owner: str | None,
    ) -> dict[str, object]:
        if trigger not in TRIGGERS:
            raise IncidentError(
                f"trigger '{trigger}' is not one of {', '.join(TRIGGERS)}; pick one of those"
            )
        if window_start is not None and window_end is not None and window_start > window_end:
            raise IncidentError(
                "the exposure window starts after it ends; swap --window-start and --window-end"
            )
        return {
            "vendor": vendor,
            "title": title or f"{vendor} incident",
            "trigger": trigger,
            "status": "open",
            "opened_at": now,
            "aware_at": now if aware_at is None else aware_at,
            "detected_at": detected_at,
            "window_start": window_start,
            "window_end": window_end,
            "owner": owner,
            "closed_at": None,
        }

    @staticmethod
    def _insert_case(conn: Connection, values: dict[str, object]) -> int:
        result = conn.execute(insert(incidents).values(**values))
        key = result.inserted_primary_key
        assert key is not None  # an INSERT of one row always has one
        incident_id = int(key[0])
        text = f"incident opened ({values['trigger']})"
        conn.execute(
            insert(incident_timeline),
            [
                _timeline_row(
                    incident_id,
                    cast(float, values["opened_at"]),
                    "opened",
                    text,
                    {"trigger": values["trigger"], "aware_at": values["aware_at"]},
                )
            ],
        )
        return incident_id

    def get(self, incident_id: int) -> Incident:
        with self.db.engine.connect() as conn:
            row = conn.execute(select(incidents).where(incidents.c.id == incident_id)).first()
        if row is None:
            raise UnknownIncident(incident_id)
        return _incident(row)

    def list(self) -> builtins.list[Incident]:
        """Every incident, newest first."""
        with self.db.engine.connect() as conn:
            rows = conn.execute(select(incidents).order_by(incidents.c.id.desc())).all()
        return [_incident(r) for r in rows]

    def close(self, incident_id: int, *, text: str = "", at: float | None = None) -> Incident:
        """Close the case (idempotent) and note it on the timeline."""
        self.get(incident_id)
        when = time.time() if at is None else at

        def job(conn: Connection) -> None:
            conn.execute(
                update(incidents)
                .where(incidents.c.id == incident_id, incidents.c.status == "open")
                .values(status="closed", closed_at=when)
            )
            conn.execute(
                insert(incident_timeline),
                [_timeline_row(incident_id, when, "closed", text or "incident closed", None)],
            )

        self.db.writer.call(job)
        return self.get(incident_id)

    def set_window(self, incident_id: int, start: float | None, end: float | None) -> None:
        """Record the exposure window a scope run used (when the case had none)."""

        def job(conn: Connection) -> None:
            conn.execute(
                update(incidents)
                .where(incidents.c.id == incident_id)
                .values(window_start=start, window_end=end)
            )

        self.db.writer.call(job)

    # -- timeline ------------------------------------------------------------------

    def add_timeline(
        self,
        incident_id: int,
        kind: str,
        text: str,
        data: dict[str, object] | None = None,
        at: float | None = None,
    ) -> None:
        self.get(incident_id)
        row = _timeline_row(incident_id, time.time() if at is None else at, kind, text, data)
        self.db.writer.call(lambda conn: conn.execute(insert(incident_timeline), [row]))

    def timeline(self, incident_id: int) -> builtins.list[TimelineEntry]:
        """The entries in time order (ties in the order they were written)."""
        t = incident_timeline
        with self.db.engine.connect() as conn:
            rows = conn.execute(
                select(t.c.incident, t.c.at, t.c.kind, t.c.text, t.c.data)
                .where(t.c.incident == incident_id)
                .order_by(t.c.at, t.c.id)
            ).all()
        return [
            TimelineEntry(int(r.incident), r.at, r.kind, r.text, orjson.loads(r.data)) for r in rows
        ]

    # -- scopes --------------------------------------------------------------------

    def save_scope(
        self,
        incident_id: int,
        exposures: Sequence[Exposure],
        *,
        inputs: dict[str, object],
        summary: dict[str, object],
        timeline: tuple[str, str] | None = None,
    ) -> int:
        """Store a new scope version (the next number) in one transaction; return it."""
        self.get(incident_id)
        now = time.time()

        def job(conn: Connection) -> int:
            version = int(
                conn.execute(
                    select(func.coalesce(func.max(incident_scopes.c.version), 0)).where(
                        incident_scopes.c.incident == incident_id
                    )
                ).scalar_one()
                + 1
            )
            conn.execute(
                insert(incident_scopes),
                [
                    {
                        "incident": incident_id,
                        "version": version,
                        "created_at": now,
                        "inputs": _json(inputs),
                        "summary": _json({**summary, "version": version}),
                    }
                ],
            )
            _insert_exposures(conn, incident_id, version, exposures)
            if timeline:
                kind, text = timeline
                conn.execute(
                    insert(incident_timeline),
                    [_timeline_row(incident_id, now, kind, f"{text} (version {version})", summary)],
                )
            return version

        return self.db.writer.call(job)

    def versions(self, incident_id: int) -> builtins.list[dict[str, object]]:
        """Each scope version: number, time, inputs and summary, oldest first."""
        s = incident_scopes
        with self.db.engine.connect() as conn:
            rows = conn.execute(
                select(s.c.version, s.c.created_at, s.c.inputs, s.c.summary)
                .where(s.c.incident == incident_id)
                .order_by(s.c.version)
            ).all()
        return [
            {
                "version": int(r.version),
                "created_at": r.created_at,
                "inputs": orjson.loads(r.inputs),
                "summary": orjson.loads(r.summary),
            }
            for r in rows
        ]

    def latest_version(self, incident_id: int) -> int:
        """The newest scope version, 0 when the incident was never scoped."""
        with self.db.engine.connect() as conn:
            return int(
                conn.execute(
                    select(func.coalesce(func.max(incident_scopes.c.version), 0)).where(
                        incident_scopes.c.incident == incident_id
                    )
                ).scalar_one()
            )

    def scope(self, incident_id: int, version: int) -> builtins.list[Exposure]:
        """The exposures of one version, by subject (empty for an unknown version)."""
        e = incident_exposures
        with self.db.engine.connect() as conn:
            rows = conn.execute(
                select(*(e.c[name] for name in _EXPOSURE_COLUMNS))
                .where(e.c.incident == incident_id, e.c.version == version)
                .order_by(e.c.subject)
            ).all()
        # A scope may hold 100,000s of rows but few distinct JSON lists: decode each
        # once and share the (immutable) tuple. Rows are read by position, not through
        # Row._mapping, which cost more than the decoding.
        lists: dict[str, tuple[str, ...]] = {}

        def decode(text: str) -> tuple[str, ...]:
            found = lists.get(text)
            if found is None:
                found = lists[text] = tuple(orjson.loads(text))
            return found

        return [
            Exposure(
                r[0],
                r[1],
                decode(r[2]),
                decode(r[3]),
                decode(r[4]),
                cast(Provenance, r[5]),
                cast(RiskTier, r[6]),
                r[7],
                r[8],
                bool(r[9]),
                decode(r[10]),
            )
            for r in rows
        ]

    def latest_scope(self, incident_id: int) -> tuple[int, builtins.list[Exposure]]:
        """(version, exposures) of the newest scope; (0, []) when never scoped."""
        self.get(incident_id)
        version = self.latest_version(incident_id)
        return version, self.scope(incident_id, version) if version else []


def _insert_exposures(
    conn: Connection, incident_id: int, version: int, exposures: Sequence[Exposure]
) -> None:
    """Bulk insert by the fastest path each driver has: PostgreSQL's COPY, sqlite3's
    executemany in big chunks. A million exposures share a few hundred distinct lists,
    so each list is JSON-encoded once."""
    cache: dict[tuple[str, ...], str] = {}

    def js(items: tuple[str, ...]) -> str:
        text = cache.get(items)
        if text is None:
            text = cache[items] = _json(list(items))
        return text

    rows = (
        (
            incident_id,
            version,
            e.subject,
            e.user_id,
            js(e.org_ids),
            js(e.categories),
            js(e.fields),
            e.provenance,
            e.risk_tier,
            e.first_seen,
            e.last_seen,
            e.canary,
            js(e.file_fields),
        )
        for e in exposures
    )
    cols = ", ".join(c.name for c in incident_exposures.columns)
    if conn.dialect.name == "postgresql":
        raw = conn.connection.driver_connection
        assert raw is not None  # a checked-out connection always has one
        with (
            raw.cursor() as cur,
            cur.copy(f"COPY {incident_exposures.name} ({cols}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)
        return
    marks = ", ".join("?" * len(incident_exposures.columns))
    stmt = f"INSERT INTO {incident_exposures.name} ({cols}) VALUES ({marks})"  # noqa: S608
    while chunk := list(itertools.islice(rows, _CHUNK)):
        conn.exec_driver_sql(stmt, chunk)
