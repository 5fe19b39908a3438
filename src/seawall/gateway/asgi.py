"""The import string servers load in each worker process (``uvicorn --factory``)."""

from __future__ import annotations

from typing import Any

from seawall.core.config import config_path_from_env, forward_override_from_env, load_config
from seawall.gateway.app import create_app


def app_from_env() -> Any:
    """Build the app from the config named by SEAWALL_CONFIG (set by ``seawall serve``)."""
    return create_app(load_config(config_path_from_env()), forward=forward_override_from_env())
