"""``seawall.yaml``: parsed once, at start-up, into frozen pydantic models.

Nothing else in Seawall reads environment variables: ``${NAME}`` and
``${NAME:-default}`` are substituted here, before validation. Every error names the
file, the key and the fix, and start-up stops: a firewall must not run on a config it
only half understood.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from seawall.core.errors import ConfigError

PLACEHOLDER_SECRETS = frozenset(
    {"changeme", "change-me", "change_me", "secret", "password", "xxx", "todo"}
)
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Contract(_Model):
    """What the vendor signed: ``retention_days`` bounds incident windows and
    ``breach_notice_hours`` the vendor's own notice clock; the rest is for reference."""

    breach_notice_hours: int | None = Field(default=None, ge=0)
    dpa_date: str | None = None
    retention_days: int | None = Field(default=None, ge=0)
    security_contact: str | None = None


class Rule(_Model):
    """One policy rule: fields (by path) or data categories -> an action.

    Action-specific parameters (``allow_params`` for ``scrub_url``...) are checked by
    the policy engine when the config loads.
    """

    field: str | list[str] | None = None
    category: str | list[str] | None = None
    action: str
    params: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_selector(self) -> Rule:
        if (self.field is None) == (self.category is None):
            raise ValueError("a rule names either 'field' or 'category' (exactly one)")
        return self

    def fields(self) -> tuple[str, ...]:
        return _as_tuple(self.field)

    def categories(self) -> tuple[str, ...]:
        return _as_tuple(self.category)


