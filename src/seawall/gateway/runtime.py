"""Everything a running gateway holds, built once from the config."""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from starlette.datastructures import Headers

from seawall.core.config import Config
from seawall.core.errors import ConfigError
from seawall.core.keys import KeyRing
from seawall.gateway.metrics import Metrics
from seawall.gateway.pipeline import Pipeline
from seawall.ledger.record import LedgerRecorder
from seawall.outbox.store import SqlOutbox
from seawall.policy.engine import CompiledPolicy, compile_policy
from seawall.storage.database import Database, open_database

log = logging.getLogger(__name__)
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def compile_policies(config: Config, keys: KeyRing) -> dict[str, CompiledPolicy]:
    """Every vendor's policy, validated: a bad rule stops start-up (fail closed)."""
    return {
        name: compile_policy(
            name, vendor.policy, keys.vendor_key(name), where=f"vendors.{name}.policy"
        )
        for name, vendor in config.vendors.items()
    }


@dataclass
class Runtime:
    config: Config
    db: Database
    keys: KeyRing
    policies: dict[str, CompiledPolicy]
    outbox: SqlOutbox
    pipeline: Pipeline
    metrics: Metrics
    mixpanel_tokens: dict[str, str]
    mixpanel_secrets: dict[str, str]
    segment_keys: dict[str, str]
    trusted_proxies: tuple[Network, ...]
    forwarder_stats: Callable[[], dict[str, int]] | None = field(default=None)

    @classmethod
    def build(cls, config: Config, db: Database | None = None) -> Runtime:
        keys = KeyRing(config.path(config.keys_dir))
        policies = compile_policies(config, keys)
        try:
            proxies = tuple(
                ipaddress.ip_network(p, strict=False) for p in config.gateway.trusted_proxies
            )
        except ValueError as exc:
            raise ConfigError(
                str(exc), key="gateway.trusted_proxies", fix="list CIDRs such as 10.0.0.0/8"
            ) from None
        db = db or open_database(config.database_url(), max_queue=config.gateway.max_queue)
        metrics = Metrics()
        recorder = LedgerRecorder(keys.ledger_key())
        return cls(
            config=config,
            db=db,
            keys=keys,
            policies=policies,
            outbox=SqlOutbox(db),
            pipeline=Pipeline(config, db, policies, recorder, metrics),
            metrics=metrics,
            mixpanel_tokens={
                s.token: n for n, s in config.sources.items() if s.kind == "mixpanel" and s.token
            },
            mixpanel_secrets={
                s.api_secret: n
                for n, s in config.sources.items()
                if s.kind == "mixpanel" and s.api_secret
            },
            segment_keys={
                s.write_key: n
                for n, s in config.sources.items()
                if s.kind == "segment" and s.write_key
            },
            trusted_proxies=proxies,
        )

    def origin_allowed(self, source: str, origin: str | None) -> bool:
        """Browsers name their page's origin; server SDKs send none."""
        if origin is None:
            return True
        return origin.rstrip("/") in self.config.sources[source].allowed_origins

    def client_ip(self, peer: str | None, forwarded_for: str | None) -> str | None:
        """The end user's IP: the peer, or the proxy's X-Forwarded-For when the peer is
        a trusted proxy (the right-most address not itself a trusted proxy)."""
        if peer is None:
            return None
        if not forwarded_for or not self._trusted(peer):
            return peer
        for hop in reversed([h.strip() for h in forwarded_for.split(",")]):
            if not hop:
                continue
            if not self._trusted(hop):
                return hop
        return peer

    def _trusted(self, addr: str) -> bool:
        try:
            ip = ipaddress.ip_address(addr)
        except ValueError:
            return False
        return any(ip in net for net in self.trusted_proxies)

    def close(self) -> None:
        self.db.close()


def forwarded_for(headers: Headers) -> str | None:
    """Every X-Forwarded-For line in order, as one list: a proxy may add its own line
    rather than append to the client's, and the first line alone is the client's word."""
    return ", ".join(headers.getlist("x-forwarded-for")) or None
