"""Prometheus metrics, one registry per app (tests build many apps in one process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    """What an operator watches: traffic in and out per vendor, the backlog, policy drops."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.received = Counter(
            "seawall_events_received", "Events accepted (acknowledged)", ["source"], registry=r
        )
        self.rejected = Counter(
            "seawall_requests_rejected", "Requests refused, by HTTP status", ["status"], registry=r
        )
        self.disclosed = Counter(
            "seawall_events_queued", "Minimised events queued per vendor", ["vendor"], registry=r
        )
        self.forwarded = Gauge(
            "seawall_events_forwarded",
            "Events delivered per vendor (this process)",
            ["vendor"],
            registry=r,
        )
        self.dead = Gauge(
            "seawall_events_dead_lettered", "Events given up on per vendor", ["vendor"], registry=r
        )
        self.held = Gauge(
            "seawall_outbox_events_held",
            "Events waiting in the outbox per vendor",
            ["vendor"],
            registry=r,
        )
        self.depth = Gauge("seawall_outbox_rows", "Outbox rows per vendor", ["vendor"], registry=r)
        self.policy_drops = Counter(
            "seawall_policy_drops", "Fields dropped by policy", ["vendor", "category"], registry=r
        )
        self.policy_failures = Counter(
            "seawall_policy_failures",
            "Events not sent because the policy failed (fail closed)",
            ["vendor"],
            registry=r,
        )
        self.enabled = Gauge(
            "seawall_vendor_enabled", "1 when the vendor may receive data", ["vendor"], registry=r
        )
        self.commit_seconds = Histogram(
            "seawall_commit_seconds",
            "Time from request decoded to committed",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=r,
        )
