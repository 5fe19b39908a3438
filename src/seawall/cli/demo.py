"""``seawall demo``: the breach drill, end to end, on local parts only."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from seawall.cli.options import JsonOption

__all__ = ["print_summary", "register"]


def register(app: typer.Typer) -> None:
    """Add ``seawall demo`` to the CLI."""

    @app.command()
    def demo(
        folder: Annotated[
            Path | None,
            typer.Option(
                "--dir", help="An empty folder for the drill (kept). Default: a temp folder."
            ),
        ] = None,
        users: Annotated[int, typer.Option(min=5, max=20_000, help="Synthetic users.")] = 500,
        keep: Annotated[bool, typer.Option(help="Keep the temp folder (config, report).")] = False,
        as_json: JsonOption = False,
    ) -> None:
        """Run a whole breach drill: gateway, two vendors, traffic, canaries, a vendor
        breach, then incident scope, match, report, clocks and notices. Local only."""
        from seawall.demo.drill import Options, run_drill

        err = Console(stderr=True)
        if folder is not None and folder.exists() and any(folder.iterdir()):
            err.print(f"[red]{folder} is not empty[/]; the drill needs a fresh folder.")
            raise typer.Exit(2)
        work = folder or Path(tempfile.mkdtemp(prefix="seawall-demo-"))
        remove = folder is None and not keep
        try:
            summary = run_drill(Options(work, users=users), console=err)
        finally:
            if remove:
                shutil.rmtree(work, ignore_errors=True)
        summary["kept"] = not remove
        if as_json:
            typer.echo(json.dumps(summary))
        else:
            print_summary(Console(), summary)
        if not summary["truth_ok"]:
            raise typer.Exit(1)


def print_summary(out: Console, s: dict[str, Any]) -> None:
    """The drill's summary as a person reads it."""
    out.print()
    table = Table(title=f"What each vendor holds ({s['users']} users, {s['orgs']} orgs)")
    for col in ("vendor", "policy", "people", "emails", "names", "cities", "canaries"):
        table.add_column(col, justify="left" if col in ("vendor", "policy") else "right")
    for name, v in s["vendors"].items():
        table.add_row(
            name,
            v["policy"],
            *(str(v[k]) for k in ("people", "emails", "names", "cities", "canaries")),
        )
    out.print(table)
    out.print(f"[bold]The strict policy prevented it:[/] {s['prevented']}.")
    leak, scope, n, t = s["leak"], s["scope"], s["notices"], s["timings"]
    out.print(
        f"Leaked export: {leak['rows']} rows, {leak['matched']} matched, "
        f"{leak['canaries']} canaries, {leak['unknown']} unknown, {leak['invalid']} invalid."
    )
    out.print(
        f"Incident {s['incident']}: {scope['users']} people exposed "
        f"(risk {scope['risk_tiers']}), {scope['anonymous']} anonymous devices, "
        f"{scope['orgs']} orgs; canaries kept out of the counts: {scope['canaries']}."
    )
    out.print(
        f"Phishing mail to alert: [bold]{t['phish_to_alert']:.2f} s[/]; alert to everyone "
        f"notified: [bold]{t['alert_to_notified']:.1f} s[/]; notices sent: "
        f"[bold]{n['sent']}[/] ({n['users']} users, {n['org_admins']} org admins), "
        f"{n['failed']} failed."
    )
    for d in s["clocks"]:
        out.print(f"  clock: {d['regime']}: {d['duty']}")
    where = s["report"] if s.get("kept") else "(removed with the temp folder; use --keep)"
    out.print(f"Report: {where}")
    bad = [c for c in s["checks"] if not c["ok"]]
    if bad:
        for c in bad:
            out.print(f"[red]✗ {c['what']}: drill {c['drill']}, ground truth {c['truth']}[/]")
    else:
        out.print(
            f"[green]✓ all {len(s['checks'])} figures equal the ground truth[/] "
            f"(total {t['total']:.1f} s)"
        )
