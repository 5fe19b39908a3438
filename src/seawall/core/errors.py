"""The one exception hierarchy of Seawall.

    SeawallError
     ├── ConfigError      the config file cannot be used; start-up stops
     ├── PayloadError     an SDK request cannot be decoded (HTTP 400)
     │    └── PayloadTooLarge   (HTTP 413)
     ├── AuthError        unknown token or write key (HTTP 401)
     ├── PolicyError      a policy cannot be applied to a value (the value is dropped)
     ├── StorageError     the database refused or is saturated (HTTP 503)
     │    └── Saturated       the writer queue is full (HTTP 429 / 503 with Retry-After)
     └── VendorError      a vendor API failed (retried by the forwarder)

User-facing messages name the input, the problem and the fix.
"""

from __future__ import annotations

import traceback
from pathlib import Path


class SeawallError(Exception):
    """Base of every error Seawall raises on purpose."""


class ConfigError(SeawallError):
    """The configuration cannot be loaded; the message names the file, key and fix."""

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        key: str | None = None,
        fix: str | None = None,
    ) -> None:
        self.message = message
        self.path = path
        self.key = key
        self.fix = fix
        parts = []
        if path:
            parts.append(path)
        if key:
            parts.append(f"key '{key}'")
        head = ": ".join(parts)
        text = f"{head}: {message}" if head else message
        if fix:
            text += f"\n  Fix: {fix}"
        super().__init__(text)

    def at(self, path: str) -> ConfigError:
        """The same error naming the config file, for errors raised where only the
        parsed config was at hand (a policy compiled at start-up). Only an error about a
        config key is located, and only once: any other names its own file or none."""
        if self.path or self.key is None:
            return self
        return ConfigError(self.message, path=path, key=self.key, fix=self.fix)


class PayloadError(SeawallError):
    """An SDK request body could not be decoded; the SDK should drop it (HTTP 400)."""


class PayloadTooLarge(PayloadError):
    """The body exceeds the configured limit; SDKs halve their batch on 413."""


class AuthError(SeawallError):
    """Unknown project token or write key (HTTP 401); nothing is stored."""


class PolicyError(SeawallError):
    """A policy action cannot handle a value; the caller drops the value (fail closed)."""


class StorageError(SeawallError):
    """The store failed; the request is not acknowledged."""


class Saturated(StorageError):
    """The writer is saturated; the SDK is asked to retry later."""


class VendorError(SeawallError):
    """A vendor API call failed; the forwarder decides whether to retry."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        permanent: bool = False,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after
        self.permanent = permanent


def describe(exc: BaseException) -> str:
    """What failed and where, for a log line, without the exception's message: the
    messages of data errors quote the data (``invalid literal for int(): 'ada@...'``,
    a database's ``Key (field)=(...)`` or the SQL parameters), and logs must hold no
    personal data. The driver's error class and SQLSTATE are kept."""
    text = type(exc).__name__
    orig = getattr(exc, "orig", None)  # SQLAlchemy wraps the driver's error
    if isinstance(orig, BaseException):
        code = getattr(orig, "sqlstate", None) or getattr(orig, "sqlite_errorname", None)
        text += f" ({type(orig).__name__}{f', {code}' if code else ''})"
    frames = traceback.extract_tb(exc.__traceback__)
    if frames:
        last = frames[-1]
        text += f" at {Path(last.filename).name}:{last.lineno} in {last.name}"
    return text
