"""The symbol's own percentiles on every live row, kept cheap: the cut points of each
symbol's trailing 90 days (bot/scoring/percentile.py) are read from the hourly store
once an hour, and each cycle only bisects them.

The window of a cycle is the hours stamped [E - 90 days, E), E being the stamp of the
hour the cycle writes (bot/storage/hourly_repo.py): the same window the replay gives the
row stamped E, so live and replay rank a value against the same hours. A replica that
takes over loads the window on its first cycle. A failed read leaves the previous hour's
cut points in place (or none: the fields are null), and is retried next cycle.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import replace

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.scoring.percentile import WINDOW_MS, cut_points, percentile_of
from bot.scoring.result import CycleResult
from bot.storage import hourly_repo

logger = logging.getLogger("bot.cycle.run")

Cuts = tuple[float, ...] | None
BATCH = 50  # symbols read per session


class PercentileBook:
    """One exchange's cut points per symbol: (funding 8h, OI 24h, basis)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], exchange: str) -> None:
        self._sessions = sessions
        self._exchange = exchange
        self._cuts: dict[str, tuple[Cuts, Cuts, Cuts]] = {}
        self.loaded_for: int | None = None  # the hour stamp the cut points are for
        self.load_seconds = 0.0  # the last load's wall time, for the logs and benches

    async def refresh(self, now_ms: int, symbols: Iterable[str]) -> None:
        """Read the windows of `symbols` again when the cycle is in a new hour."""
        hour = hourly_repo.hour_of(now_ms)
        if hour == self.loaded_for:
            return
        started = time.perf_counter()
        cuts: dict[str, tuple[Cuts, Cuts, Cuts]] = {}
        names = list(symbols)
        try:
            # A session per batch: on SQLite one read transaction held for the whole
            # refresh (seconds) would keep the WAL from being checkpointed meanwhile.
            for first in range(0, len(names), BATCH):
                async with self._sessions() as session:
                    for symbol in names[first : first + BATCH]:
                        f, o, b = await hourly_repo.window_values(
                            session, self._exchange, symbol, hour - WINDOW_MS, hour
                        )
                        cuts[symbol] = (cut_points(f), cut_points(o), cut_points(b))
        except SQLAlchemyError as exc:
            logger.warning("%s: percentile window not read (%s)", self._exchange, exc)
            return
        self._cuts = cuts
        self.loaded_for = hour
        self.load_seconds = time.perf_counter() - started
        logger.debug(
            "%s: percentile windows of %d symbols read in %.1f s",
            self._exchange,
            len(names),
            self.load_seconds,
        )

    def annotate(self, result: CycleResult) -> None:
        """Put each scored symbol's percentiles on its row (None when unknown)."""
        cuts = self._cuts
        for i, s in enumerate(result.scores):
            mine = cuts.get(s.symbol)
            if mine is None:
                continue
            result.scores[i] = replace(
                s,
                funding_pctl_90d=percentile_of(s.score.funding_8h_pct, mine[0]),
                oi_24h_pctl_90d=percentile_of(s.oi_24h_pct, mine[1]),
                basis_pctl_90d=percentile_of(s.basis_pct, mine[2]),
            )

    async def update(self, result: CycleResult) -> None:
        """`refresh` for the cycle's hour, then `annotate`."""
        await self.refresh(result.started_ms, (s.symbol for s in result.scores))
        self.annotate(result)
