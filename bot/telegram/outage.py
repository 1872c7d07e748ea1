"""Telegram outages, as the outbox worker sees them: which errors mean "Telegram or the
network is down", and the state of one outage (its cause, the deliveries it backed off,
the getMe probe that notices the recovery). Kept apart from `bot.telegram.outbox_worker`
so the claim loop reads as a loop; the rules are described in that module's docstring.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable

from telegram.error import BadRequest, NetworkError

# The outbox worker's logger: operators (and tests) filter delivery logs by that one name.
logger = logging.getLogger("bot.telegram.outbox_worker")

PROBE_INTERVAL = 5.0  # seconds between getMe probes while Telegram is unreachable
# After an "unreachable" line that no confirmed recovery followed (one chat's 5xx, a
# flapping front end whose getMe still answers), the next failure says it again only
# this much later: one line per outage, not one per failed send.
REANNOUNCE_SECONDS = 600.0


def is_transient(exc: Exception) -> bool:
    """Telegram or the network is down (5xx, timeouts, connection errors), not the
    message's or the chat's fault: retry for as long as the delivery is fresh."""
    return isinstance(exc, NetworkError) and not isinstance(exc, BadRequest)


def short_error(exc: BaseException, limit: int = 64) -> str:
    text = str(exc).strip() or exc.__class__.__name__
    return f"{exc.__class__.__name__}: {text}"[:limit]


class TelegramOutage:
    """One outage at a time. `failed` starts or extends it; `ok` (any call succeeded)
    ends it. Only when a getMe probe failed too (Telegram itself was down, not one
    chat) does the end make the backed-off deliveries due at once (`recovered`)."""

    def __init__(self, probe: Callable[[], Awaitable[object]], wake: asyncio.Event) -> None:
        self._probe_call = probe
        self._wake = wake  # set on recovery: the outbox worker looks for due rows at once
        self.cause: str | None = None  # while sends fail with transient errors
        # Deliveries backed off by this outage: due again the moment Telegram answers.
        self.backed_off: set[int] = set()
        self.recovered = False
        self._confirmed = False  # a getMe probe failed too: not one chat's trouble
        self._probe: asyncio.Task[None] | None = None
        self._next_probe = 0.0
        self._announced_at: float | None = None  # the last "unreachable" line

    def failed(
        self, exc: Exception, ids: Iterable[int], backoff_max: float, expiry_hours: float
    ) -> None:
        # One line per outage, not one per delivery: the cause is the same for all.
        now = time.monotonic()
        quiet = self._announced_at is not None and now - self._announced_at < REANNOUNCE_SECONDS
        if self.cause is None and not quiet:
            self._announced_at = now
            logger.warning(
                "telegram unreachable (%s); deliveries are retried (backoff up to %.0f s) "
                "for up to %.1f h",
                short_error(exc, 200),
                backoff_max,
                expiry_hours,
            )
        self.cause = short_error(exc, 200)
        self.backed_off.update(ids)

    def ok(self) -> None:
        """A call succeeded. If getMe had failed too (Telegram itself was down, not one
        chat), the deliveries backed off meanwhile are due now. A 5xx for one chat only
        never triggers that, or its rows would be retried after every other success."""
        if self.cause is None:
            return
        if self._confirmed:
            logger.info("telegram reachable again; pending deliveries are going out")
            self._announced_at = None  # the outage is over: the next one is news
            self.recovered = True
            self._wake.set()
        self.cause = None
        self._confirmed = False

    def resumed(self, ids: Iterable[int]) -> None:
        """These backed-off deliveries were made due again."""
        self.backed_off.difference_update(ids)
        self.recovered = False

    def maybe_probe(self) -> None:
        """While Telegram is down, ask getMe every few seconds: the backoff may hold a
        delivery back for up to a minute, the probe notices recovery within seconds."""
        now = time.monotonic()
        if self.cause is None or self._probe is not None or now < self._next_probe:
            return
        self._next_probe = now + PROBE_INTERVAL
        self._probe = asyncio.create_task(self._run_probe())

    def stop(self) -> None:
        if self._probe is not None:
            self._probe.cancel()

    async def _run_probe(self) -> None:
        try:
            await self._probe_call()
        except Exception as exc:
            self._confirmed = True
            logger.debug("telegram still unreachable: %s", short_error(exc, 200))
        else:
            self.ok()
        finally:
            self._probe = None
