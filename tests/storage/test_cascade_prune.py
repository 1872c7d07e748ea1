"""The retention pass forgets the cascade state of a symbol no longer stepped (delisted,
out of the universe, its venue no longer scored) once the flushed hold, and at least a
day, has passed; a symbol stepped recently keeps its state whatever its age."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.alerts.types import CascadeSide, CascadeState
from bot.config import Settings
from bot.cycle import retention
from bot.scoring.formula import Regime
from bot.storage import cascade_repo
from bot.storage.models import AlertCascade, Cycle

HOUR = 3_600_000
NOW = 1_790_000_000_000


async def add_cycle(session: AsyncSession, started_ms: int) -> int:
    c = Cycle(exchange="binance", started_ms=started_ms, finished_ms=started_ms + 1,
              status="ok", symbols_attempted=1, symbols_fetched=1, symbols_failed=0)  # fmt: skip
    session.add(c)
    await session.flush()
    return c.id


async def test_a_symbol_not_stepped_for_a_day_loses_its_cascade_state(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session, session.begin():
        recent = await add_cycle(session, NOW - 23 * HOUR)
        old = await add_cycle(session, NOW - 25 * HOUR)
        on = CascadeState(side=CascadeSide.LONG, since_ms=NOW - 48 * HOUR,
                          squeeze=Regime.LONG_SQUEEZE)  # fmt: skip
        flushed = CascadeState(flushed=Regime.SHORT_SQUEEZE, flushed_left=3)
        await cascade_repo.save(session, "binance", {
            "STEPPED": replace(on, last_cycle_id=recent),
            "DELISTED": replace(flushed, last_cycle_id=old),
            "GONE": replace(flushed, last_cycle_id=10_000),
        })  # fmt: skip
    deleted = await retention.prune(sessions, Settings(), NOW)
    assert deleted["alert_cascade"] == 2
    async with sessions() as session:
        left = (await session.scalars(select(AlertCascade.symbol))).all()
    assert left == ["STEPPED"]  # a long cascade, still stepped: kept
    assert (await retention.prune(sessions, Settings(), NOW))["alert_cascade"] == 0
