"""One HTTP client per vendor: sends batches in the vendor's API shape and turns
every answer into success or a classified ``VendorError``.

    VendorError                    (seawall.core.errors)
     ├── temporary                 5xx, 408, 429 (with Retry-After), timeouts,
     │                             connection errors: retried by the forwarder
     ├── permanent                 400, 401, 403, other 4xx, a Mixpanel
     │                             ``{"status": 0}`` answer, 413 on one message
     ├── PartialFailure            ``/import?strict=1`` rejected some events; the
     │                             rest were imported
     └── SendHeld                  the kill switch closed between two requests

A 413 is not an error for the batch: the batch is halved and each half sent,
as the vendors' own SDKs do. Messages and credentials never appear in exception
messages or logs: errors name the vendor, the API and the status only.
"""

from __future__ import annotations

import base64
import email.utils
import logging
import math
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import httpx
import orjson

from seawall.core.config import Vendor
from seawall.core.errors import VendorError

__all__ = ["PartialFailure", "SendHeld", "VendorClient", "parse_retry_after"]

log = logging.getLogger(__name__)

Message = Mapping[str, Any]
Gate = Callable[[], Awaitable[bool]]
SEGMENT_MAX_BATCH_BYTES = 480 * 1024  # the API takes 500 KB; leave room for the envelope
TEMPORARY_4XX = frozenset({408, 425, 429})


class PartialFailure(VendorError):
    """The vendor accepted some messages and rejected others for good."""

    def __init__(self, message: str, *, status: int | None, failed_keys: frozenset[str]) -> None:
        super().__init__(message, status=status, permanent=True)
        self.failed_keys = failed_keys


class SendHeld(VendorError):
    """The vendor was disabled while a batch was being sent; nothing more went out."""


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if not math.isfinite(seconds):
        return None
    return max(seconds, 0.0)


