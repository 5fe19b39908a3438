"""Which tripwires a canary has at a vendor: decided by applying the vendor's policy.

A channel works only if the vendor receives the value *unchanged*: an address the
policy drops, pseudonymises or redacts (``[EMAIL]``) is never mailed by an attacker,
and a link whose path is scrubbed never reaches the beacon. So the decision is not
read from the rules but observed: the canary's real profile event goes through
``policy.apply`` and the output is compared. Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from seawall.canary.events import BEACON_FIELDS, EMAIL_FIELDS, Persona, profile_event
from seawall.canary.model import Channel
from seawall.core.types import SdkKind
from seawall.policy.engine import CompiledPolicy, apply


@dataclass(frozen=True, slots=True)
class Channels:
    """The outcome for one canary: working channels, the fields that carry them, and
    for every candidate field that does not work, why."""

    channels: tuple[Channel, ...]
    fields: dict[str, str]  # channel -> field path
    refused: dict[str, str]  # field path -> reason

    def explain(self) -> str:
        return "; ".join(f"{path}: {why}" for path, why in self.refused.items())


def decide_channels(persona: Persona, sdk: SdkKind, policy: CompiledPolicy) -> Channels:
    """Try the beacon in each candidate field (best first) with the whole profile, and
    keep the first placement under which the most channels survive."""
    best: Channels | None = None
    refused: dict[str, str] = {}
    email_field = EMAIL_FIELDS[sdk]
    for beacon_field in BEACON_FIELDS[sdk]:
        candidate = replace(persona, beacon_field=beacon_field)
        found = _observe(candidate, sdk, policy, email_field, refused)
        if best is None or len(found.channels) > len(best.channels):
            best = found
    assert best is not None
    if "beacon" in best.channels:
        # One working link is enough: the other candidates need no explanation.
        refused = {k: v for k, v in refused.items() if k not in BEACON_FIELDS[sdk]}
    return Channels(best.channels, best.fields, refused)


def _observe(
    persona: Persona,
    sdk: SdkKind,
    policy: CompiledPolicy,
    email_field: str,
    refused: dict[str, str],
) -> Channels:
    event = profile_event(persona, sdk)
    out = apply(event, policy).fields
    channels: list[Channel] = []
    fields: dict[str, str] = {}
    if out.get(email_field) == persona.email:
        channels.append("email")
        fields["email"] = email_field
    else:
        refused[email_field] = _why(policy, sdk, email_field, out.get(email_field))
    beacon_field = persona.beacon_field
    if beacon_field and out.get(beacon_field) == persona.beacon:
        channels.append("beacon")
        fields["beacon"] = beacon_field
    elif beacon_field:
        refused[beacon_field] = _why(policy, sdk, beacon_field, out.get(beacon_field))
    return Channels(tuple(channels), fields, {})


def _why(policy: CompiledPolicy, sdk: SdkKind, path: str, output: object) -> str:
    decision = policy.decide(sdk, path)
    where = f"{decision.rule} (category {decision.category})"
    if decision.action is None:
        return f"dropped by {where}"
    if output is None:
        return f"dropped: its value reappears in a field the policy removes ({where} keeps it)"
    if decision.free_text:
        return (
            f"kept by {where} but rewritten by the free-text rule "
            f"(free_text: {policy.free_text}) into {output!r}"
        )
    name = type(decision.action).__name__.lower()
    return f"rewritten by {name} in {where} into {output!r}"
