"""Score-history chart for /symbol: a small PNG with the four bands shaded.

Uses matplotlib's object API on the Agg canvas (no pyplot, no global state), so it is
safe to render in a worker thread (`render_chart_async`). Charts are cached per
(symbol, newest point): a chart only changes when a new cycle lands.
"""

from __future__ import annotations

import asyncio
import io
from collections import OrderedDict
from collections.abc import Sequence
from datetime import UTC, datetime

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.dates import AutoDateLocator, DateFormatter
from matplotlib.figure import Figure

BANDS = (
    (0, 15, "#e8f5e9", "neutral"),
    (15, 35, "#fff8e1", "lean"),
    (35, 60, "#ffe0b2", "stretched"),
    (60, 100, "#ffcdd2", "stressed"),
)


def render_chart(symbol: str, points: Sequence[tuple[int, int]]) -> bytes:
    """PNG bytes of score over time. `points` are (ts_ms, score), oldest first."""
    fig = Figure(figsize=(6.4, 3.2), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    times = [datetime.fromtimestamp(ts / 1000, tz=UTC) for ts, _ in points]
    scores = [s for _, s in points]
    for lo, hi, color, name in BANDS:
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
    ax.set_yticks([0, 15, 35, 60, 100])
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
    """A few recent charts, keyed by (symbol, newest ts, points): pure derived data, so
    an in-process cache is safe with several replicas. Concurrent requests for the same
    chart share one rendering."""

    def __init__(self, size: int = 64) -> None:
        self._size = size
        self._items: OrderedDict[tuple[str, int, int], bytes] = OrderedDict()
        self._pending: dict[tuple[str, int, int], asyncio.Future[bytes]] = {}

    async def get(self, symbol: str, points: Sequence[tuple[int, int]]) -> bytes:
        key = (symbol, points[-1][0] if points else 0, len(points))
        if key in self._items:
            self._items.move_to_end(key)
            return self._items[key]
        pending = self._pending.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        try:
            png = await asyncio.to_thread(render_chart, symbol, list(points))
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: no "never retrieved" warning
            raise
        finally:
            self._pending.pop(key, None)
        future.set_result(png)
        self._items[key] = png
        while len(self._items) > self._size:
            self._items.popitem(last=False)
        return png
