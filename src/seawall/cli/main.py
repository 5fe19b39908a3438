"""The ``seawall`` command. Exit codes: 0 ok, 1 findings or failure, 2 usage or config error.

Typer, Rich and the pydantic adapters Typer builds for a command's options cost more
than half of a short ``seawall scan`` run, so this module imports them only when it
builds the app; a plain ``seawall scan`` invocation never does (``seawall.cli.scan``).
"""

import importlib
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

if TYPE_CHECKING:
    import typer
    from rich.console import Console

# Each command group and the module that registers it. Only the module a command line
# needs is imported: every command pays for what it uses (`seawall scan` is benchmarked
# end to end, process start included), and `--help` loads them all.
COMMANDS = {
    "config": "config_cmd",
    "serve": "serve",
    "vendors": "vendors",
    "incident": "incident",
    "notify": "notify",
    "canary": "canary",
    "policy": "policy",
    "scan": "scan",
    "sink": "sink",
    "demo": "demo",
}


def err() -> "Console":
    """The console for user-facing messages (standard error)."""
    from rich.console import Console

    return Console(stderr=True)


def build_app(argv: Sequence[str]) -> "typer.Typer":
    """The CLI for this command line (``argv`` without the program name)."""
    import typer

    app = typer.Typer(
        name="seawall",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        help="A privacy gateway between your users and your analytics vendors, "
        "with a disclosure ledger and breach response.",
    )

    # The commands are defined here, where ``typer`` is imported: Typer reads their
    # annotations, and this module does not import it at the top (see its docstring).
    def _group() -> None:
        """A privacy gateway between your users and your analytics vendors, with a
        disclosure ledger and breach response."""

    def init(
        path: Annotated[Path, typer.Argument(help="Where to write the config.")] = Path(
            "seawall.yaml"
        ),
        force: Annotated[bool, typer.Option(help="Overwrite an existing file.")] = False,
    ) -> None:
        """Write a commented example seawall.yaml to start from."""
        write_example(path, force=force)

    app.callback()(_group)  # a group even when only one command is loaded
    app.command()(init)
    first = next((arg for arg in argv if not arg.startswith("-")), None)
    if first == "init":
        modules = []
    else:
        modules = [COMMANDS[first]] if first in COMMANDS else list(COMMANDS.values())
    for name in modules:
        importlib.import_module(f"seawall.cli.{name}").register(app)
    return app


def write_example(path: Path, *, force: bool) -> None:
    """``seawall init``: write the commented example config unless ``path`` exists."""
    from importlib import resources  # brings tempfile, shutil, lzma: not for scan

    import typer

    console = err()
    if path.exists() and not force:
        console.print(f"[red]{path} exists[/]; pass --force to overwrite it.")
        raise typer.Exit(2)
    text = resources.files("seawall.data").joinpath("seawall.example.yaml").read_text("utf-8")
    path.write_text(text, encoding="utf-8")
    console.print(
        f"Wrote {path}. Next: [bold]seawall config check --config {path}[/], "
        f"then [bold]seawall serve --config {path}[/]."
    )


def run() -> NoReturn:
    """Entry point: user-facing errors are one clear message, never a traceback."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # Request lines name vendor URLs; keep them (and anything in them) out of the log.
    for noisy in ("httpx", "httpcore", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    from seawall.core.errors import ConfigError, SeawallError

    argv = sys.argv[1:]
    try:
        if argv[:1] == ["scan"]:
            from seawall.cli.scan import run_plain

            code = run_plain(argv[1:])
            if code is not None:
                sys.exit(code)
        build_app(argv)()
    except ConfigError as exc:
        from seawall.cli.options import loaded_path

        if (path := loaded_path()) is not None:
            exc = exc.at(str(path))
        err().print(f"[red]config error:[/] {exc}")
        sys.exit(2)
    except SeawallError as exc:
        err().print(f"[red]error:[/] {exc}")
        sys.exit(1)
    sys.exit(0)  # pragma: no cover - the app exits itself
