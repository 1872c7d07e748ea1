"""Recorded history as rule rows, for `replay --rule` and `/rule test`
(bot/alerts/rules/backtest.py): every scorable hour of the shipped history, scored by
the live code exactly as `pressurebot replay` scores it (bot/replay/run.py), with the
24h forward move. Reading and scoring the shipped file takes a few seconds, so the bot
does it once, off the event loop, on the first `/rule test` (`LoadOnce`).
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Generic, TypeVar

import numpy as np

from bot.alerts.rules.backtest import HistoryRows
from bot.alerts.rules.fields import COLUMN_INDEX, COLUMN_NAMES
from bot.alerts.rules.rows import row_values
from bot.config import Settings
from bot.replay.data import SHIPPED_HISTORY, ReplayInputError, read_history
from bot.replay.planned_cycles import symbol_score
from bot.replay.ranks import own_percentiles
from bot.replay.run import BasisOptions, ScoredHour, score_history

T = TypeVar("T")
logger = logging.getLogger(__name__)


def history_rows(scored: Sequence[ScoredHour], source: str = "") -> HistoryRows:
    """Scored hours -> rule rows sorted by (symbol, time)."""
    ordered = sorted(scored, key=lambda h: (h.symbol, h.ts_ms))
    values = np.full((len(COLUMN_NAMES), len(ordered)), np.nan)
    percentiles = own_percentiles(ordered)  # as the live rows carry them
    for j, h in enumerate(ordered):
        live = symbol_score(h.symbol, h.score, h.inputs, oi=h.oi, mark=h.mark, index=h.index)
        f, o, b = percentiles[j]
        live = replace(live, funding_pctl_90d=f, oi_24h_pctl_90d=o, basis_pctl_90d=b)
        for name, value in row_values(live).items():
            if value is not None:
                values[COLUMN_INDEX[name], j] = value
    fwd = np.array([math.nan if h.fwd_24h is None else h.fwd_24h for h in ordered])
    ts = np.array([h.ts_ms for h in ordered], dtype=np.int64)
    return HistoryRows([h.symbol for h in ordered], ts, values, fwd, source)


def load_history_rows(
    settings: Settings,
    path: str | None = None,
    *,
    symbols: list[str] | None = None,
    start_ms: int | None = None,
    end_ms: int | None = None,
) -> HistoryRows:
    """Read and score a recorded history (default: the shipped one). Raises
    `ReplayInputError` for a missing or malformed file."""
    path = path or str(SHIPPED_HISTORY)
    history = read_history(path, symbols=symbols, start_ms=start_ms, end_ms=end_ms)
    tolerance_ms = settings.scorer.window_tolerance_seconds * 1000
    scored, _ = score_history(
        history, settings.scoring, tolerance_ms=tolerance_ms, basis=BasisOptions()
    )
    return history_rows(scored, source=path.rsplit("/", 1)[-1])


class LoadOnce(Generic[T]):
    """An expensive load run once, in a thread, shared by every caller; a failed load
    is retried by the next caller."""

    def __init__(self, load: Callable[[], T]) -> None:
        self._load = load
        self._value: T | None = None
        self._lock = asyncio.Lock()

    async def __call__(self) -> T:
        async with self._lock:
            if self._value is None:
                self._value = await asyncio.to_thread(self._load)
            return self._value


def shipped_rule_history(settings: Settings) -> LoadOnce[HistoryRows | None]:
    """The bot's `/rule test` history: the shipped file, loaded on first use. Without
    it (an installed wheel carries no data/), tests say there is no history."""

    def load() -> HistoryRows | None:
        try:
            return load_history_rows(settings)
        except ReplayInputError as exc:
            logger.warning("no recorded history for /rule test: %s", exc)
            return None

    return LoadOnce(load)