def _as_tuple(value: str | list[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)


class Policy(_Model):
    """Per-vendor minimisation: ordered rules, first match wins; then the default."""

    default: Literal["drop", "keep", "redact"] = "drop"
    ip: Literal["drop", "truncate", "keep"] = "drop"
    free_text: Literal["redact", "drop_field", "keep"] = "redact"
    rules: list[Rule] = Field(default_factory=list)


class Vendor(_Model):
    """A third party Seawall forwards to."""

    kind: Literal["mixpanel", "segment", "webhook"]
    endpoint: str
    token: str | None = None
    api_secret: str | None = None
    write_key: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    use_import: bool = False
    batch_size: int = Field(default=50, ge=1, le=2000)
    timeout_seconds: float = Field(default=10.0, gt=0)
    dead_letter_after_hours: float = Field(default=72.0, gt=0)
    contract: Contract = Field(default_factory=Contract)
    policy: Policy = Field(default_factory=Policy)

    @field_validator("endpoint")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("endpoint must be an http:// or https:// URL")
        host = urlsplit(value).hostname or ""
        if value.startswith("http://") and not _is_loopback(host):
            # minimised events and the vendor's token or API secret would cross the
            # network readable by anyone on the path
            raise ValueError(
                f"endpoint {value} is plain http: use https:// (http:// only for a "
                "vendor or relay on this host)"
            )
        return value.rstrip("/")

    @model_validator(mode="after")
    def _credentials(self) -> Vendor:
        if self.kind == "mixpanel" and not self.token:
            raise ValueError("a mixpanel vendor needs 'token' (the vendor project's token)")
        if self.kind == "segment" and not self.write_key:
            raise ValueError("a segment vendor needs 'write_key'")
        if self.use_import and not self.api_secret:
            raise ValueError(
                "use_import: true needs 'api_secret' (Mixpanel /import uses Basic auth)"
            )
        return self


class Source(_Model):
    """Where events come from: an SDK, its token or write key, and who may receive them."""

    kind: Literal["mixpanel", "segment"]
    token: str | None = None
    write_key: str | None = None
    api_secret: str | None = None  # lets server code use Mixpanel's /import (Basic auth)
    allowed_origins: list[str] = Field(default_factory=list)
    destinations: list[str] = Field(default_factory=list)
    api_routes: dict[Literal["track", "engage", "groups"], str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _key(self) -> Source:
        if self.kind == "mixpanel" and not self.token:
            raise ValueError("a mixpanel source needs 'token' (the project token the SDK sends)")
        if self.kind == "segment" and not self.write_key:
            raise ValueError("a segment source needs 'write_key'")
        return self

    def key(self) -> str:
        """The credential the SDK presents."""
        return self.token or self.write_key or ""


class CsvDirectory(_Model):
    kind: Literal["csv"]
    path: str


class SqlDirectory(_Model):
    kind: Literal["sql"]
    url: str
    query: str


class Smtp(_Model):
    host: str = "127.0.0.1"
    port: int = 25
    starttls: bool = False
    tls: bool = False
    username: str | None = None
    password: str | None = None
    sender: str = "Security <security@example.com>"

    @model_validator(mode="after")
    def _no_password_in_the_clear(self) -> Smtp:
        # A relay login without TLS would send the password readable to anyone on the
        # path; only a relay on this host (or a local TLS tunnel) may be used that way.
        if self.username and not (self.tls or self.starttls) and not _is_loopback(self.host):
            raise ValueError(
                f"a login to {self.host} needs TLS: set starttls: true (port 587) or "
                "tls: true (port 465)"
            )
        return self


def _is_loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class Canary(_Model):
    domain: str
    smtp_listen: str = "127.0.0.1:2526"
    beacon_base: str = "http://127.0.0.1:8787"


class Alerts(_Model):
    webhooks: list[str] = Field(default_factory=list)
    email: str | None = None


class Gateway(_Model):
    """Tuning of the ingest path; the defaults suit a 2-core machine."""

    max_body_bytes: int = Field(default=2 * 1024 * 1024, ge=1024)
    max_queue: int = Field(default=20_000, ge=10)
    workers: int = Field(default=1, ge=1, le=64)
    # Peers whose X-Forwarded-For is believed (your TLS proxy); everyone else's is ignored.
    trusted_proxies: list[str] = Field(default_factory=lambda: ["127.0.0.1/32", "::1/128"])
    forward: bool = True  # run the forwarders inside `seawall serve`


Regime = Literal["gdpr", "california", "sec"]
REGIMES: tuple[Regime, ...] = ("gdpr", "california", "sec")


class Incident(_Model):
    regimes: list[Regime] = Field(default_factory=lambda: list(REGIMES))


class Config(_Model):
    """The whole of ``seawall.yaml``."""

    database: str = "sqlite:///seawall.db"
    keys_dir: str = ".seawall/keys"
    listen: str = "127.0.0.1:8787"
    gateway: Gateway = Field(default_factory=Gateway)
    sources: dict[str, Source] = Field(default_factory=dict)
    vendors: dict[str, Vendor] = Field(default_factory=dict)
    directory: Annotated[CsvDirectory | SqlDirectory, Field(discriminator="kind")] | None = None
    smtp: Smtp | None = None
    canary: Canary | None = None
    alerts: Alerts | None = None
    incident: Incident = Field(default_factory=Incident)
    _base_dir: str = PrivateAttr(default=".")

    @model_validator(mode="after")
    def _destinations_exist(self) -> Config:
        keys: dict[str, str] = {}
        for name, source in self.sources.items():
            for dest in source.destinations:
                if dest not in self.vendors:
                    raise ValueError(
                        f"sources.{name}.destinations names '{dest}', which is not under 'vendors'"
                    )
            if source.key() in keys:
                raise ValueError(
                    f"sources.{name} uses the same token as sources.{keys[source.key()]}"
                )
            keys[source.key()] = name
        return self

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit():
            raise ValueError("listen must be host:port, e.g. 127.0.0.1:8787")
        return value

    def listen_host_port(self) -> tuple[str, int]:
        host, _, port = self.listen.rpartition(":")
        return host.strip("[]"), int(port)

    def path(self, value: str) -> Path:
        """A path from the config, relative to the config file's folder."""
        p = Path(value).expanduser()
        return p if p.is_absolute() else Path(self._base_dir) / p

    def database_url(self) -> str:
        """The SQLAlchemy URL, with a relative SQLite path anchored at the config's folder."""
        prefix = "sqlite:///"
        if self.database.startswith(prefix) and self.database != "sqlite:///:memory:":
            rest = self.database[len(prefix) :]
            return prefix + str(self.path(rest))
        return self.database


def substitute_env(text: str, env: Mapping[str, str], *, path: str) -> str:
    """Replace ``${NAME}`` and ``${NAME:-default}``; an unset name without default is an
    error. Whole-line comments are left alone: they often show the syntax itself."""
    out: list[str] = []
    for number, line in enumerate(text.splitlines(keepends=True), start=1):
        if line.lstrip().startswith("#"):
            out.append(line)
            continue

        def repl(match: re.Match[str], number: int = number) -> str:
            name, default = match.group(1), match.group(2)
            if name in env:
                return env[name]
            if default is not None:
                return default
            raise ConfigError(
                f"line {number}: environment variable {name} is not set",
                path=path,
                fix=f"export {name}=... or write ${{{name}:-default}} in the file",
            )

        out.append(_ENV.sub(repl, line))
    return "".join(out)


def _hint(msg: str, value: Any) -> str | None:
    if isinstance(value, str) and value.lower() in {"yes", "no", "on", "off", "true", "false"}:
        return "in YAML, remove the quotes around boolean values"
    if "Extra inputs are not permitted" in msg:
        return "remove the key or check its spelling against `seawall config schema`"
    if "Field required" in msg:
        return "add the key; `seawall init` writes a commented example"
    return None


def parse_config(data: Any, *, path: str = "seawall.yaml", base_dir: str = ".") -> Config:
    """Validate already-parsed YAML data; raise ConfigError naming the first bad key."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(
            "the file must hold a YAML mapping at the top level",
            path=path,
            fix="start from `seawall init`",
        )
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"] if not str(p).startswith("function-after"))
        # Tagged unions add the tag to the location; drop it for a readable key.
        key = re.sub(r"\.(csv|sql)(?=\.|$)", "", key)
        msg = err["msg"].removeprefix("Value error, ")
        more = f" (and {len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
        raise ConfigError(
            msg + more, path=path, key=key or None, fix=_hint(err["msg"], err.get("input"))
        ) from None
    _check_secrets(config, path)
    config._base_dir = base_dir
    return config


def _check_secrets(config: Config, path: str) -> None:
    for name, vendor in config.vendors.items():
        for attr in ("token", "api_secret", "write_key"):
            value = getattr(vendor, attr)
            if value is not None and value.strip().lower() in PLACEHOLDER_SECRETS:
                raise ConfigError(
                    "a placeholder secret would be sent to the vendor",
                    path=path,
                    key=f"vendors.{name}.{attr}",
                    fix="set the real value, e.g. through ${ENV}",
                )
    if (
        config.smtp
        and config.smtp.password is not None
        and config.smtp.password.strip().lower() in PLACEHOLDER_SECRETS
    ):
        raise ConfigError(
            "the SMTP password is a placeholder",
            path=path,
            key="smtp.password",
            fix="export SMTP_PASSWORD and write ${SMTP_PASSWORD}",
        )


CONFIG_ENV = "SEAWALL_CONFIG"


FORWARD_ENV = "SEAWALL_FORWARD"


def config_path_from_env(default: str = "seawall.yaml") -> str:
    """The config path handed to worker processes (the one place env is read)."""
    return os.environ.get(CONFIG_ENV, default)


def forward_override_from_env() -> bool | None:
    """``seawall serve --forward/--no-forward``, handed to worker processes."""
    value = os.environ.get(FORWARD_ENV)
    return None if value is None else value == "1"


def load_config(path: str | Path, env: Mapping[str, str] | None = None) -> Config:
    """Read, substitute and validate ``seawall.yaml``."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            "file not found",
            path=str(p),
            fix="run `seawall init` to write an example, or pass --config",
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the file ({exc})", path=str(p)) from None
    text = substitute_env(text, os.environ if env is None else env, path=str(p))
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise ConfigError(
            f"{where}not valid YAML ({getattr(exc, 'problem', exc)})",
            path=str(p),
            fix="check the indentation and quoting near that line",
        ) from None
    return parse_config(data, path=str(p), base_dir=str(p.resolve().parent))
