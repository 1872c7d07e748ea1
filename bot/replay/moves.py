"""What the price did around each recorded hour: forward moves, the largest rise and fall
within the next 24 hours, and the move over the previous 24 hours.

The price at t is the perp close at t (`ohlc-mark`) or the mark the replay derives
(`close-index`, see `bot.replay.data`). Excursions use the recorded highs and lows of
the hours ending in (t, t+24h]; the `close-index` format has none, so there they use the
closes. Hours are laid on a contiguous grid with gaps as NaN, never filled: a move whose
end hour is missing is None, and a window's missing hours are left out of its extremes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

from bot.replay.data import FORMAT_OHLC_MARK, HOUR_MS, Row

WINDOW_HOURS = 24


class Moves(NamedTuple):
    """Percent; None where the hour it needs is missing."""

    fwd_4h: float | None  # signed, t -> t+4h
    fwd_24h: float | None  # signed, t -> t+24h
    up_24h: float | None  # largest rise above the price at t within (t, t+24h], >= 0
    down_24h: float | None  # largest fall below it, >= 0
    back_24h: float | None  # signed, t-24h -> t


def price_moves(rows: Sequence[Row], marks: Mapping[int, float], fmt: str) -> dict[int, Moves]:
    """Moves for every hour that has a price."""
    if fmt == FORMAT_OHLC_MARK:
        points = {
            r.ts_ms: (r.perp_close, r.high or r.perp_close, r.low or r.perp_close) for r in rows
        }
    else:
        points = {t: (p, p, p) for t, p in marks.items()}
    if not points:
        return {}
    stamps = np.fromiter(points, dtype=np.int64, count=len(points))
    p, h, lo = (np.array([v[k] for v in points.values()], dtype=float) for k in range(3))
    columns = [c.tolist() for c in grid_moves(stamps, p, h, lo)]
    return {
        t: Moves(*(None if c[i] != c[i] else c[i] for c in columns)) for i, t in enumerate(points)
    }


Floats = npt.NDArray[np.float64]


def grid_moves(
    ts_ms: npt.NDArray[np.int64], price: Floats, high: Floats, low: Floats
) -> tuple[Floats, Floats, Floats, Floats, Floats]:
    """The `Moves` columns (NaN for None) of one symbol's hours, aligned with `ts_ms`
    (any order, stamps on the hour, no stamp twice). NaN highs/lows are the price."""
    if not len(ts_ms):
        empty = np.empty(0)
        return empty, empty, empty, empty, empty
    start = int(ts_ms.min())
    size = (int(ts_ms.max()) - start) // HOUR_MS + 1
    at = (ts_ms - start) // HOUR_MS
    grid = [np.full(size + WINDOW_HOURS, np.nan) for _ in range(3)]
    grid[0][at] = price
    grid[1][at] = np.where(np.isnan(high), price, high)
    grid[2][at] = np.where(np.isnan(low), price, low)
    price_g, high_g, low_g = grid
    now = price_g[:size]
    with np.errstate(invalid="ignore", divide="ignore"):
        fwd4 = (price_g[4 : size + 4] / now - 1) * 100
        fwd24 = (price_g[WINDOW_HOURS : size + WINDOW_HOURS] / now - 1) * 100
        highs = np.fmax.reduce(sliding_window_view(high_g[1:], WINDOW_HOURS)[:size], axis=1)
        lows = np.fmin.reduce(sliding_window_view(low_g[1:], WINDOW_HOURS)[:size], axis=1)
        up = np.maximum((highs / now - 1) * 100, 0.0)
        down = np.maximum((1 - lows / now) * 100, 0.0)
        back = np.full(size, np.nan)
        back[WINDOW_HOURS:] = (now[WINDOW_HOURS:] / now[:-WINDOW_HOURS] - 1) * 100
    known = ~np.isnan(fwd24)  # the window's end is recorded: its extremes are measured
    up[~known] = np.nan
    down[~known] = np.nan
    return fwd4[at], fwd24[at], up[at], down[at], back[at]
