"""The I/O edge of incident work: read ledger, directory and file, save a scope version."""

from __future__ import annotations

import contextlib
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sqlalchemy import Connection

from seawall.core.config import Config
from seawall.core.errors import ConfigError
from seawall.core.keys import KeyRing
from seawall.incident.dircache import DirectoryCache
from seawall.incident.directory import stage_directory, stage_people
from seawall.incident.frame import SEP, build_scope, connect, load_columns, stage_fingerprints
from seawall.incident.leaked import _x
from seawall.incident.ledger_arrow import ChildRead
from seawall.incident.ledger_query import stage_ledger, start_ledger
from seawall.incident.match import FingerprintLookup, MatchResult, classify
from seawall.incident.model import Exposure, Incident
from seawall.incident.scope import FileHit, default_window
from seawall.incident.store import IncidentStore
from seawall.storage.database import Database


class ScopeRun:
    """A saved scope version: its number and summary; its exposures are read back from
    the store when asked for (a million of them are not built unless someone needs
    them as values, e.g. ``scope --out``)."""

    def __init__(self, db: Database, incident_id: int, version: int, summary: dict[str, object]):
        self.version = version
        self.summary = summary
        self._db, self._incident = db, incident_id

    @property
    def exposures(self) -> list[Exposure]:
        return IncidentStore(self._db).scope(self._incident, self.version)


def _window(config: Config, incident: Incident) -> tuple[float | None, float | None]:
    return default_window(incident, config.vendors[incident.vendor].contract.retention_days)


def _check_vendor(config: Config, incident: Incident) -> None:
    if incident.vendor not in config.vendors:
        raise ConfigError(
            f"incident {incident.id} is about vendor '{incident.vendor}', which is not configured",
            key="vendors",
            fix=f"add '{incident.vendor}' under vendors, or open the incident for a configured one",
        )


# The directory columns scope and match read (names and locales are for notices).
_NEEDED = ("user_id", "email", "org_id", "role", "country")


def _stage_people(con: Any, config: Config) -> int:
    if config.directory is None:
        return stage_people(con, [])
    return stage_directory(con, config, _NEEDED)


_HITS = ("user_id", "subject", "ff", "hc", "canary")
_HIT_TYPES = ("VARCHAR", "BLOB", "VARCHAR", "VARCHAR", "BOOLEAN")


def _stage_hits(con: Any, hits: Iterable[FileHit]) -> None:
    rows = (
        (h.user_id, bytes.fromhex(h.subject), SEP.join(h.fields), SEP.join(h.categories), h.canary)
        for h in hits
    )
    load_columns(con, "hits", _HITS, _HIT_TYPES, rows)


def _carry_hits(con: Any, store: IncidentStore, incident_id: int) -> None:
    """The file side of the last version, so a ledger re-run keeps what the file showed
    (its fields; categories come from the ledger, as before)."""
    version = store.latest_version(incident_id)
    if version and store.stage_scope(con, incident_id, version, "prev"):
        _x(
            con,
            """CREATE OR REPLACE TEMP TABLE hits AS SELECT user_id, unhex(subject) AS subject,
              file_fields AS ff, '' AS hc, canary FROM prev
            WHERE provenance IN ('file', 'both') AND user_id IS NOT NULL""",
        )
        return
    _, previous = store.latest_scope(incident_id) if version else (0, [])
    _stage_hits(
        con,
        (
            FileHit(e.user_id, e.subject, e.file_fields, (), e.canary)
            for e in previous
            if e.provenance in ("file", "both") and e.user_id is not None
        ),
    )


