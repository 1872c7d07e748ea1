"""The latest market snapshot and symbol universe, reused until a new cycle lands.

/top and symbol parsing read the same few hundred rows for every user until the next
cycle (every few minutes), so they are loaded once per cycle id, by one caller at a
time (the others wait and reuse it). This is derived data keyed by the DB's cycle id,
not state: every replica computes the same thing, and a restart loses nothing.
"""

from __future__ import annotations

import asyncio

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import market_view
from bot.market_view import MarketSnapshot
from bot.storage import repo


class MarketCache:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], exchange: str) -> None:
        self._sessions = sessions
        self._exchange = exchange
        self._snapshot: MarketSnapshot | None = None
        self._universe: tuple[int, list[str]] | None = None
        self._lock = asyncio.Lock()

    async def _latest_cycle_id(self) -> int | None:
        async with self._sessions() as session:
            cycle = await repo.latest_cycle(session, self._exchange)
        return cycle.id if cycle is not None else None

    async def snapshot(self) -> MarketSnapshot | None:
        cycle_id = await self._latest_cycle_id()
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
                fresh = await market_view.latest_market(session, self._exchange)
            self._snapshot = fresh
            return fresh

    async def universe(self) -> list[str]:
        cycle_id = await self._latest_cycle_id() or 0
        cached = self._universe
        if cached is not None and cached[0] == cycle_id:
            return cached[1]
        async with self._lock:
            cached = self._universe
            if cached is not None and cached[0] == cycle_id:
                return cached[1]
            async with self._sessions() as session:
                symbols = await market_view.known_symbols(session, self._exchange)
            # Without any cycle yet, don't pin an empty universe.
            if cycle_id:
                self._universe = (cycle_id, symbols)
            return symbols
