"""What the Bybit and OKX adapters share: counters, one bulk answer per cycle, and
history paging that stops where the venue has no more.

Both venues serve mark, index, funding and OI for every symbol in a few bulk calls, and
the protocol asks for them through separate methods (`premium_index`,
`open_interest_all`, `funding_intervals`). `Snapshot` makes those methods share one
answer fetched at most once per `reuse_seconds`, so a cycle costs one call per bulk
endpoint whatever the order the caller asks in.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from bot.markets.venue_http import VenueHttpClient

T = TypeVar("T")

# Longer than the gap between a cycle's calls, much shorter than any cycle (>= 60 s).
SNAPSHOT_REUSE_SECONDS = 20.0


class Snapshot(Generic[T]):
    """A bulk answer shared by the calls of one cycle; concurrent askers wait for one fetch."""

    def __init__(self, fetch: Callable[[], Awaitable[T]], clock: Callable[[], float]) -> None:
        self._fetch = fetch
        self._clock = clock
        self._value: T | None = None
        self._at = -math.inf
        self._lock = asyncio.Lock()

    async def get(self, reuse_seconds: float = SNAPSHOT_REUSE_SECONDS) -> T:
        async with self._lock:
            now = self._clock()
            if self._value is None or now - self._at >= reuse_seconds:
                self._value = await self._fetch()
                self._at = now
            return self._value

    def peek(self) -> T | None:
        return self._value


class VenueCounters:
    """Counters and the history-trouble line, delegated to the shared client."""

    _client: VenueHttpClient
    history_label: str
    skipped_rows: int

    def weight_used(self) -> int:
        """Requests sent (retries included): these venues limit requests, not weight."""
        return self._client.weight_used()

    def history_calls(self) -> int:
        return self._client.history_calls()

    def reset_counters(self) -> None:
        self._client.reset_counters()
        self.skipped_rows = 0

    def blocked_status(self) -> int | None:
        """The HTTP status (403, 451) of a ban or region block now in force, or None."""
        return self._client.blocked_status()

    def history_trouble(self) -> str | None:
        """E.g. "bybit open-interest: HTTP 502 ×6; backfill paused until 21:45:10 UTC"."""
        failures = self._client.history_failures()
        until = self._client.history_paused_until()
        parts = []
        if failures:
            ranked = sorted(failures.items(), key=lambda kv: -kv[1])
            parts.append(", ".join(f"{cause} ×{n}" for cause, n in ranked))
        if until is not None:
            parts.append(
                f"backfill paused until {time.strftime('%H:%M:%S UTC', time.gmtime(until))}"
            )
        return f"{self.history_label}: " + "; ".join(parts) if parts else None


def hours_from_ms(interval_ms: int) -> int | None:
    """A funding interval in whole hours (at least 1), or None when it makes no sense."""
    if interval_ms <= 0:
        return None
    return max(1, round(interval_ms / 3_600_000))
