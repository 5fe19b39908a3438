"""Notices as text: Jinja2 templates per locale, HTML and plain-text parts.

Templates live in ``templates/<locale>/<kind>.<part>.j2`` (kind ``user`` or
``org_admin``; part ``subject``, ``txt`` or ``html``); a custom folder given with
``--templates`` is searched first, then the shipped one. A locale falls back from
``fr-ca`` to ``fr`` to ``en``.

Guarantees, each so that a broken template never reaches a mailbox:

- ``StrictUndefined``: a variable the context lacks is an error, not an empty string;
- HTML parts are autoescaped (a name like ``<script>`` prints as text); plain-text
  parts are not HTML and are not escaped;
- errors name the template file and line (``TemplateError``), and :meth:`Renderer.check`
  renders every (kind, locale) a campaign needs before its first notice is claimed.

The exposed data is given to templates as phrases built from categories
(``exposed``, ``exposed_text``), never as values: the notice store has no values.
"""

from __future__ import annotations

import datetime as dt
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, NamedTuple

import jinja2
from markupsafe import escape

from seawall.incident.model import Incident
from seawall.notify.address import clean_name
from seawall.notify.errors import TemplateError
from seawall.notify.phrases import join, phrases

SHIPPED = Path(__file__).parent / "templates"
DEFAULT_LOCALE = "en"
PARTS = ("subject", "txt", "html")
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class Rendered:
    subject: str
    text: str
    html: str


def _date(ts: float | None) -> str | None:
    if ts is None:
        return None
    return dt.datetime.fromtimestamp(ts, tz=dt.UTC).strftime("%Y-%m-%d")


def notice_context(
    *,
    kind: str,
    locale: str,
    name: str | None,
    categories: Iterable[str],
    incident: Incident,
    sender_name: str,
    contact_email: str,
    reference: str,
    org_id: str | None = None,
    members: int | None = None,
) -> dict[str, Any]:
    """Every variable a template may use; each key is always present."""
    exposed = phrases(categories, locale)
    return {
        "kind": kind,
        "locale": locale,
        "recipient": {"name": clean_name(name)},
        "exposed": exposed,
        "exposed_text": join(exposed, locale),
        "incident": {
            "id": incident.id,
            "vendor": incident.vendor,
            "detected": _date(incident.detected_at),
            "aware": _date(incident.aware_at),
            "window_start": _date(incident.window_start),
            "window_end": _date(incident.window_end),
        },
        "org": {"id": org_id, "members": members or 0},
        "sender_name": clean_name(sender_name),
        "contact_email": contact_email,
        "reference": reference,
    }


def sample_incident() -> Incident:
    """An incident with made-up values (every date set), for checks and tests."""
    return Incident(
        id=0,
        vendor="vendor",
        title="check",
        trigger="manual",
        status="open",
        opened_at=0.0,
        aware_at=0.0,
        detected_at=0.0,
        window_start=0.0,
        window_end=0.0,
    )


def sample_context(kind: str, locale: str) -> dict[str, Any]:
    """A full context with made-up values, to render-check templates before sending."""
    incident = sample_incident()
    return notice_context(
        kind=kind,
        locale=locale,
        name="Check",
        categories=("user.contact.email", "user.name"),
        incident=incident,
        sender_name="Security",
        contact_email="security@example.com",
        reference="SW-0-0",
        org_id="org" if kind == "org_admin" else None,
        members=1 if kind == "org_admin" else None,
    )


class Renderer:
    """Renders notices from the shipped templates, or a custom folder searched first."""

    def __init__(self, templates: Path | None = None) -> None:
        self.shipped_only = templates is None
        paths = [str(templates)] if templates is not None else []
        paths.append(str(SHIPPED))
        self._env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(paths),
            # HTML parts are escaped; plain-text parts are not HTML, escaping would corrupt them.
            autoescape=jinja2.select_autoescape(
                enabled_extensions=("html.j2",), default_for_string=True, default=False
            ),
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=True,
            trim_blocks=True,
            lstrip_blocks=True,
            # A run renders thousands of notices from a handful of templates: checking
            # each file's mtime on every render cost more than the render itself.
            auto_reload=False,
        )
        self._resolved: dict[str, str] = {}
        self._templates: dict[str, jinja2.Template] = {}

    def locale_for(self, locale: str) -> str:
        """The most specific shipped or custom locale for ``locale`` (``en`` at last)."""
        found = self._resolved.get(locale)
        if found is None:
            base = locale.split("-", maxsplit=1)[0]
            names = set(self._env.list_templates(extensions=["j2"]))
            found = next(
                (c for c in (locale, base) if f"{c}/user.txt.j2" in names),
                DEFAULT_LOCALE,
            )
            self._resolved[locale] = found
        return found

    def render(self, kind: str, locale: str, context: Mapping[str, Any]) -> Rendered:
        """Subject, text and HTML for one notice; TemplateError names file and line."""
        loc = self.locale_for(locale)
        out = [self._part(f"{loc}/{kind}.{part}.j2", context) for part in PARTS]
        subject = _SPACE.sub(" ", clean_name(out[0])).strip()
        if not subject:
            raise TemplateError(
                "renders an empty subject", path=f"{loc}/{kind}.subject.j2", fix="write one"
            )
        return Rendered(subject=subject, text=out[1], html=out[2])

    def check(self, shapes: Iterable[tuple[str, str]]) -> None:
        """Compile and render every (kind, locale) with a sample: errors before sending."""
        for kind, locale in sorted(set(shapes)):
            self.render(kind, locale, sample_context(kind, self.locale_for(locale)))

    def _part(self, name: str, context: Mapping[str, Any]) -> str:
        try:
            template = self._templates.get(name)
            if template is None:
                template = self._templates[name] = self._env.get_template(name)
            return template.render(context)
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(
                f"line {exc.lineno}: {exc.message}",
                path=exc.filename or name,
                fix="correct the template syntax near that line",
            ) from None
        except jinja2.TemplateNotFound:
            raise TemplateError(
                "template not found",
                path=name,
                fix="a template folder needs <locale>/<kind>.subject.j2, .txt.j2 and .html.j2",
            ) from None
        except jinja2.UndefinedError as exc:
            path, line = _template_frame(sys.exc_info()[2], name)
            raise TemplateError(
                f"line {line}: {exc.message}",
                path=path,
                fix="use only the variables notices provide (see docs/notify.md), "
                "or give a default with |default('...')",
            ) from None


