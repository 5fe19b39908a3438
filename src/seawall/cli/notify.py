"""``seawall notify plan|preview|send|status``: tell every affected person, once.

``plan`` creates the campaign (a wave) and prints its id; ``send`` takes that id and
can be run again to resume; ``status`` names the notices a crash left uncertain.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from seawall.cli.options import DEFAULT_CONFIG, ConfigOption, JsonOption, load, open_recorded
from seawall.core.config import Config, Smtp
from seawall.core.errors import ConfigError, SeawallError
from seawall.incident.directory import read_directory
from seawall.notify import send as sending
from seawall.notify.address import parse_sender
from seawall.notify.campaign import Person, parse_audience, plan
from seawall.notify.errors import NotifyError
from seawall.notify.render import Renderer, notice_context
from seawall.notify.store import NotifyStore
from seawall.notify.wave import plan_wave
from seawall.storage.database import Database

AudienceOption = Annotated[
    str,
    typer.Option(
        "--audience",
        "-a",
        help="users, org_admins, or a filter: risk_tier=high, category=user.contact, "
        "org_admins:risk_tier=high.",
    ),
]
TemplatesOption = Annotated[
    Path | None,
    typer.Option(help="A folder of templates (<locale>/<kind>.<part>.j2) searched first."),
]


def _smtp(cfg: Config) -> Smtp:
    if cfg.smtp is None:
        raise ConfigError(
            "there is no 'smtp' section, so notices cannot be sent",
            key="smtp",
            fix="add smtp: {host: ..., port: ..., sender: 'Security <security@example.com>'}",
        )
    return cfg.smtp


def _people(cfg: Config) -> list[Person]:
    return list(read_directory(cfg))


def _open(cfg: Config) -> Database:
    return open_recorded(cfg)


def _print_status(out: Console, doc: dict[str, object]) -> None:
    out.print(
        f"[bold]campaign {doc['campaign']}[/] (incident {doc['incident']}, wave {doc['wave']}, "
        f"{doc['audience']}): {doc['status']}"
    )
    table = Table("recipients", "sent", "failed", "suppressed", "pending", "sending")
    table.add_row(
        *(str(doc[k]) for k in ("recipients", "sent", "failed", "suppressed")),
        str(doc["pending"]),
        str(doc["sending"]),
    )
    out.print(table)
    uncertain = doc["uncertain"]
    assert isinstance(uncertain, list)
    if uncertain:
        out.print(
            f"[yellow]{len(uncertain)} notice(s) were in flight when a run stopped[/]; "
            "they may have been delivered twice:"
        )
        for u in uncertain:
            out.print(f"  {u['recipient']}  ({u['state']}, {u['message_id']})")
    failures = doc["failures"]
    assert isinstance(failures, list)
    for f in failures[:20]:
        out.print(f"  [red]failed[/] {f['recipient']}: {f['reply']}")


def register(app: typer.Typer) -> None:
    group = typer.Typer(
        help="Notification campaigns: plan, preview, send, status.", no_args_is_help=True
    )
    out = Console()
    err = Console(stderr=True)

    @group.command("plan")
    def plan_(
        incident: int,
        audience: AudienceOption = "users",
        wave: Annotated[int | None, typer.Option(help="Wave number (default: next).")] = None,
        templates: TemplatesOption = None,
        dry_run: Annotated[bool, typer.Option(help="Show the plan; store nothing.")] = False,
        config: ConfigOption = DEFAULT_CONFIG,
        as_json: JsonOption = False,
    ) -> None:
        """Create the next wave of INCIDENT's notices for an audience and show who gets what."""
        cfg = load(config)
        sender = _smtp(cfg).sender
        db = _open(cfg)
        try:
            result = plan_wave(
                db,
                incident,
                audience,
                _people(cfg),
                sender=sender,
                wave=wave,
                templates=templates,
                dry_run=dry_run,
            )
            doc: dict[str, object] = {"campaign": None, "incident": incident}
            if result.campaign is not None:
                doc = sending.status(NotifyStore(db), result.campaign.id)
            else:
                to_send = len([n for n in result.plan.notices if n.reason is None])
                doc.update(
                    recipients=len(result.plan.notices),
                    sent=0,
                    failed=0,
                    suppressed=len(result.plan.notices) - to_send,
                    pending=to_send,
                    sending=0,
                    uncertain=[],
                )
        finally:
            db.close()
        doc.update(result.plan.summary(), scope_version=result.scope_version)
        if as_json:
            typer.echo(json.dumps(doc))
            return
        _print_plan(out, doc, dry_run)

    @group.command("preview")
    def preview(
        incident: int,
        to: Annotated[str, typer.Option("--to", help="The user id to render the notice for.")],
        audience: AudienceOption = "users",
        org: Annotated[str | None, typer.Option(help="For org_admins: which org.")] = None,
        html: Annotated[bool, typer.Option("--html", help="Print the HTML part.")] = False,
        templates: TemplatesOption = None,
        config: ConfigOption = DEFAULT_CONFIG,
    ) -> None:
        """Render the notice USER would get for INCIDENT (nothing is stored or sent)."""
        from seawall.incident.store import IncidentStore

        cfg = load(config)
        smtp = _smtp(cfg)
        people = _people(cfg)
        db = _open(cfg)
        try:
            incidents = IncidentStore(db)
            case = incidents.get(incident)
            _, exposures = incidents.latest_scope(incident)
        finally:
            db.close()
        result = plan(exposures, people, parse_audience(audience))
        match = [n for n in result.notices if n.user_id == to and (org is None or n.org_id == org)]
        if not match:
            raise NotifyError(
                f"user '{to}' is not a recipient of '{audience}' in incident {incident}'s "
                "newest scope; check the id, or the audience (org admins: --audience org_admins)"
            )
        notice = match[0]
        person = next(p for p in people if p.user_id == to)
        renderer = Renderer(templates)
        try:
            sender = parse_sender(smtp.sender)
        except ValueError as exc:
            raise ConfigError(str(exc), key="smtp.sender") from None
        context = notice_context(
            kind=notice.kind,
            locale=renderer.locale_for(notice.locale),
            name=person.name,
            categories=notice.categories,
            incident=case,
            sender_name=sender.display_name or sender.addr_spec,
            contact_email=(cfg.alerts.email if cfg.alerts and cfg.alerts.email else smtp.sender),
            reference="SW-preview",
            org_id=notice.org_id,
            members=notice.members,
        )
        rendered = renderer.render(notice.kind, notice.locale, context)
        if notice.reason:
            err.print(
                f"[yellow]note:[/] this recipient is excluded from a new wave: {notice.reason}"
            )
        typer.echo(f"Subject: {rendered.subject}\nContent-Language: {context['locale']}\n")
        typer.echo(rendered.html if html else rendered.text)

    @group.command("send")
    def send(
        campaign: int,
        rate: Annotated[float, typer.Option(help="Messages per second (0: unlimited).")] = (
            sending.DEFAULT_RATE
        ),
        concurrency: Annotated[
            int, typer.Option(help="SMTP connections, and the most notices in flight.")
        ] = sending.DEFAULT_CONCURRENCY,
        config: ConfigOption = DEFAULT_CONFIG,
        as_json: JsonOption = False,
    ) -> None:
        """Send (or resume) CAMPAIGN; run it again after a crash to finish it."""
        cfg = load(config)
        smtp = _smtp(cfg)
        people = _people(cfg)
        options = sending.SendOptions(rate=rate, concurrency=concurrency)
        db = _open(cfg)
        bar = Progress(
            TextColumn("[bold]campaign {task.fields[campaign]}"),
            BarColumn(),
            TextColumn("sent {task.fields[sent]}  failed {task.fields[failed]}"),
            TextColumn("remaining {task.fields[remaining]}  {task.fields[rate]:.0f}/s"),
            TimeElapsedColumn(),
            console=err,
            disable=as_json or not err.is_terminal,
        )
        task = bar.add_task(
            "send", total=None, campaign=campaign, sent=0, failed=0, remaining=0, rate=0.0
        )

        def show(p: sending.Progress) -> None:
            bar.update(
                task,
                total=p.total,
                completed=p.total - p.remaining,
                sent=p.sent,
                failed=p.failed,
                remaining=p.remaining,
                rate=p.rate,
            )

        try:
            with bar:
                doc = sending.send_campaign(
                    db,
                    campaign,
                    smtp=smtp,
                    people=people,
                    options=options,
                    contact_email=cfg.alerts.email if cfg.alerts else None,
                    webhooks=cfg.alerts.webhooks if cfg.alerts else (),
                    on_progress=show,
                )
        finally:
            db.close()
        if as_json:
            typer.echo(json.dumps(doc))
        else:
            _print_status(out, doc)
        if doc["failed"] or doc["status"] != "finished":
            raise typer.Exit(1)

    @group.command("status")
    def status_(
        campaign: int, config: ConfigOption = DEFAULT_CONFIG, as_json: JsonOption = False
    ) -> None:
        """Counts per state, failures with the server's reply, and uncertain notices."""
        cfg = load(config)
        db = _open(cfg)
        try:
            doc = sending.status(NotifyStore(db), campaign)
        finally:
            db.close()
        if as_json:
            typer.echo(json.dumps(doc))
        else:
            _print_status(out, doc)

    app.add_typer(group, name="notify")