def run_scope(
    config: Config,
    db: Database,
    incident_id: int,
    *,
    canary_user_ids: Iterable[str] = (),
    hits: list[FileHit] | None = None,
    inputs: dict[str, object] | None = None,
    timeline: tuple[str, str] = ("scoped", "scope from the ledger"),
    con: Any = None,
    arrow_ledger: bool = True,
    ledger_read: ChildRead | None = None,
) -> ScopeRun:
    """Scope from the ledger, merge the file's hits (new ones, else the last version's),
    and save the result as the next version. ``con``: a DuckDB connection on which a
    caller (``run_match``) already staged the directory (``people``), its fingerprints
    (``stage_fingerprints``, with the same canaries) and ``hits``; ``ledger_read``: the
    ledger read that caller started (``start_ledger``). ``arrow_ledger=False`` reads the
    ledger through SQLAlchemy even where an ADBC driver is installed."""
    store = IncidentStore(db)
    incident = store.get(incident_id)
    _check_vendor(config, incident)
    start, end = _window(config, incident)
    ledger_key = KeyRing(config.path(config.keys_dir)).ledger_key()
    canaries = set(canary_user_ids)
    with contextlib.ExitStack() as stack:
        # The ledger is read in a child process (SQLite) while the directory is read and
        # fingerprinted here: two cores for the two longest reads.
        if ledger_read is None and arrow_ledger:
            ledger_read = start_ledger(db, incident.vendor, start, end)
        if ledger_read is not None:
            stack.enter_context(ledger_read)
        if con is None:
            tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="seawall-scope-"))
            con = connect(Path(tmp))
            stack.callback(con.close)
            _stage_people(con, config)
            if hits is None:
                _carry_hits(con, store, incident_id)
            else:
                _stage_hits(con, hits)
            stage_fingerprints(con, ledger_key, canaries, DirectoryCache.for_config(config))
        people = int(con.execute("SELECT count(*) FROM people").fetchall()[0][0])
        categories, reader = stage_ledger(
            con, db, incident.vendor, start, end, arrow=arrow_ledger, early=ledger_read
        )
        counts = build_scope(con, categories)
        summary: dict[str, object] = {"incident": incident.id, "vendor": incident.vendor}
        summary.update(counts)
        summary["window"] = {"start": start, "end": end}
        version = store.save_scope_table(
            incident_id,
            con,
            "ex",
            inputs={
                "window": [start, end],
                "directory": config.directory.kind if config.directory else None,
                "directory_people": people,
                "canaries": len(canaries),
                "ledger_reader": reader,
                "at": time.time(),
                **(inputs or {}),
            },
            summary=summary,
            timeline=timeline,
        )
    if incident.window_start is None and incident.window_end is None:
        store.set_window(incident_id, start, end)
    summary["version"] = version
    return ScopeRun(db, incident_id, version, summary)


def fingerprint_lookup(db: Database, vendor: str, by_fp: dict[bytes, str]) -> FingerprintLookup:
    """Value fingerprints -> user ids, through the ledger's values for ``vendor``."""

    def lookup(fps: list[bytes]) -> dict[bytes, str]:
        out: dict[bytes, str] = {}
        if not fps:
            return out
        with db.engine.connect() as conn:
            for fp, subject, linked in _values_by_fp(conn, vendor, fps):
                uid = by_fp.get(bytes(linked or subject))
                if uid:
                    out[bytes(fp)] = uid
        return out

    return lookup


def staged_lookup(db: Database, vendor: str, con: Any) -> FingerprintLookup:
    """``fingerprint_lookup`` naming subjects through DuckDB tables ``dir`` and
    ``canary`` (``stage_fingerprints``) instead of a dict of a million entries."""

    def lookup(fps: list[bytes]) -> dict[bytes, str]:
        out: dict[bytes, str] = {}
        if not fps:
            return out
        with db.engine.connect() as conn:
            found = [
                (bytes(fp), bytes(linked or subject))
                for fp, subject, linked in _values_by_fp(conn, vendor, fps)
            ]
        load_columns(con, "fp_subjects", ("fp", "subject"), ("BLOB", "BLOB"), found)
        named = con.execute(
            """SELECT f.fp, coalesce(d.user_id, c.user_id) FROM fp_subjects f
            LEFT JOIN dir d ON d.fp = f.subject LEFT JOIN canary c ON c.fp = f.subject
            WHERE coalesce(d.user_id, c.user_id) IS NOT NULL"""
        ).fetchall()
        out.update((bytes(fp), str(uid)) for fp, uid in named)
        return out

    return lookup


# Under SQLite's default limit of 32,766 parameters per statement.
_IN_CHUNK = 30_000


