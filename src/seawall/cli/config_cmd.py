"""``seawall config check|schema``."""

from __future__ import annotations

import json

import typer
from rich.console import Console

from seawall.cli.options import DEFAULT_CONFIG, ConfigOption, load
from seawall.core.config import Config


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="Validate the config or print its JSON Schema.", no_args_is_help=True)
    out = Console()

    @group.command("check")
    def check(config: ConfigOption = DEFAULT_CONFIG) -> None:
        """Load the config and compile every policy, as start-up does; explain any error."""
        from seawall.policy.engine import compile_policy

        cfg = load(config)
        for name, vendor in cfg.vendors.items():  # a throwaway key: check creates no files
            compile_policy(name, vendor.policy, bytes(32), where=f"vendors.{name}.policy")
        out.print(
            f"[green]ok[/] {config}: {len(cfg.sources)} source(s), "
            f"{len(cfg.vendors)} vendor(s), database {cfg.database.split(':', 1)[0]}"
        )

    @group.command("schema")
    def schema() -> None:
        """Print the JSON Schema of seawall.yaml (for editor autocompletion)."""
        doc = Config.model_json_schema()
        doc["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        doc["title"] = "seawall.yaml"
        typer.echo(json.dumps(doc, indent=2))

    app.add_typer(group, name="config")
