"""Regulatory clocks: GDPR Art. 33/34, California 1798.82 and its AG notice, SEC 8-K 1.05."""

from __future__ import annotations

import datetime as dt

import pytest

from seawall.incident.clocks import (
    DAY,
    HOUR,
    Deadline,
    PersonFacts,
    add_business_days,
    deadlines,
    is_business_day,
    is_california_pi,
    us_federal_holidays,
)

AWARE = dt.datetime(2025, 11, 27, 9, 0, tzinfo=dt.UTC).timestamp()
CONTACT = ("user.contact.email", "user.name")
GOV = ("user.name", "user.government_id")


def _ts(y: int, m: int, d: int, h: int = 12) -> float:
    return dt.datetime(y, m, d, h, tzinfo=dt.UTC).timestamp()


def _eod(y: int, m: int, d: int) -> float:
    return dt.datetime(y, m, d, 23, 59, 59, tzinfo=dt.UTC).timestamp()


def _by_duty(found: list[Deadline]) -> dict[str, Deadline]:
    return {d.duty.split(":")[0]: d for d in found}


@pytest.mark.parametrize(
    ("decided", "due", "why"),
    [
        (_ts(2025, 6, 4), _eod(2025, 6, 10), "Wednesday: skips one weekend"),
        (_ts(2025, 6, 6), _eod(2025, 6, 12), "Friday: the weekend does not count"),
        (_ts(2025, 6, 7), _eod(2025, 6, 12), "decided on a Saturday"),
        (_ts(2025, 11, 24), _eod(2025, 12, 1), "Thanksgiving week: Thu 27 Nov skipped"),
        (_ts(2025, 11, 26), _eod(2025, 12, 3), "day before Thanksgiving"),
        (_ts(2025, 12, 24), _eod(2025, 12, 31), "Christmas Day skipped"),
        (_ts(2025, 12, 30), _eod(2026, 1, 6), "year end: New Year's Day skipped"),
        (_ts(2021, 12, 23), _eod(2021, 12, 30), "Christmas on a Saturday: Fri 24 observed"),
        (_ts(2021, 12, 29), _eod(2022, 1, 5), "1 Jan 2022 a Saturday: Fri 31 Dec observed"),
        (_ts(2025, 6, 17), _eod(2025, 6, 24), "Juneteenth"),
        (_ts(2026, 7, 1), _eod(2026, 7, 8), "4 July 2026 a Saturday: Fri 3 July observed"),
    ],
)
def test_sec_four_business_days(decided: float, due: float, why: str) -> None:
    assert add_business_days(decided, 4) == due, why
    sec = _by_duty(deadlines(aware_at=AWARE, people=[], materiality_at=decided))[
        "Form 8-K Item 1.05"
    ]
    assert (sec.applies, sec.mandatory, sec.due_at) == (True, True, due)


def test_sec_without_a_materiality_decision_has_no_clock() -> None:
    sec = _by_duty(deadlines(aware_at=AWARE, people=[]))["Form 8-K Item 1.05"]
    assert (sec.applies, sec.due_at) == (False, None)
    assert "materiality" in sec.reason


@pytest.mark.parametrize(
    ("year", "expected"),
    [
        (
            2025,
            ["01-01", "01-20", "02-17", "05-26", "06-19", "07-04", "09-01", "10-13", "11-11",
             "11-27", "12-25"],
        ),
        (
            2026,
            ["01-01", "01-19", "02-16", "05-25", "06-19", "07-03", "09-07", "10-12", "11-11",
             "11-26", "12-25"],
        ),
    ],
)  # fmt: skip
def test_us_federal_holidays(year: int, expected: list[str]) -> None:
    assert sorted(d.strftime("%m-%d") for d in us_federal_holidays(year)) == expected


def test_observed_holiday_of_next_year_is_not_a_business_day() -> None:
    assert not is_business_day(dt.date(2021, 12, 31))  # New Year 2022, observed
    assert is_business_day(dt.date(2021, 12, 30))


@pytest.mark.parametrize(
    ("people", "art33_applies", "art34_applies"),
    [
        ([PersonFacts("DE", CONTACT, False)], True, False),
        ([PersonFacts("GB", CONTACT, True)], True, True),
        ([PersonFacts("NO", CONTACT, True)], True, True),  # EEA, not EU
        ([PersonFacts("FR-75", CONTACT, False)], True, False),  # subdivision code
        ([PersonFacts("US-CA", CONTACT, True)], False, False),
        ([PersonFacts(None, CONTACT, True)], False, False),  # country unknown: not assumed
        ([PersonFacts("US", CONTACT, True), PersonFacts("NL", (), False)], True, False),
        ([], False, False),
    ],
)
def test_gdpr(people: list[PersonFacts], art33_applies: bool, art34_applies: bool) -> None:
    found = _by_duty(deadlines(aware_at=AWARE, people=people, regimes=["gdpr"]))
    art33, art34 = found["Art. 33"], found["Art. 34"]
    assert (art33.applies, art33.mandatory) == (art33_applies, art33_applies)
    assert art33.due_at == AWARE + 72 * HOUR  # 72 h from awareness, not from detection
    assert (art34.applies, art34.mandatory) == (art34_applies, art34_applies)
    assert art34.due_at == (AWARE + 72 * HOUR if art34_applies else None)


