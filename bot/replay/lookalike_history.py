"""The shipped history as hourly states for "the last N times this symbol looked like
this" (bot/views/lookalike.py): every scorable hour scored by the live code exactly as
`pressurebot replay` scores it (bot/replay/run.py), with its forward moves from
bot/replay/moves.py (the 24h move close to close, the largest rise or fall on highs and
lows). A running bot loads it once, with the rule backtest's rows (bot/replay/history_sources.py).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from bot.config import Settings
from bot.replay.data import SHIPPED_HISTORY, read_history
from bot.replay.run import BasisOptions, ScoredHour, score_history
from bot.views.lookalike import HourState, StateLibrary, build_library


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
