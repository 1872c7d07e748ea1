"""Formatting every screen shares: escaping, numbers, ages, bands and their icons.

Numbers are formatted here and nowhere else, so a percent or a price reads the same on
every screen; an unknown value is always '—', never a misleading 0.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import TypeGuard

from bot.scoring.formula import DEFAULT_PARAMS, Band, Bias, ScoringParams, band_ranges

DASH = "—"
BAND_ORDER = (Band.NEUTRAL, Band.LEAN, Band.STRETCHED, Band.STRESSED)
BAND_ICON: dict[str, str] = {
    Band.NEUTRAL: "⚪",
    Band.LEAN: "🟡",
    Band.STRETCHED: "🟠",
    Band.STRESSED: "🔴",
}
BIAS_LETTER: dict[str, str] = {Bias.LONG: "L", Bias.SHORT: "S", Bias.NEUTRAL: "·"}


def esc(value: object) -> str:
    """Escape anything from outside for HTML parse mode."""
    return html.escape(str(value), quote=False)


def short_symbol(symbol: str, quotes: Sequence[str] = ("USDT",)) -> str:
    for quote in quotes:
        if symbol.endswith(quote) and len(symbol) > len(quote):
            return symbol[: -len(quote)]
    return symbol


def finite(x: float | None) -> TypeGuard[float]:
    """None, NaN and infinities all mean "unknown" here; only the rest is shown.

    TypeGuard, not TypeIs: False does not mean None (NaN is a float too)."""
    return x is not None and isinstance(x, int | float) and math.isfinite(x)


def pct(x: float | None, decimals: int = 2) -> str:
    """Signed percent, '—' when unknown (never 0)."""
    if not finite(x):
        return DASH
    if abs(x) >= 10_000:
        return f"{x:+.3g}%"
    return f"{x:+.{decimals}f}%"


def compact_pct(x: float | None) -> str:
    """Signed percent without the % sign in at most 6 characters, for table cells."""
    if not finite(x):
        return DASH
    a = abs(x)
    if a < 10:
        return f"{x:+.2f}"
    if a < 100:
        return f"{x:+.1f}"
    if a < 10_000:
        return f"{x:+.0f}"
    return "+≫" if x > 0 else "-≫"


def price(x: float | None) -> str:
    if not finite(x):
        return DASH
    a = abs(x)
    if a >= 1e9:
        return f"{x:.4g}"
    if a >= 1000:
        return f"{x:,.2f}"
    if a >= 1:
        return f"{x:.4f}"
    if a == 0:
        return "0"
    digits = min(12, max(4, 5 - math.floor(math.log10(a))))
    return f"{x:.{digits}f}"


def age(seconds: float) -> str:
    s = max(0, int(seconds))
    if s < 90:
        return f"{s} s"
    m = s // 60
    if m < 90:
        return f"{m} min"
    h, m = divmod(m, 60)
    if h < 48:
        return f"{h} h {m} min" if m else f"{h} h"
    return f"{h // 24} d"


def row_age(ts_ms: int, now_ms: int) -> str:
    return age((now_ms - ts_ms) / 1000)


def band_range(band: str, params: ScoringParams = DEFAULT_PARAMS) -> str:
    """'15-34': the configured range of `band`, '?' for a name that is not a band."""
    ranges = {str(b): r for b, r in band_ranges(params).items()}
    if band not in ranges:
        return "?"
    lo, hi = ranges[band]
    return f"{lo}-{hi}"
