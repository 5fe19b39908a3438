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


def database_missing(cfg: Config) -> str | None:
    """Why the configured database holds nothing Seawall recorded (None when it does).

    Never creates anything: a missing SQLite file is not opened (opening would create
    it), and an existing database must carry Seawall's schema (an ``alembic_version``
    table), which also catches an empty file or a wrong PostgreSQL database."""
    from sqlalchemy import inspect
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    from seawall.storage.database import Database

    url = make_url(cfg.database_url())
    if url.get_backend_name() == "sqlite":
        if url.database in (None, "", ":memory:") or url.query.get("uri"):
            return None  # nothing on disk to find, or a URI SQLite resolves itself
        if not Path(url.database).is_file():
            return f"no Seawall database at {url.database}"
        # Read-only and outside the engine, whose connect hook would switch the file
        # to WAL (writing it) before anything is known.
        import sqlite3

        try:
            ro = sqlite3.connect(f"{Path(url.database).resolve().as_uri()}?mode=ro", uri=True)
            try:
                found = ro.execute(
                    "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'"
                ).fetchone()
            finally:
                ro.close()
        except sqlite3.Error:
            return None  # unreadable: open_database explains that better
        return None if found else f"no Seawall database at {url.database} (no Seawall tables)"
    db = Database(cfg.database_url())
    try:
        with db.engine.connect() as conn:
            if inspect(conn).has_table("alembic_version"):
                return None
    except SQLAlchemyError:
        return None  # unreachable: open_database explains that better
    finally:
        db.close()
    where = url.render_as_string(hide_password=True)
    return f"no Seawall database at {where} (no Seawall tables)"


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
            missing,
            key="database",
            fix="run from the folder of the seawall.yaml the gateway uses, or pass "
            "--config with its path; the database is created when the gateway "
            "(seawall serve) or 'incident open' first writes",
        )
    return open_database(cfg.database_url())
