"""/symbol charts drawn ahead, once per cycle, so a /symbol reply does not wait for
matplotlib (about 90 ms of CPU a chart of three panels, most of a reply's cost).

After each new cycle (seen by `MarketCache.latest_cycle_id`, which a background poll
and every command call), the charts of the cycle's top `limit` symbols by score are
rendered into the `ChartCache`, one at a time in one worker thread: at most `limit`
renders per cycle, and never more than one at once, so the CPU they take is bounded
and commands keep the other core. A newer cycle cancels the run for the older one.
Charts past the limit, or asked before their turn, are drawn on request and cached
(concurrent requests share one rendering). Derived data only: a restart loses nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.telegram.charts import ChartCache
from bot.views import market
from bot.views.market_cache import MarketCache

logger = logging.getLogger(__name__)

POLL_SECONDS = 5.0  # how soon after a cycle lands its charts start, without commands


class ChartPrerenderer:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        market: MarketCache,
        charts: ChartCache,
        exchange: str,
        *,
        hours: int,
        limit: int,
    ) -> None:
        self._sessions = sessions
        self._market = market
        self._charts = charts
        self._exchange = exchange
        self._hours = hours
        self._limit = limit
        self._cycle_id: int | None = None
        self._task: asyncio.Task[None] | None = None
        # For the bench and logs: the last finished run (cycle id, charts, seconds).
        self.last_run: tuple[int, int, float] | None = None
        self.idle = asyncio.Event()
        self.idle.set()
        # Only a started bot (start_bot runs `poll`) draws ahead: an Application built
        # and driven without it (tests, tools) leaves no background work behind.
        self._running = False

    def schedule(self, cycle_id: int) -> None:
        """Draw `cycle_id`'s charts in the background (MarketCache.on_new_cycle)."""
        if not self._running or self._limit <= 0 or cycle_id == self._cycle_id:
            return
        if self._task is not None:
            self._task.cancel()
        self._cycle_id = cycle_id
        self.idle.clear()
        self._task = asyncio.get_running_loop().create_task(
            self._run(cycle_id), name="chart-prerender"
        )

    async def poll(self) -> None:
        """Notice new cycles without waiting for a command; runs until cancelled."""
        self._running = True
        while True:
            try:
                await self._market.latest_cycle_id()
            except SQLAlchemyError as exc:
                logger.debug("chart pre-render poll: %s", exc)
            await asyncio.sleep(POLL_SECONDS)

    async def stop(self) -> None:
        self._running = False
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self, cycle_id: int) -> None:
        started, drawn = time.monotonic(), 0
        try:
            snapshot = await self._market.snapshot()
            if snapshot is None:
                return
            for row in snapshot.rows[: self._limit]:  # score-descending
                async with self._sessions() as session:
                    _, history = await market.symbol_detail(
                        session, self._exchange, row.symbol, self._hours
                    )
                if history:
                    await self._charts.get(row.symbol, history)
                    drawn += 1
            self.last_run = (cycle_id, drawn, time.monotonic() - started)
            logger.debug("pre-rendered %d charts for cycle %d", drawn, cycle_id)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # charts are then drawn on request: nothing is lost
            logger.warning("chart pre-render for cycle %d stopped: %s", cycle_id, exc)
        finally:
            if self._task is asyncio.current_task():
                self.idle.set()
