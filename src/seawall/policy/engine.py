"""The policy engine: compile a vendor's policy once, apply it to every event.

``compile_policy`` checks every rule, action and parameter when the config loads and
raises ConfigError naming the key (``vendors.mixpanel.policy.rules[3].action``) and
the fix. ``apply`` is pure and never raises: whatever it cannot make safe, it drops.

How a field is decided (first match wins, then the default):

* ``ip``, ``$ip`` and ``context.ip`` always follow the policy's ``ip`` rule;
* a rule naming the field: the exact path, an fnmatch glob (``traits.*``), and for
  Mixpanel events also ``properties.<key>`` for the bare key;
* a rule naming a category at or above the field's catalogue category;
* ``policy.default``.

The free-text rule then runs on every string a ``keep`` lets through (outputs of the
other actions are already minimised). Values a rule drops, and values the policy
transforms in identifying categories (contact, name, ids), become *known values*: the
PII engine redacts them wherever they reappear, and a last check drops any field whose
output still contains one. A dropped value never reaches the vendor inside another
field; when a field is kept but holds a value dropped elsewhere, the drop wins.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fnmatch import translate

from seawall.core.config import Policy, Rule
from seawall.core.errors import ConfigError, PolicyError
from seawall.core.types import Disclosure, Event, JSONValue, SdkKind, SentField
from seawall.pii import redact
from seawall.policy.actions import (
    ACTIONS,
    Action,
    ApplyContext,
    Drop,
    Keep,
    Redact,
    TruncateIp,
    make_action,
    redact_value,
)
from seawall.policy.catalogue import (
    FALLBACK_CATEGORY,
    canonical_category,
    category_matches,
    category_of,
    is_identifying,
    suggest_category,
)
from seawall.policy.removed import Leaks, known_texts

IP_FIELDS = frozenset({"ip", "$ip", "context.ip"})
IP_CATEGORY = "user.device.ip_address"
_REPLACED_BY_WIRE = frozenset({"$insert_id", "messageId", "properties.$insert_id"})
MAX_NAME_CHARS = 200  # longer field names are dropped (the ledger's column holds 300)
MAX_CACHED_PATHS = 20_000  # bounds memory when clients invent property names
MAX_CACHED_VALUES = 20_000  # per rule: recent value -> output; cleared when full
# Only short values are memoised: the ones that repeat (pages, browsers, button texts)
# are short, and a client sending distinct 32 KB strings must not pin gigabytes.
MAX_MEMO_CHARS = 512
_NO_KNOWN = ApplyContext([], {})
_GLOB = re.compile(r"[*?\[]")


@dataclass(frozen=True, slots=True)
class Decision:
    """What the policy does to one field path: its category, the action (None: drop),
    which rule decided (``rules[3]``, ``default``, ``ip``), and whether the free-text
    rule runs on the output."""

    category: str
    action: Action | None
    rule: str
    free_text: bool
    remember: bool  # a removed identifying value: must not reappear elsewhere
    as_is: bool  # keep without the free-text rule: nothing to run
    opaque: bool = False  # the output cannot contain a known value (a keyed hash)
    # Outputs already computed for string values, shared by every path this rule decides
    # the same way: analytics values repeat (pages, browsers, button texts). None for
    # ids and timestamps, which never repeat and would push those out of the memo.
    memo: dict[str, JSONValue] | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class _Rule:
    label: str
    exact: frozenset[str]
    globs: re.Pattern[str] | None
    categories: tuple[str, ...]
    action: Action

    def matches(self, sdk: SdkKind, path: str, category: str) -> bool:
        if self.exact or self.globs:
            names = (path, "properties." + path) if sdk == "mixpanel" else (path,)
            for name in names:
                if name in self.exact or (self.globs and self.globs.fullmatch(name)):
                    return True
        return any(category_matches(c, category) for c in self.categories)


class CompiledPolicy:
    """A vendor's policy, validated and ready to apply; decisions are cached per path."""

    __slots__ = (
        "_cache",
        "_plans",
        "default",
        "free_text",
        "ip",
        "key",
        "outputs",
        "rules",
        "vendor",
    )

    def __init__(
        self,
        vendor: str,
        rules: list[_Rule],
        default: Action | None,
        ip: Action | None,
        free_text: str,
        key: bytes = b"",
    ) -> None:
        self.vendor = vendor
        self.key = key
        self.rules = tuple(rules)
        self.default = default
        self.ip = ip
        self.free_text = free_text
        self._cache: dict[SdkKind, dict[str, Decision]] = {"mixpanel": {}, "segment": {}}
        # Analytics values repeat (the same pages, browsers, button texts): an action's
        # output for a string is computed once and reused, per (rule, free-text) pair.
        self.outputs: dict[tuple[str, bool], dict[str, JSONValue]] = {}
        self._plans: dict[tuple[SdkKind, tuple[str, ...]], _Plan] = {}

    def plan(self, sdk: SdkKind, paths: tuple[str, ...]) -> _Plan:
        """The decisions for an event with these field names, in order (cached)."""
        key = (sdk, paths)
        plan = self._plans.get(key)
        if plan is None:
            plan = _make_plan(self, sdk, paths)
            if len(self._plans) >= MAX_CACHED_PATHS:
                self._plans.clear()
            self._plans[key] = plan
        return plan

    def decide(self, sdk: SdkKind, path: str) -> Decision:
        """The decision for a field path (computed once per path, then cached)."""
        cache = self._cache[sdk]
        decision = cache.get(path)
        if decision is None:
            decision = self._resolve(sdk, path)
            if len(cache) < MAX_CACHED_PATHS:
                cache[path] = decision
        return decision

    def _resolve(self, sdk: SdkKind, path: str) -> Decision:
        if path in IP_FIELDS:
            return self._decision(IP_CATEGORY, self.ip, "ip", explicit=True, free_text=False)
        category = category_of(sdk, path)
        if not _plain_name(path):
            # The name itself goes to the vendor and into the ledger: a property named
            # after a person ("invited:ada@example.com") or too long for the ledger is
            # dropped, whatever the rules say (a name cannot be redacted in place).
            return self._decision(category, None, "name", explicit=False)
        # the SDK's event id is not scanned: the vendor gets a keyed dedupe key instead
        scan = path not in _REPLACED_BY_WIRE
        for rule in self.rules:
            if rule.matches(sdk, path, category):
                return self._decision(
                    category, rule.action, rule.label, explicit=True, free_text=scan
                )
        return self._decision(category, self.default, "default", explicit=False, free_text=scan)

    def _decision(
        self,
        category: str,
        action: Action | None,
        rule: str,
        *,
        explicit: bool,
        free_text: bool = True,
    ) -> Decision:
        # A value is remembered (must not reappear in another field) when a rule drops
        # it, or when any action but keep removes a value of an identifying category.
        # Custom properties the default drops are not: "pro" or "/pricing" would
        # otherwise be cut out of every URL and event name.
        if isinstance(action, Drop):
            action = None
        if action is not None:
            action = action.for_category(category)
        keeps_raw = isinstance(action, Keep)
        # Protocol metadata (library names and versions, timestamps) is scanned like any
        # other kept text: an app or an SDK wrapper can put anything there. Its values
        # repeat, so the memo makes that one scan per distinct value.
        scan = free_text and keeps_raw and self.free_text != "keep"
        cache = action is not None and action.cacheable
        return Decision(
            category=category,
            action=action,
            rule=rule,
            free_text=scan,
            remember=(action is None and explicit) or (not keeps_raw and is_identifying(category)),
            as_is=keeps_raw and not scan,
            opaque=action is not None and action.opaque,
            memo=self.outputs.setdefault((rule, scan), {}) if cache else None,
        )


