"""Long/short positioning, fetched beside the scoring cycle, never inside it.

Why in the background: the venues publish these ratios per 5-minute period, and a
venue's budget for them is small (Binance: the 1000 calls per 5 min of /futures/data,
shared with the OI backfill scoring needs). Fetched inside the cycle, 600 symbols x 2
calls would either blow the cycle's deadline or be cut off by it; fetched here, the
cycle never waits for them, and each row shows the last stored reading while it is
fresh (bot/views/positioning.py).

Each round (one per scoring interval, while this replica holds the scorer lease), per
venue, in this order, skipping a symbol already read this 5-minute period:
1. every subscribed symbol (of the venue, or of a coin subscribed across venues), then
   the largest `top_n` by OI in the venue's last cycle: the priority;
2. the rest, the longest-unread first, so every listed symbol is refreshed in turn.
The round sends only while the venue's window keeps its reserve for the cycle free
(`positioning_budget`): a window that refills in seconds (Bybit, OKX) is waited for, a
spent 5-minute one (Binance) ends the round, as do the round's time running out and the
venue failing (unreachable, rate-limited): the next round goes on. A
symbol the venue will not answer for is left as it was (null once stale).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.cycle.loop import failure_cause
from bot.markets.base import ExchangeUnavailable, MalformedResponse, SymbolUnavailable
from bot.markets.positioning import Positioning, Ratio
from bot.scoring.aggregate import ALL
from bot.storage import chat_repo, market_repo, positioning_repo
from bot.storage.positioning_repo import Reading

logger = logging.getLogger(__name__)

PERIOD_MS = 5 * 60_000
TOP_N = 100
WRITE_BATCH = 50
# A spent window that refills within this is waited for; a longer one ends the round.
BUDGET_WAIT_MAX_SECONDS = 10.0


@runtime_checkable
class PositioningSource(Protocol):
    """What an adapter offers for this (bot/markets/adapter_counters.py)."""

    name: str

    async def positioning(self, symbol: str) -> Positioning: ...

    def positioning_budget(self) -> tuple[int, int, float]: ...


@dataclass
class VenueRound:
    """What one round did on one venue (logged; tests read it)."""

    fetched: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    left: int = 0  # due symbols not reached (budget, time or venue trouble)
    stopped: str | None = None  # why it stopped early


class PositioningCollector:
    def __init__(
        self,
        sources: Sequence[object],
        sessions: async_sessionmaker[AsyncSession],
        *,
        top_n: int = TOP_N,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.sources = [s for s in sources if isinstance(s, PositioningSource)]
        self.sessions = sessions
        self.top_n = top_n
        self.clock = clock
        # venue -> symbol -> when we last asked (epoch ms): the rotation's order.
        self.asked: dict[str, dict[str, int]] = {}

    @contextlib.asynccontextmanager
    async def running(
        self, stop: asyncio.Event, held: Callable[[], bool], interval_seconds: float
    ) -> AsyncIterator[PositioningCollector]:
        """Collect in a task for the length of the block."""
        task = asyncio.create_task(self.run(stop, held, interval_seconds), name="positioning")
        try:
            yield self
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def run(
        self, stop: asyncio.Event, held: Callable[[], bool], interval_seconds: float
    ) -> None:
        """A round each `interval_seconds` while `held()` (this replica scores), until
        `stop`. A round that fails is logged and the next one tried."""
        while not stop.is_set():
            if held():
                try:
                    await self.round(deadline_seconds=interval_seconds)
                except Exception as exc:  # a database hiccup must not end the collector
                    # One line: the cycle's own write reports a database fault to
                    # /healthz; the next round retries.
                    logger.warning("positioning round failed (%s)", failure_cause(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval_seconds)

    async def round(self, deadline_seconds: float = 60.0) -> dict[str, VenueRound]:
        """One pass over every venue, concurrently (their budgets are their own)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + deadline_seconds
        results = await asyncio.gather(*(self._venue(s, deadline) for s in self.sources))
        return {s.name: r for s, r in zip(self.sources, results, strict=True)}

    async def _venue(self, source: PositioningSource, deadline: float) -> VenueRound:
        venue = source.name
        priority, listed = await self._targets(venue)
        now_ms = int(self.clock() * 1000)
        period = now_ms - now_ms % PERIOD_MS
        asked = self.asked.setdefault(venue, {})
        rest = sorted((s for s in listed if s not in priority), key=lambda s: (asked.get(s, 0), s))
        due = [s for s in [*priority, *rest] if asked.get(s, 0) < period]
        out = VenueRound()
        readings: list[Reading] = []
        for i, symbol in enumerate(due):
            out.stopped = await self._wait_for_budget(source, deadline)
            if out.stopped is not None:
                out.left = len(due) - i
                break
            before = asked.get(symbol, 0)
            asked[symbol] = int(self.clock() * 1000)  # a failure is not retried this period
            try:
                got = await source.positioning(symbol)
            except (SymbolUnavailable, MalformedResponse) as exc:
                out.failed.append(symbol)
                logger.debug("%s positioning: %s", venue, exc)
                continue
            except ExchangeUnavailable as exc:  # the venue's trouble: its turn comes again
                asked[symbol] = before
                out.stopped, out.left = f"venue: {exc.cause}", len(due) - i
                break
            readings.append(self._reading(venue, symbol, got))
            out.fetched.append(symbol)
            if len(readings) >= WRITE_BATCH:
                await self._write(readings)
                readings = []
        await self._write(readings)
        if out.stopped is not None:
            logger.debug(
                "%s positioning: %d read, %d left (%s)",
                venue,
                len(out.fetched),
                out.left,
                out.stopped,
            )
        return out

    @staticmethod
    async def _wait_for_budget(source: PositioningSource, deadline: float) -> str | None:
        """None when the next symbol may be sent; else why the round ends here. A window
        that refills in seconds (Bybit, OKX) is waited for, a 5-minute one is not."""
        loop = asyncio.get_running_loop()
        while True:
            if loop.time() >= deadline:
                return "round time is up"
            left, calls, refill = source.positioning_budget()
            if left >= calls:
                return None
            if refill > BUDGET_WAIT_MAX_SECONDS:
                return "budget spent"
            await asyncio.sleep(min(refill / 10, max(0.0, deadline - loop.time())))

    def _reading(self, venue: str, symbol: str, got: Positioning) -> Reading:
        def pair(r: Ratio | None) -> tuple[float, int] | None:
            return (r.value, r.time_ms) if r is not None else None

        now_ms = int(self.clock() * 1000)
        return Reading(venue, symbol, pair(got.account), pair(got.top_position), now_ms)

    async def _write(self, readings: list[Reading]) -> None:
        if not readings:
            return
        async with self.sessions() as session, session.begin():
            await positioning_repo.write(session, readings)

    async def _targets(self, venue: str) -> tuple[list[str], list[str]]:
        """(priority: subscribed, then the largest `top_n` by OI; every symbol scored in
        the venue's last cycle), from the database."""
        async with self.sessions() as session:
            cycle = await market_repo.latest_cycle(session, venue)
            rows: list[tuple[object, ...]] = []
            if cycle is not None:
                cols = ("symbol", "oi_contracts", "mark_price")
                rows = await market_repo.cycle_snapshot_values(session, cycle.id, cols)
            subscribed = await chat_repo.subscribed_symbols(session, venue)
            coins = await chat_repo.subscribed_symbols(session, ALL)
            if coins:
                subscribed |= await _coin_contracts(session, venue, coins)
        oi_usd = {str(symbol): float(oi) * float(mark) for symbol, oi, mark in rows}  # type: ignore[arg-type]
        largest = sorted(oi_usd, key=lambda s: -oi_usd[s])[: self.top_n]
        # Ordered and without repeats: the subscribed, then the largest not among them.
        priority = dict.fromkeys([*(s for s in sorted(subscribed) if s in oi_usd), *largest])
        return list(priority), list(oi_usd)


async def _coin_contracts(session: AsyncSession, venue: str, coins: set[str]) -> set[str]:
    """The venue's contracts of coins subscribed across venues (the aggregate's parts)."""
    cycle = await market_repo.latest_cycle(session, ALL)
    if cycle is None:
        return set()
    parts = await market_repo.aggregate_parts(session, cycle.id, ("venue", "symbols"))
    return {
        s
        for coin, part_venue, symbols in parts
        if coin in coins and part_venue == venue
        for s in str(symbols or "").split(",")
        if s
    }
