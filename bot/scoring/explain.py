"""Why a symbol scores what it does, in words: each component's points and its reason,
and what each regime means. Transport-agnostic (plain text, no markup), so every screen
that explains a score (the web dashboard; the Telegram card renders the same rules in
bot/telegram/render/market.py) says the same thing. The rules are docs/scoring.md's.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot.scoring.formula import DEFAULT_PARAMS, Band, Regime, ScoringParams

BAND_MEANING = {
    Band.NEUTRAL.value: "Derivatives look balanced, no particular stress.",
    Band.LEAN.value: "One side is building positions, unlikely to squeeze.",
    Band.STRETCHED.value: "Meaningful imbalance, watch for volatility.",
    Band.STRESSED.value: "Crowded positioning: the risk is a violent move either way.",
}
# Who is crowded, who pays, and never which way it resolves: the replay evaluation
# shows no label with a direction (docs/design-notes.md, issue 18 §4).
REGIME_WHY = {
    Regime.LONG_SQUEEZE.value: (
        "longs crowded and paying while the perp trades under its index and OI builds; "
        "the risk is a violent move either way"
    ),
    Regime.SHORT_SQUEEZE.value: (
        "shorts crowded and paying while the perp trades over its index and OI builds; "
        "the risk is a violent move either way"
    ),
    Regime.LONG_CROWDED.value: "longs crowded and paying; the risk is a violent move either way",
    Regime.SHORT_RAMP.value: "shorts crowded and paying; the risk is a violent move either way",
    Regime.DELEVERAGING.value: "open interest is being closed out",
    Regime.NET_LONG.value: "funding and basis lean long",
    Regime.NET_SHORT.value: "funding and basis lean short",
    Regime.NEUTRAL.value: "nothing remarkable",
}
# What a regime is CALLED on every screen. The stored identifiers (`Regime` values: alert
# events, JSON `regime`, rule words) keep the design's "squeeze risk" names because other
# tools read them; the words shown say what is measured (who pays, OI building) and that
# the risk runs either way, since the evaluation shows no direction of resolution
# (docs/scoring.md, Evidence; docs/design-notes.md).
REGIME_LABEL = {
    Regime.LONG_SQUEEZE.value: "Longs pay, OI building: risk either way",
    Regime.SHORT_SQUEEZE.value: "Shorts pay, OI building: risk either way",
}
# The squeeze kind (`/subscribe BTC squeeze`, `/market squeeze`, `/top squeeze`) on screen.
SQUEEZE_KIND_LABEL = "OI building against funding"


def regime_label(regime: object) -> str:
    """The words a screen shows for a stored regime identifier."""
    name = str(regime)
    return REGIME_LABEL.get(name, name)


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


def _year(ts_ms: int) -> str:
    return time.strftime("%Y", time.gmtime(ts_ms / 1000))


def unusual_sentence(found: Sequence[Any]) -> str | None:
    """How unusual a row is for its symbol, from its tails (`bot.views.unusual.tails`):
    "For this symbol: funding premium in its top 5% of 90 days · OI 24h in its top 10%
    of 90 days"; None when nothing is known to be unusual. The card, the push and the
    web symbol page say the same words."""
    if not found:
        return None
    words = (f"{t.what} in its {t.side} {t.share}% of 90 days" for t in found)
    return "For this symbol: " + " · ".join(words)


def _day(ts_ms: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(ts_ms / 1000))


def lookalike_sentence(found: Any) -> str:
    """What followed the symbol's nearest past states (`bot.views.lookalike.Lookalike`):
    "the 20 past hours most like now (2021-26, a day apart or more): median |24h| move
    3.1%; 7 of 20 moved ≥5% within 24h (usually 44%)". From the deployment's own hourly
    store (source "store:<exchange>") it names the store and its period: "(this bot's
    own binance hours, 2026-10-30 to 12-06, a day apart or more)"."""
    first, last = (_year(t) for t in (found.first_ms, found.last_ms))
    years = first if first == last else f"{first}-{last[2:]}"
    if found.source.startswith("store:"):
        start, end = (_day(t) for t in (found.first_ms, found.last_ms))
        end = end[5:] if end[:4] == start[:4] else end
        years = f"this bot's own {found.source[6:]} hours, {start} to {end}"
    return (
        f"the {found.n} past hours most like now ({years}, a day apart or more): median "
        f"|24h| move {found.median_abs_24h:.1f}%; {found.big} of {found.n} moved ≥5% "
        f"within 24h (usually {found.usual_big:.0%})"
    )


def alert_subject(alert_type: str) -> str:
    """An evaluation alert type in words: "band up to stressed" -> "a rise into stressed",
    "squeeze enter short" -> "shorts pay, OI building (start)"."""
    words = alert_type.split()
    if words[0] == "band":
        return f"a rise into {words[-1]}" if words[1] == "up" else f"a fall to {words[-1]}"
    side = "longs" if words[-1] == "long" else "shorts"
    return f"{side} pay, OI building ({'start' if words[1] == 'enter' else 'end'})"


def evidence_sentence(evidence: Any, *, card: bool = False, named: bool = False) -> str:
    """One line of what followed this alert type out of sample (`bot.views.evidence`):
    "after this alert: a ≥5% move within 24h 46% of the time (usually 28%); n = 125,
    2025-26". On a card the subject is the move into the symbol's band; `named` (a
    compact digest, one line per alert type) names the type."""
    subject = "this alert"
    if card:
        band = evidence.alert_type.rsplit(" ", 1)[-1]
        subject = "a fall to neutral" if band == "neutral" else f"a rise into {band}"
    elif named:
        subject = alert_subject(evidence.alert_type)
    if not evidence.n or evidence.p_big is None:
        return f"after {subject}: no case to measure in {evidence.years} (n = 0)"
    return (
        f"after {subject}: a ≥5% move within 24h {evidence.p_big:.0%} of the time "
        f"(usually {evidence.usual:.0%}); n = {evidence.n}, {evidence.years}"
    )
