"""Options every command shares."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from seawall.core.config import Config, load_config

ConfigOption = Annotated[
    Path, typer.Option("--config", "-c", help="Path to seawall.yaml.", envvar="SEAWALL_CONFIG")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
DEFAULT_CONFIG = Path("seawall.yaml")


def load(path: Path) -> Config:
    return load_config(path)
