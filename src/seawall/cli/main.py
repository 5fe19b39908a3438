"""The ``seawall`` command. Exit codes: 0 ok, 1 findings or failure, 2 usage or config error."""

from __future__ import annotations

import logging
import sys
from importlib import resources
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from seawall.cli import (
    canary,
    config_cmd,
    demo,
    incident,
    notify,
    policy,
    scan,
    serve,
    sink,
    vendors,
)
from seawall.core.errors import ConfigError, SeawallError

app = typer.Typer(
    name="seawall",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="A privacy gateway between your users and your analytics vendors, "
    "with a disclosure ledger and breach response.",
)
err = Console(stderr=True)


@app.command()
def init(
    path: Annotated[Path, typer.Argument(help="Where to write the config.")] = Path("seawall.yaml"),
    force: Annotated[bool, typer.Option(help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented example seawall.yaml to start from."""
    if path.exists() and not force:
        err.print(f"[red]{path} exists[/]; pass --force to overwrite it.")
        raise typer.Exit(2)
    text = resources.files("seawall.data").joinpath("seawall.example.yaml").read_text("utf-8")
    path.write_text(text, encoding="utf-8")
    err.print(
        f"Wrote {path}. Next: [bold]seawall config check --config {path}[/], "
        f"then [bold]seawall serve --config {path}[/]."
    )


for module in (config_cmd, serve, vendors, incident, notify, canary, policy, scan, sink, demo):
    module.register(app)


def run() -> None:
    """Entry point: user-facing errors are one clear message, never a traceback."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # Request lines name vendor URLs; keep them (and anything in them) out of the log.
    for noisy in ("httpx", "httpcore", "alembic.runtime.migration"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        app()
    except ConfigError as exc:
        err.print(f"[red]config error:[/] {exc}")
        sys.exit(2)
    except SeawallError as exc:
        err.print(f"[red]error:[/] {exc}")
        sys.exit(1)