def _plain_name(path: str) -> bool:
    """Whether a field name may reach the vendor: short enough for the ledger, and
    holding nothing the PII engine finds (checked once per name; decisions are cached)."""
    return len(path) <= MAX_NAME_CHARS and redact(path) == path


def compile_policy(
    vendor: str, policy: Policy, key: bytes, *, where: str = "vendors.<name>.policy"
) -> CompiledPolicy:
    """Validate every rule, action and parameter of ``policy`` for ``vendor`` (whose
    pseudonym key is ``key``); raise ConfigError naming the key and the fix."""
    where = where.replace("<name>", vendor)
    rules = [_compile_rule(rule, key, f"{where}.rules[{i}]") for i, rule in enumerate(policy.rules)]
    default = {"drop": None, "keep": Keep({}), "redact": Redact({})}[policy.default]
    ip = {"drop": None, "truncate": TruncateIp({}), "keep": Keep({})}[policy.ip]
    return CompiledPolicy(vendor, rules, default, ip, policy.free_text, key)


def _compile_rule(rule: Rule, key: bytes, where: str) -> _Rule:
    fields, categories, action_name = rule.fields(), rule.categories(), rule.action
    try:
        action = make_action(action_name, rule.params, key)
    except ConfigError as exc:
        sub = "params" if action_name in ACTIONS else "action"
        raise ConfigError(_message(exc), key=f"{where}.{sub}", fix=exc.fix) from None
    exact = frozenset(f for f in fields if not _GLOB.search(f))
    for f in fields:
        if not f.strip():
            raise ConfigError(
                "an empty field name",
                key=f"{where}.field",
                fix="name a field as the SDK sends it, e.g. $current_url",
            )
    patterns = [translate(f) for f in fields if _GLOB.search(f)]
    globs = re.compile("|".join(f"(?:{p})" for p in patterns)) if patterns else None
    canon = []
    for name in categories:
        found = canonical_category(name)
        if found is None:
            close = suggest_category(name)
            hint = f"did you mean '{close}'?" if close else "see docs/fields.md"
            raise ConfigError(
                f"'{name}' is not a fideslang data category", key=f"{where}.category", fix=hint
            )
        canon.append(found)
    return _Rule(where.rsplit(".", 1)[-1], exact, globs, tuple(canon), action)