class VendorClient:
    """Delivers batches to one vendor over one ``httpx.AsyncClient``.

    ``transport`` replaces the network (``httpx.MockTransport`` in unit tests);
    ``gate`` is awaited before every HTTP request and, when it answers False, stops
    the send with ``SendHeld``: the forwarder uses it for the kill switch.
    """

    def __init__(
        self,
        name: str,
        vendor: Vendor,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        gate: Gate | None = None,
    ) -> None:
        self.name = name
        self.vendor = vendor
        self._gate = gate
        self._http = httpx.AsyncClient(
            transport=transport,
            timeout=httpx.Timeout(vendor.timeout_seconds),
            headers={"User-Agent": "seawall-forwarder", **vendor.headers},
            follow_redirects=False,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> VendorClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def send(self, endpoint: str, messages: Sequence[Message]) -> None:
        """Deliver ``messages`` to ``endpoint`` (a ``WireMessage.endpoint``) or raise."""
        if not messages:
            return
        failed: set[str] = set()
        for chunk in self._size_chunks(endpoint, list(messages)):
            failed |= await self._send_halving(endpoint, chunk)
        if failed:
            raise PartialFailure(
                f"{self.name}: {len(failed)} of {len(messages)} messages rejected by /{endpoint}",
                status=400,
                failed_keys=frozenset(failed),
            )

    def _size_chunks(self, endpoint: str, messages: list[Message]) -> list[list[Message]]:
        if self.vendor.kind != "segment":
            return [messages]
        chunks: list[list[Message]] = [[]]
        size = 0
        for message in messages:
            n = len(orjson.dumps(message)) + 1
            if chunks[-1] and size + n > SEGMENT_MAX_BATCH_BYTES:
                chunks.append([])
                size = 0
            chunks[-1].append(message)
            size += n
        return chunks

    async def _send_halving(self, endpoint: str, messages: list[Message]) -> set[str]:
        try:
            return await self._post(endpoint, messages)
        except VendorError as exc:
            if exc.status != 413 or len(messages) < 2:
                raise
        half = len(messages) // 2
        log.info(
            "%s: /%s answered 413 for %d messages; halving", self.name, endpoint, len(messages)
        )
        failed = await self._send_halving(endpoint, messages[:half])
        return failed | await self._send_halving(endpoint, messages[half:])

    async def _post(self, endpoint: str, messages: list[Message]) -> set[str]:
        if self._gate is not None and not await self._gate():
            raise SendHeld(f"{self.name}: disabled; send stopped")
        request = self._request(endpoint, messages)
        try:
            response = await self._http.send(request)
        except httpx.TimeoutException:
            raise VendorError(f"{self.name}: /{endpoint} timed out") from None
        except httpx.TransportError as exc:
            raise VendorError(
                f"{self.name}: /{endpoint} unreachable ({type(exc).__name__})"
            ) from None
        log.debug(
            "%s: /%s %d messages -> %d", self.name, endpoint, len(messages), response.status_code
        )
        return self._classify(endpoint, messages, response)

    def _request(self, endpoint: str, messages: list[Message]) -> httpx.Request:
        vendor = self.vendor
        base = vendor.endpoint
        if vendor.kind == "mixpanel" and endpoint == "import":
            assert vendor.api_secret is not None  # the config requires it with use_import
            return self._http.build_request(
                "POST",
                f"{base}/import",
                params={"strict": "1"},
                content=orjson.dumps(list(messages)),
                headers={
                    "Content-Type": "application/json",
                    "Authorization": _basic(vendor.api_secret),
                },
            )
        if vendor.kind == "mixpanel":
            return self._http.build_request(
                "POST",
                f"{base}/{endpoint}",
                params={"ip": "0", "verbose": "1"},
                data={"data": orjson.dumps(list(messages)).decode()},
            )
        if vendor.kind == "segment":
            assert vendor.write_key is not None  # the config requires it
            return self._http.build_request(
                "POST",
                f"{base}/v1/batch",
                content=orjson.dumps({"batch": list(messages)}),
                headers={
                    "Content-Type": "application/json",
                    "Authorization": _basic(vendor.write_key),
                },
            )
        return self._http.build_request(
            "POST",
            base,
            content=orjson.dumps({"events": list(messages)}),
            headers={"Content-Type": "application/json"},
        )

    def _classify(
        self, endpoint: str, messages: list[Message], response: httpx.Response
    ) -> set[str]:
        status = response.status_code
        where = f"{self.name}: /{endpoint} answered {status}"
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        if status >= 500 or status in TEMPORARY_4XX:
            raise VendorError(where, status=status, retry_after=retry_after)
        body = _json(response)
        if status == 400 and endpoint == "import" and isinstance(body, dict):
            failed = _import_failures(body, messages)
            if failed:
                return failed
        if status >= 300:
            raise VendorError(where, status=status, permanent=True)
        if self.vendor.kind == "mixpanel" and endpoint != "import":
            ok = (isinstance(body, dict) and body.get("status") == 1) or body == 1
            if not ok:
                raise VendorError(
                    f"{where} with status 0 (rejected)", status=status, permanent=True
                )
        return set()


def _basic(secret: str) -> str:
    """``Authorization`` for HTTP Basic with the secret as user and no password."""
    return "Basic " + base64.b64encode(f"{secret}:".encode()).decode("ascii")


def _json(response: httpx.Response) -> Any:
    try:
        return orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return None


def _import_failures(body: Mapping[str, Any], messages: list[Message]) -> set[str]:
    """Dedupe keys of the events ``/import?strict=1`` rejected (by insert id or index)."""
    failed: set[str] = set()
    records = body.get("failed_records")
    if not isinstance(records, list):
        return failed
    for record in records:
        if not isinstance(record, dict):
            continue
        key = record.get("insert_id")
        index = record.get("index")
        if not key and isinstance(index, int) and 0 <= index < len(messages):
            props = messages[index].get("properties")
            key = props.get("$insert_id") if isinstance(props, Mapping) else None
        if isinstance(key, str) and key:
            failed.add(key)
    return failed
