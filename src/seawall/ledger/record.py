"""Turning disclosures into ledger rows: pure, apart from the recent-write cache.

The ledger grows with people x vendors x fields, not with traffic: rows are aggregated
within a batch, and a (vendor, subject, field, value) recorded in the last few minutes
is not written again. The cache keys are Python's per-process randomised hashes of the
tuple, so memory never holds a value in a form that outlives the process.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import orjson

from seawall.core.crypto import fingerprint
from seawall.core.types import Disclosure, Event, JSONValue, SentField

# Categories whose every distinct value is kept (as fingerprints): they identify people.
IDENTIFYING = (
    "user.contact",
    "user.name",
    "user.unique_id",
    "user.account",
    "user.government_id",
    "user.financial",
    "user.device.device_id",
    "user.device.cookie_id",
    "user.device.ip_address",
)
MAX_SHAPES = 20_000  # distinct (vendor, field names) remembered; cleared when full
# Not about a person at all: the dedupe key, timestamps, library versions.
NOT_PERSONAL = ("system.",)


def is_identifying(category: str) -> bool:
    # asked once per sent field per event: memoised per category (a few dozen exist)
    known = _IDENTIFYING_CACHE.get(category)
    if known is None:
        known = _IDENTIFYING_CACHE[category] = category.startswith(IDENTIFYING)
    return known


_IDENTIFYING_CACHE: dict[str, bool] = {}


@dataclass(slots=True)
class FieldRow:
    """Per (vendor, subject, field): the latest value's fingerprint and when."""

    vendor: str
    subject: bytes
    field: str
    category: str
    first_seen: float
    last_seen: float
    count: int
    last_fp: bytes

    # Written out: the compiled build compiles this __init__, not @dataclass's (types.py).
    def __init__(
        self,
        vendor: str,
        subject: bytes,
        field: str,
        category: str,
        first_seen: float,
        last_seen: float,
        count: int,
        last_fp: bytes,
    ) -> None:
        self.vendor = vendor
        self.subject = subject
        self.field = field
        self.category = category
        self.first_seen = first_seen
        self.last_seen = last_seen
        self.count = count
        self.last_fp = last_fp


@dataclass(slots=True)
class ValueRow:
    """Per (vendor, subject, field, value fingerprint), for identifying categories."""

    vendor: str
    subject: bytes
    field: str
    fp: bytes
    first_seen: float
    last_seen: float

    def __init__(
        self,
        vendor: str,
        subject: bytes,
        field: str,
        fp: bytes,
        first_seen: float,
        last_seen: float,
    ) -> None:
        self.vendor = vendor
        self.subject = subject
        self.field = field
        self.fp = fp
        self.first_seen = first_seen
        self.last_seen = last_seen


@dataclass(slots=True)
class LedgerBatch:
    """The rows one request adds, aggregated; ``keys`` are remembered after the commit."""

    fields: dict[tuple[str, bytes, str], FieldRow] = field(default_factory=dict)
    values: dict[tuple[str, bytes, str, bytes], ValueRow] = field(default_factory=dict)
    subjects: dict[bytes, str] = field(default_factory=dict)
    links: dict[bytes, bytes] = field(default_factory=dict)
    orgs: set[tuple[bytes, bytes]] = field(default_factory=set)
    keys: list[int] = field(default_factory=list)
    now: float = 0.0

    def empty(self) -> bool:
        return not (self.fields or self.values or self.subjects or self.links or self.orgs)


def _value_key(value: JSONValue) -> object:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def _fact(sent: SentField) -> object:
    """What the ledger records of a sent field: the value only for identifying ones."""
    if is_identifying(sent.category):
        return (sent.field, _value_key(sent.value))
    return sent.field


class RecentWrites:
    """Which facts were committed recently; bounded, time-limited."""

    def __init__(self, ttl_seconds: float = 300.0, max_entries: int = 2_000_000) -> None:
        self.ttl = ttl_seconds
        self.max_entries = max_entries
        self._seen: dict[int, float] = {}

    def fresh(self, key: int, now: float) -> bool:
        seen = self._seen.get(key)
        return seen is not None and now - seen < self.ttl

    def remember(self, keys: Iterable[int], now: float) -> None:
        if len(self._seen) > self.max_entries:
            self._seen.clear()
        seen = self._seen
        for key in keys:
            seen[key] = now


