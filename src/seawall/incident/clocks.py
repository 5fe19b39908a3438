"""Regulatory clocks from an incident's facts. Pure: no I/O, no "now" unless passed.

Regimes handled, and what is deliberately left out:

* **GDPR Art. 33**: the supervisory authority within 72 hours of becoming aware,
  when any exposed person is in the EEA/UK (by the directory's country).
* **GDPR Art. 34**: the people themselves "without undue delay" when the risk is high
  (any high-tier person in the EEA/UK). No fixed hours exist; we show the Art. 33
  deadline as the practical target.
* **California Civ. Code 1798.82**: residents (country ``US-CA``, or ``US`` with
  locale/region unknown is *not* assumed Californian) within 30 calendar days, only when
  the exposed data is "personal information" in its sense: a name together with a
  government id, financial account, medical/health or biometric data, or a username or
  email *with* a password/security answer. Name + email + coarse location is not, so
  the notice is then reported as voluntary. The Attorney General is due within 15 days of
  notifying people when more than 500 residents are notified.
* **SEC Form 8-K Item 1.05**: 4 business days from the materiality decision (passed in;
  not inferred), skipping weekends and US federal holidays (observed dates).
* **The vendor's contract** (``contract.breach_notice_hours``): the vendor's duty to
  tell us within so many hours of detecting the breach. Not ours to meet, but whether
  it was met (we became aware 16 days after detection in the Mixpanel case) belongs in
  the incident record and the vendor's review.

Not handled: other US states, HIPAA, sector rules, the 8-K national-security delay,
and any regime's "reasonable likelihood of harm" exemption. Times are UTC epoch seconds.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

HOUR = 3600.0
DAY = 86_400.0
EEA = frozenset(
    [
        "AT",
        "BE",
        "BG",
        "HR",
        "CY",
        "CZ",
        "DK",
        "EE",
        "FI",
        "FR",
        "DE",
        "GR",
        "HU",
        "IE",
        "IT",
        "LV",
        "LT",
        "LU",
        "MT",
        "NL",
        "PL",
        "PT",
        "RO",
        "SK",
        "SI",
        "ES",
        "SE",
        "IS",
        "LI",
        "NO",
        "GB",
    ]
)
_CA_PI = (
    "user.government_id",
    "user.financial",
    "user.health_and_medical",
    "user.biometric",
    "system.authentication",
    "user.authorization.credentials",
)


@dataclass(frozen=True, slots=True)
class Deadline:
    regime: str
    duty: str
    due_at: float | None  # None: no fixed time (e.g. "without undue delay")
    applies: bool
    mandatory: bool
    reason: str
    affected: int = 0

    def as_dict(self) -> dict[str, object]:
        return {
            "regime": self.regime,
            "duty": self.duty,
            "due_at": self.due_at,
            "applies": self.applies,
            "mandatory": self.mandatory,
            "reason": self.reason,
            "affected": self.affected,
        }


def _observed(day: dt.date) -> dt.date:
    if day.weekday() == 5:
        return day - dt.timedelta(days=1)
    if day.weekday() == 6:
        return day + dt.timedelta(days=1)
    return day


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> dt.date:
    first = dt.date(year, month, 1)
    offset = (weekday - first.weekday()) % 7
    if n > 0:
        return first + dt.timedelta(days=offset + 7 * (n - 1))
    nxt = dt.date(year + (month == 12), month % 12 + 1, 1)
    last = nxt - dt.timedelta(days=1)
    return last - dt.timedelta(days=(last.weekday() - weekday) % 7)


def us_federal_holidays(year: int) -> frozenset[dt.date]:
    """The 11 US federal holidays (5 U.S.C. 6103), on their observed dates."""
    return frozenset(
        {
            _observed(dt.date(year, 1, 1)),
            _nth_weekday(year, 1, 0, 3),  # Martin Luther King Jr. Day
            _nth_weekday(year, 2, 0, 3),  # Washington's Birthday
            _nth_weekday(year, 5, 0, -1),  # Memorial Day
            _observed(dt.date(year, 6, 19)),  # Juneteenth
            _observed(dt.date(year, 7, 4)),
            _nth_weekday(year, 9, 0, 1),  # Labor Day
            _nth_weekday(year, 10, 0, 2),  # Columbus Day
            _observed(dt.date(year, 11, 11)),
            _nth_weekday(year, 11, 3, 4),  # Thanksgiving
            _observed(dt.date(year, 12, 25)),
        }
    )


def is_business_day(day: dt.date) -> bool:
    holidays = us_federal_holidays(day.year) | us_federal_holidays(day.year + 1)
    return day.weekday() < 5 and day not in holidays


def add_business_days(start: float, days: int) -> float:
    """``start`` plus ``days`` US business days, at the end of that day (23:59:59 UTC)."""
    day = dt.datetime.fromtimestamp(start, tz=dt.UTC).date()
    left = days
    while left > 0:
        day += dt.timedelta(days=1)
        if is_business_day(day):
            left -= 1
    end = dt.datetime.combine(day, dt.time(23, 59, 59), tzinfo=dt.UTC)
    return end.timestamp()


def is_california_pi(categories: Iterable[str]) -> bool:
    """Whether the categories are "personal information" under Civ. Code 1798.82(h)."""
    cats = tuple(categories)
    name = any(c.startswith("user.name") for c in cats)
    login = any(c.startswith(("user.contact.email", "user.account.username")) for c in cats)
    secret = any(c.startswith(("system.authentication", "user.authorization")) for c in cats)
    return (name and any(c.startswith(_CA_PI) for c in cats)) or (login and secret)


@dataclass(frozen=True, slots=True)
class PersonFacts:
    country: str | None
    categories: tuple[str, ...]
    high_risk: bool


def deadlines(
    *,
    aware_at: float,
    people: Iterable[PersonFacts],
    regimes: Iterable[str] = ("gdpr", "california", "sec"),
    materiality_at: float | None = None,
    notified_at: float | None = None,
    detected_at: float | None = None,
    vendor_notice_hours: int | None = None,
) -> list[Deadline]:
    """Every deadline the facts start, with whether (and why) it applies."""
    plist = list(people)
    wanted = set(regimes)
    eea = [p for p in plist if (p.country or "").split("-")[0] in EEA]
    ca = [p for p in plist if (p.country or "") == "US-CA"]
    ca_pi = [p for p in ca if is_california_pi(p.categories)]
    out: list[Deadline] = []
    if "gdpr" in wanted:
        art33 = aware_at + 72 * HOUR
        out.append(
            Deadline(
                "gdpr",
                "Art. 33: notify the supervisory authority",
                art33,
                bool(eea),
                bool(eea),
                f"{len(eea)} exposed person(s) in the EEA/UK; 72 h from awareness",
                len(eea),
            )
        )
        high = [p for p in eea if p.high_risk]
        out.append(
            Deadline(
                "gdpr",
                "Art. 34: tell the people, without undue delay",
                art33 if high else None,
                bool(high),
                bool(high),
                f"{len(high)} high-risk person(s) in the EEA/UK",
                len(high),
            )
        )
    if "california" in wanted:
        out.append(
            Deadline(
                "california",
                "Civ. Code 1798.82: notify residents",
                aware_at + 30 * DAY if ca else None,
                bool(ca),
                bool(ca_pi),
                f"{len(ca)} California resident(s), {len(ca_pi)} with personal information "
                "in the statute's sense"
                + ("" if ca_pi or not ca else "; notice is voluntary (e.g. name + email only)"),
                len(ca),
            )
        )
        ag_due = (notified_at + 15 * DAY) if notified_at else None
        out.append(
            Deadline(
                "california",
                "Attorney General: sample notice within 15 days of notifying",
                ag_due,
                len(ca_pi) > 500,
                len(ca_pi) > 500,
                f"{len(ca_pi)} resident(s) to notify (threshold: more than 500)",
                len(ca_pi),
            )
        )
    if "sec" in wanted:
        out.append(
            Deadline(
                "sec",
                "Form 8-K Item 1.05: disclose a material incident",
                add_business_days(materiality_at, 4) if materiality_at else None,
                materiality_at is not None,
                materiality_at is not None,
                "4 business days from the materiality decision"
                if materiality_at
                else "no materiality decision recorded (timeline kind 'materiality')",
            )
        )
    if vendor_notice_hours is not None:
        out.append(vendor_notice(aware_at, detected_at, vendor_notice_hours))
    return out


def vendor_notice(aware_at: float, detected_at: float | None, hours: int) -> Deadline:
    """The vendor's contractual notice to us, and whether our awareness came in time."""
    duty = f"Vendor's breach notice to us: {hours} h from its detection (contract)"
    if detected_at is None:
        why = "when the vendor detected it is not recorded (incident open --detected-at)"
        return Deadline("contract", duty, None, False, False, why)
    due = detected_at + hours * HOUR
    late = aware_at - due
    if aware_at < detected_at:
        why = "we became aware before the vendor detected it: check the recorded times"
    elif late > 0:
        why = f"we became aware {_span(late)} after the contract's deadline: vendor was late"
    else:
        why = f"we became aware {_span(aware_at - detected_at)} after its detection: in time"
    # The vendor's duty, not ours: shown, never counted among what we must do.
    return Deadline("contract", duty, due, True, False, why)


def _span(seconds: float) -> str:
    if seconds < HOUR:
        return f"{seconds / 60:.0f} min"
    hours = seconds / HOUR
    return f"{hours:.0f} h" if hours < 48 else f"{hours / 24:.1f} days"


def facts_from(
    exposures: Iterable[tuple[str | None, tuple[str, ...], str]],
    countries: Mapping[str, str | None],
) -> list[PersonFacts]:
    """(user id, categories, tier) of each exposure, with the directory's country."""
    return [
        PersonFacts(countries.get(uid) if uid else None, cats, tier == "high")
        for uid, cats, tier in exposures
    ]
