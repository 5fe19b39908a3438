"""What ``seawall serve`` runs when ``canary:`` is configured.

* ``beacon_route(runtime)``: the ``/c/{token}`` route, to mount in the gateway app;
* ``start_canary_services(runtime, stop)``: the SMTP tripwire on ``canary.smtp_listen``,
  the alert loop (folded summaries) and the periodic re-plant, as asyncio tasks that
  end when ``stop`` is set.

Both share one ``CanaryService`` per runtime (address book, dispatcher), created on
first use, so a beacon hit and a mail to the same canary are folded together.

At stop the SMTP tripwire closes first (recording the probes of connections still
open), then the alert loop sends what is left: those probes are alerted too. What it
cannot finish sending within a moment (a webhook that hangs) is saved, and sent by the
next start: the stop is prompt and loses no alert.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable
from typing import Any

import httpx
from starlette.routing import Route

from seawall.canary.beacon import BeaconHandler
from seawall.canary.deliver import Dispatcher, IncidentRecorder
from seawall.canary.model import Canary, HitChannel
from seawall.canary.plant import plant
from seawall.canary.probe import PROBE_HOLD
from seawall.canary.smtp import IDLE_TIMEOUT, MAX_BYTES, AddressBook, TripwireHandler, start_smtp
from seawall.canary.store import CanaryStore
from seawall.core.errors import SeawallError, describe
from seawall.gateway.runtime import Runtime

log = logging.getLogger("seawall.canary")
REPLANT_SECONDS = 24 * 3600.0  # a profile refreshed daily looks like an active user
SUMMARY_SECONDS = 300.0
_ATTR = "_seawall_canary_service"


class CanaryService:
    """The canary parts of one running gateway."""

    def __init__(
        self,
        runtime: Runtime,
        *,
        incidents: IncidentRecorder | None = None,
        summary_interval: float = SUMMARY_SECONDS,
        transport: httpx.AsyncBaseTransport | None = None,
        max_mail_bytes: int = MAX_BYTES,
        probe_hold: float = PROBE_HOLD,
        smtp_timeout: float = IDLE_TIMEOUT,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.runtime = runtime
        self.store = CanaryStore(runtime.db)
        if incidents is None:
            from seawall.incident.store import IncidentStore

            incidents = IncidentStore(runtime.db)
        alerts = runtime.config.alerts
        self.dispatcher = Dispatcher(
            self.store,
            incidents,
            webhooks=list(alerts.webhooks) if alerts else [],
            email_to=alerts.email if alerts else None,
            smtp=runtime.config.smtp,
            interval=summary_interval,
            transport=transport,
            clock=clock,
        )
        self.book = AddressBook(self.store.list, self.store.by_email)
        self.max_mail_bytes = max_mail_bytes
        self.probe_hold, self.smtp_timeout = probe_hold, smtp_timeout
        self.smtp_listening = False  # the tripwire binds after the gateway has started
        self._by_token: dict[str, Canary] = {}
        self.beacon = self.beacon_handler()

    async def on_hit(
        self,
        canary: Canary,
        channel: HitChannel,
        evidence: dict[str, Any],
        brief: dict[str, Any],
        remote: str | None,
        at: float | None = None,
    ) -> None:
        await self.dispatcher.hit(canary, channel, evidence, brief, remote, at)

    async def lookup_token(self, token_hash: str) -> Canary | None:
        found = self._by_token.get(token_hash)
        if found is None:
            found = await asyncio.to_thread(self.store.by_token_hash, token_hash)
            if found is not None:
                self._by_token[token_hash] = found
        return found

    def beacon_handler(self) -> BeaconHandler:
        async def on_visit(
            c: Canary, ev: dict[str, Any], brief: dict[str, Any], ip: str | None
        ) -> None:
            await self.on_hit(c, "beacon", ev, brief, ip)

        return BeaconHandler(self.lookup_token, on_visit, self.runtime.client_ip)

    def smtp_handler(self) -> TripwireHandler:
        async def on_mail(
            c: Canary, ev: dict[str, Any], brief: dict[str, Any], ip: str | None
        ) -> None:
            await self.on_hit(c, "email", ev, brief, ip)

        async def on_probe(c: Canary, ev: dict[str, Any], ip: str | None, at: float) -> None:
            await self.on_hit(c, "probe", ev, ev, ip, at)

        return TripwireHandler(self.book, on_mail, on_probe)

    async def serve_smtp(self, stop: asyncio.Event) -> None:
        """The SMTP tripwire until ``stop``."""
        canary = self.runtime.config.canary
        assert canary is not None
        await self.book.reload()
        handler = self.smtp_handler()
        try:
            server = await start_smtp(
                handler,
                canary.smtp_listen,
                canary.domain,
                self.max_mail_bytes,
                probe_hold=self.probe_hold,
                timeout=self.smtp_timeout,
            )
        except OSError as exc:
            # Logged for the gateway, where this task's failure is not shown until
            # shutdown; raised as a user-facing error for `seawall canary listen`.
            message = (
                f"canary SMTP tripwire cannot listen on {canary.smtp_listen} "
                f"({exc.strerror or exc}); fix canary.smtp_listen or stop what holds the port"
            )
            log.error("%s", message)
            raise SeawallError(message) from exc
        log.info("canary SMTP tripwire on %s for @%s", canary.smtp_listen, canary.domain)
        self.smtp_listening = True
        try:
            await stop.wait()
        finally:
            self.smtp_listening = False
            server.close()
            await handler.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 5)

    async def replant(self, stop: asyncio.Event, every: float = REPLANT_SECONDS) -> None:
        """Plant at start, then every ``every`` seconds (with jitter, so plantings do not
        form a recognisable rhythm in the vendor's data)."""
        while not stop.is_set():
            try:
                canaries = await asyncio.to_thread(self.store.list)
                if canaries:
                    await plant(self.runtime, self.store, canaries)
            except Exception as exc:
                log.error(
                    "canary re-plant failed (%s); retrying at the next interval", describe(exc)
                )
            wait = every * random.uniform(0.8, 1.2)  # noqa: S311 - jitter, not a secret
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), wait)


