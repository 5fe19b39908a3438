"""Running the forwarders inside the gateway process (``seawall serve``)."""

from __future__ import annotations

import asyncio

from seawall.forward.worker import Forwarder
from seawall.gateway.runtime import Runtime


def start_forwarders(rt: Runtime, stop: asyncio.Event) -> list[asyncio.Task[None]]:
    """One Forwarder for all vendors; its counters feed /metrics."""
    forwarder = Forwarder(rt.config.vendors, rt.outbox)
    rt.forwarder_stats = lambda: {v: s.forwarded for v, s in forwarder.stats.items()}
    return [asyncio.create_task(forwarder.run(stop), name="seawall-forwarder")]
