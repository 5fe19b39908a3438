"""A mail to a canary, turned into evidence: headers, links, attachments, a capped body.

Everything here is attacker-controlled, so every value is treated as data: header
values are unfolded and stripped of control characters (a header injection stays one
line of text), every string is capped, attachments are kept only as name, type, size
and SHA-256, HTML is kept as source text and never rendered. Parsing never raises: a
message the parser cannot read is kept as the first bytes of its raw text with the
reason. Pure: no I/O.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from email import message_from_bytes
from email.header import decode_header, make_header
from email.message import Message
from email.policy import compat32
from typing import Any

MAX_HEADERS = 100
MAX_VALUE = 2_000
MAX_BODY = 64 * 1024
MAX_LINKS = 100
MAX_PARTS = 200
MAX_ATTACHMENTS = 50
RAW_HEAD = 8 * 1024
SUMMARY_HEADERS = ("from", "reply-to", "return-path", "subject", "date", "message-id")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_TEXT_LINK = re.compile(r"""https?://[^\s<>"'`)\]]+""", re.IGNORECASE)
_HTML_LINK = re.compile(r"""(?:href|src|action)\s*=\s*["']?([^"'\s>]+)""", re.IGNORECASE)


def clean(text: str, limit: int = MAX_VALUE) -> str:
    """One line of inert text: folding undone, control and bidi characters replaced."""
    text = text.replace("\r\n", " ").replace("\n", " ").replace("\r", " ")
    text = _CONTROL.sub("\ufffd", text)
    return text if len(text) <= limit else text[:limit] + "…"


def clean_address(value: object) -> str | None:
    """An SMTP address or HELO name as the client sent it, as one inert line."""
    return None if value is None else clean(str(value), 320)


def mail_evidence(raw: bytes, *, total_bytes: int | None = None) -> dict[str, Any]:
    """The evidence of one message. ``raw`` may be only the head of a message that was
    too large (then ``total_bytes`` is its real size and the body may be cut)."""
    size = len(raw) if total_bytes is None else total_bytes
    complete = total_bytes is None or total_bytes <= len(raw)
    out: dict[str, Any] = {"size": size, "complete": complete}
    if complete:
        out["sha256"] = hashlib.sha256(raw).hexdigest()
    try:
        msg = message_from_bytes(raw, policy=compat32)
        out.update(_parsed(msg))
    except Exception as exc:  # any parser failure: keep the raw head as text
        out["parse_error"] = type(exc).__name__
        out["raw_head"] = clean(raw[:RAW_HEAD].decode("utf-8", "replace"), RAW_HEAD)
    return out


def summary(evidence: dict[str, Any]) -> dict[str, Any]:
    """The few facts an alert shows (all still attacker-controlled text)."""
    headers = evidence.get("headers", [])
    picked = {
        name.lower(): value for name, value in reversed(headers) if name.lower() in SUMMARY_HEADERS
    }
    return {
        "envelope_from": evidence.get("envelope_from"),
        "peer": evidence.get("peer"),
        "subject": picked.get("subject"),
        "from": picked.get("from"),
        "reply_to": picked.get("reply-to"),
        "links": evidence.get("links", [])[:5],
        "attachments": [
            {"name": a.get("name"), "sha256": a.get("sha256")}
            for a in evidence.get("attachments", [])[:5]
        ],
        "size": evidence.get("size"),
        "complete": evidence.get("complete"),
    }


def _parsed(msg: Message) -> dict[str, Any]:
    headers = [[clean(str(k), 200), _header(v)] for k, v in msg.items()[:MAX_HEADERS]]
    texts: list[str] = []
    htmls: list[str] = []
    attachments: list[dict[str, Any]] = []
    links: dict[str, None] = {}
    defects = [type(d).__name__ for d in msg.defects][:20]
    for i, part in enumerate(msg.walk()):
        if i >= MAX_PARTS:
            defects.append("TooManyParts")
            break
        if part.is_multipart():
            continue
        _part(part, texts, htmls, attachments, links)
    out: dict[str, Any] = {
        "headers": headers,
        "content_type": clean(msg.get_content_type(), 200),
        "body_text": clean_body("\n".join(texts)),
        "links": list(links)[:MAX_LINKS],
        "attachments": attachments[:MAX_ATTACHMENTS],
    }
    if htmls:
        out["html_source"] = clean_body("\n".join(htmls))  # source text, never rendered
    if defects:
        out["defects"] = defects
    return out


def _part(
    part: Message,
    texts: list[str],
    htmls: list[str],
    attachments: list[dict[str, Any]],
    links: dict[str, None],
) -> None:
    try:
        payload = part.get_payload(decode=True)
    except Exception:  # a broken transfer encoding: keep nothing of the part
        payload = None
    data = payload if isinstance(payload, bytes) else b""
    ctype = part.get_content_type()
    name = _filename(part)
    disposition = (part.get("content-disposition") or "").split(";", 1)[0].strip().lower()
    if name is not None or disposition == "attachment" or not ctype.startswith("text/"):
        attachments.append(
            {
                "name": clean(name or "", 300),
                "type": clean(ctype, 200),
                "size": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
            }
        )
        return
    text = _decode(data[: MAX_BODY * 4], part.get_content_charset())
    if ctype == "text/html":
        htmls.append(text)
        found = _HTML_LINK.findall(text) + _TEXT_LINK.findall(text)
    else:
        texts.append(text)
        found = _TEXT_LINK.findall(text)
    for link in found:
        if len(links) < MAX_LINKS:
            links[clean(link)] = None


def _filename(part: Message) -> str | None:
    try:
        name = part.get_filename()
    except Exception:
        return "(unreadable name)"
    return None if name is None else _header(name)


def _header(value: object) -> str:
    text = str(value)
    with contextlib.suppress(Exception):  # an invalid encoded word: keep it as sent
        text = str(make_header(decode_header(text)))
    return clean(text)


def _decode(data: bytes, charset: str | None) -> str:
    try:
        return data.decode(charset or "utf-8", "replace")
    except (LookupError, TypeError):  # an unknown charset name
        return data.decode("utf-8", "replace")


def clean_body(text: str) -> str:
    """A body as inert text: line breaks kept, other control characters replaced."""
    text = _CONTROL.sub("\ufffd", text.replace("\r\n", "\n"))
    return text if len(text) <= MAX_BODY else text[:MAX_BODY] + "…"
