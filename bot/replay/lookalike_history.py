"""The shipped history as hourly states for "the last N times this symbol looked like
this" (bot/views/lookalike.py): every scorable hour scored by the live code exactly as
`pressurebot replay` scores it (bot/replay/run.py), with its forward moves from
bot/replay/moves.py (the 24h move close to close, the largest rise or fall on highs and
lows). Loaded once per process, in a thread (`LoadOnce`, as the rule backtest's history).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence

from bot.config import Settings
from bot.replay.data import SHIPPED_HISTORY, ReplayInputError, read_history
from bot.replay.rule_history import LoadOnce
from bot.replay.run import BasisOptions, ScoredHour, score_history
from bot.views.lookalike import HourState, StateLibrary, build_library

logger = logging.getLogger(__name__)


def hour_states(scored: Sequence[ScoredHour]) -> Iterator[HourState]:
    for h in scored:
        up, down = h.up_24h, h.down_24h
        excursion = None if up is None or down is None else max(up, down)
        yield HourState(
            symbol=h.symbol,
            ts_ms=h.ts_ms,
            oi_1h=h.inputs.oi_1h,
            oi_4h=h.inputs.oi_4h,
            oi_24h=h.inputs.oi_24h,
            funding_premium=h.score.funding_premium,
            basis=h.inputs.basis_pct,
            move_24h=h.fwd_24h,
            excursion_24h=excursion,
        )


def load_state_library(settings: Settings, path: str | None = None) -> StateLibrary:
    """Read and score a recorded history (default: the shipped one). Raises
    `ReplayInputError` for a missing or malformed file."""
    path = path or str(SHIPPED_HISTORY)
    history = read_history(path)
    tolerance_ms = settings.scorer.window_tolerance_seconds * 1000
    scored, _ = score_history(
        history, settings.scoring, tolerance_ms=tolerance_ms, basis=BasisOptions()
    )
    return build_library(hour_states(scored), source=path.rsplit("/", 1)[-1])


def shipped_lookalikes(settings: Settings) -> LoadOnce[StateLibrary | None]:
    """The bot's lookalike states: the shipped file, loaded on first use. Without it (an
    installed wheel carries no data/) cards and pushes go without the line."""

    def load() -> StateLibrary | None:
        try:
            return load_state_library(settings)
        except ReplayInputError as exc:
            logger.warning("no recorded history for lookalike states: %s", exc)
            return None

    return LoadOnce(load)


def lookalike_source(settings: Settings) -> Callable[[], StateLibrary | None] | None:
    """What cards and pushes read: the states if loaded, never waiting (the first call
    starts the load); None when `[telegram] lookalikes` is off."""
    return shipped_lookalikes(settings).peek if settings.telegram.lookalikes else None