def _message(exc: ConfigError) -> str:
    text = str(exc)
    return text.split("\n  Fix:", 1)[0]


def apply(event: Event, policy: CompiledPolicy) -> Disclosure:
    """What ``policy``'s vendor may see of ``event``. Pure; never raises: a value an
    action cannot handle is dropped, and any unexpected failure drops the whole event."""
    try:
        return _apply(event, policy)
    except Exception:  # fail closed: a bug must not pass raw data, nor crash the gateway
        dropped = [(path, FALLBACK_CATEGORY) for path in event.fields]
        return Disclosure(
            vendor=policy.vendor,
            event=event,
            fields={},
            sent=[],
            dropped=dropped,
            dedupe_key=dedupe_key(policy.key, event.insert_id),
        )


def _apply(event: Event, policy: CompiledPolicy) -> Disclosure:
    sdk = event.sdk
    values = event.fields
    plan = policy.plan(sdk, tuple(values))
    kept = plan.kept
    ip_path = plan.ip_path
    context_ip = event.context.ip if ip_path not in values else None
    # The plan's own tuple when this event drops nothing more (the common case): the
    # pipeline then counts drops per plan, not per field.
    dropped: Sequence[tuple[str, str]] = plan.dropped
    if context_ip:  # the client's address, decided by the policy's ip rule
        if plan.kept_ip:
            kept = plan.kept_ip
        else:
            dropped = plan.dropped_ip
    known = known_texts(plan.remember, values) if plan.remember else ()
    ctx = ApplyContext(list(known), values) if known else _NO_KNOWN
    leaks = Leaks.cached(known) if known else None
    # Every output as if no value had been removed elsewhere (cached per value); then one
    # check over all of them for the removed values. Only when it finds something are
    # the suspicious fields recomputed with them, or dropped (_apply_checked).
    fields: dict[str, JSONValue] = {}
    sent: list[SentField] = []
    texts: list[str] = []  # the outputs to check for removed values: strings...
    others: list[JSONValue] = []  # ... and the rest
    for path, decision in kept:
        value = context_ip if path == ip_path and context_ip else values[path]
        if decision.as_is:
            out = value
        elif decision.memo is not None and value.__class__ is str:  # the common case
            out = decision.memo.get(value)
            if out is None:
                out = _operate(value, decision, ctx, policy)[0]
        else:
            out = _operate(value, decision, ctx, policy)[0]
        if out is _DROPPED:
            dropped = [*dropped, (path, decision.category)]
            continue
        fields[path] = out
        sent.append(_sent(SentField, (path, decision.category, out)))
        if decision.opaque:
            continue
        if out.__class__ is str:
            texts.append(out)
        else:
            others.append(out)
    if plan.names:  # custom field names go to the vendor too
        texts.append(plan.names)
    if leaks is not None and leaks.may_hide(texts, others):
        fields, sent, dropped = _apply_checked(
            kept, values, context_ip, ip_path, ctx, policy, leaks, list(plan.dropped)
        )
    return Disclosure(
        vendor=policy.vendor,
        event=event,
        fields=fields,
        sent=sent,
        dropped=dropped,
        dedupe_key=dedupe_key(policy.key, event.insert_id),
    )


