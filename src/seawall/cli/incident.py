"""``seawall incident open|list|show|timeline|close|scope|match|clocks|report``."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from seawall.cli.options import DEFAULT_CONFIG, ConfigOption, JsonOption, load, open_recorded
from seawall.core.config import Config
from seawall.core.errors import ConfigError
from seawall.incident.store import TRIGGERS, IncidentStore
from seawall.storage.database import Database, open_database

Id = Annotated[int, typer.Argument(help="The incident id (see `seawall incident list`).")]
When = Annotated[
    str | None, typer.Option(help="ISO 8601 time (UTC if no offset) or epoch seconds.")
]


def parse_time(value: str | None, option: str) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        t = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter(
            f"'{value}' is not a time; use ISO 8601 (2025-11-27T09:00Z) or epoch seconds",
            param_hint=option,
        ) from None
    return (t if t.tzinfo else t.replace(tzinfo=dt.UTC)).timestamp()


def _when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return dt.datetime.fromtimestamp(ts, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")


@contextmanager
def _db(cfg: Config, *, first: bool = False) -> Iterator[Database]:
    """``first``: the command may be the first to write (``open``), so it may create the
    database; every other command needs the one the gateway records into."""
    db = open_database(cfg.database_url()) if first else open_recorded(cfg)
    try:
        yield db
    finally:
        db.close()


@contextmanager
def _progress(what: str, quiet: bool) -> Iterator[None]:
    if quiet:
        yield
        return
    with Progress(
        SpinnerColumn(), TextColumn(what), TimeElapsedColumn(), console=Console(stderr=True)
    ) as p:
        p.add_task(what, total=None)
        yield


def _parse_map(items: list[str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items or []:
        col, sep, cat = item.partition("=")
        if not sep or not col or not cat:
            raise typer.BadParameter(
                f"'{item}' is not COLUMN=CATEGORY (e.g. mail=user.contact.email)",
                param_hint="--map",
            )
        out[col] = cat
    return out


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="Incidents: open, scope, match, clocks, report.", no_args_is_help=True)
    out = Console()

    @group.command("open")
    def open_(
        vendor: Annotated[str, typer.Option(help="The breached vendor.")],
        config: ConfigOption = DEFAULT_CONFIG,
        title: Annotated[str | None, typer.Option()] = None,
        trigger: Annotated[str, typer.Option(help=f"One of {', '.join(TRIGGERS)}.")] = "manual",
        aware_at: When = None,
        detected_at: When = None,
        window_start: When = None,
        window_end: When = None,
        owner: Annotated[str | None, typer.Option()] = None,
        as_json: JsonOption = False,
    ) -> None:
        """Open an incident against VENDOR."""
        cfg = load(config)
        if vendor not in cfg.vendors:
            raise ConfigError(
                f"no vendor named '{vendor}'",
                key="vendors",
                fix=f"choose one of: {', '.join(cfg.vendors) or '(none configured)'}",
            )
        if trigger not in TRIGGERS:
            raise typer.BadParameter(f"use one of {', '.join(TRIGGERS)}", param_hint="--trigger")
        with _db(cfg, first=True) as db:
            inc = IncidentStore(db).open(
                vendor,
                title=title,
                trigger=trigger,
                aware_at=parse_time(aware_at, "--aware-at"),
                detected_at=parse_time(detected_at, "--detected-at"),
                window_start=parse_time(window_start, "--window-start"),
                window_end=parse_time(window_end, "--window-end"),
                owner=owner,
            )
        if as_json:
            typer.echo(json.dumps({"id": inc.id}))
        else:
            out.print(
                f"Opened incident [bold]{inc.id}[/] ({vendor}). "
                f"Next: seawall incident scope {inc.id}"
            )

    @group.command("list")
    def list_(config: ConfigOption = DEFAULT_CONFIG, as_json: JsonOption = False) -> None:
        """Every incident, newest first."""
        cfg = load(config)
        with _db(cfg) as db:
            items = IncidentStore(db).list()
        if as_json:
            typer.echo(json.dumps([asdict(i) for i in items]))
            return
        table = Table("id", "vendor", "title", "trigger", "status", "aware")
        for i in items:
            table.add_row(str(i.id), i.vendor, i.title, i.trigger, i.status, _when(i.aware_at))
        out.print(table)

    @group.command("show")
    def show(
        incident: Id, config: ConfigOption = DEFAULT_CONFIG, as_json: JsonOption = False
    ) -> None:
        """The incident's facts and its scope versions."""
        cfg = load(config)
        with _db(cfg) as db:
            store = IncidentStore(db)
            doc: dict[str, Any] = {
                **asdict(store.get(incident)),
                "scopes": store.versions(incident),
            }
        typer.echo(json.dumps(doc, indent=None if as_json else 2, default=str))

    @group.command("timeline")
    def timeline(
        incident: Id,
        config: ConfigOption = DEFAULT_CONFIG,
        add: Annotated[str | None, typer.Option(help="Add a manual entry with this text.")] = None,
        kind: Annotated[str, typer.Option(help="Kind of the added entry.")] = "note",
        at: When = None,
        as_json: JsonOption = False,
    ) -> None:
        """Show the timeline; --add writes a manual entry (e.g. --kind authority_notified)."""
        cfg = load(config)
        with _db(cfg) as db:
            store = IncidentStore(db)
            if add:
                store.add_timeline(incident, kind, add, {"manual": True}, parse_time(at, "--at"))
            entries = store.timeline(incident)
        if as_json:
            typer.echo(json.dumps([asdict(e) for e in entries]))
            return
        table = Table("when", "kind", "text")
        for e in entries:
            table.add_row(_when(e.at), e.kind, e.text)
        out.print(table)

    @group.command("close")
    def close(
        incident: Id,
        config: ConfigOption = DEFAULT_CONFIG,
        note: Annotated[str, typer.Option(help="Why it is closed.")] = "",
        as_json: JsonOption = False,
    ) -> None:
        """Close the incident (its scopes stay readable)."""
        cfg = load(config)
        with _db(cfg) as db:
            inc = IncidentStore(db).close(incident, text=note)
        if as_json:
            typer.echo(json.dumps({"id": inc.id, "status": inc.status}))
        else:
            out.print(f"Incident {inc.id} closed.")

    @group.command("scope")
    def scope(
        incident: Id,
        config: ConfigOption = DEFAULT_CONFIG,
        out_file: Annotated[
            Path | None, typer.Option("--out", help="Write every exposure (.csv or .ndjson).")
        ] = None,
        as_json: JsonOption = False,
    ) -> None:
        """Scope from the ledger (keeps what a matched file showed); saves a new version."""
        from seawall.incident.report import write_exposures
        from seawall.incident.run import run_scope, stored_canary_ids

        cfg = load(config)
        with _db(cfg) as db, _progress("scoping from the ledger", as_json):
            run = run_scope(cfg, db, incident, canary_user_ids=stored_canary_ids(db))
        if out_file:
            write_exposures(out_file, run.exposures)
        summary = {"incident": incident, "version": run.version, **run.summary}
        if as_json:
            typer.echo(json.dumps(summary))
            return
        out.print(
            f"Scope v{run.version}: [bold]{summary['subjects']}[/] subjects, "
            f"{summary['users']} users, {summary['orgs']} orgs, {summary['anonymous']} anonymous, "
            f"{summary['canaries']} canaries; risk {summary['risk_tiers']}"
        )

    @group.command("match")
    def match(
        incident: Id,
        file: Annotated[Path, typer.Argument(help="What the vendor handed over.")],
        config: ConfigOption = DEFAULT_CONFIG,
        mapping: Annotated[
            list[str] | None, typer.Option("--map", help="COLUMN=CATEGORY, repeatable.")
        ] = None,
        fmt: Annotated[str | None, typer.Option("--format", help="csv|ndjson|json|parquet")] = None,
        outcomes: Annotated[
            Path | None, typer.Option("--outcomes", help="CSV: one line per leaked record.")
        ] = None,
        as_json: JsonOption = False,
    ) -> None:
        """Match a leaked file to directory, canaries and ledger; updates the scope."""
        from seawall.incident.run import run_match, stored_canary_ids

        cfg = load(config)
        overrides = _parse_map(mapping)
        with _db(cfg) as db, _progress(f"matching {file.name}", as_json):
            result, run = run_match(
                cfg,
                db,
                incident,
                file,
                canary_user_ids=stored_canary_ids(db),
                overrides=overrides,
                fmt=fmt,
                outcomes=outcomes,
            )
        doc = {
            "incident": incident,
            "version": run.version,
            **result.summary(),
            "provenance": run.summary.get("provenance"),
        }
        if as_json:
            typer.echo(json.dumps(doc))
        else:
            out.print(
                f"{doc['rows']} rows: [green]{doc['matched']} matched[/], "
                f"{doc['canaries']} canary, "
                f"[yellow]{doc['unknown']} unknown[/], [red]{doc['invalid']} invalid[/]; "
                f"scope v{run.version}, provenance {doc['provenance']}"
            )
        if result.invalid or result.unknown:
            raise typer.Exit(1)

    @group.command("clocks")
    def clocks(
        incident: Id,
        config: ConfigOption = DEFAULT_CONFIG,
        materiality_at: When = None,
        as_json: JsonOption = False,
    ) -> None:
        """Each regulatory deadline the incident starts, and what is due."""
        cfg = load(config)
        with _db(cfg) as db:
            inc, deadlines = _deadlines(
                cfg, db, incident, parse_time(materiality_at, "--materiality-at")
            )
        if as_json:
            typer.echo(json.dumps({"incident": inc, "deadlines": [d.as_dict() for d in deadlines]}))
            return
        table = Table("regime", "duty", "due (UTC)", "applies", "why")
        for d in deadlines:
            table.add_row(d.regime, d.duty, _when(d.due_at), "yes" if d.applies else "no", d.reason)
        out.print(table)

    @group.command("report")
    def report(
        incident: Id,
        config: ConfigOption = DEFAULT_CONFIG,
        out_dir: Annotated[Path, typer.Option("--out", help="Folder for the files.")] = Path("."),
        as_json: JsonOption = False,
    ) -> None:
        """Write the HTML report (charts inline), its JSON and the exposures CSV."""
        from seawall.incident.report import write_report

        cfg = load(config)
        with _db(cfg) as db:
            store = IncidentStore(db)
            inc = store.get(incident)
            version, exposures = store.latest_scope(incident)
            if version == 0:
                raise typer.BadParameter(
                    f"incident {incident} has no scope yet; run `seawall incident scope {incident}`"
                )
            versions = store.versions(incident)
            summary = versions[-1]["summary"]
            assert isinstance(summary, dict)
            match_doc = next(
                (e.data for e in reversed(store.timeline(incident)) if e.kind == "file_received"),
                None,
            )
            _, deadlines = _deadlines(cfg, db, incident, None)
            paths = write_report(
                out_dir,
                inc,
                version,
                summary,
                exposures,
                store.timeline(incident),
                deadlines,
                match_doc,
            )
        if as_json:
            typer.echo(json.dumps({"incident": incident, "version": version, **paths}))
        else:
            out.print(f"Wrote {paths['html']}, {paths['json']} and {paths['csv']}")

    app.add_typer(group, name="incident")


def _deadlines(
    cfg: Config, db: Database, incident_id: int, materiality_at: float | None
) -> tuple[int, list[Any]]:
    from seawall.incident.clocks import deadlines, facts_from
    from seawall.incident.directory import read_directory

    store = IncidentStore(db)
    inc = store.get(incident_id)
    _, exposures = store.latest_scope(incident_id)
    if materiality_at is None:
        materiality_at = next(
            (e.at for e in store.timeline(incident_id) if e.kind == "materiality"), None
        )
    notified = next((e.at for e in store.timeline(incident_id) if e.kind == "notices_sent"), None)
    countries = {p.user_id: p.country for p in read_directory(cfg)} if cfg.directory else {}
    facts = facts_from(
        ((e.user_id, e.categories, e.risk_tier) for e in exposures if not e.canary), countries
    )
    return inc.id, deadlines(
        aware_at=inc.aware_at,
        people=facts,
        regimes=cfg.incident.regimes,
        materiality_at=materiality_at,
        notified_at=notified,
        detected_at=inc.detected_at,
        vendor_notice_hours=(
            cfg.vendors[inc.vendor].contract.breach_notice_hours
            if inc.vendor in cfg.vendors
            else None
        ),
    )