def _template_frame(tb: TracebackType | None, name: str) -> tuple[str, int | str]:
    """The template file and line where rendering failed, from Jinja's rewritten traceback."""
    found: tuple[str, int | str] = (name, "?")
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename.endswith(".j2"):
            found = (filename, tb.tb_lineno)
        tb = tb.tb_next
    return found


# Stand-ins for the two values that differ between the notices of one content variant.
# Private-use characters: clean_name keeps them, HTML escaping leaves them alone.
_NAME = "\ue000recipient.name\ue000"
_REFERENCE = "\ue000reference\ue000"
_SLOTS = re.compile(f"({_NAME}|{_REFERENCE})")
_MAX_VARIANTS = 4096
Parts = tuple[str | int, ...]  # literal text, or 0 (the name) / 1 (the reference)


def _parts(text: str) -> Parts:
    pieces = _SLOTS.split(text)
    return tuple({_NAME: 0, _REFERENCE: 1}.get(p, p) if i % 2 else p for i, p in enumerate(pieces))


def _fill(parts: Parts, name: str, reference: str) -> str:
    values = (name, reference)
    return "".join([values[p] if isinstance(p, int) else p for p in parts])


class _Values(NamedTuple):
    """What one notice's text depends on (the locale resolved, the name cleaned)."""

    kind: str
    locale: str
    name: str
    categories: tuple[str, ...]
    reference: str
    org_id: str | None
    members: int | None


def _filled(variant: tuple[str, Parts, Parts], name: str, reference: str) -> Rendered:
    """A variant with the stand-ins replaced (escaped in the HTML part, as autoescape does)."""
    subject, text, html = variant
    return Rendered(
        subject=subject,
        text=_fill(text, name, reference),
        html=_fill(html, str(escape(name)), str(escape(reference))),
    )


class NoticeTexts:
    """The texts of one run's notices, each content variant rendered once.

    The notices of a campaign differ by kind, locale, categories and (org admins) org
    and member count, and within one such variant only by the reader's name and the
    notice's reference. The first notice of a variant is rendered in full. The second
    is rendered with stand-ins for those two values too, the stand-ins are replaced by
    its own values and the result checked against its full render; from then on the
    variant's notices only get the stand-ins replaced (the name HTML-escaped in the HTML
    part, as autoescape does). A variant of one notice (an org's only admin) thus costs
    one render, as before. Only the shipped templates are treated so, because they use
    both values verbatim; a custom template folder may do anything with them (a filter,
    a test on the name), so each of its notices is rendered in full. A variant whose
    check fails, or whose subject holds either value, is rendered in full as well.
    """

    def __init__(
        self, renderer: Renderer, incident: Incident, sender_name: str, contact_email: str
    ) -> None:
        self._renderer, self._incident = renderer, incident
        self._sender_name, self._contact = sender_name, contact_email
        self._variants: dict[tuple[object, ...], tuple[str, Parts, Parts] | None] = {}
        self._seen: set[tuple[object, ...]] = set()  # variants met once so far

    def render(
        self,
        *,
        kind: str,
        locale: str,
        name: str | None,
        categories: tuple[str, ...],
        reference: str,
        org_id: str | None = None,
        members: int | None = None,
    ) -> Rendered:
        """What ``Renderer.render`` gives for this notice's full context."""
        loc = self._renderer.locale_for(locale)
        n = _Values(kind, loc, clean_name(name), categories, reference, org_id, members)
        if not self._renderer.shipped_only:
            return self._full(n)
        key = (kind, loc, categories, org_id, members, bool(n.name))
        if key in self._variants:
            variant = self._variants[key]
        elif key not in self._seen:  # a variant of one notice (an org's only admin) is
            if len(self._seen) >= _MAX_VARIANTS:  # not worth a stand-in render and a check
                self._seen.clear()
            self._seen.add(key)
            return self._full(n)
        else:
            variant = self._variant(n)
            if len(self._variants) >= _MAX_VARIANTS:
                self._variants.clear()
            self._variants[key] = variant
        if variant is None:
            return self._full(n)
        return _filled(variant, n.name, reference)

    def _variant(self, n: _Values) -> tuple[str, Parts, Parts] | None:
        stand_in = self._full(n._replace(name=_NAME if n.name else "", reference=_REFERENCE))
        if _SLOTS.search(stand_in.subject):
            return None
        variant = (stand_in.subject, _parts(stand_in.text), _parts(stand_in.html))
        if _filled(variant, n.name, n.reference) != self._full(n):
            return None
        return variant

    def _full(self, n: _Values) -> Rendered:
        context = notice_context(
            kind=n.kind,
            locale=n.locale,
            name=n.name,
            categories=n.categories,
            incident=self._incident,
            sender_name=self._sender_name,
            contact_email=self._contact,
            reference=n.reference,
            org_id=n.org_id,
            members=n.members,
        )
        return self._renderer.render(n.kind, n.locale, context)
