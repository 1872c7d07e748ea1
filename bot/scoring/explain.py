"""Why a symbol scores what it does, in words: each component's points and its reason,
and what each regime means. Transport-agnostic (plain text, no markup), so every screen
that explains a score (the web dashboard; the Telegram card renders the same rules in
bot/telegram/render/market.py) says the same thing. The rules are docs/scoring.md's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.scoring.formula import DEFAULT_PARAMS, Band, Regime, ScoringParams

BAND_MEANING = {
    Band.NEUTRAL.value: "Derivatives look balanced, no particular stress.",
    Band.LEAN.value: "One side is building positions, unlikely to squeeze.",
    Band.STRETCHED.value: "Meaningful imbalance, watch for volatility.",
    Band.STRESSED.value: "Crowded positioning, squeeze or unwind risk.",
}
REGIME_WHY = {
    Regime.LONG_SQUEEZE.value: "longs pay while the perp trades under index and OI builds",
    Regime.SHORT_SQUEEZE.value: "shorts pay while the perp trades over index and OI builds",
    Regime.LONG_CROWDED.value: "longs heavily stacked",
    Regime.SHORT_RAMP.value: "shorts heavily stacked",
    Regime.DELEVERAGING.value: "open interest is being closed out",
    Regime.NET_LONG.value: "funding and basis lean long",
    Regime.NET_SHORT.value: "funding and basis lean short",
    Regime.NEUTRAL.value: "nothing remarkable",
}


@dataclass(frozen=True, slots=True)
class WhyPart:
    """One component of the score: its 0..1 strength, the points it adds, and why."""

    part: str  # "oi" | "funding" | "basis"
    strength: float
    points: float
    reason: str


def why_parts(row: Any, params: ScoringParams = DEFAULT_PARAMS) -> list[WhyPart]:
    """`row` is duck-typed (`bot.views.market.MarketRow`): oi_build, funding_st, basis_st,
    funding_8h_pct and basis_pct are what it reads."""
    price_w = 100 * (1 - params.oi_weight)
    return [
        WhyPart("oi", row.oi_build, 100 * params.oi_weight * row.oi_build, _oi_reason(row)),
        WhyPart(
            "funding",
            row.funding_st,
            price_w * params.funding_weight * row.funding_st,
            _funding_reason(row, params),
        ),
        WhyPart(
            "basis",
            row.basis_st,
            price_w * (1 - params.funding_weight) * row.basis_st,
            _basis_reason(row),
        ),
    ]


def _oi_reason(row: Any) -> str:
    if row.oi_build >= 0.5:
        return "open interest is piling in"
    if row.oi_build >= 0.15:
        return "open interest is growing"
    return "open interest flat or falling"


def _funding_reason(row: Any, params: ScoringParams) -> str:
    premium = row.funding_8h_pct - params.funding_base_8h
    if row.funding_st < 0.2 or abs(premium) < 1e-9:
        return "funding near its neutral 0.01%/8h"
    if premium > 0:
        return "longs pay a premium"
    if row.funding_8h_pct < 0:
        return "shorts pay longs"
    return "funding below its neutral base"


def _basis_reason(row: Any) -> str:
    if row.basis_st < 0.2:
        return "perp in line with index"
    if row.basis_pct > 0:
        return "perp trades above index"
    return "perp trades below index"