def _print_plan(out: Console, doc: dict[str, object], dry_run: bool) -> None:
    head = "dry run, nothing stored" if dry_run else f"campaign {doc['campaign']} planned"
    out.print(
        f"[bold]{head}[/]: incident {doc['incident']}, scope version {doc['scope_version']}, "
        f"audience {doc['audience']}: [bold]{doc['to_send']}[/] to notify"
    )
    for title, key in (("locale", "by_locale"), ("risk tier", "by_risk_tier")):
        table = Table(title, "notices")
        counts = doc[key]
        assert isinstance(counts, dict)
        for name, n in counts.items():
            table.add_row(str(name), str(n))
        out.print(table)
    excluded = doc["excluded"]
    assert isinstance(excluded, dict)
    table = Table("excluded because", "recipients")
    for reason, n in sorted(excluded.items()):
        table.add_row(str(reason), str(n))
    table.add_row("no user id (anonymous subject)", str(doc["anonymous"]))
    table.add_row("org without owner/admin in directory", str(doc["orgs_without_admin"]))
    if doc.get("ids_too_long"):
        table.add_row("user or org id over 300 characters", str(doc["ids_too_long"]))
    out.print(table)
    if doc["campaign"] is not None:
        out.print(f"Next: [bold]seawall notify send {doc['campaign']}[/]")


def main() -> None:
    """Run the ``notify`` group alone (``python -m seawall.cli.notify``)."""
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    register(app)
    err = Console(stderr=True)
    try:
        app(["notify", *sys.argv[1:]])
    except ConfigError as exc:
        err.print(f"[red]config error:[/] {exc}")
        sys.exit(2)
    except SeawallError as exc:
        err.print(f"[red]error:[/] {exc}")
        sys.exit(1)


if __name__ == "__main__":
    main()
