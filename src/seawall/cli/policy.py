"""``seawall policy test --vendor V FILE``: what a vendor would receive, before it does.

FILE holds events as the SDK sends them: a JSON array or NDJSON of Mixpanel messages
(``{"event": ..., "properties": ...}``, or engage / groups updates), or of Segment
messages when the sources that feed the vendor are Segment sources. They go through
the same decoder and the same compiled policy as in the gateway; nothing is sent.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.table import Table

from seawall.cli.options import DEFAULT_CONFIG, ConfigOption, JsonOption, load
from seawall.core.config import Config
from seawall.core.errors import ConfigError, SeawallError
from seawall.core.keys import KeyRing
from seawall.core.types import Context, Disclosure, Event
from seawall.ingest import mixpanel, segment
from seawall.policy.engine import CompiledPolicy, apply, compile_policy

_ENGAGE_OPS = ("$set", "$set_once", "$add", "$append", "$union", "$remove", "$unset", "$delete")
_TEST_IP = "198.51.100.23"  # RFC 5737 documentation address: shows what the IP rule does


def register(app: typer.Typer) -> None:
    """Add the ``policy`` command group to the ``seawall`` CLI."""
    group = typer.Typer(help="Policies: try them on sample events.", no_args_is_help=True)
    out = Console()
    err = Console(stderr=True)

    @group.command("test")
    def test(
        file: Annotated[
            Path, typer.Argument(help="Events as the SDK sends them (JSON or NDJSON).")
        ],
        vendor: Annotated[str, typer.Option("--vendor", help="The vendor whose policy to apply.")],
        config: ConfigOption = DEFAULT_CONFIG,
        as_json: JsonOption = False,
        ip: Annotated[
            str, typer.Option(help="Client IP the events appear to come from.")
        ] = _TEST_IP,
    ) -> None:
        """Print what VENDOR would receive for the events in FILE, and the disclosure list."""
        try:
            cfg = load(config)
            policy = _compile(cfg, vendor)
            events = _decode(cfg, vendor, _read(file), ip)
        except SeawallError as exc:
            if isinstance(exc, ConfigError):
                exc = exc.at(str(config))  # a config key: name the file it is in
            err.print(f"[red]error:[/] {exc}", highlight=False)
            raise typer.Exit(2) from None
        disclosures = [apply(event, policy) for event in events]
        if as_json:
            out.print_json(json.dumps([_as_dict(d, policy) for d in disclosures]))
            return
        for i, disclosure in enumerate(disclosures):
            out.print(_table(i, disclosure, policy))

    app.add_typer(group, name="policy")


def _compile(cfg: Config, vendor: str) -> CompiledPolicy:
    if vendor not in cfg.vendors:
        raise ConfigError(
            f"no vendor named '{vendor}'",
            key="vendors",
            fix=f"choose one of: {', '.join(cfg.vendors) or '(none configured)'}",
        )
    key = KeyRing(cfg.path(cfg.keys_dir)).vendor_key(vendor)
    return compile_policy(vendor, cfg.vendors[vendor].policy, key, where=f"vendors.{vendor}.policy")


def _read(file: Path) -> list[Any]:
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise ConfigError(
            f"cannot read {file} ({exc.strerror})", fix="pass a JSON or NDJSON file of events"
        ) from None
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        try:
            data = [orjson.loads(line) for line in raw.splitlines() if line.strip()]
        except orjson.JSONDecodeError as exc:
            raise ConfigError(
                f"{file} is neither JSON nor NDJSON ({exc})",
                fix="one JSON array, or one JSON object per line",
            ) from None
    messages = data if isinstance(data, list) else [data]
    if not messages or not all(isinstance(m, dict) for m in messages):
        raise ConfigError(
            f"{file} holds no event objects",
            fix='e.g. [{"event": "Signed up", "properties": {"distinct_id": "u1"}}]',
        )
    return messages


def _decode(cfg: Config, vendor: str, messages: list[Any], ip: str) -> list[Event]:
    feeding = [(name, s) for name, s in cfg.sources.items() if vendor in s.destinations]
    if not feeding:
        raise ConfigError(
            f"no source sends to '{vendor}'",
            key="sources",
            fix=f"add {vendor} to a source's destinations",
        )
    client = Context(ip=ip or None)
    is_segment = any("type" in m or "anonymousId" in m or "userId" in m for m in messages)
    kind = "segment" if is_segment else "mixpanel"
    match = [(n, s) for n, s in feeding if s.kind == kind]
    if not match:
        raise ConfigError(
            f"the events look like {kind} messages, but no {kind} source sends to '{vendor}'",
            fix="use events in the format of that source's SDK",
        )
    name, source = match[0]
    key = source.key()
    if kind == "segment":
        auth = "Basic " + base64.b64encode(f"{key}:".encode()).decode()
        body = orjson.dumps({"batch": messages})
        return segment.decode(
            "batch",
            body,
            content_type="application/json",
            authorization=auth,
            client=client,
            sources={key: name},
        )
    events: list[Event] = []
    for endpoint, batch in _mixpanel_batches(messages, key):
        events += mixpanel.decode(
            endpoint,
            orjson.dumps(batch),
            content_type="application/json",
            query={},
            authorization=None,
            client=client,
            sources={key: name},
            import_secrets={},
        )
    return events


def _mixpanel_batches(messages: list[dict[str, Any]], token: str) -> list[tuple[str, list[Any]]]:
    """Split messages by endpoint, adding the source token where the file left it out."""
    batches: dict[str, list[Any]] = {"track": [], "engage": [], "groups": []}
    for msg in messages:
        if "$group_key" in msg:
            batches["groups"].append({"$token": token, **msg})
        elif any(op in msg for op in _ENGAGE_OPS):
            batches["engage"].append({"$token": token, **msg})
        else:
            props = msg.get("properties")
            props = props if isinstance(props, dict) else {}
            batches["track"].append({**msg, "properties": {"token": token, **props}})
    return [(endpoint, batch) for endpoint, batch in batches.items() if batch]


def _as_dict(disclosure: Disclosure, policy: CompiledPolicy) -> dict[str, Any]:
    sdk = disclosure.event.sdk
    return {
        "kind": disclosure.event.kind,
        "fields": disclosure.fields,
        "sent": [
            {"field": s.field, "category": s.category, "rule": policy.decide(sdk, s.field).rule}
            for s in disclosure.sent
        ],
        "dropped": [
            {"field": f, "category": c, "rule": policy.decide(sdk, f).rule}
            for f, c in disclosure.dropped
        ],
    }


def _table(index: int, disclosure: Disclosure, policy: CompiledPolicy) -> Table:
    event = disclosure.event
    table = Table(
        title=f"event {index}: {event.kind} {event.name or ''}".rstrip(), title_justify="left"
    )
    for column in ("field", "sent as", "category", "rule"):
        table.add_column(column, overflow="fold")
    for sent in disclosure.sent:
        value = json.dumps(sent.value, ensure_ascii=False)
        table.add_row(sent.field, value, sent.category, policy.decide(event.sdk, sent.field).rule)
    for field, category in disclosure.dropped:
        table.add_row(
            f"[dim]{field}[/]", "[red]dropped[/]", category, policy.decide(event.sdk, field).rule
        )
    return table