def service_for(runtime: Runtime, **options: Any) -> CanaryService:
    """The runtime's canary service (created on first use; ``options`` apply then)."""
    service: CanaryService | None = getattr(runtime, _ATTR, None)
    if service is None:
        service = CanaryService(runtime, **options)
        setattr(runtime, _ATTR, service)
    return service


def beacon_route(runtime: Runtime | Callable[[], Runtime], path: str = "/c/{token}") -> Route:
    """The beacon route. Pass the runtime, or a function returning it when the runtime
    is built later (the gateway builds it in its lifespan)."""

    async def endpoint(request: Any) -> Any:
        rt = runtime if isinstance(runtime, Runtime) else runtime()
        return await service_for(rt).beacon(request)

    return Route(path, endpoint, methods=["GET", "HEAD"])


def start_canary_services(
    runtime: Runtime,
    stop: asyncio.Event,
    *,
    smtp: bool = True,
    replant_every: float | None = REPLANT_SECONDS,
    **options: Any,
) -> list[asyncio.Task[None]]:
    """Start the tripwires' background work; every task ends once ``stop`` is set.

    Nothing starts when the config has no ``canary:`` section. ``replant_every=None``
    turns re-planting off (``seawall canary listen``).
    """
    if runtime.config.canary is None:
        return []
    service = service_for(runtime, **options)
    alerts_stop = asyncio.Event() if smtp else stop
    tasks = [asyncio.create_task(service.dispatcher.run(alerts_stop), name="canary-alerts")]
    if smtp:
        # The SMTP task fails at once when its port cannot be bound (so `canary listen`
        # exits); the alerts run on until ``stop`` all the same (beacons still alert),
        # and past the SMTP shutdown, which records the probes still open.
        smtp_task = asyncio.create_task(service.serve_smtp(stop), name="canary-smtp")

        async def alerts_after_smtp() -> None:
            await stop.wait()
            with contextlib.suppress(Exception):  # the SMTP task reports its own failure
                await smtp_task
            alerts_stop.set()

        tasks += [smtp_task, asyncio.create_task(alerts_after_smtp(), name="canary-drain")]
    if replant_every is not None:
        tasks.append(
            asyncio.create_task(service.replant(stop, replant_every), name="canary-replant")
        )
    return tasks