# A named tuple's own constructor is a Python-level lambda; this is the same object,
# built without that frame (one is made per field per vendor per event).
_NewSent = Callable[[type[SentField], tuple[str, str, JSONValue]], SentField]
_sent: _NewSent = tuple.__new__


def dedupe_key(key: bytes, insert_id: str) -> str:
    """The vendor's idempotency key for an event: stable across retries, and keyed per
    vendor, because SDK ids can leak other ids (analytics.js derives its message ids and
    its anonymous id from one random buffer, one byte apart). Keyed BLAKE2b, a MAC in
    one call (~0.7 us against HMAC-SHA256's ~1.7 us; one per vendor per event), with
    its own personalisation so it never equals a pseudonym made with the same key."""
    keyed = _DEDUPERS.get(key)
    if keyed is None:  # the key's block is hashed once; each call copies that state
        keyed = hashlib.blake2b(key=key[:64], digest_size=16, person=_DEDUPE)
        if len(_DEDUPERS) >= MAX_CACHED_PATHS:
            _DEDUPERS.clear()
        _DEDUPERS[key] = keyed
    mac = keyed.copy()
    mac.update(insert_id.encode("utf-8", "surrogatepass"))
    return mac.hexdigest()


_DEDUPE = b"seawall-dedupe"
_DEDUPERS: dict[bytes, hashlib.blake2b] = {}  # one keyed state per vendor key


def _apply_checked(
    kept: tuple[tuple[str, Decision], ...],
    values: dict[str, JSONValue],
    context_ip: str | None,
    ip_path: str,
    ctx: ApplyContext,
    policy: CompiledPolicy,
    leaks: Leaks,
    dropped: list[tuple[str, str]],
) -> tuple[dict[str, JSONValue], list[SentField], list[tuple[str, str]]]:
    """The slow path, for an event where a removed value may hide in some output."""
    if context_ip and not any(path == ip_path for path, _ in kept):
        dropped.append((ip_path, IP_CATEGORY))
    fields: dict[str, JSONValue] = {}
    sent: list[SentField] = []
    for path, decision in kept:
        if decision.category == FALLBACK_CATEGORY and leaks.found_in(path):
            dropped.append((path, decision.category))  # a removed value in a custom name
            continue
        value = context_ip if path == ip_path and context_ip else values[path]
        if decision.as_is:
            item = (path, decision, value, value, False)
        else:
            out, provisional = _operate(value, decision, ctx, policy)
            item = (path, decision, value, out, provisional)
        out = _recheck(item, ctx, policy, leaks)[3]
        if out is _DROPPED:
            dropped.append((path, decision.category))
            continue
        fields[path] = out
        sent.append(SentField(path, decision.category, out))
    return fields, sent, dropped


