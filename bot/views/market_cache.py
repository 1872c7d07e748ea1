"""The latest market snapshot and symbol universe, reused until a new cycle lands.

/top and symbol parsing read the same few hundred rows for every user until the next
cycle (every few minutes), so they are loaded once per cycle id, by one caller at a
time (the others wait and reuse it). This is derived data keyed by the DB's cycle id,
not state: every replica computes the same thing, and a restart loses nothing.

The latest cycle id itself is reused for `cycle_ttl` seconds (one DB read shared by all
commands in that time, instead of a session per command): a new cycle shows within
that delay. `on_new_cycle` is told about each new cycle id seen (the chart
pre-renderer, bot/telegram/chart_prerender.py).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.storage import market_repo
from bot.views import market
from bot.views.market import MarketSnapshot


class MarketCache:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        exchange: str,
        *,
        cycle_ttl: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sessions = sessions
        self._exchange = exchange
        self._snapshot: MarketSnapshot | None = None
        self._universe: tuple[int, list[str]] | None = None
        self._lock = asyncio.Lock()
        self._cycle_ttl = cycle_ttl
        self._clock = clock
        self._cycle: tuple[float, int | None] | None = None  # (read at, id)
        self._cycle_lock = asyncio.Lock()
        self.on_new_cycle: Callable[[int], None] | None = None

    def _fresh_cycle(self) -> tuple[float, int | None] | None:
        cached = self._cycle
        if cached is not None and self._clock() - cached[0] < self._cycle_ttl:
            return cached
        return None

    async def latest_cycle_id(self) -> int | None:
        """The newest finished cycle's id, at most `cycle_ttl` seconds old."""
        cached = self._fresh_cycle()
        if cached is not None:
            return cached[1]
        # A lock rather than a shared future: a cancelled reader cannot fail the others.
        async with self._cycle_lock:
            cached = self._fresh_cycle()
            if cached is not None:
                return cached[1]
            async with self._sessions() as session:
                cycle = await market_repo.latest_cycle(session, self._exchange)
            cycle_id = cycle.id if cycle is not None else None
            previous = self._cycle[1] if self._cycle is not None else None
            self._cycle = (self._clock(), cycle_id)
        if cycle_id is not None and cycle_id != previous and self.on_new_cycle is not None:
            self.on_new_cycle(cycle_id)
        return cycle_id

    async def snapshot(self) -> MarketSnapshot | None:
        cycle_id = await self.latest_cycle_id()
        if cycle_id is None:
            return None
        cached = self._snapshot
        if cached is not None and cached.cycle_id >= cycle_id:
            return cached
        async with self._lock:
            cached = self._snapshot
            if cached is not None and cached.cycle_id >= cycle_id:
                return cached
            async with self._sessions() as session:
                fresh = await market.latest_market(session, self._exchange)
            self._snapshot = fresh
            return fresh

    async def universe(self) -> list[str]:
        cycle_id = await self.latest_cycle_id() or 0
        cached = self._universe
        if cached is not None and cached[0] == cycle_id:
            return cached[1]
        async with self._lock:
            cached = self._universe
            if cached is not None and cached[0] == cycle_id:
                return cached[1]
            async with self._sessions() as session:
                symbols = await market.known_symbols(session, self._exchange)
            # Without any cycle yet, don't pin an empty universe.
            if cycle_id:
                self._universe = (cycle_id, symbols)
            return symbols
