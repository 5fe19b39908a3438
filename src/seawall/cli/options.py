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


class _Loaded:
    """The config file this command loaded: a config error raised later, where only the
    parsed config was at hand, is reported with the file's name (``cli.main``)."""

    path: Path | None = None


def load(path: Path) -> Config:
    _Loaded.path = path
    return load_config(path)


def loaded_path() -> Path | None:
    return _Loaded.path


def database_missing(cfg: Config) -> tuple[str, str] | None:
    """(state, why) when the configured database is not one Seawall recorded into:
    state "absent" (no SQLite file), "empty" or "foreign" (no Seawall tables); None
    otherwise.
    Nothing is created or written to find out."""
    from sqlalchemy.engine import make_url

    from seawall.storage.database import recorded_state

    url = cfg.database_url()
    state = recorded_state(url)
    if state == "seawall":
        return None
    parsed = make_url(url)
    where = parsed.database if parsed.get_backend_name() == "sqlite" else None
    where = where or parsed.render_as_string(hide_password=True)
    why = f"no Seawall database at {where}"
    return state, why if state == "absent" else f"{why} (no Seawall tables)"


def open_recorded(cfg: Config) -> Database:
    """The database the gateway records into, which must already exist.

    Reading or steering from the wrong folder (a relative ``database`` resolved next to
    another seawall.yaml) would otherwise create an empty SQLite file, answer "0
    subjects" with confidence and mint a new ledger key. Commands that may be the first
    to write (``serve``, ``incident open``, ``canary plant``, ``vendors disable`` before
    the first start) open with ``open_database``."""
    from seawall.storage.database import open_database

    missing = database_missing(cfg)
    if missing is not None:
        raise ConfigError(
            missing[1],
            key="database",
            fix="run from the folder of the seawall.yaml the gateway uses, or pass "
            "--config with its path; the database is created when the gateway "
            "(seawall serve) or 'incident open' first writes",
        )
    return open_database(cfg.database_url())
