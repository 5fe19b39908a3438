"""``seawall serve``: the gateway (and its forwarders) under uvicorn."""

from __future__ import annotations

import enum
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from seawall.cli.options import DEFAULT_CONFIG, ConfigOption, load
from seawall.core.config import CONFIG_ENV, FORWARD_ENV


class Server(enum.StrEnum):
    uvicorn = "uvicorn"
    granian = "granian"


def _hand_over(config: Path, forward: bool | None) -> None:
    """What worker processes need to build the app themselves (gateway/asgi.py)."""
    os.environ[CONFIG_ENV] = str(config.resolve())
    if forward is not None:
        os.environ[FORWARD_ENV] = "1" if forward else "0"


def _granian(config: Path, forward: bool | None, host: str, port: int, workers: int) -> None:
    """Granian's Rust HTTP stack, one worker process per core; each worker builds the app
    from the config path handed over in the environment."""
    from granian import Granian
    from granian.constants import Interfaces

    _hand_over(config, forward)
    Granian(
        "seawall.gateway.asgi:app_from_env",
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        workers=workers,
        factory=True,
        log_access=False,
    ).serve()


def register(app: typer.Typer) -> None:
    err = Console(stderr=True)

    @app.command()
    def serve(
        config: ConfigOption = DEFAULT_CONFIG,
        listen: Annotated[str | None, typer.Option(help="host:port, overrides 'listen'.")] = None,
        workers: Annotated[
            int | None, typer.Option(help="Processes (one per core); overrides gateway.workers.")
        ] = None,
        forward: Annotated[
            bool | None,
            typer.Option("--forward/--no-forward", help="Run the forwarders in these processes."),
        ] = None,
        server: Annotated[
            Server,
            typer.Option(help="ASGI server; the two measure within 10 % (docs/benchmarks.md)."),
        ] = Server.uvicorn,
    ) -> None:
        """Run the gateway: SDK endpoints, forwarders, /healthz, /readyz, /metrics."""
        import uvicorn

        from seawall.gateway.app import create_app
        from seawall.gateway.runtime import Runtime

        cfg = load(config)
        if listen:
            cfg = cfg.model_copy(update={"listen": listen})
        if forward is not None:
            cfg = cfg.model_copy(
                update={"gateway": cfg.gateway.model_copy(update={"forward": forward})}
            )
        # Fail before binding the port: policies compile, keys load, the schema migrates.
        Runtime.build(cfg).close()
        host, port = cfg.listen_host_port()
        n = workers or cfg.gateway.workers
        from seawall.hotpath import build_name

        err.print(
            f"Seawall gateway on http://{host}:{port} ({n} process(es), "
            f"database {cfg.database.split(':', 1)[0]}, hot path {build_name()})"
        )
        if server is Server.granian:
            _granian(config, forward, host, port, n)
            return
        if n == 1:
            uvicorn.run(
                create_app(cfg),
                host=host,
                port=port,
                log_level="warning",
                access_log=False,
                lifespan="on",
            )
            return
        _hand_over(config, forward)
        uvicorn.run(
            "seawall.gateway.asgi:app_from_env",
            factory=True,
            host=host,
            port=port,
            workers=n,
            log_level="warning",
            access_log=False,
            lifespan="on",
        )
