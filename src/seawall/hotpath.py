"""The modules of the gateway's hot path that a compiled build turns into C (mypyc),
and whether this install runs them compiled.

One list serves the build (``setup.py`` reads it) and the runtime (``seawall serve``
says which build it runs), so the two cannot disagree. Nothing here imports them.
"""

from __future__ import annotations

import importlib.util

COMPILED = (
    "seawall.core.types",
    "seawall.ingest.body",
    "seawall.ingest.mixpanel",
    "seawall.ingest.segment",
    "seawall.policy.actions",
    "seawall.policy.catalogue",
    "seawall.policy.engine",
    "seawall.policy.removed",
    "seawall.forward.wire",
    "seawall.ledger.record",
    "seawall.outbox.base",
    "seawall.gateway.pipeline",
)


def compiled_modules() -> list[str]:
    """The hot-path modules this install loads from a compiled extension."""
    out = []
    for name in COMPILED:
        spec = importlib.util.find_spec(name)
        origin = spec.origin if spec is not None else None
        if origin is not None and not origin.endswith(".py"):
            out.append(name)
    return out


def build_name() -> str:
    """``compiled`` (every hot module is C), ``pure`` (none), or ``partly compiled``: a
    mix means a stale or broken build, worth saying at start-up."""
    found = len(compiled_modules())
    if found == len(COMPILED):
        return "compiled"
    return "pure" if found == 0 else "partly compiled"
