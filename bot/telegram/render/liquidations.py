"""The /symbol card's liquidations lines (figures: `bot.liquidations.windows.LiqFigures`,
duck-typed, as rows are)."""

from __future__ import annotations

from typing import Any

from bot.telegram.render.format import finite

FULL_COVERAGE = 0.99
SAMPLED_VENUES = ("binance", "all")  # Binance's stream is a sample; "all" includes it


def usd(x: float | None) -> str:
    """$1.23M, $310k, $950: money at a glance."""
    if not finite(x):
        return "—"
    a = abs(x)
    if a >= 1e9:
        return f"${x / 1e9:.2f}B"
    if a >= 1e6:
        return f"${x / 1e6:.2f}M"
    if a >= 1e4:
        return f"${x / 1e3:.0f}k"
    if a >= 1e3:
        return f"${x / 1e3:.1f}k"
    return f"${x:.0f}"


def liquidation_lines(figures: Any, exchange: str) -> list[str]:
    """1h and 24h by side (longs = long positions liquidated), the hour's share of OI
    and multiple of normal, the stream's coverage when partial, and the sampling note
    where Binance is counted."""
    if figures is None:
        return []
    h1, h24 = figures.windows["1h"], figures.windows["24h"]
    extra = []
    oi_pct = figures.oi_pct("1h")
    if finite(oi_pct):
        extra.append(f"{oi_pct:.2f}% of OI")
    x = figures.x_normal("1h")
    if finite(x):
        extra.append(f"{x:.1f}× normal")
    lines = [
        "",
        f"<b>Liquidations</b> 1h: longs <b>{usd(h1.long_usd)}</b> · shorts "
        f"<b>{usd(h1.short_usd)}</b>" + "".join(f" · {e}" for e in extra),
        f"24h: longs {usd(h24.long_usd)} · shorts {usd(h24.short_usd)}",
    ]
    if h1.coverage < FULL_COVERAGE:
        lines.append(f"⚠️ Stream live {h1.coverage:.0%} of the last hour: partial")
    if exchange in SAMPLED_VENUES:
        lines.append("<i>Binance sends at most one per symbol per second: a sample</i>")
    return lines