@pytest.mark.parametrize(
    ("categories", "is_pi"),
    [
        (("user.contact.email", "user.name", "user.location.imprecise.city"), False),
        (("user.name", "user.government_id.passport_number"), True),
        (("user.name", "user.financial.bank_account"), True),
        (("user.name", "user.health_and_medical"), True),
        (("user.name", "user.biometric"), True),
        (("user.government_id",), False),  # needs the name with it
        (("user.contact.email", "system.authentication"), True),  # login + secret
        (("user.account.username", "user.authorization.credentials"), True),
        (("user.contact.email",), False),
    ],
)
def test_california_personal_information(categories: tuple[str, ...], is_pi: bool) -> None:
    assert is_california_pi(categories) is is_pi


@pytest.mark.parametrize(
    ("residents", "categories", "mandatory", "ag_applies"),
    [
        (1, CONTACT, False, False),  # name + email: voluntary notice
        (1, GOV, True, False),
        (500, GOV, True, False),  # AG: more than 500
        (501, GOV, True, True),
        (501, CONTACT, False, False),  # no residents with PI to notify
    ],
)
def test_california(
    residents: int, categories: tuple[str, ...], mandatory: bool, ag_applies: bool
) -> None:
    people = [PersonFacts("US-CA", categories, False)] * residents
    people += [PersonFacts("US-NY", GOV, False)] * 600  # not Californians
    notified = AWARE + 10 * DAY
    found = _by_duty(
        deadlines(aware_at=AWARE, people=people, regimes=["california"], notified_at=notified)
    )
    ca, ag = found["Civ. Code 1798.82"], found["Attorney General"]
    assert (ca.applies, ca.mandatory, ca.affected) == (True, mandatory, residents)
    assert ca.due_at == AWARE + 30 * DAY
    assert ("voluntary" in ca.reason) is not mandatory
    assert (ag.applies, ag.mandatory) == (ag_applies, ag_applies)
    assert ag.due_at == notified + 15 * DAY  # 15 days from notifying people


def test_california_ag_has_no_date_before_people_are_notified() -> None:
    people = [PersonFacts("US-CA", GOV, False)] * 501
    ag = _by_duty(deadlines(aware_at=AWARE, people=people))["Attorney General"]
    assert (ag.applies, ag.due_at) == (True, None)


def test_no_californians_no_california_clock() -> None:
    found = _by_duty(deadlines(aware_at=AWARE, people=[PersonFacts("DE", GOV, True)]))
    assert found["Civ. Code 1798.82"].applies is False
    assert found["Civ. Code 1798.82"].due_at is None


def test_regimes_filter() -> None:
    assert {d.regime for d in deadlines(aware_at=AWARE, people=[], regimes=["sec"])} == {"sec"}


def test_the_vendors_contractual_notice_late_as_in_the_mixpanel_case() -> None:
    detected = _ts(2025, 11, 9, 9)  # the vendor detected it; we were told on the 25th
    found = deadlines(
        aware_at=_ts(2025, 11, 25, 9), people=[], detected_at=detected, vendor_notice_hours=24
    )
    (notice,) = [d for d in found if d.regime == "contract"]
    assert notice.due_at == detected + 24 * HOUR
    assert notice.applies
    assert not notice.mandatory  # the vendor's duty, not one of ours
    assert "15.0 days after the contract's deadline" in notice.reason
    assert "late" in notice.reason


def test_the_vendors_contractual_notice_in_time_or_unknown() -> None:
    detected = AWARE - 20 * HOUR
    (in_time,) = [
        d
        for d in deadlines(aware_at=AWARE, people=[], detected_at=detected, vendor_notice_hours=24)
        if d.regime == "contract"
    ]
    assert "20 h after its detection: in time" in in_time.reason
    (unknown,) = [
        d
        for d in deadlines(aware_at=AWARE, people=[], vendor_notice_hours=24)
        if d.regime == "contract"
    ]
    assert (unknown.applies, unknown.due_at) == (False, None)
    assert "--detected-at" in unknown.reason
    assert not [d for d in deadlines(aware_at=AWARE, people=[]) if d.regime == "contract"]


@pytest.mark.parametrize(
    ("aware_after_detection", "hours", "says"),
    [
        (-30 * HOUR, 24, "before the vendor detected it"),
        (30 * 60, 0, "30 min after the contract's deadline"),
        (50 * 60, 24, "50 min after its detection: in time"),
    ],
)
def test_the_vendors_notice_reads_right_at_the_edges(
    aware_after_detection: float, hours: int, says: str
) -> None:
    detected = AWARE - aware_after_detection
    found = deadlines(aware_at=AWARE, people=[], detected_at=detected, vendor_notice_hours=hours)
    (notice,) = [d for d in found if d.regime == "contract"]
    assert says in notice.reason