class LedgerRecorder:
    """Builds the ledger rows for a batch of disclosures."""

    def __init__(self, ledger_key: bytes, recent: RecentWrites | None = None) -> None:
        self.key = ledger_key
        self.recent = recent if recent is not None else RecentWrites()
        self._shapes: dict[tuple[str, str, tuple[str, ...]], tuple[int, ...]] = {}

    def _facts(self, d: Disclosure) -> tuple[tuple[str, ...], tuple[object, ...]]:
        """What the ledger records of a disclosure, to key it: every sent field's name,
        and the values of the identifying ones (as ``_fact`` per field, without a call
        per field: the positions of the identifying fields are found once per shape)."""
        sent = d.sent
        if len(sent) != len(d.fields):  # built by hand, not by the policy engine
            return (), tuple([_fact(s) for s in sent])
        names = tuple(d.fields)
        shape = (d.vendor, d.event.sdk, names)
        positions = self._shapes.get(shape)
        if positions is None:
            positions = tuple(i for i, s in enumerate(sent) if is_identifying(s.category))
            if len(self._shapes) >= MAX_SHAPES:
                self._shapes.clear()
            self._shapes[shape] = positions
        # A JSON value is its own key unless it is a list or an object: those make the
        # caller's hash fail, and it asks again for the values as keys (_value_key).
        return names, tuple([sent[i].value for i in positions])

    def fp(self, value: JSONValue) -> bytes:
        return fingerprint(self.key, value)

    def prepare(self, disclosures: Iterable[Disclosure], now: float | None = None) -> LedgerBatch:
        now = time.time() if now is None else now
        batch = LedgerBatch(now=now)
        subject_fps: dict[str, bytes] = {}
        recent = self.recent
        for d in disclosures:
            event = d.event
            subject = event.subject()
            if subject is None:
                continue
            # Steady traffic repeats the same facts: one lookup for the whole event
            # when every one of them was recorded recently.
            head = (d.vendor, subject, event.user_id, event.distinct_id, event.device_id)
            names, values = self._facts(d)
            try:
                whole = hash((*head, event.aliases, event.org_ids, names, values))
            except TypeError:  # a list or an object among the values
                keys = tuple(map(_value_key, values))
                whole = hash((*head, event.aliases, event.org_ids, names, keys))
            if recent.fresh(whole, now):
                continue
            batch.keys.append(whole)
            sfp = subject_fps.get(subject)
            if sfp is None:
                sfp = subject_fps[subject] = self.fp(subject)
            self._identity(batch, event, subject, sfp)
            when = event.time if event.time and event.time <= now else now
            for sent in d.sent:
                if not sent.category.startswith(NOT_PERSONAL):
                    self._field(batch, d.vendor, subject, sfp, sent, when)
        return batch

    def _field(
        self,
        batch: LedgerBatch,
        vendor: str,
        subject: str,
        sfp: bytes,
        sent: SentField,
        when: float,
    ) -> None:
        identifying = is_identifying(sent.category)
        # Identifying values are kept as a set (each distinct value is a fact); other
        # fields only as the latest, so a repeat of the field is already recorded.
        key = hash((vendor, subject, sent.field, _value_key(sent.value) if identifying else None))
        if self.recent.fresh(key, batch.now):
            return
        batch.keys.append(key)
        vfp = self.fp(sent.value)
        fkey = (vendor, sfp, sent.field)
        row = batch.fields.get(fkey)
        if row is None:
            batch.fields[fkey] = FieldRow(
                vendor, sfp, sent.field, sent.category, when, when, 1, vfp
            )
        else:
            row.count += 1
            row.last_fp = vfp
            row.first_seen = min(row.first_seen, when)
            row.last_seen = max(row.last_seen, when)
        if identifying:
            vkey = (vendor, sfp, sent.field, vfp)
            vrow = batch.values.get(vkey)
            if vrow is None:
                batch.values[vkey] = ValueRow(vendor, sfp, sent.field, vfp, when, when)
            else:
                vrow.first_seen = min(vrow.first_seen, when)
                vrow.last_seen = max(vrow.last_seen, when)

    def _identity(self, batch: LedgerBatch, event: Event, subject: str, sfp: bytes) -> None:
        recent, now = self.recent, batch.now
        kind = "user" if event.user_id else "anonymous"
        skey = hash(("subject", subject, kind))
        if not recent.fresh(skey, now):
            batch.keys.append(skey)
            if batch.subjects.get(sfp) != "user":
                batch.subjects[sfp] = kind
        if event.user_id:
            for alias in (*event.aliases, event.distinct_id, event.device_id):
                if not alias or alias == subject:
                    continue
                lkey = hash(("link", alias, subject))
                if recent.fresh(lkey, now):
                    continue
                batch.keys.append(lkey)
                batch.links.setdefault(self.fp(alias), sfp)
        for org in event.org_ids:
            okey = hash(("org", subject, org))
            if recent.fresh(okey, now):
                continue
            batch.keys.append(okey)
            batch.orgs.add((sfp, self.fp(org)))

    def committed(self, batch: LedgerBatch) -> None:
        """Call only after the batch's transaction committed."""
        self.recent.remember(batch.keys, batch.now)
