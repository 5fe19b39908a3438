"""The import string servers load in each worker process (``uvicorn --factory``)."""

from __future__ import annotations

import gc
from typing import Any

from seawall.core.config import config_path_from_env, forward_override_from_env, load_config
from seawall.gateway.app import create_app


def app_from_env() -> Any:
    """Build the app from the config named by SEAWALL_CONFIG (set by ``seawall serve``)."""
    app = create_app(load_config(config_path_from_env()), forward=forward_override_from_env())
    tune_gc()
    return app


def tune_gc() -> None:
    """Collect garbage less often in a gateway worker.

    A request allocates thousands of short-lived containers (50 decoded events, their
    disclosures and wire messages), nearly all freed by reference counting; at CPython's
    default thresholds the cycle collector still ran every 700 allocations and, every
    hundred runs, walked every long-lived object (modules, policies, caches). What
    start-up built is frozen out of collection and the young generation is collected
    every 50,000 allocations (docs/benchmarks.md has the measurement).
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
