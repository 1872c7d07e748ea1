"""Score-history chart for /symbol: a small PNG with the four bands shaded.

Uses matplotlib's object API on the Agg canvas (no pyplot, no global state), so it is
safe to render in a worker thread. Charts are cached per (symbol, newest point): a
chart only changes when a new cycle lands; bot/telegram/chart_prerender.py draws the
likely ones ahead after each cycle.
"""

from __future__ import annotations

import asyncio
import functools
import io
from collections import OrderedDict
from collections.abc import Sequence
from datetime import UTC, datetime

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.dates import AutoDateLocator, DateFormatter
from matplotlib.figure import Figure

from bot.scoring import DEFAULT_PARAMS, Band, ScoringParams, band_ranges

BAND_COLOR = {
    Band.NEUTRAL: "#e8f5e9",
    Band.LEAN: "#fff8e1",
    Band.STRETCHED: "#ffe0b2",
    Band.STRESSED: "#ffcdd2",
}


def band_spans(params: ScoringParams = DEFAULT_PARAMS) -> list[tuple[int, int, str, str]]:
    """(low, high, colour, name) per band, touching: a band ends where the next starts."""
    return [
        (lo, hi if band is Band.STRESSED else hi + 1, BAND_COLOR[band], str(band))
        for band, (lo, hi) in band_ranges(params).items()
    ]


def render_chart(
    symbol: str, points: Sequence[tuple[int, int]], params: ScoringParams = DEFAULT_PARAMS
) -> bytes:
    """PNG bytes of score over time. `points` are (ts_ms, score), oldest first; the band
    shading follows `params` (the configured `[scoring]` band bounds)."""
    fig = Figure(figsize=(6.4, 3.2), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    times = [datetime.fromtimestamp(ts / 1000, tz=UTC) for ts, _ in points]
    scores = [s for _, s in points]
    spans = band_spans(params)
    for lo, hi, color, name in spans:
        ax.axhspan(lo, hi, color=color, zorder=0)
        ax.text(
            0.99,
            (lo + hi) / 200,
            name,
            transform=ax.transAxes,
            fontsize=7,
            color="#666",
            va="center",
            ha="right",
        )
    if len(points) == 1:
        # matplotlib plots datetimes through its unit converters; its ArrayLike hint omits them.
        ax.plot(times, scores, "o", color="#1a237e", zorder=2)  # type: ignore[arg-type]
    else:
        ax.plot(times, scores, color="#1a237e", linewidth=1.6, zorder=2)  # type: ignore[arg-type]
    ax.set_ylim(0, 100)
    ax.set_yticks([*(lo for lo, _, _, _ in spans), 100])
    ax.set_ylabel("score")
    ax.set_title(f"{symbol} · derivatives pressure (UTC)", fontsize=10)
    ax.xaxis.set_major_locator(AutoDateLocator(maxticks=6))
    ax.xaxis.set_major_formatter(DateFormatter("%d %H:%M", tz=UTC))
    ax.tick_params(labelsize=8)
    ax.grid(axis="x", alpha=0.3)
    fig.subplots_adjust(left=0.09, right=0.97, top=0.9, bottom=0.12)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


class ChartCache:
    """Recent charts, least recently used first out, keyed by (symbol, newest point's ts,
    number of points): a new cycle adds a point, so its key differs and the old chart is
    never served for it. Pure derived data, so an in-process cache is safe with several
    replicas. Concurrent requests for the same chart share one rendering."""

    def __init__(self, size: int = 64, params: ScoringParams = DEFAULT_PARAMS) -> None:
        self._size = size
        self.params = params  # Deps sets the configured ones; one set per process
        self._items: OrderedDict[tuple[str, int, int], bytes] = OrderedDict()
        self._pending: dict[tuple[str, int, int], asyncio.Task[bytes]] = {}

    async def get(self, symbol: str, points: Sequence[tuple[int, int]]) -> bytes:
        key = (symbol, points[-1][0] if points else 0, len(points))
        png = self._items.get(key)
        if png is not None:
            self._items.move_to_end(key)
            return png
        task = self._pending.get(key)
        if task is None:
            # A task of its own, not the caller's: a caller that goes away (a cancelled
            # pre-render, a stopped handler) neither cancels it nor fails the others.
            task = asyncio.get_running_loop().create_task(
                asyncio.to_thread(render_chart, symbol, list(points), self.params)
            )
            self._pending[key] = task
            task.add_done_callback(functools.partial(self._store, key))
        return await asyncio.shield(task)

    def __contains__(self, key: tuple[str, int, int]) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)

    def _store(self, key: tuple[str, int, int], task: asyncio.Task[bytes]) -> None:
        self._pending.pop(key, None)
        if task.cancelled() or task.exception() is not None:  # retrieved: no warning
            return
        self._items[key] = task.result()
        while len(self._items) > self._size:
            self._items.popitem(last=False)
