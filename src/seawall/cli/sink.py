"""``seawall sink``: a local vendor that records what it receives."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

__all__ = ["register"]


def sink(
    port: Annotated[int, typer.Option(help="TCP port to listen on.")] = 9100,
    out: Annotated[Path, typer.Option(help="NDJSON file to append received messages to.")] = Path(
        "sink.ndjson"
    ),
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
) -> None:
    """Run a local vendor that accepts the Mixpanel and Segment APIs and appends every
    message it receives to an NDJSON file (one line per message)."""
    from seawall.sink.server import serve

    typer.echo(f"sink listening on http://{host}:{port}, writing to {out}", err=True)
    serve(out, host=host, port=port)


def register(app: typer.Typer) -> None:
    """Add the ``sink`` command to the ``seawall`` CLI."""
    app.command("sink")(sink)
