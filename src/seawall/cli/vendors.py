"""``seawall vendors list|show|disable|enable|exposure``: the kill switch and the blast radius."""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from seawall.cli.options import (
    DEFAULT_CONFIG,
    ConfigOption,
    JsonOption,
    database_missing,
    load,
    open_recorded,
)
from seawall.core.config import Config
from seawall.core.errors import ConfigError
from seawall.outbox.store import SqlOutbox
from seawall.storage.database import Database, open_database


def _when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return dt.datetime.fromtimestamp(ts, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _open(cfg: Config) -> Database:
    return open_recorded(cfg)


def _open_switch(cfg: Config) -> Database:
    """The kill switch may be set before the gateway first starts (so a vendor never
    receives anything), which creates Seawall's tables in a missing or empty database;
    say so, since from the wrong folder that database is one no gateway reads. Another
    application's database is refused, as everywhere."""
    missing = database_missing(cfg)
    if missing is None or missing[0] not in ("absent", "empty"):
        return open_recorded(cfg)
    db = open_database(cfg.database_url())
    Console(stderr=True).print(
        f"[yellow]note:[/] {missing[1]}; created it. A gateway reads this switch only if "
        "it runs with this config."
    )
    return db


def _vendor(cfg: Config, name: str) -> None:
    if name not in cfg.vendors:
        raise ConfigError(
            f"no vendor named '{name}'",
            key="vendors",
            fix=f"choose one of: {', '.join(cfg.vendors) or '(none configured)'}",
        )


def _canaries(cfg: Config, db: Database, vendor: str) -> set[bytes]:
    """The vendor's decoy identities, as ledger subjects: they are not people to count."""
    from seawall.canary.store import canary_user_ids
    from seawall.core.crypto import fingerprint
    from seawall.core.keys import KeyRing

    key = KeyRing(cfg.path(cfg.keys_dir)).ledger_key()
    return {fingerprint(key, uid) for uid, v in canary_user_ids(db).items() if v == vendor}


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="Vendors: state, kill switch, exposure.", no_args_is_help=True)
    out = Console()

    @group.command("list")
    def list_(config: ConfigOption = DEFAULT_CONFIG, as_json: JsonOption = False) -> None:
        """Each vendor: kind, enabled, events held, dead-lettered."""
        cfg = load(config)
        db = _open(cfg)
        try:
            ob = SqlOutbox(db)
            depth, dead, states = ob.depth(), ob.dead_letter_count(), ob.states()
        finally:
            db.close()
        rows = [
            {
                "vendor": n,
                "kind": v.kind,
                "enabled": states.get(n, (True, 0, None))[0],
                "held": depth.get(n, (0, 0))[1],
                "dead_lettered": dead.get(n, 0),
            }
            for n, v in cfg.vendors.items()
        ]
        if as_json:
            typer.echo(json.dumps(rows))
            return
        table = Table("vendor", "kind", "enabled", "held", "dead-lettered")
        for r in rows:
            table.add_row(
                str(r["vendor"]),
                str(r["kind"]),
                "[green]yes[/]" if r["enabled"] else "[red]DISABLED[/]",
                str(r["held"]),
                str(r["dead_lettered"]),
            )
        out.print(table)

    @group.command("show")
    def show(
        vendor: str, config: ConfigOption = DEFAULT_CONFIG, as_json: JsonOption = False
    ) -> None:
        """A vendor's config (without secrets), contract and state."""
        cfg = load(config)
        _vendor(cfg, vendor)
        v = cfg.vendors[vendor]
        db = _open(cfg)
        try:
            ob = SqlOutbox(db)
            state = ob.states().get(vendor, (True, None, None))
            held = ob.depth().get(vendor, (0, 0))[1]
        finally:
            db.close()
        doc = {
            "vendor": vendor,
            "kind": v.kind,
            "endpoint": v.endpoint,
            "enabled": state[0],
            "changed_at": _when(state[1]) if state[1] else None,
            "reason": state[2],
            "held": held,
            "contract": v.contract.model_dump(),
            "policy": v.policy.model_dump(mode="json"),
        }
        typer.echo(json.dumps(doc, indent=None if as_json else 2))

    @group.command("disable")
    def disable(
        vendor: str,
        config: ConfigOption = DEFAULT_CONFIG,
        purge: Annotated[
            bool, typer.Option(help="Also delete every event held for this vendor.")
        ] = False,
        reason: Annotated[str | None, typer.Option(help="Why (kept with the state).")] = None,
    ) -> None:
        """Kill switch: every process stops sending to VENDOR within a second."""
        cfg = load(config)
        _vendor(cfg, vendor)
        db = _open_switch(cfg)
        try:
            ob = SqlOutbox(db)
            ob.set_enabled(vendor, False, reason)
            purged = ob.purge(vendor) if purge else 0
            held = ob.depth().get(vendor, (0, 0))[1]
        finally:
            db.close()
        out.print(
            f"[red]{vendor} disabled[/]: no more sends. "
            + (
                f"Purged {purged} held row(s)."
                if purge
                else f"{held} event(s) held; `seawall vendors enable {vendor}` resumes, "
                f"`disable --purge` deletes them."
            )
        )

    @group.command("enable")
    def enable(vendor: str, config: ConfigOption = DEFAULT_CONFIG) -> None:
        """Resume sending to VENDOR; held events drain."""
        cfg = load(config)
        _vendor(cfg, vendor)
        db = _open(cfg)
        try:
            SqlOutbox(db).set_enabled(vendor, True, None)
        finally:
            db.close()
        out.print(f"[green]{vendor} enabled[/]")

    @group.command("exposure")
    def exposure(
        vendor: str, config: ConfigOption = DEFAULT_CONFIG, as_json: JsonOption = False
    ) -> None:
        """Blast radius: the subjects, orgs and data categories VENDOR holds now."""
        from seawall.ledger.store import LedgerStore

        cfg = load(config)
        _vendor(cfg, vendor)
        retention = cfg.vendors[vendor].contract.retention_days
        db = _open(cfg)
        try:
            since = (dt.datetime.now(dt.UTC).timestamp() - retention * 86400) if retention else None
            exp = LedgerStore(db).exposure(vendor, since=since, exclude=_canaries(cfg, db, vendor))
        finally:
            db.close()
        doc = {
            "vendor": vendor,
            "subjects": exp.subjects,
            "users": exp.users,
            "anonymous": exp.anonymous,
            "orgs": exp.orgs,
            "categories": exp.categories,
            "fields": exp.fields,
            "first_seen": _when(exp.first_seen),
            "last_seen": _when(exp.last_seen),
            "retention_days": retention,
        }
        if as_json:
            typer.echo(json.dumps(doc))
            return
        out.print(
            f"[bold]{vendor}[/] holds data on [bold]{exp.subjects}[/] subject(s): "
            f"{exp.users} known user(s), {exp.anonymous} anonymous; {exp.orgs} org(s); "
            f"{_when(exp.first_seen)} .. {_when(exp.last_seen)}"
        )
        table = Table("data category", "people")
        for cat, n in sorted(exp.categories.items(), key=lambda kv: -kv[1]):
            table.add_row(cat, str(n))
        out.print(table)

    app.add_typer(group, name="vendors")
