"""Recorded history as rule rows, for `replay --rule` and `/rule test`
(bot/alerts/rules/backtest.py): every scorable hour of the shipped history, scored by
the live code exactly as `pressurebot replay` scores it (bot/replay/run.py), with the
24h forward move and excursion (bot/replay/moves.py). The deployment's own hours come
from bot/replay/rule_store.py. Reading and scoring the shipped file takes seconds, so the bot does
it once, off the event loop, on first use (`LoadOnce`; bot/replay/history_sources.py).
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import replace
from itertools import pairwise
from typing import Any, Generic, TypeVar

import numpy as np

from bot.alerts.rules.backtest import HistoryRows
from bot.alerts.rules.fields import COLUMN_INDEX, COLUMN_NAMES
from bot.alerts.rules.rows import row_values
from bot.config import Settings
from bot.replay.data import SHIPPED_HISTORY, read_history
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
    # `funding_8h_prev`: the symbol's previous scored hour, as live reads the cycle before.
    funding = values[COLUMN_INDEX["funding_8h"]]
    same = np.array([a.symbol == b.symbol for a, b in pairwise(ordered)], dtype=bool)
    prev = np.full(len(ordered), np.nan)
    if len(ordered) > 1:
        prev[1:] = np.where(same, funding[:-1], np.nan)
    values[COLUMN_INDEX["funding_8h_prev"]] = prev
    fwd = np.array([_nan(h.fwd_24h) for h in ordered])
    # The excursion as `replay --evaluate` reads it (bot/replay/lift.py).
    reach = np.fmax(
        np.array([_nan(h.up_24h) for h in ordered]), [_nan(h.down_24h) for h in ordered]
    )
    ts = np.array([h.ts_ms for h in ordered], dtype=np.int64)
    return HistoryRows([h.symbol for h in ordered], ts, values, fwd, reach, (source,))


def _nan(value: float | None) -> float:
    return math.nan if value is None else value


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
    (it raised) is retried by the next caller, a None it returned is kept."""

    def __init__(self, load: Callable[[], T]) -> None:
        self._load = load
        self._value: T | None = None
        self._loaded = False
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[T] | None = None

    @property
    def loaded(self) -> bool:
        return self._loaded

    def peek(self) -> T | None:
        """The value if loaded; else None at once, with the load started in the
        background (once at a time), for a caller that must never wait on it (a push)."""
        if not self._loaded and (self._task is None or self._task.done()):
            self._task = asyncio.get_running_loop().create_task(self())
            self._task.add_done_callback(_log_failure)
        return self._value

    async def __call__(self) -> T:
        async with self._lock:
            if not self._loaded:
                self._value = await asyncio.to_thread(self._load)
                self._loaded = True
            return self._value  # type: ignore[return-value]


def _log_failure(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and (exc := task.exception()) is not None:
        logger.warning("loading recorded history failed (retried on next use): %r", exc)
