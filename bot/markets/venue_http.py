"""The shared HTTP client, fitted to a venue other than Binance.

Binance counts request weight per clock minute and bans with HTTP 418; Bybit and OKX
count requests over a few seconds (per IP, OKX also per endpoint) and answer in their
own ways: Bybit bans an IP with HTTP 403 for minutes, both may block a region (HTTP 451,
or 403 from a CDN), and both can report "too many requests" inside an HTTP 200 envelope
(Bybit `retCode` 10006, OKX `code` 50011). `VenueHttpClient` keeps everything else of
`ExchangeHttpClient` (one session, bounded concurrency, retries with backoff, the
history circuit breaker) and replaces the rate budget with per-path sliding windows.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bot.config import ExchangeSettings
from bot.markets.base import HistoryBudgetExhausted, VenueBlocked
from bot.markets.http import ExchangeHttpClient, Params

logger = logging.getLogger(__name__)

# The parent's per-minute weight and 5-minute history budgets stay out of the way: the
# windows below do that job for these venues.
_UNBOUNDED = 10**9
# Longest a backfill request may wait for a free slot; beyond it the caller is told the
# budget is spent (HistoryBudgetExhausted) and leaves those windows unknown this cycle.
MAX_HISTORY_WAIT_SECONDS = 5.0
# The venue's clock and ours differ, and latency varies: a slot frees a little after our
# own count says it does, so a request never lands inside the previous window there.
WINDOW_SLACK_SECONDS = 0.25


@dataclass(frozen=True)
class Window:
    """At most `limit` requests per `seconds`."""

    limit: int
    seconds: float


@dataclass(frozen=True)
class VenueLimits:
    """A venue's request budget and how it says no.

    `windows` maps a path prefix to its own window ("" is the whole venue); a request
    takes a slot in every window whose prefix matches. `ban_statuses` are the HTTP
    statuses after which nothing is sent for `ban_seconds`. `envelope_rate_limited`
    spots a rate-limit answer sent with HTTP 200.
    """

    venue: str
    windows: dict[str, Window]
    ban_statuses: frozenset[int] = frozenset({451})
    ban_seconds: float = 600.0
    envelope_rate_limited: Callable[[Any], bool] = field(default=lambda body: False)


class _SlidingWindow:
    """Books each request at the earliest moment the window allows (no bursts)."""

    def __init__(self, window: Window) -> None:
        self.window = window
        self._slots: list[float] = []  # sorted send times, some maybe still to come

    def earliest(self, now: float) -> float:
        cutoff = bisect.bisect_right(self._slots, now - self.window.seconds)
        del self._slots[:cutoff]
        if len(self._slots) < self.window.limit:
            return now
        free_at = self._slots[-self.window.limit] + self.window.seconds + WINDOW_SLACK_SECONDS
        return max(now, free_at)

    def book(self, at: float) -> None:
        bisect.insort(self._slots, at)


class VenueHttpClient(ExchangeHttpClient):
    """`ExchangeHttpClient` with a venue's own limits and ban semantics.

    `weight_used()` counts requests sent (retries included): Bybit and OKX limit
    requests, not weight, so callers pass `weight=1`.
    """

    def __init__(self, settings: ExchangeSettings, limits: VenueLimits, **kwargs: Any) -> None:
        relaxed = settings.model_copy(
            update={"weight_limit_per_minute": _UNBOUNDED, "history_calls_per_5m": _UNBOUNDED}
        )
        super().__init__(relaxed, **kwargs)
        self.limits = limits
        self._windows = {prefix: _SlidingWindow(w) for prefix, w in limits.windows.items()}
        self._block_status = 0
        self._pace_lock = asyncio.Lock()
        # Called with (path, time) for every slot booked: what tests check the pacing
        # on, rather than arrival times at a server, which a busy machine skews.
        self.on_booked: Callable[[str, float], None] | None = None

    def blocked_status(self) -> int | None:
        """The HTTP status of the ban now in force, or None."""
        return self._block_status if self.blocked_for() > 0 else None

    async def _attempt(self, url: str, params: Params | None, weight: int, history: bool) -> Any:
        self._raise_if_blocked(url)
        await self._pace(url, history)
        return await super()._attempt(url, params, weight, history)

    def _raise_if_banned(self, url: str) -> None:
        # The parent checks again inside the semaphore: a ban may start while we queue.
        self._raise_if_blocked(url)

    async def _pace(self, url: str, history: bool) -> None:
        path = url[len(self.base_url) :]
        matching = [w for prefix, w in self._windows.items() if path.startswith(prefix)]
        async with self._pace_lock:
            now = self._clock()
            at = max((w.earliest(now) for w in matching), default=now)
            if history and at - now > MAX_HISTORY_WAIT_SECONDS:
                raise HistoryBudgetExhausted(
                    f"{self.limits.venue} history budget is spent; next slot in {at - now:.0f}s"
                )
            for window in matching:
                window.book(at)
            if self.on_booked is not None:
                self.on_booked(path, at)
        if at > now:
            await self._sleep(at - now)

    def _raise_if_blocked(self, url: str) -> None:
        left = self.blocked_for()
        if left > 0:
            raise VenueBlocked(
                f"{url}: not sending, {self.limits.venue} refused us with HTTP "
                f"{self._block_status}; {left:.0f}s to go",
                until_s=self._wall_clock() + left,
                status=self._block_status,
            )

    def _interpret(self, url: str, status: int, retry_after: float | None, body: bytes) -> Any:
        if status in self.limits.ban_statuses:
            self._block(url, status, retry_after)
        result = super()._interpret(url, status, retry_after, body)
        if self.limits.envelope_rate_limited(result):
            # The venue said "too many requests" with HTTP 200: the same as a 429.
            self._rate_limited(url, 429, retry_after)
        return result

    def _block(self, url: str, status: int, retry_after: float | None) -> None:
        ban = retry_after if retry_after is not None else self.limits.ban_seconds
        if not math.isfinite(ban) or ban <= 0:
            ban = self.limits.ban_seconds
        already = self.blocked_for() > 0
        self._blocked_until = max(self._blocked_until, self._clock() + ban)
        self._block_status = status
        # DEBUG: the cycle says it once for the venue (bot/cycle/venues.py, or the
        # scorer loop with one venue); concurrent requests would each repeat it here.
        logger.debug(
            "%s%s answered HTTP %d (%s): not sending to %s for %.0fs",
            "(ban already in force) " if already else "",
            url,
            status,
            "region block" if status == 451 else "rate ban or region block",
            self.limits.venue,
            ban,
        )
        self._raise_if_blocked(url)
