"""One bulk answer shared by the calls of a cycle (Bybit's tickers, OKX's four lists).

Both venues serve mark, index, funding and OI for every symbol in a few bulk calls, and
the protocol asks for them through separate methods (`premium_index`,
`open_interest_all`, `funding_intervals`). `Snapshot` makes those methods share one
answer fetched at most once per `reuse_seconds`, so a cycle costs one call per bulk
endpoint whatever the order the caller asks in.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

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
