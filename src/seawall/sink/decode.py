"""Request bodies as Mixpanel and Segment accept them, decoded into messages.

Liberal in what it reads (form ``data=`` as JSON or base64 JSON, ``?data=``, raw
JSON arrays, NDJSON, ``text/plain`` beacons), like the real APIs: the sink exists
to show what a vendor would have received.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any
from urllib.parse import parse_qs

import orjson

__all__ = ["BadPayload", "form_value", "mixpanel_messages", "ndjson_or_json"]


class BadPayload(ValueError):
    """The body is not something the vendor would accept (it answers 400)."""


def form_value(body: bytes, content_type: str, name: str) -> str | None:
    """One field of an urlencoded form body, or ``None``."""
    if "application/x-www-form-urlencoded" not in content_type:
        return None
    try:
        values = parse_qs(body.decode("utf-8"), keep_blank_values=True).get(name)
    except UnicodeDecodeError as exc:
        raise BadPayload("the form body is not UTF-8") from exc
    return values[-1] if values else None


def _json(data: bytes | str) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise BadPayload("not JSON") from exc


def _json_or_base64(text: str) -> Any:
    stripped = text.strip()
    if stripped[:1] in {"{", "["}:
        return _json(stripped)
    padded = stripped + "=" * (-len(stripped) % 4)
    try:
        raw = base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BadPayload("data is neither JSON nor base64 JSON") from exc
    return _json(raw)


def _as_messages(payload: Any) -> list[dict[str, Any]]:
    items = payload if isinstance(payload, list) else [payload]
    if not items or not all(isinstance(item, dict) for item in items):
        raise BadPayload("expected a JSON object or a non-empty array of objects")
    return items


def mixpanel_messages(
    body: bytes, content_type: str, query_data: str | None
) -> list[dict[str, Any]]:
    """Messages of a ``/track``, ``/engage`` or ``/groups`` request."""
    data = form_value(body, content_type, "data")
    if data is None and query_data is not None and not body.strip():
        data = query_data
    if data is not None:
        return _as_messages(_json_or_base64(data))
    if not body.strip():
        raise BadPayload("no data")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadPayload("the body is not UTF-8") from exc
    if text.startswith("data="):
        return _as_messages(_json_or_base64(parse_qs(text)["data"][-1]))
    return _as_messages(_json_or_base64(text))


def ndjson_or_json(body: bytes) -> list[dict[str, Any]]:
    """A JSON array, one JSON object, or newline-delimited JSON objects."""
    stripped = body.strip()
    if not stripped:
        raise BadPayload("empty body")
    if stripped.startswith(b"[") or b"\n" not in stripped:
        return _as_messages(_json(stripped))
    return _as_messages([_json(line) for line in stripped.splitlines() if line.strip()])
