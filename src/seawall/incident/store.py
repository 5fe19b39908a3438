"""Incidents in the database: cases, timelines and versioned scopes.

Every write goes through the database's single group-committing writer; reads use
their own connection. A scope version, once saved, is never changed: re-running scope
or match adds the next version, so what was known when stays answerable.
"""

from __future__ import annotations

import builtins
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
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
    incident_scope_files,
    incident_scopes,
    incident_timeline,
    incidents,
)
from seawall.storage.database import Database
from seawall.storage.tables import FIELD_SEP

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
        import duckdb

        con = duckdb.connect()
        try:
            _stage_exposures(con, exposures)
            return self.save_scope_table(
                incident_id, con, "ex", inputs=inputs, summary=summary, timeline=timeline
            )
        finally:
            con.close()

    def save_scope_table(
        self,
        incident_id: int,
        con: Any,
        table: str,
        *,
        inputs: dict[str, object],
        summary: dict[str, object],
        timeline: tuple[str, str] | None = None,
    ) -> int:
        """``save_scope`` for exposures already in DuckDB ``table`` (the columns of
        ``_EXPOSURE_COLUMNS``, lists FIELD_SEP-joined): written as Parquet parts."""
        self.get(incident_id)
        now = time.time()
        parts = _parquet_parts(con, table)

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
            if parts:
                conn.execute(
                    insert(incident_scope_files),
                    [
                        {
                            "incident": incident_id,
                            "version": version,
                            "part": i,
                            "rows": n,
                            "data": d,
                        }
                        for i, (n, d) in enumerate(parts)
                    ],
                )
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
        import duckdb

        con = duckdb.connect()
        try:
            if not self.stage_scope(con, incident_id, version, "sw_scope"):
                return self._scope_rows(incident_id, version)
            rows = con.execute(
                f"SELECT {', '.join(_EXPOSURE_COLUMNS)} FROM sw_scope ORDER BY subject"  # noqa: S608
            ).fetchall()
        finally:
            con.close()
        lists: dict[str, tuple[str, ...]] = {}

        def split(text: str) -> tuple[str, ...]:
            found = lists.get(text)
            if found is None:
                found = lists[text] = tuple(text.split(FIELD_SEP)) if text else ()
            return found

        return _exposures(rows, split)

    def stage_scope(self, con: Any, incident_id: int, version: int, table: str) -> bool:
        """Load a version saved as Parquet into DuckDB ``table``; False when the version
        has no Parquet parts (saved before migration 0006, or empty)."""
        f = incident_scope_files
        with self.db.engine.connect() as conn:
            datas = conn.execute(
                select(f.c.data)
                .where(f.c.incident == incident_id, f.c.version == version)
                .order_by(f.c.part)
            ).scalars()
            with tempfile.TemporaryDirectory(prefix="seawall-scope-") as tmp:
                paths = []
                for i, data in enumerate(datas):
                    path = Path(tmp) / f"{i}.parquet"
                    path.write_bytes(data)
                    paths.append(str(path))
                if not paths:
                    return False
                con.execute(
                    f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT * FROM read_parquet(?)",  # noqa: S608
                    [paths],
                ).fetchall()
        return True

    def _scope_rows(self, incident_id: int, version: int) -> builtins.list[Exposure]:
        """A version saved row by row in ``incident_exposures`` (before migration 0006)."""
        e = incident_exposures
        with self.db.engine.connect() as conn:
            rows = conn.execute(
                select(*(e.c[name] for name in _EXPOSURE_COLUMNS))
                .where(e.c.incident == incident_id, e.c.version == version)
                .order_by(e.c.subject)
            ).all()
        # A scope may hold 100,000s of rows but few distinct JSON lists: decode each
        # once and share the (immutable) tuple.
        lists: dict[str, tuple[str, ...]] = {}

        def decode(text: str) -> tuple[str, ...]:
            found = lists.get(text)
            if found is None:
                found = lists[text] = tuple(orjson.loads(text))
            return found

        return _exposures(rows, decode)

    def latest_scope(self, incident_id: int) -> tuple[int, builtins.list[Exposure]]:
        """(version, exposures) of the newest scope; (0, []) when never scoped."""
        self.get(incident_id)
        version = self.latest_version(incident_id)
        return version, self.scope(incident_id, version) if version else []


_TYPES = ("VARCHAR",) * 7 + ("DOUBLE", "DOUBLE", "BOOLEAN", "VARCHAR")


def _exposures(rows: Sequence[Any], lists: Callable[[str], tuple[str, ...]]) -> list[Exposure]:
    """Exposure values from rows in ``_EXPOSURE_COLUMNS`` order (read by position, not
    through Row._mapping, which cost more than the decoding); ``lists`` decodes a list."""
    return [
        Exposure(
            r[0],
            r[1],
            lists(r[2]),
            lists(r[3]),
            lists(r[4]),
            cast(Provenance, r[5]),
            cast(RiskTier, r[6]),
            r[7],
            r[8],
            bool(r[9]),
            lists(r[10]),
        )
        for r in rows
    ]


def _stage_exposures(con: Any, exposures: Sequence[Exposure]) -> None:
    """Exposure values as DuckDB table ``ex`` (lists FIELD_SEP-joined)."""
    from seawall.incident.frame import load_columns

    j = FIELD_SEP.join
    rows = (
        (
            e.subject,
            e.user_id,
            j(e.org_ids),
            j(e.categories),
            j(e.fields),
            e.provenance,
            e.risk_tier,
            e.first_seen,
            e.last_seen,
            e.canary,
            j(e.file_fields),
        )
        for e in exposures
    )
    load_columns(con, "ex", _EXPOSURE_COLUMNS, _TYPES, rows)


def _parquet_parts(con: Any, table: str) -> builtins.list[tuple[int, bytes]]:
    """``table`` as Parquet files of up to ~256 MB each: (rows, bytes). Not sorted:
    sorting a million rows by subject cost as much as writing them, and ``scope()``
    returns them by subject anyway. zstd at level 1: on a million exposures a quarter
    less CPU than the default level 3, and the files came out smaller (24.6 against
    26.4 MB)."""
    cols = ", ".join(_EXPOSURE_COLUMNS)
    parts = []
    with tempfile.TemporaryDirectory(prefix="seawall-scope-") as tmp:
        out = Path(tmp) / "parts"
        con.execute(
            f"COPY (SELECT {cols} FROM {table}) TO '{out}' "  # noqa: S608
            "(FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 1, FILE_SIZE_BYTES '256MB')"
        ).fetchall()
        for path in sorted(out.glob("*.parquet")):
            (rows,) = con.execute("SELECT count(*) FROM read_parquet(?)", [str(path)]).fetchall()[0]
            if rows:
                parts.append((int(rows), path.read_bytes()))
    return parts
