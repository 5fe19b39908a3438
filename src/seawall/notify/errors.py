"""Errors of notification campaigns, in Seawall's one hierarchy.

    SeawallError
     ├── ConfigError
     │    └── TemplateError      a template cannot be compiled or rendered (exit 2)
     └── NotifyError             a campaign command cannot proceed (exit 1)
          └── DeliveryError      the SMTP server refuses us as a whole (auth, TLS)

Every one is raised before a message leaves when it can be: templates are compiled and
rendered once per locale and audience before the first notice is claimed.
"""

from __future__ import annotations

from seawall.core.errors import ConfigError, SeawallError


class NotifyError(SeawallError):
    """A campaign command cannot proceed; the message names the input and the fix."""


class DeliveryError(NotifyError):
    """The SMTP server cannot be used at all (connection, TLS, authentication)."""


class TemplateError(ConfigError):
    """A notice template has a syntax error or uses a variable the context lacks."""
