"""The /symbol card's liquidations lines (figures: `bot.liquidations.windows.LiqFigures`,
duck-typed, as rows are)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bot.telegram.render.format import esc, finite, row_age, short_symbol

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


def _money(x: float | None) -> str:
    """usd() without the $ sign, for a table column."""
    return usd(x).lstrip("$").replace("-$", "-")


def top_liq_message(
    snapshot: Any,
    rows: Sequence[Any],
    liq: Mapping[str, Mapping[str, float | None]] | None,
    now_ms: int,
    quotes: Sequence[str] = ("USDT",),
) -> str:
    """`/top liq`: the largest last-hour liquidations relative to open interest."""
    exchange = getattr(snapshot, "exchange", "binance")
    lines = [
        f"<b>Liquidations 1h vs OI</b> · {esc(exchange)} · cycle "
        f"{row_age(snapshot.generated_ms, now_ms)} old"
    ]
    if liq is None:
        lines.append("Liquidations are not recorded on this bot ([liquidations] is off).")
        return "\n".join(lines)
    if not rows:
        lines.append("No liquidations in the last hour.")
        return "\n".join(lines)
    header = f"{'#':>2} {'Symbol':<10}{'Longs':>7}{'Shorts':>7}{'%OI':>6}"
    table = [header]
    coverage = 1.0
    for i, row in enumerate(rows, 1):
        f = liq.get(row.symbol, {})
        sym = short_symbol(row.symbol, quotes)
        sym = sym if len(sym) <= 10 else sym[:9] + "…"
        oi = f.get("liq_1h_oi_pct")
        oi_s = f"{oi:.2f}" if finite(oi) and oi < 100 else ("≫" if finite(oi) else "—")
        table.append(
            f"{i:>2} {sym:<10}{_money(f.get('liq_1h_long_usd')):>7}"
            f"{_money(f.get('liq_1h_short_usd')):>7}{oi_s:>6}"
        )
        coverage = min(coverage, f.get("liq_coverage_1h") or 0.0)
    lines.append("<pre>" + esc("\n".join(table)) + "</pre>")
    lines.append("Longs/Shorts: USD of positions liquidated · %OI of open interest")
    if coverage < FULL_COVERAGE:
        lines.append(f"⚠️ Stream live {coverage:.0%} of the hour (weakest row): partial")
    if exchange in SAMPLED_VENUES:
        lines.append("<i>Binance sends at most one per symbol per second: a sample</i>")
    return "\n".join(lines)
