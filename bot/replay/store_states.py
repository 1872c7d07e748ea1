"""The deployment's hourly store (bot/storage/hourly_repo.py) as lookalike states
(bot/views/lookalike.py), for a symbol the shipped history lacks: "the last 20 times
this symbol looked like this" for any symbol the bot has kept 30 days of.

A stored hour is a state as the live scorer saw it: its OI windows, funding premium
and basis as stored (not scored again), and what followed measured on the stored marks
as `replay --from-db` measures it (bot/replay/from_db.py: the close is the hour's last
mark, highs and lows the marks' extremes over its cycles, bot/replay/moves.py). Hours
without a stored hour 24 hours later are left out (as in the shipped history).

Read per (exchange, symbol), on first use, off the caller: `StoreStates.peek` never
waits (a card or push goes without the line until read) and starts the read in the
background. A symbol's states are read again after `REFRESH_HOURS` (its newest hours
become usable a day after they are stored) and at most `KEEP` symbols are kept (each
up to about 1 MB at 400 days).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.replay.data import FORMAT_OHLC_MARK
from bot.replay.from_db import to_history
from bot.replay.moves import price_moves
from bot.storage import hourly_repo
from bot.storage.hourly_repo import HourlyRecord
from bot.views.lookalike import HourState, SymbolStates, build_library

logger = logging.getLogger(__name__)
HOUR_MS = 3_600_000
REFRESH_HOURS = 6
KEEP = 32


def store_source(exchange: str) -> str:
    return f"store:{exchange}"


def record_states(records: Sequence[HourlyRecord]) -> Iterator[HourState]:
    """One symbol's stored hours (oldest first) as states with what followed them."""
    history = to_history(records)
    for symbol, rows in history.rows.items():
        moves = price_moves(rows, {}, FORMAT_OHLC_MARK)
        for r in records:
            if r.symbol != symbol:
                continue
            m = moves.get(r.hour_ms)
            up, down = (None, None) if m is None else (m.up_24h, m.down_24h)
            yield HourState(
                symbol=r.symbol,
                ts_ms=r.hour_ms,
                oi_1h=r.oi_1h_pct,
                oi_4h=r.oi_4h_pct,
                oi_24h=r.oi_24h_pct,
                funding_premium=r.funding_premium,
                basis=r.basis_pct,
                move_24h=None if m is None else m.fwd_24h,
                excursion_24h=None if up is None or down is None else max(up, down),
            )


def symbol_states(records: Sequence[HourlyRecord], exchange: str) -> SymbolStates | None:
    """The states of one symbol's stored hours; None with fewer than 30 days usable."""
    library = build_library(record_states(records), store_source(exchange))
    return next(iter(library.by_symbol.values()), None)


@dataclass(slots=True)
class _Entry:
    states: SymbolStates | None
    read_ms: int


class StoreStates:
    """Per (exchange, symbol): the store's states, read in the background on first use."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        retention_days: int,
        now_ms: Callable[[], int] = lambda: int(time.time() * 1000),
    ) -> None:
        self._sessions = sessions
        self._span_ms = retention_days * 24 * HOUR_MS
        self._now_ms = now_ms
        self._done: dict[tuple[str, str], _Entry] = {}
        self._reading: dict[tuple[str, str], asyncio.Task[SymbolStates | None]] = {}

    def peek(self, exchange: str, symbol: str) -> SymbolStates | None:
        """The states if read (and not yet due again); never waits."""
        key = (exchange, symbol)
        entry = self._done.get(key)
        due = entry is None or self._now_ms() - entry.read_ms >= REFRESH_HOURS * HOUR_MS
        if due and key not in self._reading:
            task = asyncio.get_running_loop().create_task(self.read(exchange, symbol))
            self._reading[key] = task
            task.add_done_callback(lambda _: self._reading.pop(key, None))
        return None if entry is None else entry.states

    async def read(self, exchange: str, symbol: str) -> SymbolStates | None:
        """Read one symbol's stored hours and keep its states (a database fault: none
        now, tried again at the next use)."""
        now = self._now_ms()
        try:
            async with self._sessions() as session:
                records = await hourly_repo.symbol_hours(
                    session, exchange, symbol, now - self._span_ms, now + HOUR_MS
                )
        except SQLAlchemyError as exc:
            logger.warning("lookalikes: reading %s %s from the hourly store failed: %s",
                           exchange, symbol, type(exc).__name__)  # fmt: skip
            return None
        states = await asyncio.to_thread(symbol_states, records, exchange)
        if len(self._done) >= KEEP and (exchange, symbol) not in self._done:
            self._done.pop(next(iter(self._done)))  # the oldest read
        self._done[(exchange, symbol)] = _Entry(states, now)
        return states
