"""The /symbol chart drawn: score with the four bands shaded, open interest,
liquidations (with a stream), funding and basis.

Uses matplotlib's object API on the Agg canvas (no pyplot, no global state), so it is
safe to render in worker threads: each thread keeps its own figure and redraws it with
the next chart's data (`ChartFigure`), the same pixels as a figure built afresh for half
the CPU (bench/chart_render.py measures both and compares the pixels). Only
bot/telegram/charts.py's cache imports this module, on the first chart it draws.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Sequence
from datetime import UTC

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.dates import (
    DAILY,
    HOURLY,
    MINUTELY,
    MONTHLY,
    SECONDLY,
    AutoDateLocator,
    DateFormatter,
    date2num,
)
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter
from PIL import Image

from bot.scoring.formula import DEFAULT_PARAMS, Band, ScoringParams, band_ranges

BAND_COLOR = {
    Band.NEUTRAL: "#e8f5e9",
    Band.LEAN: "#fff8e1",
    Band.STRETCHED: "#ffe0b2",
    Band.STRESSED: "#ffcdd2",
}
# Figures kept per worker thread, one per (layout, bands): two in service.
MAX_FIGURES_PER_THREAD = 4
PNG_COMPRESS_LEVEL = 3
_per_thread = threading.local()


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
    with two more columns (USD of longs and of shorts liquidated in each interval,
    bot/views/liquidations.py) a liquidations panel sits under OI; bare (ts_ms, score)
    pairs draw the score panel alone."""
    width = len(points[0]) if points else 2
    panels, liquidations = width >= 5, width >= 7
    spans = band_spans(params)
    figures: dict[tuple[bool, bool, tuple[tuple[int, int, str, str], ...]], ChartFigure]
    figures = _per_thread.__dict__.setdefault("figures", {})
    key = (panels, liquidations, tuple(spans))
    figure = figures.get(key)
    if figure is None:
        if len(figures) >= MAX_FIGURES_PER_THREAD:  # another [scoring] set (tests): start over
            figures.clear()
        figure = figures[key] = ChartFigure(panels, spans, liquidations=liquidations)
    return figure.draw(symbol, points)


class ChartFigure:
    """One chart layout built once (axes, band shading and names, labels, legend, tick
    objects) and redrawn with each chart's lines, title and limits. Drawing a fresh
    figure per chart spent about a third of its CPU building what never changes. Not
    thread-safe: `render_chart` keeps one per worker thread."""

    def __init__(
        self, panels: bool, spans: list[tuple[int, int, str, str]], *, liquidations: bool = False
    ) -> None:
        self.panels = panels
        liquidations = panels and liquidations
        height = (6.6 if liquidations else 5.6) if panels else 3.2
        self.figure = fig = Figure(figsize=(6.4, height), dpi=100)
        self.canvas = FigureCanvasAgg(fig)
        ratios = [2, 1, 1, 1] if liquidations else [2, 1, 1] if panels else [1]
        grid = fig.add_gridspec(len(ratios), 1, height_ratios=ratios)
        ax = fig.add_subplot(grid[0])
        self.lines = [_score_panel(ax, spans)]
        self.title = ax.set_title("", fontsize=10)
        self.axes = [ax]
        self.single: bool | None = None  # the lines' style: dots for a single point
        self.zero: Line2D | None = None  # the rate panel's zero line
        bottom = ax
        self.liq_ax: Axes | None = None
        if panels:
            oi_ax = fig.add_subplot(grid[1], sharex=ax)
            self.lines.append(_line(oi_ax, "#00695c", "open interest"))
            rate_ax = fig.add_subplot(grid[len(ratios) - 1], sharex=ax)
            self.lines.append(_line(rate_ax, "#6a1b9a", "funding 8h %"))
            self.lines.append(_line(rate_ax, "#ef6c00", "basis %"))
            rate_ax.set_ylabel("%", fontsize=8)
            self.axes += [oi_ax, rate_ax]
            if liquidations:
                # Per interval between points, as the web symbol page's panel; steps,
                # not bars: a line's data is replaced in place, bars are rebuilt.
                self.liq_ax = liq_ax = fig.add_subplot(grid[2], sharex=ax)
                self.lines.append(_line(liq_ax, "#b42318", "longs liquidated $", steps=True))
                self.lines.append(_line(liq_ax, "#067647", "shorts liquidated $", steps=True))
                liq_ax.set_ylabel("liq $", fontsize=8)
                liq_ax.yaxis.set_major_formatter(FuncFormatter(_compact))
                self.axes.append(liq_ax)
            for upper in self.axes:
                if upper is not rate_ax:
                    upper.tick_params(labelbottom=False)
            bottom = rate_ax
        for each in self.axes:
            each.xaxis_date(UTC)
        bottom.xaxis.set_major_locator(_time_locator())
        bottom.xaxis.set_major_formatter(DateFormatter("%d %H:%M", tz=UTC))
        fig.subplots_adjust(
            left=0.1, right=0.97, top=0.94 if panels else 0.9, bottom=0.07 if panels else 0.12
        )

    def draw(self, symbol: str, points: Sequence[Sequence[float]]) -> bytes:
        # Day numbers as matplotlib's date axis counts them, converted as one array.
        times = date2num(np.array([p[0] for p in points], dtype="datetime64[ms]"))
        for column, line in enumerate(self.lines, start=1):
            line.set_data(times, [p[column] for p in points])
        self._style(single=len(points) == 1)
        self.title.set_text(f"{symbol} · derivatives pressure (UTC)")
        if self.zero is not None:
            self.zero.remove()
        for ax in self.axes:
            ax.relim()
        for ax in self.axes:
            ax.autoscale_view()
        if self.panels:
            # Added after the limits are set, as a figure built per chart did: the zero
            # line widens them only when it falls outside the data's padded range.
            self.zero = self.axes[2].axhline(0, color="#999", linewidth=0.6, zorder=1)
        if self.liq_ax is not None:
            # USD liquidated is never negative; auto=None keeps autoscaling for the next.
            self.liq_ax.set_ylim(bottom=0, auto=None)
        return self._png()

    def _png(self) -> bytes:
        """The canvas as PNG. Opaque, so RGB holds the same pixels as savefig's RGBA,
        and zlib level 3 keeps the file the size savefig made (level 6 on RGBA) for
        half the encoding CPU."""
        canvas = self.canvas
        canvas.draw()
        image = Image.frombuffer(
            "RGBA", canvas.get_width_height(), canvas.buffer_rgba(), "raw", "RGBA", 0, 1
        )
        buf = io.BytesIO()
        image.convert("RGB").save(buf, format="png", compress_level=PNG_COMPRESS_LEVEL)
        return buf.getvalue()

    def _style(self, *, single: bool) -> None:
        """One point draws as a dot (a line through one point is invisible); the legend
        copies its handles' style, so it is made again when the style changes."""
        if single == self.single:
            return
        self.single = single
        for line in self.lines:
            line.set_linestyle("None" if single else "-")
            line.set_marker("o" if single else "None")
        if self.panels:
            self.axes[2].legend(loc="upper left", fontsize=7, frameon=False, ncols=2)
        if self.liq_ax is not None:
            self.liq_ax.legend(loc="upper left", fontsize=7, frameon=False, ncols=2)


