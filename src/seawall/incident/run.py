"""The I/O edge of incident work: read ledger, directory and file, save a scope version."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection

from seawall.core.config import Config
from seawall.core.errors import ConfigError
from seawall.core.keys import KeyRing
from seawall.incident.directory import Person, read_directory
from seawall.incident.ledger_query import read_ledger_scope
from seawall.incident.match import FingerprintLookup, MatchResult, match_file
from seawall.incident.model import Exposure, Incident
from seawall.incident.scope import (
    DirectoryIndex,
    FileHit,
    build_exposures,
    carried_hits,
    default_window,
    merge_file,
    summarise,
)
from seawall.incident.store import IncidentStore
from seawall.storage.database import Database


@dataclass(frozen=True, slots=True)
class ScopeRun:
    version: int
    summary: dict[str, object]
    exposures: list[Exposure]


def _people(config: Config) -> dict[str, Person]:
    if config.directory is None:
        return {}
    return {p.user_id: p for p in read_directory(config)}


def _check_vendor(config: Config, incident: Incident) -> None:
    if incident.vendor not in config.vendors:
        raise ConfigError(
            f"incident {incident.id} is about vendor '{incident.vendor}', which is not configured",
            key="vendors",
            fix=f"add '{incident.vendor}' under vendors, or open the incident for a configured one",
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
    people: dict[str, Person] | None = None,
    index: DirectoryIndex | None = None,
) -> ScopeRun:
    """Scope from the ledger, merge the file's hits (new ones, else the last version's),
    and save the result as the next version. ``people`` and ``index`` spare a caller
    that already read the directory (with the same canaries) a second read."""
    store = IncidentStore(db)
    incident = store.get(incident_id)
    _check_vendor(config, incident)
    start, end = default_window(incident, config.vendors[incident.vendor].contract.retention_days)
    ledger_key = KeyRing(config.path(config.keys_dir)).ledger_key()
    people = _people(config) if people is None else people
    canaries = set(canary_user_ids)
    if index is None:
        index = DirectoryIndex.build(people.values(), ledger_key, canaries)
    ledger = read_ledger_scope(db, incident.vendor, start, end)
    exposures = build_exposures(ledger, index)
    if hits is None:
        _, previous = store.latest_scope(incident_id)
        hits = carried_hits(previous)
    exposures = merge_file(exposures, hits, index)
    users = [s for s, kind in zip(ledger.subjects, ledger.kinds, strict=True) if kind == "user"]
    unnamed = sum(1 for s in users if s not in index.by_fp) - sum(
        1 for s in users if s in index.canary_by_fp
    )
    summary = summarise(incident, exposures, people, unnamed_users=max(0, unnamed))
    summary["window"] = {"start": start, "end": end}
    version = store.save_scope(
        incident_id,
        exposures,
        inputs={
            "window": [start, end],
            "directory": config.directory.kind if config.directory else None,
            "directory_people": len(people),
            "canaries": len(canaries),
            "at": time.time(),
            **(inputs or {}),
        },
        summary=summary,
        timeline=timeline,
    )
    if incident.window_start is None and incident.window_end is None:
        store.set_window(incident_id, start, end)
    summary["version"] = version
    return ScopeRun(version, summary, exposures)


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


def _values_by_fp(conn: Connection, vendor: str, fps: list[bytes]) -> list[Any]:
    """(fp, subject, linked subject) of ``vendor``'s ledger values among ``fps``.

    One statement whatever the count: an array parameter on PostgreSQL, a temporary
    table on SQLite (an IN list of 200,000 parameters would be compiled in chunks).
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
    conn.exec_driver_sql("CREATE TEMP TABLE IF NOT EXISTS sw_lookup (fp BLOB PRIMARY KEY)")
    conn.exec_driver_sql("DELETE FROM sw_lookup")
    conn.exec_driver_sql("INSERT OR IGNORE INTO sw_lookup VALUES (?)", [(fp,) for fp in fps])
    try:
        return list(
            conn.exec_driver_sql(
                select_values + "JOIN sw_lookup f ON f.fp = lv.fp WHERE lv.vendor = ?", (vendor,)
            )
        )
    finally:
        conn.exec_driver_sql("DROP TABLE sw_lookup")


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
    """Classify the leaked file, then re-scope with its hits (a new version)."""
    store = IncidentStore(db)
    incident = store.get(incident_id)
    _check_vendor(config, incident)
    keys = KeyRing(config.path(config.keys_dir))
    people = _people(config)
    canaries = set(canary_user_ids)
    index = DirectoryIndex.build(people.values(), keys.ledger_key(), canaries)
    result = match_file(
        path,
        people,
        vendor_key=keys.vendor_key(incident.vendor),
        ledger_key=keys.ledger_key(),
        canary_user_ids=canaries,
        canary_domain=config.canary.domain if config.canary else None,
        lookup=fingerprint_lookup(db, incident.vendor, {**index.by_fp, **index.canary_by_fp}),
        overrides=overrides,
        fmt=fmt,
        outcomes=outcomes,
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
        hits=result.hits,
        inputs={"file": path.name, "file_bytes": path.stat().st_size, "format": result.file.format},
        timeline=("scoped", f"scope with leaked file {path.name}"),
        people=people,  # read and fingerprinted once per command: a million rows take seconds
        index=index,
    )
    return result, scope


def stored_canary_ids(db: Database) -> set[str]:
    """Canary user ids from the canary feature's ``canaries`` table, when it exists."""
    from sqlalchemy import inspect, text

    if not inspect(db.engine).has_table("canaries"):
        return set()
    with db.engine.connect() as conn:
        return {str(r[0]) for r in conn.execute(text("SELECT user_id FROM canaries")) if r[0]}
