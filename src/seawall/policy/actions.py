"""The policy actions: what a rule does to the value of a field it decides.

Each action is a small class in the :data:`ACTIONS` registry, presidio-operator style:
the constructor runs ``validate(params)`` when the config loads (a bad parameter stops
start-up with a ConfigError naming the fix), and ``operate(value, ctx)`` runs per value.
An action that cannot make a value safe raises PolicyError; the engine then drops the
value (fail closed). ``safe`` marks actions whose output is already minimised, so the
free-text rule skips it.

    keep          the value as sent
    drop          never sent (the engine does not call it)
    pseudonymize  HMAC-SHA256 with the vendor's key: ``sw_`` + 32 hex digits
    truncate_ip   zero the host bits: /24 for IPv4, /48 for IPv6 (``v4_prefix``, ``v6_prefix``)
    coarsen       precise location -> the event's country code; a country or time zone
                  stays as it is; with no country in the event the field is dropped
    scrub_url     drop query and fragment except allowed params; redact ids and PII in
                  the path (``allow_params`` adds to the PII engine's defaults)
    domain_only   the registrable domain of a URL (``www.shop.example.co.uk`` ->
                  ``example.co.uk``), no scheme, path or query
    ua_family     a user agent string -> ``"Chrome 120 / Windows"``
    redact        the PII engine replaces what it finds with ``[EMAIL]``, ``[PHONE]``...
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any, ClassVar
from urllib.parse import urlsplit

import ua_parser

from seawall.core.crypto import pseudonym
from seawall.core.errors import ConfigError, PolicyError
from seawall.core.types import JSONValue
from seawall.pii import DEFAULT_ALLOWED_PARAMS, KnownValues, redact, scrub_url
from seawall.policy.catalogue import category_matches

# Fields an event may carry its coarse location in, in order of preference.
COUNTRY_FIELDS = ("mp_country_code", "$country_code", "context.location.country")
# Values a referrer field holds when there is no referrer: nothing to minimise.
NO_URL = frozenset({"", "$direct"})
_COARSE = ("user.location.coarse", "user.contact.address.country")
_MAX_DEPTH = 32
_PSEUDONYM_CACHE = 65_536  # ids per action; cleared when full (bounded memory)
_CACHED_ID_CHARS = 256


class ApplyContext:
    """Per-event facts some actions need: the values the policy removed elsewhere in the
    event (so they cannot leak through this field) and the event's country code."""

    __slots__ = ("_country", "_fields", "_known", "known_texts")

    def __init__(self, known_texts: list[str], fields: Mapping[str, JSONValue]) -> None:
        self.known_texts = known_texts
        self._fields = fields
        self._known: KnownValues | None = None
        self._country: str | bool | None = False  # False: not looked up yet

    @property
    def known(self) -> KnownValues | None:
        """The PII engine's matcher for :attr:`known_texts`, built on first use."""
        if self._known is None and self.known_texts:
            self._known = KnownValues.cached(frozenset(self.known_texts))
        return self._known

    @property
    def country(self) -> str | None:
        """The event's own coarse location (``mp_country_code``...), if it has one."""
        if self._country is False:
            self._country = next(
                (v for f in COUNTRY_FIELDS if _is_place_name(v := self._fields.get(f))), None
            )
        return self._country if isinstance(self._country, str) else None


def _is_place_name(value: JSONValue) -> bool:
    """A country code, country name or time zone: letters and a few separators only."""
    return (
        isinstance(value, str)
        and 2 <= len(value) <= 60
        and all(c.isalpha() or c in " /_-" for c in value)
    )


class Action:
    """Base of every action; subclasses set ``name`` and override ``operate``."""

    name: ClassVar[str]
    safe: ClassVar[bool] = False
    opaque: ClassVar[bool] = False  # output cannot contain its input (a keyed hash)
    # The output depends on the value alone (and known values, which the engine checks
    # separately), so the engine may reuse it for the same value in later events.
    cacheable: ClassVar[bool] = True
    accepts: ClassVar[tuple[str, ...]] = ()

    def __init__(self, params: Mapping[str, Any], key: bytes = b"") -> None:
        self.key = key
        self.validate(params)

    def validate(self, params: Mapping[str, Any]) -> None:
        """Check the rule's ``params``; raise ConfigError with the fix. Runs at load."""
        unknown = sorted(set(params) - set(self.accepts))
        if unknown:
            takes = ", ".join(self.accepts) if self.accepts else "no params"
            raise ConfigError(
                f"{self.name} does not take {', '.join(unknown)}", fix=f"{self.name} takes {takes}"
            )

    def for_category(self, category: str) -> Action:
        """The action to use on a field of this category (most actions: itself)."""
        del category
        return self

    def operate(self, value: JSONValue, ctx: ApplyContext) -> JSONValue:
        """The value as the vendor may see it; PolicyError if that cannot be done."""
        raise NotImplementedError


