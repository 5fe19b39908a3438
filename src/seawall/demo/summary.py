"""The drill's summary, and the ground truth it must equal.

The truth is computed from the generated world and from what the vendors' sinks
actually received, never from Seawall's own stores; the summary's figures come from
the CLI's JSON output. ``checks`` pairs them, and ``truth_ok`` says they all agree.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from seawall.demo.breach import Received
from seawall.demo.config import CARELESS, STRICT
from seawall.demo.services import Mail
from seawall.demo.world import World

__all__ = ["Truth", "build_summary"]


@dataclass(frozen=True, slots=True)
class Truth:
    exposed_users: int  # users who signed in: the careless vendor holds their ids
    anonymous: int  # devices that never signed in
    orgs: int  # organisations with an exposed member
    careless_emails: int  # users whose address reached the careless vendor (its sink)
    careless_names: int
    strict_emails: int  # users whose address appears anywhere in the strict sink
    strict_names: int
    leak_rows: int
    leak_matched: int
    leak_canaries: int
    leak_unknown: int
    leak_invalid: int
    user_notices: int  # exposed users with an address
    admin_notices: int  # owners and admins (with an address) of the exposed orgs
    relay_notices: int  # notices the relay really accepted

    @classmethod
    def of(
        cls,
        world: World,
        got: dict[str, Received],
        leak_rows: dict[str, int],
        canaries: list[dict[str, Any]],
        notices: list[Mail],
    ) -> Truth:
        exposed = [u for u in world.users if u.signs_in]
        orgs = {u.org_id for u in exposed}
        canary_profiles = sum(1 for c in canaries if c["email"] in _profile_emails(got[CARELESS]))
        return cls(
            exposed_users=len(exposed),
            anonymous=len(world.users) - len(exposed),
            orgs=len(orgs),
            careless_emails=len(got[CARELESS].emails),
            careless_names=len(got[CARELESS].names),
            strict_emails=got[STRICT].raw_email_hits,
            strict_names=got[STRICT].raw_name_hits,
            leak_rows=sum(leak_rows.values()),
            leak_matched=leak_rows["profiles"] - canary_profiles,
            leak_canaries=canary_profiles,
            leak_unknown=leak_rows["unknown"],
            leak_invalid=leak_rows["invalid"],
            user_notices=sum(1 for u in exposed if u.email),
            admin_notices=sum(1 for o in sorted(orgs) for a in world.admins(o) if a.email),
            relay_notices=len(notices),
        )


def _profile_emails(received: Received) -> set[str]:
    return {str(v.get("$email")) for v in received.profiles.values() if v.get("$email")}


def build_summary(
    *,
    world: World,
    exposure: dict[str, dict[str, Any]],
    got: dict[str, Received],
    canaries: list[dict[str, Any]],
    refused: str,
    scope: dict[str, Any],
    matched: dict[str, Any],
    campaigns: dict[str, dict[str, Any]],
    clocks: dict[str, Any],
    report: dict[str, Any],
    times: dict[str, float],
    truth: Truth,
    folder: Path,
) -> dict[str, Any]:
    """The figures ``seawall demo`` prints (and ``--json`` emits)."""
    # `vendors exposure` counts canaries as people; the incident's ledger scope does not,
    # so the careless vendor's figures come from its first (ledger-only) scope.
    vendors = {}
    ledger_scope = {**scope, "people": scope["users"]}
    for name, policy in ((STRICT, "strict"), (CARELESS, "careless")):
        doc = (
            ledger_scope
            if name == CARELESS
            else {**exposure[name], "people": exposure[name]["users"]}
        )
        cats: dict[str, int] = doc["categories"]
        vendors[name] = {
            "policy": policy,
            "people": doc["people"],
            "anonymous": doc["anonymous"],
            "orgs": doc["orgs"],
            "emails": cats.get("user.contact.email", 0),
            "names": cats.get("user.name", 0),
            "cities": cats.get("user.contact.address.city", 0),
            "canaries": len(canaries) if name == CARELESS else 0,
        }
    sent = sum(int(c["sent"]) for c in campaigns.values())
    notices = {
        "users": int(campaigns["users"]["sent"]),
        "org_admins": int(campaigns["org_admins"]["sent"]),
        "sent": sent,
        "failed": sum(int(c["failed"]) for c in campaigns.values()),
        "excluded": {a: c.get("excluded", {}) for a, c in campaigns.items()},
    }
    checks = [
        ("people exposed at the careless vendor", scope["users"], truth.exposed_users),
        ("anonymous devices", scope["anonymous"], truth.anonymous),
        ("organisations", scope["orgs"], truth.orgs),
        ("emails sent to the careless vendor", vendors[CARELESS]["emails"], truth.careless_emails),
        ("names sent to the careless vendor", vendors[CARELESS]["names"], truth.careless_names),
        ("emails sent to the strict vendor", vendors[STRICT]["emails"], truth.strict_emails),
        ("names sent to the strict vendor", vendors[STRICT]["names"], truth.strict_names),
        ("leaked rows", matched["rows"], truth.leak_rows),
        ("leaked rows matched", matched["matched"], truth.leak_matched),
        ("leaked canary rows", matched["canaries"], truth.leak_canaries),
        ("leaked unknown rows", matched["unknown"], truth.leak_unknown),
        ("leaked invalid rows", matched["invalid"], truth.leak_invalid),
        ("canaries in scope", scope["canaries"], len(canaries)),
        ("user notices", notices["users"], truth.user_notices),
        ("org admin notices", notices["org_admins"], truth.admin_notices),
        ("notices the relay received", sent, truth.relay_notices),
    ]
    return {
        "users": len(world.users),
        "orgs": len(world.orgs),
        "org_sizes": world.org_sizes(),
        "vendors": vendors,
        "prevented": (
            f"{vendors[STRICT]['emails']} emails, {vendors[STRICT]['names']} names sent to the "
            f"strict vendor ({STRICT}); {vendors[CARELESS]['emails']} emails, "
            f"{vendors[CARELESS]['names']} names to the careless one ({CARELESS})"
        ),
        "canary_refused_at_strict": refused,
        "incident": scope["incident"],
        "scope": {k: scope[k] for k in ("users", "anonymous", "orgs", "canaries", "risk_tiers")},
        "leak": {k: matched[k] for k in ("rows", "matched", "canaries", "unknown", "invalid")},
        "provenance": matched.get("provenance"),
        "clocks": [
            {"regime": d["regime"], "duty": d["duty"], "due_at": d["due_at"]}
            for d in clocks["deadlines"]
            if d["applies"]
        ],
        "notices": notices,
        "timings": {k: round(v, 2) for k, v in times.items()},
        "report": str(Path(report["html"])),
        "folder": str(folder),
        "truth": asdict(truth),
        "checks": [{"what": w, "drill": d, "truth": t, "ok": d == t} for w, d, t in checks],
        "truth_ok": all(d == t for _, d, t in checks),
    }
