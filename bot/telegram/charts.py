"""The /symbol chart: score with the four bands shaded, open interest, funding and basis.

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

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.dates import AutoDateLocator, DateFormatter
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from bot.scoring.formula import DEFAULT_PARAMS, Band, ScoringParams, band_ranges

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
    symbol: str, points: Sequence[Sequence[float]], params: ScoringParams = DEFAULT_PARAMS
) -> bytes:
    """PNG bytes of the /symbol chart: score over time with the bands shaded (following
    `params`, the configured `[scoring]` bounds), and below it on the same time axis open
    interest and funding per 8h beside basis, the inputs the score is built from (as the
    web dashboard's symbol page shows them). `points` are `HistoryPoint`s oldest first;
    bare (ts_ms, score) pairs draw the score panel alone."""
    panels = len(points[0]) >= 5 if points else False
    fig = Figure(figsize=(6.4, 5.6 if panels else 3.2), dpi=100)
    FigureCanvasAgg(fig)
    grid = fig.add_gridspec(3 if panels else 1, 1, height_ratios=[2, 1, 1] if panels else [1])
    ax = fig.add_subplot(grid[0])
    times = [datetime.fromtimestamp(p[0] / 1000, tz=UTC) for p in points]
    _score_panel(ax, times, [p[1] for p in points], band_spans(params))
    ax.set_title(f"{symbol} · derivatives pressure (UTC)", fontsize=10)
    bottom = ax
    if panels:
        oi_ax = fig.add_subplot(grid[1], sharex=ax)
        _line(oi_ax, times, [p[2] for p in points], "#00695c", "open interest")
        rate_ax = fig.add_subplot(grid[2], sharex=ax)
        _line(rate_ax, times, [p[3] for p in points], "#6a1b9a", "funding 8h %")
        _line(rate_ax, times, [p[4] for p in points], "#ef6c00", "basis %")
        rate_ax.axhline(0, color="#999", linewidth=0.6, zorder=1)
        rate_ax.legend(loc="upper left", fontsize=7, frameon=False, ncols=2)
        rate_ax.set_ylabel("%", fontsize=8)
        for upper in (ax, oi_ax):
            upper.tick_params(labelbottom=False)
        bottom = rate_ax
    bottom.xaxis.set_major_locator(AutoDateLocator(maxticks=6))
    bottom.xaxis.set_major_formatter(DateFormatter("%d %H:%M", tz=UTC))
    fig.subplots_adjust(
        left=0.1, right=0.97, top=0.94 if panels else 0.9, bottom=0.07 if panels else 0.12
    )
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def _score_panel(
    ax: Axes, times: list[datetime], scores: list[float], spans: list[tuple[int, int, str, str]]
) -> None:
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
    if len(times) == 1:
        # matplotlib plots datetimes through its unit converters; its ArrayLike hint omits them.
        ax.plot(times, scores, "o", color="#1a237e", zorder=2)  # type: ignore[arg-type]
    else:
        ax.plot(times, scores, color="#1a237e", linewidth=1.6, zorder=2)  # type: ignore[arg-type]
    ax.set_ylim(0, 100)
    ax.set_yticks([*(lo for lo, _, _, _ in spans), 100])
    ax.set_ylabel("score")
    ax.tick_params(labelsize=8)
    ax.grid(axis="x", alpha=0.3)


def _line(ax: Axes, times: list[datetime], values: list[float], color: str, label: str) -> None:
    style = "o" if len(times) == 1 else "-"
    ax.plot(times, values, style, color=color, linewidth=1.2, label=label)  # type: ignore[arg-type]
    ax.tick_params(labelsize=7)
    ax.grid(axis="x", alpha=0.3)
    if label == "open interest":
        ax.set_ylabel("OI", fontsize=8)
        ax.yaxis.set_major_formatter(FuncFormatter(_compact))


def _compact(value: float, _pos: int | None = None) -> str:
    """1.6M rather than matplotlib's 1.6 with a detached '1e6' above the axis."""
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if abs(value) >= size:
            return f"{value / size:g}{suffix}"
    return f"{value:g}"


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

    async def get(self, symbol: str, points: Sequence[Sequence[float]]) -> bytes:
        key = (symbol, int(points[-1][0]) if points else 0, len(points))
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