class Keep(Action):
    name = "keep"

    def operate(self, value: JSONValue, ctx: ApplyContext) -> JSONValue:
        return value


class Drop(Action):
    name = "drop"
    safe = True

    def operate(self, value: JSONValue, ctx: ApplyContext) -> JSONValue:
        raise PolicyError("drop has no output")


class Pseudonymize(Action):
    name = "pseudonymize"
    safe = True
    opaque = True

    def validate(self, params: Mapping[str, Any]) -> None:
        super().validate(params)
        if len(self.key) < 16:
            raise ConfigError(
                "pseudonymize needs the vendor's key (at least 128 bits)",
                fix="check keys_dir; Seawall creates one key per vendor",
            )
        self._cache: dict[str, str] = {}

    def operate(self, value: JSONValue, ctx: ApplyContext) -> JSONValue:
        if isinstance(value, str):
            # The same ids recur in every event of a user: remember recent pseudonyms.
            cache = self._cache
            out = cache.get(value)
            if out is None:
                out = pseudonym(self.key, value)
                if len(value) <= _CACHED_ID_CHARS:  # ids are short; a 32 KB one is not kept
                    if len(cache) >= _PSEUDONYM_CACHE:
                        cache.clear()
                    cache[value] = out
            return out
        if isinstance(value, int) and not isinstance(value, bool):
            return pseudonym(self.key, str(value))
        if isinstance(value, list):
            return [self.operate(v, ctx) for v in value]
        raise PolicyError(f"pseudonymize takes a string or integer id, not {type(value).__name__}")


def _int_param(params: Mapping[str, Any], name: str, default: int, top: int) -> int:
    value = params.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= top:
        raise ConfigError(
            f"{name} must be an integer from 0 to {top}, got {value!r}",
            fix=f"e.g. {name}: {default}",
        )
    return value


class TruncateIp(Action):
    name = "truncate_ip"
    safe = True
    accepts = ("v4_prefix", "v6_prefix")

    def validate(self, params: Mapping[str, Any]) -> None:
        super().validate(params)
        self.v4 = _int_param(params, "v4_prefix", 24, 32)
        self.v6 = _int_param(params, "v6_prefix", 48, 128)

    def operate(self, value: JSONValue, ctx: ApplyContext) -> JSONValue:
        if not isinstance(value, str):
            raise PolicyError("truncate_ip takes an IP address string")
        return _truncate(value.strip(), self.v4, self.v6)


@lru_cache(maxsize=8192)
def _truncate(text: str, v4: int, v6: int) -> str:
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        raise PolicyError("not an IP address") from None
    if isinstance(ip, ipaddress.IPv6Address):
        # An IPv6 address that carries a client's IPv4 address whole (mapped, 6to4,
        # Teredo) would keep it inside a /48: the IPv4 address is truncated instead.
        inner = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if inner is not None:
            ip = inner
    prefix = v4 if ip.version == 4 else v6
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False).network_address)


class Coarsen(Action):
    """Precise location becomes the event's country; coarse location stays."""

    name = "coarsen"
    safe = True
    cacheable = False  # the output is the event's own country

    def for_category(self, category: str) -> Action:
        if any(category_matches(c, category) for c in _COARSE):
            return _PlaceName({})
        return self

    def operate(self, value: JSONValue, ctx: ApplyContext) -> JSONValue:
        country = ctx.country
        if country is None:
            raise PolicyError("no country in the event to coarsen to")
        return country


class _PlaceName(Action):
    """``coarsen`` on a country or time zone: sent as is if it is only a place name."""

    name = "coarsen"
    safe = True

    def operate(self, value: JSONValue, ctx: ApplyContext) -> JSONValue:
        if not _is_place_name(value):
            raise PolicyError("not a country code or time zone")
        return value


class ScrubUrl(Action):
    name = "scrub_url"
    safe = True
    accepts = ("allow_params",)

    def validate(self, params: Mapping[str, Any]) -> None:
        super().validate(params)
        extra = params.get("allow_params", [])
        if not isinstance(extra, list) or not all(isinstance(p, str) and p for p in extra):
            raise ConfigError(
                "allow_params must be a list of query parameter names",
                fix="e.g. allow_params: [ref, page]",
            )
        self.allowed = frozenset(DEFAULT_ALLOWED_PARAMS) | frozenset(extra)

    def operate(self, value: JSONValue, ctx: ApplyContext) -> JSONValue:
        if not isinstance(value, str):
            raise PolicyError("scrub_url takes a URL string")
        if value in NO_URL:
            return value
        return scrub_url(value, allowed_params=self.allowed, known=ctx.known)


