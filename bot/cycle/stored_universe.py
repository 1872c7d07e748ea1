"""Which coins a venue lists when it has not answered since start-up: what it listed
when it last answered (the instruments table), so its coins still get their aggregate
rows, partial with that venue missing (docs/scoring.md, "A venue failing")."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.markets.base import Instrument
from bot.storage import market_repo

logger = logging.getLogger("bot.cycle.run")


class StoredUniverses:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        self._by_venue: dict[str, list[Instrument]] = {}

    async def load(self, venues: Iterable[str]) -> None:
        """Read each venue's stored instruments once (a failed read is tried again)."""
        for venue in venues:
            if venue in self._by_venue:
                continue
            try:
                async with self._sessions() as session:
                    rows = await market_repo.stored_universe(session, venue)
            except SQLAlchemyError as exc:
                logger.debug("cannot read %s's stored instruments: %s", venue, exc)
                continue
            self._by_venue[venue] = [Instrument(venue, *row) for row in rows]

    def get(self, venue: str) -> list[Instrument]:
        return self._by_venue.get(venue, [])
