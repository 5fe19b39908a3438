"""Minting canaries for a vendor, and planting them through the normal pipeline.

Planting runs the canary's SDK-shaped events through ``Pipeline.accept``: the
vendor's policy, the outbox and the ledger, in one commit, exactly as for a user.
Only the routing differs: a canary belongs to one vendor, so its events go to that
vendor alone (a canary that reached two vendors could not name the one that leaked).
The ledger therefore holds canaries like anyone else (as fingerprints); the canary
table is what marks them, by user id.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Mapping

from seawall.canary.channels import Channels, decide_channels
from seawall.canary.events import SOURCE, Persona, persona_events
from seawall.canary.mint import Identity, beacon_url, canary_key, derive_token, mint
from seawall.canary.model import Canary
from seawall.canary.store import CanaryStore
from seawall.core.config import Config
from seawall.core.errors import ConfigError
from seawall.core.types import Event, SdkKind
from seawall.gateway.pipeline import Pipeline
from seawall.gateway.runtime import Runtime
from seawall.policy.engine import CompiledPolicy

log = logging.getLogger(__name__)


class NoChannel(ConfigError):
    """The vendor's policy lets no canary field through unchanged."""


def require_canary_config(config: Config) -> tuple[str, str]:
    """The canary domain and beacon base, or a ConfigError saying what to add."""
    if config.canary is None:
        raise ConfigError(
            "canaries are not configured",
            key="canary",
            fix='add canary: {domain: canary.example.com, beacon_base: "https://<gateway>"}',
        )
    return config.canary.domain, config.canary.beacon_base


def vendor_sdk(config: Config, vendor: str) -> SdkKind:
    """The SDK shape this vendor's real users arrive in: that of the first source that
    sends to it, else the vendor's own kind (Mixpanel for webhooks)."""
    for source in config.sources.values():
        if vendor in source.destinations:
            return source.kind
    kind = config.vendors[vendor].kind
    return "segment" if kind == "segment" else "mixpanel"


def persona_of(
    canary: Canary | Identity, token: str, beacon_base: str, beacon_field: str | None
) -> Persona:
    return Persona(
        first_name=canary.first_name,
        last_name=canary.last_name,
        email=canary.email,
        user_id=canary.user_id,
        org_id=canary.org_id,
        device_id=canary.device_id,
        created_at=canary.created_at,
        beacon=beacon_url(beacon_base, token),
        beacon_field=beacon_field,
    )


def check_vendor(config: Config, vendor: str) -> None:
    if vendor not in config.vendors:
        raise ConfigError(
            f"no vendor named '{vendor}'",
            key="vendors",
            fix=f"choose one of: {', '.join(config.vendors) or '(none configured)'}",
        )


def mint_canaries(
    config: Config,
    policies: Mapping[str, CompiledPolicy],
    key: bytes,
    store: CanaryStore,
    vendor: str,
    count: int = 1,
) -> list[tuple[Canary, str]]:
    """Mint ``count`` canaries for ``vendor`` and store them; returns each with its
    beacon URL (shown once: only the token's hash is stored).

    Raises NoChannel, naming every field and the rule that stops it, when the policy
    lets neither an address nor a link through unchanged.
    """
    check_vendor(config, vendor)
    domain, base = require_canary_config(config)
    sdk = vendor_sdk(config, vendor)
    made: list[tuple[Canary, str]] = []
    for _ in range(count):
        identity = mint(vendor, domain, key)
        while store.by_email(identity.email) is not None:  # rare: same name and digits
            identity = mint(vendor, domain, key)
        probe = persona_of(identity, identity.token, base, None)
        found = decide_channels(probe, sdk, policies[vendor])
        if not found.channels:
            raise _refusal(vendor, found)
        memo = _memo(identity, sdk, found)
        canary = store.add(identity, sdk=sdk, channels=found.channels, memo=memo)
        url = beacon_url(base, identity.token) if "beacon" in found.channels else ""
        made.append((canary, url))
    return made


def _memo(identity: Identity, sdk: SdkKind, found: Channels) -> dict[str, object]:
    return {
        "first_name": identity.first_name,
        "last_name": identity.last_name,
        "sdk": sdk,
        "planted_via": "gateway pipeline (policy, ledger, outbox), this vendor only",
        "fields": found.fields,
        "refused": found.refused,
    }


def _refusal(vendor: str, found: Channels) -> NoChannel:
    return NoChannel(
        f"vendor '{vendor}' would receive no field a canary can use "
        f"({found.explain()}); a canary there could never fire",
        key=f"vendors.{vendor}.policy",
        fix="keep the address or the website field for this vendor (e.g. a rule "
        "{field: $email, action: keep} with free_text: keep), or plant canaries only "
        "at vendors that hold contact data",
    )


def canary_events(canary: Canary, key: bytes, beacon_base: str, now: float) -> list[Event]:
    """The events of one planting of ``canary``."""
    fields = canary.memo.get("fields", {})
    beacon_field = fields.get("beacon") if isinstance(fields, dict) else None
    token = derive_token(key, canary.id)
    persona = persona_of(canary, token, beacon_base, beacon_field)
    return persona_events(persona, canary.sdk, now)


async def plant(
    runtime: Runtime, store: CanaryStore, canaries: Iterable[Canary], now: float | None = None
) -> int:
    """Send every canary's profile and track events to its vendor through the pipeline;
    returns how many canaries were planted. Vendors no longer configured are skipped."""
    _, base = require_canary_config(runtime.config)
    key = canary_key(runtime.keys)
    now = time.time() if now is None else now
    by_vendor: dict[str, list[Canary]] = {}
    for canary in canaries:
        if canary.vendor in runtime.config.vendors:
            by_vendor.setdefault(canary.vendor, []).append(canary)
        else:
            log.warning("canary %s: vendor %s is no longer configured", canary.id, canary.vendor)
    planted: list[str] = []
    for vendor, group in by_vendor.items():
        pipeline = _pipeline_for(runtime, vendor)
        events = [e for c in group for e in canary_events(c, key, base, now)]
        await pipeline.accept(events)
        planted += [c.id for c in group]
    await asyncio.to_thread(store.mark_planted, planted, now)
    return len(planted)


def _pipeline_for(runtime: Runtime, vendor: str) -> Pipeline:
    rt = runtime
    pipeline = Pipeline(rt.config, rt.db, rt.policies, rt.pipeline.recorder, rt.metrics)
    pipeline.destinations = {SOURCE: (vendor,)}
    return pipeline