# Second-level labels under which a country-code TLD registers names
# (example.co.uk, example.com.au): enough for referrer hosts without the full
# Public Suffix List.
_SECOND_LEVEL = frozenset({"co", "com", "net", "org", "gov", "edu", "ac", "ne", "or", "go"})


class DomainOnly(Action):
    name = "domain_only"
    safe = True

    def operate(self, value: JSONValue, ctx: ApplyContext) -> JSONValue:
        if not isinstance(value, str):
            raise PolicyError("domain_only takes a URL string")
        if value in NO_URL:
            return value
        return _registrable(value)


@lru_cache(maxsize=8192)
def _registrable(url: str) -> str:
    try:
        host = urlsplit(url if "//" in url else "//" + url).hostname
    except ValueError:
        host = None
    if not host or "." not in host:
        raise PolicyError("no host name in the URL")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        raise PolicyError("the host is an IP address")
    labels = host.rstrip(".").split(".")
    if not all(lab and all(c.isalnum() or c == "-" for c in lab) for lab in labels):
        raise PolicyError("not a host name")
    keep = 3 if len(labels) >= 3 and len(labels[-1]) == 2 and labels[-2] in _SECOND_LEVEL else 2
    return ".".join(labels[-keep:])


class UaFamily(Action):
    name = "ua_family"
    safe = True

    def operate(self, value: JSONValue, ctx: ApplyContext) -> JSONValue:
        if not isinstance(value, str):
            raise PolicyError("ua_family takes a user agent string")
        return _ua_family(value[:1024])


@lru_cache(maxsize=4096)
def _ua_family(ua: str) -> str:
    result = ua_parser.parse(ua)
    browser = result.user_agent
    name = browser.family if browser else "Other"
    if browser and browser.major and browser.major.isdigit():
        name += f" {browser.major}"
    os_family = result.os.family if result.os else "Other"
    return f"{name} / {os_family}"


class Redact(Action):
    name = "redact"
    safe = True

    def operate(self, value: JSONValue, ctx: ApplyContext) -> JSONValue:
        return redact_value(value, ctx.known, numbers=True)


def redact_value(
    value: JSONValue, known: KnownValues | None, *, numbers: bool = False, depth: int = 0
) -> JSONValue:
    """Redact every string inside a JSON value (dict keys too). With ``numbers``, an
    integer is redacted as text when the PII engine finds something in it (a phone
    number sent as an integer); the free-text rule leaves numbers alone."""
    if isinstance(value, str):
        return redact(value, known=known)
    if isinstance(value, bool) or value is None or isinstance(value, float):
        return value
    if isinstance(value, int):
        if not numbers or -1_000_000 < value < 1_000_000:  # too short for any PII entity
            return value
        text = str(value)
        out = redact(text, known=known)
        return value if out == text else out
    if depth >= _MAX_DEPTH:
        raise PolicyError("value nested too deeply")
    if isinstance(value, list):
        return [redact_value(v, known, numbers=numbers, depth=depth + 1) for v in value]
    if isinstance(value, dict):
        return {
            redact(str(k), known=known): redact_value(v, known, numbers=numbers, depth=depth + 1)
            for k, v in value.items()
        }
    raise PolicyError(f"cannot redact a {type(value).__name__}")


ACTIONS: dict[str, type[Action]] = {
    cls.name: cls
    for cls in (
        Keep,
        Drop,
        Pseudonymize,
        TruncateIp,
        Coarsen,
        ScrubUrl,
        DomainOnly,
        UaFamily,
        Redact,
    )
}
"""Every action a rule may name."""


def make_action(name: str, params: Mapping[str, Any], key: bytes = b"") -> Action:
    """Build an action from a rule; ConfigError (no key yet) if the name or params are bad."""
    cls = ACTIONS.get(name)
    if cls is None:
        raise ConfigError(f"unknown action '{name}'", fix="use one of: " + ", ".join(ACTIONS))
    return cls(params, key)


def walk_strings(value: JSONValue, visit: Callable[[str], bool], depth: int = 0) -> bool:
    """True if ``visit`` is true for any string (or dict key, or integer as text) inside
    ``value``; too deep a value counts as true (fail closed)."""
    if isinstance(value, str):
        return visit(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return visit(str(value))
    if depth > _MAX_DEPTH:
        return True
    if isinstance(value, list):
        return any(walk_strings(v, visit, depth + 1) for v in value)
    if isinstance(value, dict):
        return any(visit(str(k)) or walk_strings(v, visit, depth + 1) for k, v in value.items())
    return False


def iter_texts(value: JSONValue, limit: int = 64) -> list[str]:
    """The strings (and integers, as text) inside a value, at most ``limit`` of them."""
    out: list[str] = []

    def visit(text: str) -> bool:
        out.append(text)
        return len(out) >= limit

    walk_strings(value, visit)
    return out