def _time_locator() -> AutoDateLocator:
    """At most about six time labels, which fit a phone-width chart. With matplotlib's
    default steps some spans (2.5-4 minutes, 3-4 hours, 3-5 days) have no step giving
    six ticks or fewer: it warns and labels every sixth unit, which crowds the axis.
    One step more per unit (60 s, 60 min, 24 h, 28 days, 12 months) covers every span
    from seconds to years."""
    locator = AutoDateLocator(maxticks=6)
    locator.intervald[SECONDLY] = [1, 5, 10, 15, 30, 60]
    locator.intervald[MINUTELY] = [1, 5, 10, 15, 30, 60]
    locator.intervald[HOURLY] = [1, 2, 3, 4, 6, 12, 24]
    locator.intervald[DAILY] = [1, 2, 4, 7, 14, 28]
    locator.intervald[MONTHLY] = [1, 2, 3, 4, 6, 12]
    return locator


def _score_panel(ax: Axes, spans: list[tuple[int, int, str, str]]) -> Line2D:
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
    (line,) = ax.plot([], [], color="#1a237e", linewidth=1.6, zorder=2)
    ax.set_ylim(0, 100)
    ax.set_yticks([*(lo for lo, _, _, _ in spans), 100])
    ax.set_ylabel("score")
    ax.tick_params(labelsize=8)
    ax.grid(axis="x", alpha=0.3)
    return line


def _line(ax: Axes, color: str, label: str, *, steps: bool = False) -> Line2D:
    # steps-pre: a value covers the interval that ends at its point (per_interval).
    style = "steps-pre" if steps else "default"
    (line,) = ax.plot([], [], "-", color=color, linewidth=1.2, label=label, drawstyle=style)
    ax.tick_params(labelsize=7)
    ax.grid(axis="x", alpha=0.3)
    if label == "open interest":
        ax.set_ylabel("OI", fontsize=8)
        ax.yaxis.set_major_formatter(FuncFormatter(_compact))
    return line


def _compact(value: float, _pos: int | None = None) -> str:
    """1.6M rather than matplotlib's 1.6 with a detached '1e6' above the axis."""
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if abs(value) >= size:
            return f"{value / size:g}{suffix}"
    return f"{value:g}"