def _values_by_fp(conn: Connection, vendor: str, fps: list[bytes]) -> list[Any]:
    """(fp, subject, linked subject) of ``vendor``'s ledger values among ``fps``.

    An array parameter on PostgreSQL; on SQLite, IN lists of 30,000 (SQLite keeps each
    list in memory and probes the fingerprint index: a third of the CPU of a
    temporary table, which SQLite writes to a file, with a primary key to maintain).
    """
    select_values = (
        "SELECT lv.fp, lv.subject, il.subject FROM ledger_values lv "
        "LEFT JOIN identity_links il ON il.alias = lv.subject "
    )
    if conn.dialect.name == "postgresql":
        return list(
            conn.exec_driver_sql(
                select_values + "WHERE lv.vendor = %s AND lv.fp = ANY(%s)", (vendor, fps)
            )
        )
    out: list[Any] = []
    for i in range(0, len(fps), _IN_CHUNK):
        chunk = fps[i : i + _IN_CHUNK]
        marks = ", ".join("?" * len(chunk))
        sql = select_values + f"WHERE lv.vendor = ? AND lv.fp IN ({marks})"
        out.extend(conn.exec_driver_sql(sql, (vendor, *chunk)))
    return out


# DuckDB's share of ``match``'s memory: with the interpreter, the whole command stays
# under 1 GB (DuckDB spills to the temporary folder beyond it).
MATCH_MEMORY = "700MB"


def run_match(
    config: Config,
    db: Database,
    incident_id: int,
    path: Path,
    *,
    canary_user_ids: Iterable[str] = (),
    overrides: dict[str, str] | None = None,
    fmt: str | None = None,
    outcomes: Path | None = None,
) -> tuple[MatchResult, ScopeRun]:
    """Classify the leaked file, then re-scope with its hits (a new version). One DuckDB
    connection holds the directory, the file and the scope: nobody becomes a Python
    object on the way."""
    store = IncidentStore(db)
    incident = store.get(incident_id)
    _check_vendor(config, incident)
    keys = KeyRing(config.path(config.keys_dir))
    canaries = set(canary_user_ids)
    with contextlib.ExitStack() as stack:
        # The re-scope's ledger rows are read in a child process while the file is.
        ledger_read = start_ledger(db, incident.vendor, *_window(config, incident))
        if ledger_read is not None:
            stack.enter_context(ledger_read)
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="seawall-match-"))
        con = connect(Path(tmp), MATCH_MEMORY)
        try:
            _stage_people(con, config)
            cache = DirectoryCache.for_config(config)
            stage_fingerprints(con, keys.ledger_key(), canaries, cache)
            result = classify(
                con,
                path,
                vendor_key=keys.vendor_key(incident.vendor),
                ledger_key=keys.ledger_key(),
                canary_user_ids=canaries,
                canary_domain=config.canary.domain if config.canary else None,
                lookup=staged_lookup(db, incident.vendor, con),
                overrides=overrides,
                fmt=fmt,
                outcomes=outcomes,
                keep_hits=False,
                cache=cache,
                vendor=incident.vendor,
            )
            summary = result.summary()
            store.add_timeline(
                incident_id,
                "file_received",
                f"leaked file {path.name}: {result.rows} rows, {result.matched} matched, "
                f"{result.unknown} unknown, {result.invalid} invalid",
                {k: v for k, v in summary.items() if k not in ("invalid_lines", "unknown_lines")},
            )
            scope = run_scope(
                config,
                db,
                incident_id,
                canary_user_ids=canaries,
                inputs={
                    "file": path.name,
                    "file_bytes": path.stat().st_size,
                    "format": result.file.format,
                },
                timeline=("scoped", f"scope with leaked file {path.name}"),
                con=con,
                ledger_read=ledger_read,
            )
        finally:
            con.close()
    return result, scope


def stored_canary_ids(db: Database) -> set[str]:
    """Canary user ids from the canary feature's ``canaries`` table, when it exists."""
    from sqlalchemy import inspect, text

    if not inspect(db.engine).has_table("canaries"):
        return set()
    with db.engine.connect() as conn:
        return {str(r[0]) for r in conn.execute(text("SELECT user_id FROM canaries")) if r[0]}
