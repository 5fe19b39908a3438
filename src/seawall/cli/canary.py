"""``seawall canary mint|plant|listen|status``: decoys in each vendor's data, and their
tripwires."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import signal
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from seawall.cli.options import DEFAULT_CONFIG, ConfigOption, JsonOption, load, open_recorded

__all__ = ["register"]


def _when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return dt.datetime.fromtimestamp(ts, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def register(app: typer.Typer) -> None:
    """Add the ``canary`` group to the ``seawall`` CLI."""
    group = typer.Typer(help="Canaries: decoy users that reveal which vendor leaked.")
    out = Console()
    err = Console(stderr=True)

    @group.command("mint")
    def mint(
        vendor: Annotated[str, typer.Option(help="The vendor whose data gets the canaries.")],
        count: Annotated[int, typer.Option(min=1, max=100, help="How many.")] = 1,
        config: ConfigOption = DEFAULT_CONFIG,
        as_json: JsonOption = False,
    ) -> None:
        """Mint canaries for VENDOR: names, addresses at the canary domain, beacon URLs.
        Refuses when VENDOR's policy lets no canary field through."""
        from seawall.canary.mint import canary_key
        from seawall.canary.plant import check_vendor, mint_canaries, require_canary_config
        from seawall.canary.store import CanaryStore
        from seawall.gateway.runtime import Runtime

        cfg = load(config)
        require_canary_config(cfg)
        check_vendor(cfg, vendor)
        rt = Runtime.build(cfg)
        try:
            made = mint_canaries(
                cfg, rt.policies, canary_key(rt.keys), CanaryStore(rt.db), vendor, count
            )
        finally:
            rt.close()
        rows = [
            {
                "id": c.id,
                "vendor": c.vendor,
                "name": c.name,
                "email": c.email,
                "user_id": c.user_id,
                "beacon_url": url or None,
                "channels": list(c.channels),
                "fields": c.memo.get("fields", {}),
            }
            for c, url in made
        ]
        if as_json:
            typer.echo(json.dumps(rows))
            return
        table = Table("id", "name", "email", "beacon URL", "channels")
        for r in rows:
            table.add_row(
                str(r["id"]),
                str(r["name"]),
                str(r["email"]),
                str(r["beacon_url"] or "-"),
                ", ".join(r["channels"]),
            )
        out.print(table)
        err.print(
            "Beacon URLs are shown once (only a hash is stored). Next: "
            f"[bold]seawall canary plant --vendor {vendor}[/] (or let `seawall serve` plant)."
        )

    @group.command("plant")
    def plant_cmd(
        vendor: Annotated[str | None, typer.Option(help="Only this vendor's canaries.")] = None,
        config: ConfigOption = DEFAULT_CONFIG,
    ) -> None:
        """Send each canary's profile and a few events through the policy, ledger and
        outbox; the forwarders of `seawall serve` deliver them."""
        from seawall.canary.plant import check_vendor, plant, require_canary_config
        from seawall.canary.store import CanaryStore
        from seawall.gateway.runtime import Runtime

        cfg = load(config)
        require_canary_config(cfg)
        if vendor is not None:
            check_vendor(cfg, vendor)
        rt = Runtime.build(cfg)
        try:
            store = CanaryStore(rt.db)
            n = asyncio.run(plant(rt, store, store.list(vendor)))
        finally:
            rt.close()
        err.print(f"Planted {n} canar{'y' if n == 1 else 'ies'}; queued for delivery.")
        if n == 0:
            err.print("Nothing to plant: mint some first with `seawall canary mint --vendor V`.")

    @group.command("listen")
    def listen(config: ConfigOption = DEFAULT_CONFIG) -> None:
        """Run the SMTP tripwire (canary.smtp_listen) in the foreground until Ctrl-C."""
        from seawall.canary.plant import require_canary_config
        from seawall.canary.service import start_canary_services
        from seawall.gateway.runtime import Runtime

        cfg = load(config)
        domain, _ = require_canary_config(cfg)
        assert cfg.canary is not None
        listen_at = cfg.canary.smtp_listen
        rt = Runtime.build(cfg)

        async def main() -> None:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(NotImplementedError):
                    loop.add_signal_handler(sig, stop.set)
            tasks = start_canary_services(rt, stop, replant_every=None)
            err.print(f"SMTP tripwire for @{domain} on {listen_at}; Ctrl-C stops.")
            await asyncio.gather(*tasks)

        try:
            asyncio.run(main())  # a port it cannot bind is a SeawallError: one line, exit 1
        finally:
            rt.close()

    @group.command("status")
    def status(config: ConfigOption = DEFAULT_CONFIG, as_json: JsonOption = False) -> None:
        """Each canary: vendor, planted and last refreshed, channels, hits (probes of its
        address, checked over SMTP without a mail, counted apart as "probe")."""
        from seawall.canary.store import CanaryStore

        cfg = load(config)
        db = open_recorded(cfg)
        try:
            store = CanaryStore(db)
            canaries, counts = store.list(), store.hit_counts()
        finally:
            db.close()
        rows: list[dict[str, Any]] = []
        for c in canaries:
            hits = {
                h.channel: {"count": h.count, "first": h.first, "last": h.last}
                for h in counts.get(c.id, [])
            }
            rows.append(
                {
                    "id": c.id,
                    "vendor": c.vendor,
                    "email": c.email,
                    "user_id": c.user_id,
                    "channels": list(c.channels),
                    "planted_at": c.planted_at,
                    "refreshed_at": c.refreshed_at,
                    "hits": hits,
                    "total_hits": sum(h["count"] for h in hits.values()),
                }
            )
        if as_json:
            typer.echo(json.dumps(rows))
            return
        table = Table(
            "id", "vendor", "email", "channels", "planted", "refreshed", "hits", "last hit"
        )
        for r in rows:
            last = max((h["last"] for h in r["hits"].values()), default=None)
            probes = r["hits"].get("probe", {}).get("count", 0)
            plural = "" if probes == 1 else "s"
            shown = f"{r['total_hits']}" + (f" ({probes} probe{plural})" if probes else "")
            table.add_row(
                r["id"],
                r["vendor"],
                r["email"],
                ", ".join(r["channels"]),
                _when(r["planted_at"]),
                _when(r["refreshed_at"]),
                f"[red]{shown}[/]" if r["total_hits"] else "0",
                _when(last),
            )
        out.print(table)

    app.add_typer(group, name="canary")
