"""Options every command shares."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from seawall.core.config import Config, load_config
from seawall.core.errors import ConfigError

if TYPE_CHECKING:
    from seawall.storage.database import Database

ConfigOption = Annotated[
    Path, typer.Option("--config", "-c", help="Path to seawall.yaml.", envvar="SEAWALL_CONFIG")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
DEFAULT_CONFIG = Path("seawall.yaml")


def load(path: Path) -> Config:
    return load_config(path)


def open_recorded(cfg: Config) -> Database:
    """The database the gateway records into, which must already exist.

    Reading or steering from the wrong folder (a relative ``database`` resolved next to
    another seawall.yaml) would otherwise create an empty SQLite file, answer "0
    subjects" with confidence and, for ``vendors disable``, set a kill switch the
    gateway never reads. Only commands that may legitimately be the first to write
    (``incident open``, ``canary plant``, ``serve``) open with ``open_database``."""
    from sqlalchemy.engine import make_url

    from seawall.storage.database import open_database

    url = make_url(cfg.database_url())
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        where = Path(url.database)
        if not where.exists():
            raise ConfigError(
                f"no Seawall database at {where}",
                key="database",
                fix="run from the folder of the seawall.yaml the gateway uses, or pass "
                "--config with its path; the database is created when the gateway "
                "(seawall serve) or 'incident open' first writes",
            )
    return open_database(cfg.database_url())