def _recheck(
    item: tuple[str, Decision, JSONValue, JSONValue, bool],
    ctx: ApplyContext,
    policy: CompiledPolicy,
    leaks: Leaks,
) -> tuple[str, Decision, JSONValue, JSONValue, bool]:
    """The slow path for one field of an event that holds a removed value somewhere."""
    path, decision, value, out, provisional = item
    if out is _DROPPED or decision.opaque:
        return item
    if provisional and leaks.may_hide_any([out]):
        out = _compute(value, decision, ctx, policy.free_text)
    if out is not _DROPPED and leaks.found_in(out):
        out = _DROPPED
    return path, decision, value, out, False


@dataclass(frozen=True, slots=True)
class _Plan:
    """What a policy does to one set of field names: mixpanel-browser sends the same
    names in every event, so the per-field decisions are made once per shape."""

    kept: tuple[tuple[str, Decision], ...]
    remember: tuple[str, ...]
    dropped: tuple[tuple[str, str], ...]
    # The kept fields' names that are not in the catalogue, joined: checked for removed
    # values with the outputs, since the vendor receives the names as well.
    names: str = ""
    # For an event whose client address comes from the request (``Event.context``):
    # where it goes, and the plan with it kept (empty when the ip rule drops it) or
    # dropped.
    ip_path: str = "ip"
    kept_ip: tuple[tuple[str, Decision], ...] = ()
    dropped_ip: tuple[tuple[str, str], ...] = ()


def _make_plan(policy: CompiledPolicy, sdk: SdkKind, paths: tuple[str, ...]) -> _Plan:
    kept: list[tuple[str, Decision]] = []
    remember: list[str] = []
    dropped: list[tuple[str, str]] = []
    for path in paths:
        decision = policy.decide(sdk, path)
        if decision.remember:
            remember.append(path)
        if decision.action is None:
            dropped.append((path, decision.category))
        else:
            kept.append((path, decision))
    names = "\x00".join(path for path, d in kept if d.category == FALLBACK_CATEGORY)
    ip_path = "ip" if sdk == "mixpanel" else "context.ip"
    ip_decision = policy.decide(sdk, ip_path)
    kept_ip: tuple[tuple[str, Decision], ...] = ()
    dropped_ip: tuple[tuple[str, str], ...] = ()
    if ip_decision.action is not None:
        kept_ip = (*kept, (ip_path, ip_decision))
    else:
        dropped_ip = (*dropped, (ip_path, IP_CATEGORY))
    return _Plan(tuple(kept), tuple(remember), tuple(dropped), names, ip_path, kept_ip, dropped_ip)


_DROPPED: JSONValue = object()


def _operate(
    value: JSONValue, decision: Decision, ctx: ApplyContext, policy: CompiledPolicy
) -> tuple[JSONValue, bool]:
    """The action's output, and whether it was computed without the event's known
    values (outputs for a string are cached that way: analytics values repeat)."""
    action = decision.action
    if action is None:
        return _DROPPED, False
    memo = decision.memo
    if memo is None or not isinstance(value, str) or len(value) > MAX_MEMO_CHARS:
        return _compute(value, decision, ctx, policy.free_text), False
    plain = memo.get(value)
    if plain is None:
        plain = _compute(value, decision, _NO_KNOWN, policy.free_text)
        if len(memo) >= MAX_CACHED_VALUES:
            memo.clear()
        memo[value] = plain
    return plain, True


def _compute(value: JSONValue, decision: Decision, ctx: ApplyContext, free_text: str) -> JSONValue:
    action = decision.action
    if action is None:
        return _DROPPED
    try:
        out = action.operate(value, ctx)
        if decision.free_text and isinstance(out, (str, list, dict)):  # numbers carry no text
            redacted = redact_value(out, ctx.known)
            if free_text == "drop_field" and redacted != out:
                return _DROPPED
            out = redacted
    except (PolicyError, ValueError, TypeError, RecursionError):
        return _DROPPED
    return out
