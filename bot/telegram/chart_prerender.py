"""/symbol charts drawn ahead, once per cycle, so a /symbol reply does not wait for
matplotlib (a chart of three panels is most of a reply's CPU; README, Performance).

Only the charts users open are drawn: the cycle's top `top` symbols by score (the first
page of /top), every symbol an active chat subscribes to, and every chart a user asked
for in the last `viewed_hours` (ChartCache remembers them), highest score first and at
most `limit` of them, which bounds the chart CPU per cycle. Drawing the top 600 symbols
of every cycle cost a large share of a core at rest for charts nobody opened
(bench/rest_cost.py measures both; README, Performance).

After each new cycle (seen by `MarketCache.latest_cycle_id`, which a background poll
and every command call), those charts are rendered into the `ChartCache`, one at a time
in one worker thread: never more than one at once, so commands keep the other core. A
newer cycle cancels the run for the older one. Any other chart, or one asked before its
turn, is drawn on request and cached (concurrent requests share one rendering).
Derived data only: a restart loses nothing but the list of recently opened charts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.storage import chat_repo
from bot.telegram.charts import ChartCache
from bot.views import market
from bot.views.liquidations import chart_points
from bot.views.market import MarketRow
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
        top: int,
        viewed_hours: float,
        liquidations: bool = False,
    ) -> None:
        self._sessions = sessions
        self._market = market
        self._charts = charts
        self._exchange = exchange
        self._hours = hours
        self._limit = limit
        self._top = top
        self._viewed_seconds = viewed_hours * 3600.0
        # With a liquidation stream the chart has its liquidations panel: drawn ahead
        # with it too, the same picture /symbol asks for (bot/views/liquidations.py).
        self._liquidations = liquidations
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

    async def _wanted(self) -> list[MarketRow]:
        """The rows whose charts users open, highest score first."""
        snapshot = await self._market.snapshot()
        if snapshot is None:
            return []
        async with self._sessions() as session:
            opened = await chat_repo.subscribed_symbols(session, self._exchange)
        if self._viewed_seconds > 0:
            opened |= self._charts.viewed_within(self._viewed_seconds)
        wanted = [
            row  # rows are score-descending
            for rank, row in enumerate(snapshot.rows)
            if rank < self._top or row.symbol in opened
        ][: self._limit]
        self._charts.reserve(len(wanted))
        return wanted

    async def _run(self, cycle_id: int) -> None:
        started, drawn = time.monotonic(), 0
        try:
            snapshot = await self._market.snapshot()
            venues = snapshot.venues if snapshot is not None else {}
            for row in await self._wanted():
                async with self._sessions() as session:
                    history = await market.symbol_history(
                        session, self._exchange, row.symbol, row.ts_ms, self._hours
                    )
                    points: Sequence[Sequence[float]] = history
                    if self._liquidations:
                        parts = venues.get(row.symbol, [])
                        points = await chart_points(
                            session, self._exchange, row.symbol, history, parts
                        )
                if points:
                    await self._charts.get(row.symbol, points, viewed=False)
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
