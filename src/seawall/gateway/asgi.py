"""The import string servers load in each worker process (``uvicorn --factory``)."""

from __future__ import annotations

import gc
import sys
from typing import Any

from seawall.core.config import config_path_from_env, forward_override_from_env, load_config
from seawall.gateway.app import create_app

SWITCH_INTERVAL = 0.0005  # seconds a thread may hold the GIL when another waits for it


def app_from_env() -> Any:
    """Build the app from the config named by SEAWALL_CONFIG (set by ``seawall serve``)."""
    app = create_app(load_config(config_path_from_env()), forward=forward_override_from_env())
    tune_interpreter()
    return app


def tune_interpreter() -> None:
    """Collect garbage less often, and hand the GIL over sooner, in a gateway worker.

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
    # The writer thread drops the GIL at every SQLite call and must win it back from a
    # request thread that is busy applying policies; at the default 5 ms interval each
    # hand-back waited up to 5 ms, so a group commit of many statements took hundreds
    # of milliseconds while the SDKs waited for their acks (p99 0.4-1.7 s). At 0.5 ms:
    # p99 0.10-0.15 s and 20-90 % more events/s (docs/benchmarks.md).
    sys.setswitchinterval(SWITCH_INTERVAL)
