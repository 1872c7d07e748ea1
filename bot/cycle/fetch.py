"""What one scoring cycle reads from the exchange, within the cycle deadline: the
market-wide data, open interest per symbol, and the OI history backfilled for windows
the database has no sample for. Nothing here writes: `bot.cycle.run` persists the result
(and only then records which backfills are done), so a cancelled fetch leaves no trace.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.cycle.freshness import OiFreshness
from bot.markets.base import (
    BulkOpenInterest,
    ExchangeAdapter,
    ExchangeError,
    ExchangeUnavailable,
    HistoryBudgetExhausted,
    Instrument,
    OiPoint,
    OpenInterest,
    PremiumIndex,
    SymbolUnavailable,
)
from bot.scoring import windows as oi_windows
from bot.storage import market_repo

# The scorer's logger: the cycle's lines read as one story under one name.
logger = logging.getLogger("bot.cycle.run")

T = TypeVar("T")

# After a backfill the exchange answered (points stored, or "no such symbol"), wait this
# long before asking for the same symbol again: a gap in the exchange's own history will
# not heal within minutes. A backfill that failed (outage, budget, deadline) is retried
# next cycle; the HTTP client's breaker and budget bound what that costs.
BACKFILL_RETRY_MS = 30 * 60_000


@dataclass(slots=True)
class Fetched:
    instruments: dict[str, Instrument]
    premium: dict[str, PremiumIndex]
    intervals: dict[str, int]
    oi: dict[str, OpenInterest]
    failed: dict[str, str]


@dataclass(slots=True)
class Anchors:
    samples: dict[str, list[tuple[int, float]]]  # stored + backfilled, per symbol
    points: dict[str, list[OiPoint]] = field(default_factory=dict)  # backfilled, to store
    backfilled: list[str] = field(default_factory=list)  # mark as tried once stored
    held: dict[str, str] = field(default_factory=dict)  # symbol -> why its history is missing


async def run_until(
    calls: dict[str, Awaitable[T]], deadline: float
) -> tuple[dict[str, T | BaseException], list[str]]:
    """Run `calls` concurrently until the deadline: (results or errors, keys cut off)."""
    if not calls:
        return {}, []
    tasks: dict[asyncio.Future[T], str] = {
        asyncio.ensure_future(c): key for key, c in calls.items()
    }
    loop = asyncio.get_running_loop()
    done: set[asyncio.Future[T]] = set()
    try:
        done, _ = await asyncio.wait(tasks, timeout=max(0.0, deadline - loop.time()))
    finally:
        late = [t for t in tasks if t not in done]
        for t in late:
            t.cancel()
        await asyncio.gather(*late, return_exceptions=True)
    results: dict[str, T | BaseException] = {}
    for task in done:
        exc = task.exception()
        results[tasks[task]] = exc if exc is not None else task.result()
    cut = [tasks[t] for t in tasks if t not in done]
    return {k: results[k] for k in calls if k in results}, cut


class CycleFetcher:
    def __init__(
        self,
        adapter: ExchangeAdapter,
        sessions: async_sessionmaker[AsyncSession],
        settings: Settings,
        backfill_tried: dict[str, int],
    ) -> None:
        self._adapter = adapter
        self._sessions = sessions
        self._settings = settings
        self._backfill_tried = backfill_tried  # symbol -> when its backfill was answered
        self.freshness = OiFreshness(adapter.name)

    @property
    def deadline_seconds(self) -> float:
        s = self._settings.scorer
        return s.interval_seconds * s.cycle_deadline_share

    def windows(self, now_ms: int) -> list[oi_windows.Window]:
        s = self._settings.scorer
        return oi_windows.windows(
            now_ms,
            s.window_tolerance_seconds * 1000,
            interval_ms=int(s.interval_seconds * 1000),
        )

    async def fetch(self, deadline: float) -> Fetched:
        try:
            async with asyncio.timeout_at(deadline):
                universe = await self._adapter.universe()
                premium = await self._adapter.premium_index()
                intervals = await self._adapter.funding_intervals()
        except TimeoutError:
            raise ExchangeUnavailable(
                f"cycle deadline ({self.deadline_seconds:g}s) passed before the market-wide "
                "data (exchangeInfo, premiumIndex, fundingInfo) arrived",
                "cycle deadline passed",
            ) from None
        instruments = {i.symbol: i for i in universe}
        failed: dict[str, str] = {}
        wanted = []
        for symbol in instruments:
            if symbol in premium:
                wanted.append(symbol)
            else:
                failed[symbol] = "no usable premium index row"
        results, late = await self._open_interest(wanted, deadline)
        oi: dict[str, OpenInterest] = {}
        for symbol, res in results.items():
            if isinstance(res, OpenInterest):
                oi[symbol] = res
            elif isinstance(res, Exception):
                failed[symbol] = f"open interest: {res}"
            else:  # CancelledError and friends must not be swallowed
                raise res
        for symbol in late:
            failed[symbol] = (
                f"open interest: no answer by the cycle deadline ({self.deadline_seconds:g}s)"
            )
        if failed:  # stale readings are said once per venue, by `freshness`
            logger.warning(
                "cycle: %d of %d symbols failed (e.g. %s)",
                len(failed),
                len(instruments),
                "; ".join(f"{s}: {r}" for s, r in list(failed.items())[:3]),
            )
        failed.update(self.freshness.take_stale(oi))
        return Fetched(instruments, premium, intervals, oi, failed)

    async def _open_interest(
        self, wanted: list[str], deadline: float
    ) -> tuple[dict[str, OpenInterest | BaseException], list[str]]:
        """Per symbol (Binance), or one bulk answer for all (Bybit, OKX) when the adapter
        has one: the same results either way. A failed bulk call fails the venue's cycle,
        like the other market-wide calls."""
        if not isinstance(self._adapter, BulkOpenInterest):
            return await run_until({s: self._adapter.open_interest(s) for s in wanted}, deadline)
        try:
            async with asyncio.timeout_at(deadline):
                every = await self._adapter.open_interest_all()
        except TimeoutError:
            return {}, wanted
        missing = SymbolUnavailable("not in the venue's open-interest answer")
        return {s: every.get(s, missing) for s in wanted}, []

    def _backfill_todo(
        self,
        fetched: Fetched,
        wins: list[oi_windows.Window],
        samples: dict[str, list[tuple[int, float]]],
        now_ms: int,
    ) -> dict[str, int]:
        """Symbols with a window that could have a sample but has none stored, each with
        the earliest start to fetch; a symbol tried recently waits (the answer would not
        have changed, and history calls are the expensive ones)."""
        todo: dict[str, int] = {}
        for symbol in fetched.oi:
            onboard = fetched.instruments[symbol].onboard_ms
            missing = [
                w
                for w in wins
                if oi_windows.could_exist(w, onboard)
                and oi_windows.anchor(samples.get(symbol, []), w) is None
            ]
            tried = self._backfill_tried.get(symbol)
            if missing and (tried is None or now_ms - tried >= BACKFILL_RETRY_MS):
                todo[symbol] = min(w.earliest_ms for w in missing)
        return todo

    async def anchors(self, fetched: Fetched, now_ms: int, deadline: float) -> Anchors:
        wins = self.windows(now_ms)
        async with self._sessions() as session:
            samples = await market_repo.oi_samples_between(
                session, self._adapter.name, [(w.earliest_ms, w.latest_ms) for w in wins]
            )
        out = Anchors(samples)
        if not self._settings.scorer.backfill:
            return out
        todo = self._backfill_todo(fetched, wins, samples, now_ms)
        if not todo:
            return out
        results, late = await run_until(
            {
                s: self._adapter.open_interest_history(s, start_ms=start, end_ms=now_ms)
                for s, start in todo.items()
            },
            deadline,
        )
        budget_hit = 0
        for symbol, res in results.items():
            if isinstance(res, list):
                out.points[symbol] = res
                merged = samples.setdefault(symbol, [])
                merged.extend((p.time_ms, p.contracts) for p in res)
                merged.sort()
                out.backfilled.append(symbol)
            elif isinstance(res, SymbolUnavailable):
                # The exchange's own answer for this symbol: as good as an empty history.
                logger.info("backfill %s: %s", symbol, res)
                out.backfilled.append(symbol)
            elif isinstance(res, ExchangeError):
                # An outage, the budget or the breaker: the window could exist but is
                # unknown this cycle, so the symbol's alert state is held.
                budget_hit += isinstance(res, HistoryBudgetExhausted)
                out.held[symbol] = f"OI history unavailable: {res}"
            else:  # a bug, or CancelledError and friends: never swallowed
                raise res
        for symbol in late:
            out.held[symbol] = "OI history not fetched by the cycle deadline"
        if out.held:
            causes = [self._adapter.history_trouble()]
            if budget_hit:
                causes.append(f"history budget spent for {budget_hit} symbol(s)")
            if late:
                causes.append(f"cycle deadline reached for {len(late)} symbol(s)")
            logger.warning(
                "%s; %d symbol(s) keep their alert state (OI windows unknown)",
                "; ".join(c for c in causes if c) or "backfill failed",
                len(out.held),
            )
        return out
