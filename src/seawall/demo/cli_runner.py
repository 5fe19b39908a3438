"""Run ``seawall`` commands in this process, as a user would type them.

The drill's response steps are the CLI's own commands (``incident scope``, ``notify
send``, ...), so the drill exercises exactly what the tutorial shows, without paying a
Python start-up per step. Output is captured; ``--json`` output is parsed.
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass
from typing import Any

import orjson
import typer

__all__ = ["CliResult", "run_cli"]


@dataclass(frozen=True, slots=True)
class CliResult:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return orjson.loads(self.stdout)


_APP: typer.Typer | None = None


def _app() -> typer.Typer:
    global _APP  # noqa: PLW0603 - built once, on first use (the CLI imports are heavy)
    if _APP is None:
        from seawall.cli import canary, incident, notify, vendors

        app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)

        @app.callback()
        def _root() -> None:
            """seawall"""

        for module in (incident, notify, canary, vendors):
            module.register(app)
        _APP = app
    return _APP


def run_cli(*args: str) -> CliResult:
    """``seawall ARGS`` in-process; returns its exit code and stdout. Config and other
    Seawall errors propagate as exceptions, as ``seawall`` would report them."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = _app()(list(args), standalone_mode=False, prog_name="seawall")
    return CliResult(code if isinstance(code, int) else 0, out.getvalue(), err.getvalue())
