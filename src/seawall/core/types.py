"""The canonical nouns every stage shares: Event (what an SDK said) and Disclosure
(what one vendor is allowed to see of it).

An Event's ``fields`` are keyed by *field path as the SDK sends it*, so that a policy
rule can name exactly what a developer sees in their SDK's docs:

* Mixpanel track: the property keys as sent (``distinct_id``, ``$current_url``,
  ``$insert_id``, ``time``), plus ``event`` for the event name. The source ``token``
  is authentication, never a field.
* Mixpanel engage / groups: the keys inside the operation (``$email``, ``$name``) with
  the operation in ``Event.operation``; ``$distinct_id`` becomes ``distinct_id``,
  ``$group_key`` / ``$group_id`` stay as they are.
* Segment: dotted paths from the message root: ``event``, ``userId``, ``anonymousId``,
  ``properties.<key>``, ``traits.<key>`` (one level: nested values stay values) and
  ``context.<a>.<b>`` (flattened fully, e.g. ``context.page.referrer``).

Policies never see raw HTTP: the client IP, user agent and page URL arrive in
``Event.context`` and are forwarded only through a field a rule keeps.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

SdkKind = Literal["mixpanel", "segment"]
EventKind = Literal["track", "profile", "group", "identify", "alias", "page", "screen"]
JSONValue = Any  # what orjson yields: None | bool | int | float | str | list | dict


@dataclass(slots=True)
class Context:
    """Request facts that are personal data in their own right, kept out of ``fields``."""

    ip: str | None = None
    user_agent: str | None = None
    url: str | None = None
    referrer: str | None = None
    locale: str | None = None

    # Written out, here and in the other classes made per event: the compiled build
    # (hotpath.py) compiles a class's own __init__, never the one @dataclass generates.
    def __init__(
        self,
        ip: str | None = None,
        user_agent: str | None = None,
        url: str | None = None,
        referrer: str | None = None,
        locale: str | None = None,
    ) -> None:
        self.ip = ip
        self.user_agent = user_agent
        self.url = url
        self.referrer = referrer
        self.locale = locale


@dataclass(slots=True)
class Event:
    """One SDK call in canonical form."""

    sdk: SdkKind
    kind: EventKind
    source: str
    name: str | None
    distinct_id: str | None
    insert_id: str
    fields: dict[str, JSONValue]
    time: float | None = None
    user_id: str | None = None
    device_id: str | None = None
    org_ids: tuple[str, ...] = ()
    operation: str | None = None
    aliases: tuple[str, ...] = ()
    context: Context = field(default_factory=Context)

    def __init__(
        self,
        sdk: SdkKind,
        kind: EventKind,
        source: str,
        name: str | None,
        distinct_id: str | None,
        insert_id: str,
        fields: dict[str, JSONValue],
        time: float | None = None,
        user_id: str | None = None,
        device_id: str | None = None,
        org_ids: tuple[str, ...] = (),
        operation: str | None = None,
        aliases: tuple[str, ...] = (),
        context: Context | None = None,
    ) -> None:
        self.sdk = sdk
        self.kind = kind
        self.source = source
        self.name = name
        self.distinct_id = distinct_id
        self.insert_id = insert_id
        self.fields = fields
        self.time = time
        self.user_id = user_id
        self.device_id = device_id
        self.org_ids = org_ids
        self.operation = operation
        self.aliases = aliases
        self.context = Context() if context is None else context

    def subject(self) -> str | None:
        """The person this event is about, for the ledger: the user id when known."""
        return self.user_id or self.distinct_id or self.device_id


class SentField(NamedTuple):
    """One value a vendor received. ``value`` lives only in memory: the ledger stores
    a keyed fingerprint of it, never the value. (A named tuple: one is made per field
    per vendor per event, and a frozen dataclass costs several times more to build.)"""

    field: str
    category: str
    value: JSONValue


@dataclass(slots=True)
class Disclosure:
    """What one vendor may see of one event: the fields to send, and the record of them."""

    vendor: str
    event: Event
    fields: dict[str, JSONValue]
    sent: list[SentField]
    # (field, category); often the policy's shared tuple for the event's shape: read only
    dropped: Sequence[tuple[str, str]] = field(default_factory=list)
    # The vendor's idempotency key ($insert_id / messageId): keyed per vendor, so an
    # SDK-made id never reaches the vendor as is. Empty only outside the policy engine.
    dedupe_key: str = ""

    def __init__(
        self,
        vendor: str,
        event: Event,
        fields: dict[str, JSONValue],
        sent: list[SentField],
        dropped: Sequence[tuple[str, str]] | None = None,
        dedupe_key: str = "",
    ) -> None:
        self.vendor = vendor
        self.event = event
        self.fields = fields
        self.sent = sent
        self.dropped = [] if dropped is None else dropped
        self.dedupe_key = dedupe_key

    def insert_id(self) -> str:
        return self.dedupe_key or self.event.insert_id
